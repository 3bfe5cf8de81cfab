"""Pseudonyms: real phone numbers become consistent `+990…` numbers (the playground's own range, so
they are nobody's), in URIs, forms, bodies and `hashedPhoneNumber` (SHA-256 of the '+number')."""

from __future__ import annotations

import hashlib
import re

_PSEUDONYM_IN_TEXT = re.compile(r"(?<![0-9])9900([0-9]{8})(?![0-9])")
_PLUS_NUMBER = re.compile(r"(?<![0-9])\+([1-9][0-9]{4,14})(?![0-9])")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class Pseudonyms:
    """The rewriter of phone numbers: real digits → pseudonym digits, one pseudonym per number."""

    def __init__(self) -> None:
        self._numbers: dict[str, str] = {}  # real digits → pseudonym digits
        self._hashes: dict[str, str] = {}  # sha256 of real '+digits' → sha256 of pseudonym's
        self._count = 0  # pseudonyms handed out (or found in the cassette)
        self._kept: set[str] = set()  # +990 numbers seen as they are: never hand them out as pseudonyms

    def note(self, text: str) -> None:
        """Count past the pseudonyms in `text` (a cassette's), so none is handed out twice."""
        for match in _PSEUDONYM_IN_TEXT.finditer(text):
            self._count = max(self._count, int(match.group(1)))

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

    def free_text(self, value: str) -> str:
        # Numbers already mapped also leave free text, e.g. "+336… does not exist for <client>".
        if not self._numbers or "+" not in value:
            return value
        return _PLUS_NUMBER.sub(lambda m: "+" + self._numbers.get(m.group(1), m.group(1)), value)
