"""id_tokens in cassettes: scrubbed, they keep their claims and are signed again by the cassette key,
whose JWKS takes the place of any recorded JWKS; replayed, they are signed afresh (times moved to
now, the app's own nonce in place of the recorded one), so an app that verifies its id_tokens with
standard OIDC tooling passes on replay, as it did when recording.

The cassette key is a TEST key: one RSA key shipped as `proxy_addons/data/cassette-test-key.pem`, the
same in every cassette and every installation, so any cassette replays anywhere with nothing secret to
keep beside it. A token it signs proves nothing outside a replay; it is never the proxy's own key (that
one lives in the confdir, see `proxy_addons.state.keys`).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from proxy_addons.resources import cassette_test_key_path
from proxy_addons.scrubbing.places import Walker
from proxy_addons.state.keys import SigningKey, b64url, b64url_decode

MARKER = "scrubbed"  # the JOSE header parameter that holds a scrubbed id_token's placeholder
# OIDC standard claims (Core 1.0 §5.1) that are personal data, by the KYC field whose pseudonyms fit.
PERSONAL_CLAIMS = {
    "name": "name",
    "given_name": "givenName",
    "family_name": "familyName",
    "middle_name": "middleNames",
    "email": "email",
    "birthdate": "birthdate",
}
PHONE_CLAIM = "phone_number"
SUBJECT = "SUBJECT"  # the placeholder kind of a pseudonymised `sub`
_TIME_CLAIMS = ("iat", "exp", "auth_time", "nbf")
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_E164 = re.compile(r"(\+?)([1-9][0-9]{4,14})")


# The cassette key ------------------------------------------------------------------------------------


@functools.cache
def cassette_key() -> SigningKey:
    """The published test key every cassette's id_tokens are signed with: a data file shipped with the
    package (its private half is public on purpose), the same in every installation."""
    return SigningKey.from_pem(cassette_test_key_path().read_bytes())


# Reading tokens --------------------------------------------------------------------------------------


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, claims) of a compact JWT, or None when it is not one."""
    if not _JWT.fullmatch(token):
        return None
    head, body, _ = token.split(".")
    try:
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(body))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def placeholder_of(token: str) -> str | None:
    """The placeholder in a scrubbed id_token's header (signed by the cassette key), or None."""
    found = parts(token)
    if found is None:
        return None
    header, _ = found
    marker = header.get(MARKER)
    if not isinstance(marker, str) or header.get("kid") != cassette_key().kid:
        return None
    return marker


def header_text(token: str) -> str | None:
    """The decoded JOSE header of a JWT-shaped value, for counting past the placeholders in it."""
    head = token.split(".", 1)[0]
    try:
        return b64url_decode(head).decode("utf-8", "replace")
    except ValueError:
        return None


# Scrubbing -------------------------------------------------------------------------------------------


def scrubbed(
    token: str,
    placeholder: str,
    numbers: Any = None,
    people: Any = None,
    subject: Callable[[str], str] | None = None,
) -> str | None:
    """The id_token with its claims kept and signed by the cassette key, `placeholder` in its header;
    with pseudonyms (`numbers`, `people`, `subject`), its personal claims pseudonymised. None when
    `token` is no JWT (the caller then puts a bare placeholder in its place)."""
    found = parts(token)
    if found is None:
        return None
    _, claims = found
    if numbers is not None:
        claims = _pseudonymised(claims, numbers, people, subject)
    return sign(claims, placeholder)


def sign(claims: Mapping[str, Any], placeholder: str) -> str:
    key = cassette_key()
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid, MARKER: placeholder}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode())
    )
    return key.sign_input(signing_input)


def _pseudonymised(
    claims: dict[str, Any], numbers: Any, people: Any, subject: Callable[[str], str] | None
) -> dict[str, Any]:
    result = dict(claims)
    sub = result.get("sub")
    if isinstance(sub, str):
        # A subject that is a phone number ("tel:+336…") takes the number's pseudonym; any other
        # (a hash of the number, an account id) a placeholder of its own.
        marked = Walker.marked_numbers(sub, numbers)
        result["sub"] = marked if marked != sub or subject is None else subject(sub)
    phone = result.get(PHONE_CLAIM)
    if isinstance(phone, str):
        match = _E164.fullmatch(phone)
        result[PHONE_CLAIM] = match[1] + numbers.number(match[2]) if match else numbers.free_text(phone)
    if people is not None:
        for claim, field in PERSONAL_CLAIMS.items():
            if isinstance(result.get(claim), str):
                result[claim] = people.personal(result[claim], field)
    return result


def is_jwks(data: Any) -> bool:
    """A JWK Set (RFC 7517 §5): an object whose `keys` is a list of JWKs."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        return False
    return all(isinstance(key, dict) and isinstance(key.get("kty"), str) for key in data["keys"])


def cassette_jwks() -> bytes:
    return json.dumps(cassette_key().jwks()).encode()


# Replaying -------------------------------------------------------------------------------------------


class Refresher:
    """Makes replayed id_tokens valid for the app replaying them: each cassette-signed id_token
    is signed again with its times moved to now (lifetime kept) and, when the app's /authorize
    carried a nonce, that nonce (matched through the code the replayed redirect handed out)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._nonces: dict[str, str] = {}  # code handed out by a replayed redirect → the app's nonce

    def authorize(self, request_uri: str, location: str | None) -> None:
        """Note the app's nonce against the code of the replayed redirect."""
        if not location:
            return
        nonce = _first(urlsplit(request_uri).query, "nonce")
        code = _first(urlsplit(location).query, "code")
        if nonce is not None and code is not None:
            self._nonces[code] = nonce

    def body(self, body: bytes, request_form: str) -> bytes:
        """A replayed token answer with its id_token refreshed; any other body as it is."""
        if b"id_token" not in body:
            return body
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return body
        token = data.get("id_token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            return body
        placeholder = placeholder_of(token)
        if placeholder is None:  # not ours: never sign what someone else signed
            return body
        _, claims = parts(token) or ({}, {})
        code = _first(request_form, "code")
        nonce = self._nonces.get(code) if code is not None else None
        fresh = self.claims(claims, nonce)
        return body.replace(token.encode("ascii"), sign(fresh, placeholder).encode("ascii"))

    def claims(self, claims: dict[str, Any], nonce: str | None) -> dict[str, Any]:
        result = dict(claims)
        issued = result.get("iat")
        if isinstance(issued, int | float) and not isinstance(issued, bool):
            shift = int(self.clock()) - int(issued)
            for name in _TIME_CLAIMS:
                value = result.get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    result[name] = int(value) + shift
        if nonce is not None:
            result["nonce"] = nonce
        return result


def _first(query: str, name: str) -> str | None:
    values = parse_qs(query, keep_blank_values=True).get(name)
    return values[0] if values else None
