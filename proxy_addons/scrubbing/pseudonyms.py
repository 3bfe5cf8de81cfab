"""Pseudonyms: real phone numbers become consistent `+990…` numbers (the playground's own range, so
they are nobody's), in URIs, forms, bodies and `hashedPhoneNumber` (SHA-256 of the '+number'); KYC
personal data becomes consistent, plausibly shaped pseudonyms (`SHAPES`).

Both are numbered in order of first appearance within a cassette, past the ones it holds already,
so the same real value gets the same pseudonym in a request and in the answers that follow. Our
own pseudonyms are recognised and kept: scrubbing twice changes nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from proxy_addons.scrubbing.places import KYC_BY_KEY, KYC_KEPT

_PSEUDONYM_IN_TEXT = re.compile(r"(?<![0-9])9900([0-9]{8})(?![0-9])")
_PLUS_NUMBER = re.compile(r"(?<![0-9])\+([1-9][0-9]{4,14})(?![0-9])")
# A KYC field as it appears in a JSON body's text, for counting past the pseudonyms a cassette holds.
_KYC_IN_TEXT = re.compile(r'"(?P<key>[A-Za-z]+)"\s*:\s*"(?P<value>[^"\\]*)"')
# Free text loses the known KYC values (e.g. a birthdate echoed in a 400 message), but not the
# shortest ones: "Li" or "12" would take other words and numbers with them.
_FREE_TEXT_MIN = 3


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Shape:
    """What one KYC field's pseudonyms look like: `make(n)` is the n-th, and `pattern` recognises
    one of them (its group 1 is n)."""

    make: Callable[[int], str]
    pattern: re.Pattern[str]
    distinctive: bool = True  # nobody's real value looks like this (a street number "0001" might)

    def number(self, value: str) -> int | None:
        match = self.pattern.fullmatch(value)
        return int(match.group(1)) if match else None


def _labelled(label: str) -> Shape:
    """Free text (names, address lines): the field's label and a number, e.g. "Given 0001"."""
    return Shape(lambda n: f"{label} {n:04d}", re.compile(rf"{label} ([0-9]{{4,}})"))


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# The pseudonyms of every KYC field but those kept (KYC_KEPT) and the birthdate (`birth_year`).
# Each stays what its field holds: an email an email (at the reserved .invalid domain, so nothing is
# ever sent to it), kana readings kana (カメイ, "kamei", is Japanese for pseudonym), an ID document
# alphanumeric, a street number and a postal code digits, starting with zeros no real one has.
SHAPES: dict[str, Shape] = {
    "idDocument": Shape(lambda n: f"PSEUDO{n:04d}", re.compile(r"PSEUDO([0-9]{4,})")),
    "name": _labelled("Name"),
    "givenName": _labelled("Given"),
    "familyName": _labelled("Family"),
    "middleNames": _labelled("Middle"),
    "familyNameAtBirth": _labelled("Birthname"),
    "nameKanaHankaku": Shape(lambda n: f"ｶﾒｲ{n:04d}", re.compile(r"ｶﾒｲ([0-9]{4,})")),
    "nameKanaZenkaku": Shape(
        lambda n: "カメイ" + f"{n:04d}".translate(_FULL_WIDTH), re.compile(r"カメイ([０-９]{4,})")
    ),
    "address": _labelled("Address"),
    "streetName": _labelled("Street"),
    "streetNumber": Shape(lambda n: f"0{n:03d}", re.compile(r"0([0-9]{3,})"), distinctive=False),
    "houseNumberExtension": _labelled("Ext"),
    "postalCode": Shape(lambda n: f"0000{n:02d}", re.compile(r"0000([0-9]{2,})"), distinctive=False),
    "region": _labelled("Region"),
    "locality": _labelled("Locality"),
    "email": Shape(
        lambda n: f"person-{n:04d}@pseudonym.invalid", re.compile(r"person-([0-9]{4,})@pseudonym\.invalid")
    ),
}

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")


def form_only(value: str) -> str:
    """The form of `value` without its content: letters become x, digits 0 ("22/08/1978" →
    "00/00/0000"). For what has no pseudonym shape of its own."""
    return _DIGIT.sub("0", _LETTER.sub("x", value))


def birth_year(value: str) -> str:
    """A birthdate generalised to January 1st of its year: still a valid YYYY-MM-DD, the age still
    right to within a year, the day gone. The same date always gives the same answer, so matching
    can generalise a live request's birthdate too. Anything but a real date keeps only its form
    (`form_only`), so an invalid request stays invalid."""
    match = _DATE.fullmatch(value)
    if match:
        try:
            datetime.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
        else:
            return f"{match.group(1)}-01-01"
    return form_only(value)


def is_pseudonym(value: str, field: str) -> bool:
    """Whether `value` is what pseudonymising the KYC field `field` leaves (a kept field's value is)."""
    if field in KYC_KEPT or not value.strip():
        return True
    shape = SHAPES.get(field)
    if shape is not None:
        return shape.number(value) is not None
    return (birth_year if field == "birthdate" else form_only)(value) == value


class Pseudonyms:
    """The rewriter of phone numbers (real digits → pseudonym digits, one pseudonym per number) and
    of KYC personal data (per field: real value → pseudonym)."""

    def __init__(self) -> None:
        self._numbers: dict[str, str] = {}  # real digits → pseudonym digits
        self._hashes: dict[str, str] = {}  # sha256 of real '+digits' → sha256 of pseudonym's
        self._count = 0  # pseudonyms handed out (or found in the cassette)
        self._kept: set[str] = set()  # +990 numbers seen as they are: never hand them out as pseudonyms
        self._people: dict[tuple[str, str], str] = {}  # (KYC field, real value) → pseudonym
        self._people_counts: dict[str, int] = {}  # KYC field → highest number handed out or seen
        self._in_text: dict[str, str] = {}  # real KYC value → its pseudonym, for free text
        self._in_text_pattern: re.Pattern[str] | None = None  # built again when `_in_text` grows

    def note(self, text: str) -> None:
        """Count past the pseudonyms in `text` (a cassette's), so none is handed out twice."""
        for match in _PSEUDONYM_IN_TEXT.finditer(text):
            self._count = max(self._count, int(match.group(1)))
        for match in _KYC_IN_TEXT.finditer(text):
            field = KYC_BY_KEY.get(match["key"].lower())
            shape = SHAPES.get(field) if field else None
            number = shape.number(match["value"]) if shape else None
            if field and number is not None:
                self._people_counts[field] = max(self._people_counts.get(field, 0), number)

    def number(self, digits: str) -> str:
        if digits.startswith("990"):  # playground numbers (and our pseudonyms) are not personal data
            self._kept.add(digits)
            return digits
        pseudonym = self._numbers.get(digits)
        if pseudonym is None:
            while True:
                self._count += 1
                pseudonym = f"990{self._count:09d}"
                if pseudonym not in self._kept:
                    break
            self._numbers[digits] = pseudonym
            self._hashes[_sha256("+" + digits)] = _sha256("+" + pseudonym)
        return pseudonym

    def hashed(self, value: str) -> str:
        return self._hashes.get(value.lower(), value)

    def personal(self, value: str, field: str) -> str:
        if field in KYC_KEPT or not value.strip():
            return value
        known = self._people.get((field, value))
        if known is not None:
            return known
        shape = SHAPES.get(field)
        if shape is None:  # the birthdate, generalised; a field with no shape, reduced to its form
            pseudonym = (birth_year if field == "birthdate" else form_only)(value)
        else:
            seen = shape.number(value)
            if seen is not None:  # one of ours already (or shaped as one): kept, and never handed out
                self._people_counts[field] = max(self._people_counts.get(field, 0), seen)
                return value
            count = self._people_counts.get(field, 0) + 1
            self._people_counts[field] = count
            pseudonym = shape.make(count)
        self._people[(field, value)] = pseudonym
        if pseudonym != value and len(value) >= _FREE_TEXT_MIN and value not in self._in_text:
            self._in_text[value] = pseudonym
            self._in_text_pattern = None
        return pseudonym

    def free_text(self, value: str) -> str:
        # Numbers already mapped also leave free text, e.g. "+336… does not exist for <client>".
        if self._numbers and "+" in value:
            value = _PLUS_NUMBER.sub(lambda m: "+" + self._numbers.get(m.group(1), m.group(1)), value)
        if self._in_text:
            value = self._people_in_text(value)
        return value

    def _people_in_text(self, value: str) -> str:
        """Known KYC values replaced where they stand as whole words, the longest first (so a full
        name goes before the given name inside it)."""
        if self._in_text_pattern is None:
            known = sorted(self._in_text, key=len, reverse=True)
            self._in_text_pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, known)) + r")(?!\w)")
        return self._in_text_pattern.sub(lambda m: self._in_text[m.group()], value)
