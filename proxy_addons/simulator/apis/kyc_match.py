"""KYC Match, Orange Network APIs Playground (CAMARA KYC Match 0.2.0, `/kyc-match/v0.2/match`).

Each identity field a request sends is compared with the identity the operator holds for the line (the
`kyc` part of its EntryData): "true", "false", or "not_available" where the operator holds no such
field. The fields the spec gives a `…MatchScore` get one when they do not match: Jaro-Winkler, as the
spec says, on the 0..100 scale. Values are compared once normalised (case, accents, punctuation,
whitespace: `normalise_text` and its kin), as CAMARA's scoring proposal asks ("normalization of
parameters shall be done before algorithm is used").

A full `name` or `address` the operator does not hold is compared with the forms the spec says they
are made of (given, middle and family names in either order; street name and number, with or without
the house number extension). The playground is taken not to require `idDocument` (the spec lets an
operator do so): Orange's playground client sends none (ORANGE-AND-CAMARA.md §6.1).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rapidfuzz.distance import JaroWinkler

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.playground import BASE, DeviceErrors, PlaygroundApi, Refusal
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import Token

API_BASE = BASE + "/kyc-match/v0.2"
SCOPE = "kyc-match:match"

# Letters NFKD leaves whole that French names and streets write either way (Lætitia, Cœur).
LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _words(text: str) -> str:
    """Punctuation counts as a word break; runs of whitespace are one space, none at the ends."""
    return " ".join("".join(" " if _is_punctuation(c) else c for c in text).split())


def normalise_text(value: str) -> str:
    """Names, streets, places, as a person reads them. Not counted: case (Unicode's compatibility
    caseless form, so "ß" = "ss", full-width "Ｆ" = "f", "ﬁ" = "fi"), accents (combining marks dropped
    after NFKD: "é" = "e"), the ligatures "œ"/"æ" (= "oe"/"ae"), punctuation ("Jean-Pierre" = "Jean
    Pierre", "D'Artagnan" = "D’Artagnan") and whitespace."""
    # The Unicode Standard §3.13, D146 (compatibility caseless match): NFKD(casefold(NFKD(casefold(NFD(X))))).
    folded = unicodedata.normalize("NFD", value).casefold()
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", folded).casefold())
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    return _words(bare.translate(LIGATURES))


def normalise_kana(value: str) -> str:
    """Japanese readings (nameKanaHankaku, nameKanaZenkaku): NFKC, so half- and full-width kana are one,
    with case, punctuation and whitespace as in `normalise_text`; but voicing marks are kept, as they
    change the reading ("ガ", ga, is not "カ", ka)."""
    return _words(unicodedata.normalize("NFKC", value).casefold())


def normalise_code(value: str) -> str:
    """Identifiers (ID document numbers, postal codes, country codes): letters and digits only, caseless:
    "66666666-Q" = "66666666q", "SW1A 1AA" = "sw1a1aa"."""
    return "".join(c for c in normalise_text(value) if c.isalnum())


def normalise_email(value: str) -> str:
    """An address, caseless and trimmed, and nothing more: a dot or an accent in it names another
    mailbox. (RFC 5321 §2.4 lets a local part be case-sensitive but discourages relying on it.)"""
    return unicodedata.normalize("NFC", value.strip()).casefold()


def normalise_exact(value: str) -> str:
    """Values with one spelling (the validated YYYY-MM-DD birthdate, the gender enum)."""
    return value.strip()


def score(mine: str, theirs: str) -> int:
    """The spec's match score of two normalised values: Jaro-Winkler similarity × 100, rounded half up.
    Values that differ never score 100, which beside "false" would read as a match."""
    similarity = JaroWinkler.similarity(mine, theirs)
    return min(99, math.floor(similarity * 100 + 0.5))


@dataclass(frozen=True)
class Field:
    """How one request field is compared: its normalisation and, if the spec scores it, its score key."""

    name: str
    normalise: Callable[[str], str]
    score_key: str | None = None

    @property
    def result_key(self) -> str:
        return self.name + "Match"


def _scored(name: str, normalise: Callable[[str], str] = normalise_text) -> Field:
    return Field(name, normalise, name + "MatchScore")


# The spec's KYC_MatchResponse, in its order: which fields have a score and how each is compared.
FIELDS: tuple[Field, ...] = (
    Field("idDocument", normalise_code),
    _scored("name"),
    _scored("givenName"),
    _scored("familyName"),
    _scored("nameKanaHankaku", normalise_kana),
    _scored("nameKanaZenkaku", normalise_kana),
    Field("middleNames", normalise_text, "middleNamesScore"),  # 0.2.0 spells it without "Match"
    _scored("familyNameAtBirth"),
    _scored("address"),
    _scored("streetName"),
    _scored("streetNumber"),
    Field("postalCode", normalise_code),
    _scored("region"),
    _scored("locality"),
    Field("country", normalise_code),
    Field("houseNumberExtension", normalise_text),
    Field("birthdate", normalise_exact),
    _scored("email", normalise_email),
    Field("gender", normalise_exact),
)


def _held(held: Mapping[str, Any], name: str) -> str | None:
    value = held.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _joined(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def full_names(held: Mapping[str, Any]) -> list[str]:
    """The full names a given name and a family name (or the family name at birth) make, with and
    without the middle names, given name first or last ("the order … varies", says the spec)."""
    given, middle = _held(held, "givenName"), _held(held, "middleNames")
    families = [f for f in (_held(held, "familyName"), _held(held, "familyNameAtBirth")) if f]
    if not (given and families):
        return []
    forms: list[str] = []
    for family in families:
        for mid in (middle, None) if middle else (None,):
            forms += [_joined(given, mid, family), _joined(family, given, mid)]
    return list(dict.fromkeys(forms))


def addresses(held: Mapping[str, Any]) -> list[str]:
    """The addresses a street name and number make, number first (FR) or last (ES, NL), with and
    without the house number extension."""
    street, number = _held(held, "streetName"), _held(held, "streetNumber")
    extension = _held(held, "houseNumberExtension")
    if not (street and number):
        return []
    forms: list[str] = []
    for ext in (extension, None) if extension else (None,):
        forms += [_joined(number, ext, street), _joined(street, number, ext)]
    return list(dict.fromkeys(forms))


def references(name: str, held: Mapping[str, Any]) -> list[str]:
    """What the operator holds to compare the request's `name` field with (none: not_available)."""
    own = _held(held, name)
    if own is not None:
        return [own]
    if name == "name":
        return full_names(held)
    if name == "address":
        return addresses(held)
    return []


def compare(field: Field, value: str, held: Mapping[str, Any]) -> dict[str, Any]:
    """One field's part of the answer: its result and, for a scored field that does not match, the
    best score among the forms the operator holds."""
    theirs = [t for t in (field.normalise(r) for r in references(field.name, held)) if t]
    if not theirs:
        return {field.result_key: "not_available"}
    mine = field.normalise(value)
    if mine in theirs:
        return {field.result_key: "true"}
    answer: dict[str, Any] = {field.result_key: "false"}
    if field.score_key is not None:
        answer[field.score_key] = max(score(mine, t) for t in theirs)
    return answer


def match_identity(request: Mapping[str, Any], held: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to a validated request: a result for each identity field it sends, no other."""
    answer: dict[str, Any] = {}
    for field in FIELDS:
        if field.name in request:
            answer.update(compare(field, request[field.name], held))
    return answer


class KycMatch(PlaygroundApi):
    device_errors = DeviceErrors(
        # 0.2.0 has no 422: a number the token cannot give is its Generic403's INVALID_TOKEN_CONTEXT.
        missing=Refusal(
            403, "INVALID_TOKEN_CONTEXT", "Phone number cannot be deducted from access token context"
        ),
        unsupported=Refusal(400, "INVALID_ARGUMENT"),  # a bare phoneNumber admits no other identifier
        token_context=Refusal(
            403, "INVALID_TOKEN_CONTEXT", "Phone number mismatch with access token context"
        ),
        # 0.2.0's Generic404: "user is not found" (IDENTIFIER_NOT_FOUND arrives with 0.3.0).
        not_found=Refusal(404, "NOT_FOUND", "The phone number is not associated with a customer account"),
    )
    name = "kyc-match"
    prefixes = (API_BASE + "/",)
    operations = (Operation("match", "POST", API_BASE + "/match"),)
    scopes = frozenset({SCOPE})
    required_scopes: ClassVar = {"match": frozenset({SCOPE})}
    device_field = "phoneNumber"

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        data = body.require()
        self.validate("MatchRequest", data, ctx)
        if data.keys() <= {"phoneNumber"}:
            # "Regardless of whether the phoneNumber is explicitly stated … at least one of the other
            # fields must be provided" (0.2.0, POST /match).
            raise ApiError(
                400,
                "KNOW_YOUR_CUSTOMER.INVALID_PARAM_COMBINATION",
                "the body names no identity field to match (only phoneNumber, or nothing)",
                message="Indicated parameter combination is invalid: send at least one identity field",
            )
        subscriber = self.subscriber(token, data, ctx)
        return self.response(operation, match_identity(data, subscriber.part("kyc")), ctx)

    # Errors of 0.2.0 (Commonalities 0.4.0): no 422 yet, and 404 is NOT_FOUND -------------------------
