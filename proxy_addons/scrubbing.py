"""Secret scrubbing for cassettes recorded from real traffic.

`Scrubber.scrub` replaces every secret it knows the place of (credentials in headers, OAuth parameters
in URIs and forms, tokens in JSON, user-listed places) with a placeholder `SCRUBBED-<KIND>-<nnnn>`.
Placeholders are stable per Scrubber: one secret value always gets one placeholder, so a recorded
token response and the later request that presents the token still agree after scrubbing.
Optionally real phone numbers become consistent `+990…` pseudonyms.

`Scrubber.mask` is the matching counterpart: it puts one fixed marker in the same places, so a live
request carrying a real secret compares equal to the stored request carrying its placeholder.

`leaks` looks at a cassette's text for secret shapes that survived.

What cannot be parsed (non-UTF-8 or broken JSON, odd URIs) is left as it is; header rules always apply.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from proxy_addons.cassette import Headers, Interaction, Request, Response

__all__ = ["ScrubConfig", "Scrubber", "is_placeholder", "leaks"]

MARKER = "SCRUBBED"  # what mask() puts in every secret place
BASIC_PLACEHOLDER = "SCRUBBED-CREDENTIALS"

# Placeholder kinds. BASIC is special: Basic credentials always become the one literal above.
ACCESS_TOKEN = "ACCESS-TOKEN"
REFRESH_TOKEN = "REFRESH-TOKEN"
ID_TOKEN = "ID-TOKEN"
CODE = "CODE"
CLIENT_SECRET = "CLIENT-SECRET"
ASSERTION = "ASSERTION"
PASSWORD = "PASSWORD"
COOKIE = "COOKIE"
CREDENTIALS = "CREDENTIALS"
VALUE = "VALUE"
_BASIC = "BASIC"

# Query (URIs, Location) and form parameters, by lower-cased name. One table for both: a parameter
# that is secret in a form body is no less secret in a URI.
_PARAM_KINDS = {
    "code": CODE,
    "client_secret": CLIENT_SECRET,
    "access_token": ACCESS_TOKEN,
    "id_token": ID_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "client_assertion": ASSERTION,
    "assertion": ASSERTION,
    "password": PASSWORD,
    "token": ACCESS_TOKEN,  # revocation and introspection requests
    "code_verifier": ASSERTION,  # PKCE: whoever holds it can redeem the code
    "device_code": CODE,
    "auth_req_id": CODE,  # CIBA
}
_JSON_KINDS = {
    "access_token": ACCESS_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "id_token": ID_TOKEN,
    "client_secret": CLIENT_SECRET,
    # The same in camelCase (names are compared lower-cased), as some gateways and SDKs spell them.
    "accesstoken": ACCESS_TOKEN,
    "refreshtoken": REFRESH_TOKEN,
    "idtoken": ID_TOKEN,
    "clientsecret": CLIENT_SECRET,
}
# Secret-bearing parameters inside HTML (a 3xx page linking to the redirect, a form_post page).
_HTML_PARAMS = re.compile(
    r"""(?P<name>\b(?:code|access_token|id_token|refresh_token))(?P<sep>=|"\s+value=")(?P<value>[^&"'\s<>]+)""",
    re.I,
)
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_URI_HEADERS = frozenset({"location", "content-location", "referer"})
_PHONE_PARAMS = frozenset({"login_hint", "msisdn"})

_PLACEHOLDER = re.compile(r"SCRUBBED(?:-[A-Z]+)*(?:-[0-9]+)?")
_NUMBERED = re.compile(r"SCRUBBED-([A-Z]+(?:-[A-Z]+)*)-([0-9]+)(?![0-9])")
_JWT_PAYLOAD = re.compile(r"eyJ[A-Za-z0-9_-]*\.([A-Za-z0-9_-]+)\.")
_PSEUDONYM_IN_TEXT = re.compile(r"(?<![0-9])9900([0-9]{8})(?![0-9])")

# Phone numbers: E.164 digits (5 to 15, no leading 0), optionally behind '+' / 'tel:' (maybe percent-encoded).
_NUMBER_VALUE = re.compile(r"(?P<lead>(?:tel:|tel%3A)?(?:\+|%2B)?)(?P<digits>[1-9][0-9]{4,14})", re.I)
# In free text (a whole URI or form) only numbers marked by '+' or 'tel:' are taken as phone numbers.
_NUMBER_MARKED = re.compile(
    r"(?<![0-9A-Za-z])(?P<lead>tel(?::|%3A)(?:\+|%2B)?|\+|%2B)(?P<digits>[1-9][0-9]{4,14})(?![0-9])", re.I
)
_PLUS_NUMBER = re.compile(r"(?<![0-9])\+([1-9][0-9]{4,14})(?![0-9])")
_FORM_LIKE = re.compile(rb"[A-Za-z0-9_.~%+-]+=[^&\s]*(?:&[A-Za-z0-9_.~%+-]+=[^&\s]*)*")
_FIRST_KEY = re.compile(r'\s*(?:\[\s*)*\{\s*"(?:[^"\\]|\\.)*"\s*:([ \t]*)')


@dataclass(frozen=True)
class ScrubConfig:
    headers: frozenset[str] = frozenset()  # extra header names to scrub (any case)
    query_params: frozenset[str] = frozenset()  # extra query/form parameter names
    json_fields: frozenset[str] = frozenset()  # extra JSON field names or dotted paths
    pseudonymise_numbers: bool = False


# Placeholders ------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


_JWT_HEADER = _b64url(b'{"alg":"none","typ":"JWT"}')


def _unsigned_jwt(placeholder: str) -> str:
    """An id_token stand-in that still decodes as a JWT, so apps that read it do not crash."""
    payload = json.dumps({"scrubbed": placeholder}, separators=(",", ":")).encode("ascii")
    return f"{_JWT_HEADER}.{_b64url(payload)}."


def _jwt_claim(value: str) -> str | None:
    """The placeholder inside one of our unsigned JWTs, or None."""
    if not value.startswith(_JWT_HEADER + ".") or not value.endswith("."):
        return None
    parts = value.split(".")
    if len(parts) != 3:
        return None
    raw = _b64url_decode(parts[1])
    try:
        claims = json.loads(raw) if raw else None
    except ValueError:
        return None
    claim = claims.get("scrubbed") if isinstance(claims, dict) else None
    return claim if isinstance(claim, str) and _PLACEHOLDER.fullmatch(claim) else None


def is_placeholder(value: str) -> bool:
    """True for a placeholder this module writes (or mask()'s marker)."""
    return bool(_PLACEHOLDER.fullmatch(value)) or _jwt_claim(value) is not None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# JSON that re-serialises faithfully --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    """A JSON number (or NaN/Infinity) kept as its source text: re-serialising must not turn
    48.80 into 48.8 or a huge integer into a float."""

    text: str


class _Obj(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, keeping key order and repeated keys."""


@dataclass(frozen=True, slots=True)
class _Style:
    indent: str | None
    item_sep: str
    key_sep: str


def _parse_json(text: str) -> Any:
    return json.loads(
        text, parse_float=_Literal, parse_int=_Literal, parse_constant=_Literal, object_pairs_hook=_Obj
    )


def _style(text: str) -> _Style:
    """The layout of the original text, so a rewritten body looks like the recorded one. Our own output
    gives back the same style, which mask() relies on (stored and live bodies re-serialise alike)."""
    lines = text.strip().split("\n")
    if len(lines) > 1:
        indent = re.match(r"[ \t]*", lines[1])
        if indent and indent.group():
            return _Style(indent.group(), ",", ": ")
    first = _FIRST_KEY.match(text)
    if first and not first.group(1):
        return _Style(None, ",", ":")
    return _Style(None, ", ", ": ")


def _dump(value: Any, style: _Style, level: int = 0) -> str:
    if isinstance(value, _Obj):
        items = [f"{_string(key)}{style.key_sep}{_dump(item, style, level + 1)}" for key, item in value]
        return _join("{", items, "}", style, level)
    if isinstance(value, list):
        return _join("[", [_dump(item, style, level + 1) for item in value], "]", style, level)
    if isinstance(value, _Literal):
        return value.text
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)  # bool, None


def _string(value: str) -> str:
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape: keep it escaped
        return json.dumps(value)
    return dumped


def _join(opening: str, items: list[str], closing: str, style: _Style, level: int) -> str:
    if not items:
        return opening + closing
    if style.indent is None:
        return opening + style.item_sep.join(items) + closing
    inner = "\n" + style.indent * (level + 1)
    return opening + inner + ("," + inner).join(items) + "\n" + style.indent * level + closing


# The rules, shared by scrubbing and masking -------------------------------------------------------


class _Rules:
    """Where secrets are and how each place is rewritten. Subclasses decide what a secret becomes."""

    pseudonymise = False

    def __init__(self, config: ScrubConfig) -> None:
        self.extra_headers = frozenset(h.lower() for h in config.headers)
        self.extra_params = frozenset(p.lower() for p in config.query_params)
        fields = [f.lower() for f in config.json_fields]
        self.extra_names = frozenset(f for f in fields if "." not in f)
        self.extra_paths = frozenset(tuple(f.split(".")) for f in fields if "." in f)

    # Hooks ---------------------------------------------------------------------------------------

    def secret(self, value: str, kind: str) -> str:
        raise NotImplementedError

    def number(self, digits: str) -> str:
        return digits

    def hashed(self, value: str) -> str:
        return value

    def free_text(self, value: str) -> str:
        return value

    # Messages ------------------------------------------------------------------------------------

    def request(self, request: Request) -> Request:
        # In reading order (URI, headers, body), so numbering follows first appearance.
        uri = self.uri(request.uri)
        headers = self.headers(request.headers)
        body = request.body
        if body is not None:
            body = self.body(body, request.header("content-type"))
            if body != request.body:
                _set_length(headers, body)
        return Request(request.method, uri, headers, body)

    def response(self, response: Response) -> Response:
        headers = self.headers(response.headers)
        body = self.body(response.body, response.header("content-type"))
        if body != response.body:
            _set_length(headers, body)
        return Response(response.status, response.reason, headers, body)

    # Headers -------------------------------------------------------------------------------------

    def headers(self, headers: Headers) -> Headers:
        result: Headers = {}
        for name, values in headers.items():
            lowered = name.lower()
            rewrite: Callable[[str], str] | None = None
            if lowered in _AUTH_HEADERS:
                rewrite = self.authorization
            elif lowered == "cookie":
                rewrite = self.cookie
            elif lowered == "set-cookie":
                rewrite = self.set_cookie
            elif lowered in _URI_HEADERS:
                rewrite = self.uri
            elif lowered in self.extra_headers:
                rewrite = self.whole_value
            result[name] = [rewrite(v) for v in values] if rewrite else list(values)
        return result

    def whole_value(self, value: str) -> str:
        stripped = value.strip()
        return self.secret(stripped, VALUE) if stripped else value

    def authorization(self, value: str) -> str:
        scheme, space, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if not space:  # a bare credential with no scheme; a lone scheme name hides nothing
            if scheme.lower() in ("", "basic", "bearer"):
                return value
            return self.secret(scheme, CREDENTIALS)
        if not credentials:
            return value
        kind = {"basic": _BASIC, "bearer": ACCESS_TOKEN}.get(scheme.lower(), CREDENTIALS)
        return f"{scheme} {self.secret(credentials, kind)}"

    def _cookie_pair(self, pair: str) -> str:
        name, equals, value = pair.partition("=")
        if not equals:  # a value without a name: the whole thing may be the secret
            name, value = "", name
        lead = value[: len(value) - len(value.lstrip())]
        stripped = value.strip()
        quoted = len(stripped) >= 2 and stripped[0] == stripped[-1] == '"'
        inner = stripped[1:-1] if quoted else stripped
        if not inner:
            return pair
        new = self.secret(inner, COOKIE)
        new = f'"{new}"' if quoted else new
        return f"{name}{equals}{lead}{new}" if equals else f"{lead}{new}"

    def cookie(self, value: str) -> str:
        return ";".join(self._cookie_pair(pair) for pair in value.split(";"))

    def set_cookie(self, value: str) -> str:
        pair, semicolon, attributes = value.partition(";")  # attributes (Path, Expires, ...) stay
        return self._cookie_pair(pair) + semicolon + attributes

    # URIs and forms ------------------------------------------------------------------------------

    def uri(self, uri: str) -> str:
        before_fragment, hash_mark, fragment = uri.partition("#")
        base, question, query = before_fragment.partition("?")
        if question:
            query = self.params(query)
        if hash_mark and "=" in fragment:  # implicit-flow tokens come back in the fragment
            fragment = self.params(fragment)
        result = f"{base}{question}{query}{hash_mark}{fragment}"
        if self.pseudonymise:
            result = self.marked_numbers(result)
        return result

    def params(self, text: str) -> str:
        """`a=1&b=2` with secret values replaced; everything else keeps its exact encoding."""
        parts = text.split("&")
        for index, part in enumerate(parts):
            raw_name, equals, raw_value = part.partition("=")
            if not equals or not raw_value:
                continue
            name = unquote_plus(raw_name).lower()
            kind = _PARAM_KINDS.get(name) or (VALUE if name in self.extra_params else None)
            if kind:
                value = unquote_plus(raw_value)
                new = self.secret(value, kind)
                if new != value:
                    parts[index] = f"{raw_name}={quote(new, safe='-._~')}"
            elif self.pseudonymise and ("phone" in name or name in _PHONE_PARAMS):
                # A phone parameter may hold the number without '+' or 'tel:'.
                match = _NUMBER_VALUE.fullmatch(raw_value)
                if match:
                    parts[index] = f"{raw_name}={match['lead']}{self.number(match['digits'])}"
        return "&".join(parts)

    def marked_numbers(self, text: str) -> str:
        return _NUMBER_MARKED.sub(lambda m: m["lead"] + self.number(m["digits"]), text)

    def form(self, body: bytes) -> bytes:
        # latin-1 maps every byte to one character and back, so odd bytes survive untouched.
        text = body.decode("latin-1")
        result = self.params(text)
        if self.pseudonymise:
            result = self.marked_numbers(result)
        return body if result == text else result.encode("latin-1")

    # Bodies --------------------------------------------------------------------------------------

    def body(self, body: bytes, content_type: str | None) -> bytes:
        if not body:
            return body
        kind = (content_type or "").lower()
        if "application/x-www-form-urlencoded" in kind:
            return self.form(body)
        # Try JSON whatever the label says: a token response served as text/plain must not leak.
        if "json" in kind or body.removeprefix(codecs.BOM_UTF8).lstrip()[:1] in (b"{", b"["):
            return self.json_body(body)
        if "html" in kind:
            return self.html(body)
        if not kind and _FORM_LIKE.fullmatch(body):
            return self.form(body)
        return body

    def html(self, body: bytes) -> bytes:
        """Codes and tokens in links and form_post fields of an HTML page."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body

        def replace(match: re.Match[str]) -> str:
            kind = _PARAM_KINDS[match["name"].lower()]
            return f"{match['name']}{match['sep']}{self.secret(match['value'], kind)}"

        new = _HTML_PARAMS.sub(replace, text)
        return body if new == text else new.encode("utf-8")

    def json_body(self, body: bytes) -> bytes:
        bom = body.startswith(codecs.BOM_UTF8)
        try:
            text = body[len(codecs.BOM_UTF8) :].decode("utf-8") if bom else body.decode("utf-8")
            tree = _parse_json(text)
            new, changed = self.walk(tree, ())
            if not changed:
                return body
            dumped = _dump(new, _style(text))
        except (ValueError, RecursionError):  # not JSON after all, or absurdly deep: leave it
            return body
        return (codecs.BOM_UTF8 if bom else b"") + dumped.encode("utf-8")

    def walk(self, value: Any, path: tuple[str, ...]) -> tuple[Any, bool]:
        """The value with its secret places rewritten, and whether anything changed. Lists are
        transparent to paths: `devices.phoneNumber` reaches into a list of devices."""
        if isinstance(value, _Obj):
            result = _Obj()
            changed = False
            for key, item in value:
                new, item_changed = self.field(item, (*path, key.lower()))
                result.append((key, new))
                changed = changed or item_changed
            return (result, True) if changed else (value, False)
        if isinstance(value, list):
            pairs = [self.walk(item, path) for item in value]
            if any(changed for _, changed in pairs):
                return [new for new, _ in pairs], True
            return value, False
        if isinstance(value, str):
            new = self.free_text(value)
            return new, new != value
        return value, False

    def field(self, value: Any, path: tuple[str, ...]) -> tuple[Any, bool]:
        name = path[-1]
        if name in _JSON_KINDS:
            return self.leaf(value, _JSON_KINDS[name])
        if name in self.extra_names or path in self.extra_paths:
            return self.leaf(value, VALUE)
        if self.pseudonymise:
            if name == "hashedphonenumber" and isinstance(value, str):
                new = self.hashed(value)
                return new, new != value
            if "phone" in name or name == "msisdn":
                return self.phones(value, path)
        return self.walk(value, path)

    def leaf(self, value: Any, kind: str) -> tuple[Any, bool]:
        """A secret field: strings and numbers become placeholders; under an object or list, every one."""
        if isinstance(value, str):
            new = self.secret(value, kind)
            return new, new != value
        if isinstance(value, _Literal):
            return self.secret(value.text, kind), True
        if isinstance(value, _Obj):
            pairs = [(key, self.leaf(item, kind)) for key, item in value]
            if any(changed for _, (_, changed) in pairs):
                return _Obj((key, new) for key, (new, _) in pairs), True
            return value, False
        if isinstance(value, list):
            items = [self.leaf(item, kind) for item in value]
            if any(changed for _, changed in items):
                return [new for new, _ in items], True
            return value, False
        return value, False  # true, false, null: nothing to hide

    def phones(self, value: Any, path: tuple[str, ...]) -> tuple[Any, bool]:
        """A phone field: a number string (any form), a bare JSON number, or a list of them."""
        if isinstance(value, str):
            match = _NUMBER_VALUE.fullmatch(value)
            new = f"{match['lead']}{self.number(match['digits'])}" if match else self.free_text(value)
            return new, new != value
        if isinstance(value, _Literal):
            if _NUMBER_VALUE.fullmatch(value.text) and value.text.isdigit():
                new_digits = self.number(value.text)
                return (_Literal(new_digits), True) if new_digits != value.text else (value, False)
            return value, False
        if isinstance(value, list):
            items = [self.phones(item, path) for item in value]
            if any(changed for _, changed in items):
                return [new for new, _ in items], True
            return value, False
        return self.walk(value, path)


def _set_length(headers: Headers, body: bytes) -> None:
    """Recompute Content-Length of a changed body, where there is one (chunked messages have none)."""
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(len(body))]


class _Masking(_Rules):
    def secret(self, value: str, kind: str) -> str:
        # Value-independent: a real secret and its placeholder both become the marker.
        return MARKER if value else value


class _Scrubbing(_Rules):
    """The stateful rules: value → placeholder, real number → pseudonym."""

    def __init__(self, config: ScrubConfig) -> None:
        super().__init__(config)
        self.pseudonymise = config.pseudonymise_numbers
        self.placeholders: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.numbers: dict[str, str] = {}  # real digits → pseudonym digits
        self.hashes: dict[str, str] = {}  # sha256 of real '+digits' → sha256 of pseudonym's
        self.number_count = 0
        self.kept: set[str] = set()  # +990 numbers seen as they are: never hand them out as pseudonyms

    def note_placeholder(self, placeholder: str) -> None:
        """Count past a placeholder we did not issue, so no number is reused for another secret."""
        for match in _NUMBERED.finditer(placeholder):
            kind, number = match.group(1), int(match.group(2))
            self.counters[kind] = max(self.counters.get(kind, 0), number)

    def note_text(self, text: str) -> None:
        self.note_placeholder(text)
        for match in _JWT_PAYLOAD.finditer(text):
            payload = _b64url_decode(match.group(1))
            if payload:
                self.note_placeholder(payload.decode("utf-8", "replace"))
        for match in _PSEUDONYM_IN_TEXT.finditer(text):
            self.number_count = max(self.number_count, int(match.group(1)))

    def secret(self, value: str, kind: str) -> str:
        if not value:
            return value
        if kind == _BASIC:
            return BASIC_PLACEHOLDER
        known = self.placeholders.get(value)
        if known is not None:
            return known
        if _PLACEHOLDER.fullmatch(value):
            self.note_placeholder(value)
            return value
        claim = _jwt_claim(value)
        if claim is not None:
            self.note_placeholder(claim)
            return value
        number = self.counters.get(kind, 0) + 1
        self.counters[kind] = number
        placeholder = f"SCRUBBED-{kind}-{number:04d}"
        if kind == ID_TOKEN:
            placeholder = _unsigned_jwt(placeholder)
        self.placeholders[value] = placeholder
        return placeholder

    def number(self, digits: str) -> str:
        if digits.startswith("990"):  # playground numbers (and our pseudonyms) are not personal data
            self.kept.add(digits)
            return digits
        pseudonym = self.numbers.get(digits)
        if pseudonym is None:
            while True:
                self.number_count += 1
                pseudonym = f"990{self.number_count:09d}"
                if pseudonym not in self.kept:
                    break
            self.numbers[digits] = pseudonym
            self.hashes[_sha256("+" + digits)] = _sha256("+" + pseudonym)
        return pseudonym

    def hashed(self, value: str) -> str:
        return self.hashes.get(value.lower(), value)

    def free_text(self, value: str) -> str:
        # Numbers already mapped also leave free text, e.g. "+336… does not exist for <client>".
        if not self.numbers or "+" not in value:
            return value
        return _PLUS_NUMBER.sub(lambda m: "+" + self.numbers.get(m.group(1), m.group(1)), value)


# Public API --------------------------------------------------------------------------------------


def _texts(interaction: Interaction) -> Iterable[str]:
    for message in (interaction.request, interaction.response):
        if isinstance(message, Request):
            yield message.uri
        for values in message.headers.values():
            yield from values
        if message.body:
            yield message.body.decode("utf-8", "replace")


class Scrubber:
    """Scrubs the interactions of one cassette, keeping placeholders stable across them."""

    def __init__(self, config: ScrubConfig = ScrubConfig(), existing: Iterable[Interaction] = ()) -> None:
        self.config = config
        self._scrubbing = _Scrubbing(config)
        self._masking = _Masking(config)
        for interaction in existing:
            for text in _texts(interaction):
                self._scrubbing.note_text(text)

    def scrub(self, interaction: Interaction) -> Interaction:
        """A scrubbed copy (the input is not modified). Content-Length of a changed body is recomputed."""
        return Interaction(
            self._scrubbing.request(interaction.request),
            self._scrubbing.response(interaction.response),
            copy.deepcopy(interaction.meta),
        )

    def mask(self, request: Request) -> Request:
        """A copy for MATCHING, not for storage: every secret place holds the fixed marker `SCRUBBED`,
        so a request with a real secret and one with that secret's placeholder compare equal.
        No pseudonymisation, no state change."""
        return self._masking.request(request)


# Leak check --------------------------------------------------------------------------------------

_LEAK_AUTH = re.compile(r"\b(Basic|Bearer)[ \t]+([A-Za-z0-9._~+/-]+=*)(?![A-Za-z0-9._~+/=\"-])", re.I)
_LEAK_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_LEAK_OFR = re.compile(r"(?<![A-Za-z0-9])OFR-[A-Za-z0-9._~-]+")
# JSON inside YAML: quotes may be escaped (double-quoted style) and a long line folded at the spaces.
_LEAK_JSON = re.compile(
    r'\\?"(access_token|refresh_token|client_secret)\\?"(?:\s|\\(?=\s))*:(?:\s|\\(?=\s))*\\?"([^"\\\s]+)'
)
_LEAK_PARAM = re.compile(
    r"(?<![A-Za-z0-9_.%-])(access_token|refresh_token|client_secret|code)=([^&\s\"'#\\]+)"
)


def _snippet(value: str, keep: int = 12) -> str:
    return value if len(value) <= keep else value[:keep] + "…"


def _token_like(value: str) -> bool:
    """Random-looking enough to be a credential rather than a word in an error message."""
    return len(value) >= 20 or (len(value) >= 8 and any(c.isdigit() for c in value))


def _basic_like(value: str) -> bool:
    """Decodes to printable `id:secret`, as Basic credentials do, or looks random anyway."""
    raw = _b64url_decode(value.replace("+", "-").replace("/", "_").rstrip("="))
    try:
        decoded = raw.decode("utf-8") if raw else ""
    except UnicodeDecodeError:
        decoded = ""
    return (":" in decoded and decoded.isprintable()) or _token_like(value)


def leaks(text: str) -> list[str]:
    """Secret-looking things left in a cassette's text, each a short description with a truncated
    snippet and its line number. Placeholders and our unsigned JWTs are not reported."""
    found: list[tuple[int, int, str]] = []
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def add(start: int, end: int, what: str, value: str) -> None:
        line = bisect.bisect_right(line_starts, start)
        found.append((start, end, f"line {line}: {what} {_snippet(value)!r}"))

    for match in _LEAK_AUTH.finditer(text):
        scheme, value = match.group(1), match.group(2)
        if is_placeholder(value):
            continue
        if _basic_like(value) if scheme.lower() == "basic" else _token_like(value):
            add(match.start(), match.end(), f"Authorization {scheme.capitalize()} value", value)
    for match in _LEAK_JWT.finditer(text):
        if _jwt_claim(match.group()) is None:
            add(match.start(), match.end(), "JWT", match.group())
    for match in _LEAK_OFR.finditer(text):
        add(match.start(), match.end(), "Orange authorization code", match.group())
    for match in _LEAK_JSON.finditer(text):
        if not is_placeholder(match.group(2)):
            add(match.start(2), match.end(2), f"JSON {match.group(1)} value", match.group(2))
    for match in _LEAK_PARAM.finditer(text):
        value = unquote(match.group(2))
        if not is_placeholder(value):
            add(match.start(2), match.end(2), f"query/form {match.group(1)} value", match.group(2))

    # One report per place: a Bearer JWT is not also reported as a bare JWT.
    reports: list[str] = []
    covered: list[tuple[int, int]] = []
    for start, end, description in sorted(found, key=lambda item: (item[0], -item[1])):
        if any(start < c_end and c_start < end for c_start, c_end in covered):
            continue
        covered.append((start, end))
        reports.append(description)
    return reports
