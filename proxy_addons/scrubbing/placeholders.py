"""Placeholders: a secret becomes `SCRUBBED-<KIND>-<nnnn>`, stable per cassette, so a recorded token
response and the later request that presents the token still agree after scrubbing. An id_token
keeps its claims and is signed again by the cassette key with the placeholder in its header
(`idtokens`), so apps that verify it still can; a value that is no JWT becomes an unsigned JWT whose
claims carry the placeholder (as every id_token did before), so apps that decode it do not crash."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from proxy_addons.scrubbing import idtokens
from proxy_addons.scrubbing.places import BASIC, ID_TOKEN

BASIC_PLACEHOLDER = "SCRUBBED-CREDENTIALS"  # what Basic credentials always become

PLACEHOLDER = re.compile(r"SCRUBBED(?:-[A-Z]+)*(?:-[0-9]+)?")
_NUMBERED = re.compile(r"SCRUBBED-([A-Z]+(?:-[A-Z]+)*)-([0-9]+)(?![0-9])")
_JWT_PAYLOAD = re.compile(r"(eyJ[A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)\.")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


_JWT_HEADER = b64url(b'{"alg":"none","typ":"JWT"}')


def _unsigned_jwt(placeholder: str) -> str:
    """An id_token stand-in that still decodes as a JWT, so apps that read it do not crash."""
    payload = json.dumps({"scrubbed": placeholder}, separators=(",", ":")).encode("ascii")
    return f"{_JWT_HEADER}.{b64url(payload)}."


def jwt_claim(value: str) -> str | None:
    """The placeholder inside one of our JWTs (a cassette-signed id_token, or an unsigned stand-in),
    or None."""
    if value.startswith("eyJ") and not value.startswith(_JWT_HEADER + "."):
        signed = idtokens.placeholder_of(value)
        return signed if signed is not None and PLACEHOLDER.fullmatch(signed) else None
    if not value.startswith(_JWT_HEADER + ".") or not value.endswith("."):
        return None
    parts = value.split(".")
    if len(parts) != 3:
        return None
    raw = b64url_decode(parts[1])
    try:
        claims = json.loads(raw) if raw else None
    except ValueError:
        return None
    claim = claims.get("scrubbed") if isinstance(claims, dict) else None
    return claim if isinstance(claim, str) and PLACEHOLDER.fullmatch(claim) else None


def is_placeholder(value: str) -> bool:
    """True for a placeholder this package writes (or the mask's marker)."""
    return bool(PLACEHOLDER.fullmatch(value)) or jwt_claim(value) is not None


class Placeholders:
    """The rewriter for storage: value → placeholder, numbered per kind in order of appearance,
    past every placeholder the cassette holds already."""

    def __init__(self, pseudonyms: Any = None) -> None:
        # With pseudonyms, an id_token's personal claims are pseudonymised as the rest is.
        self._pseudonyms = pseudonyms
        self._issued: dict[str, str] = {}  # secret value → its placeholder
        self._counters: dict[str, int] = {}  # kind → highest number in use

    def note(self, text: str) -> None:
        """Count past the placeholders in `text` (a cassette's), bare or inside our JWTs (claims and
        header)."""
        self._note_placeholder(text)
        for match in _JWT_PAYLOAD.finditer(text):
            for part in match.groups():
                decoded = b64url_decode(part)
                if decoded:
                    self._note_placeholder(decoded.decode("utf-8", "replace"))

    def _note_placeholder(self, text: str) -> None:
        """Count past placeholders we did not issue, so no number is reused for another secret."""
        for match in _NUMBERED.finditer(text):
            kind, number = match.group(1), int(match.group(2))
            self._counters[kind] = max(self._counters.get(kind, 0), number)

    def secret(self, value: str, kind: str) -> str:
        if not value:
            return value
        if kind == BASIC:
            return BASIC_PLACEHOLDER
        known = self._issued.get(value)
        if known is not None:
            return known
        if PLACEHOLDER.fullmatch(value):
            self._note_placeholder(value)
            return value
        claim = jwt_claim(value)
        if claim is not None:
            self._note_placeholder(claim)
            return value
        number = self._counters.get(kind, 0) + 1
        self._counters[kind] = number
        placeholder = f"SCRUBBED-{kind}-{number:04d}"
        if kind == ID_TOKEN:
            placeholder = self._id_token(value, placeholder)
        self._issued[value] = placeholder
        return placeholder

    def _id_token(self, value: str, placeholder: str) -> str:
        pseudonyms = self._pseudonyms
        token = idtokens.scrubbed(
            value,
            placeholder,
            numbers=pseudonyms,
            people=pseudonyms,
            subject=(lambda sub: self.secret(sub, idtokens.SUBJECT)) if pseudonyms is not None else None,
        )
        return token if token is not None else _unsigned_jwt(placeholder)
