"""Where secrets live in an HTTP exchange, and the one walk that visits each of those places.

The places: credentials in headers (Authorization, cookies, URIs in Location and friends), OAuth
parameters in URIs, fragments and forms, tokens in JSON fields and HTML pages, and what the user
lists. `Walker` visits each place and has a rewriter say what the secret there becomes
(placeholders for storage, the mask for matching); with pseudonyms it also visits phone numbers and
the personal data of KYC (`KYC_FIELDS`, where `KYC_PARENT` and `KYC_API` say).

What cannot be parsed (non-UTF-8 or broken JSON, odd URIs) is left as it is; header rules always apply.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote_plus, urlsplit

from proxy_addons.cassettes.model import Headers, Request, Response
from proxy_addons.scrubbing import jsontext
from proxy_addons.scrubbing.jsontext import Document, Literal, Obj

# Kinds of secret, named in placeholders. BASIC is special: Basic credentials always become one literal.
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
IDENTIFIER = "IDENTIFIER"
BASIC = "BASIC"

# Query (URIs, Location) and form parameters, by lower-cased name. One table for both: a parameter
# that is secret in a form body is no less secret in a URI.
PARAM_KINDS = {
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
JSON_KINDS = {
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
# A CAMARA `sinkCredential` (Population Density Data 0.2: where the asynchronous answer goes):
# PLAIN {identifier, secret}, ACCESSTOKEN {accessToken, ...}, REFRESHTOKEN {..., refreshToken,
# refreshTokenEndpoint}. Inside it every value is a placeholder, always, but those that only say what
# kind of credential it is, so a field a later version adds is hidden too (as VALUE). The identifier
# goes as well: with the secret it is the whole credential, as Basic credentials are.
SINK_CREDENTIAL = "sinkcredential"
SINK_CREDENTIAL_KINDS = {**JSON_KINDS, "secret": PASSWORD, "identifier": IDENTIFIER}
SINK_CREDENTIAL_KEPT = frozenset({"credentialtype", "accesstokentype", "accesstokenexpiresutc"})
# JSON fields that hold a URI: its query is scrubbed as a Location header's is (a webhook URL may
# carry `?access_token=`); the rest of the URI stays.
JSON_URIS = frozenset({"sink", "refreshtokenendpoint"})

# Personal data, pseudonymised only when pseudonyms are asked (`pseudonymise_numbers`; the shapes are
# in pseudonyms.py). The identity fields of CAMARA KYC Match 0.2's request body, which the playground
# Admin API's `kyc` part holds too (schemas/playground-admin.schema.json#/$defs/Kyc).
KYC_FIELDS = frozenset(
    {
        "idDocument",
        "name",
        "givenName",
        "familyName",
        "nameKanaHankaku",
        "nameKanaZenkaku",
        "middleNames",
        "familyNameAtBirth",
        "address",
        "streetName",
        "streetNumber",
        "postalCode",
        "region",
        "locality",
        "country",
        "houseNumberExtension",
        "birthdate",
        "email",
        "gender",
    }
)
# Of those, kept as they are: coarse codes (MALE/FEMALE/OTHER; an ISO 3166-1 alpha-2 country) that
# identify nobody once the rest is pseudonymised, and that matching and the country's rules need.
KYC_KEPT = frozenset({"gender", "country"})
# Where KYC fields are personal data (elsewhere `name` or `country` may be anything): in every object
# under a `kyc` key (the Admin API's data.kyc, requests and answers), and anywhere in the bodies of a
# KYC API, `/kyc-<name>/v<version>/` (KYC Match on the playground and the lab, and its siblings).
KYC_PARENT = "kyc"
KYC_API = re.compile(r"/kyc-[a-z0-9-]+/v[0-9][^/]*/", re.I)
KYC_BY_KEY = {name.lower(): name for name in KYC_FIELDS}  # JSON keys are compared lower-cased
# Secret-bearing parameters inside HTML (a 3xx page linking to the redirect, a form_post page).
_HTML_PARAMS = re.compile(
    r"""(?P<name>\b(?:code|access_token|id_token|refresh_token))(?P<sep>=|"\s+value=")(?P<value>[^&"'\s<>]+)""",
    re.I,
)
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_URI_HEADERS = frozenset({"location", "content-location", "referer"})
_PHONE_PARAMS = frozenset({"login_hint", "msisdn"})

# Phone numbers: E.164 digits (5 to 15, no leading 0), optionally behind '+' / 'tel:' (maybe percent-encoded).
_NUMBER_VALUE = re.compile(r"(?P<lead>(?:tel:|tel%3A)?(?:\+|%2B)?)(?P<digits>[1-9][0-9]{4,14})", re.I)
# In free text (a whole URI or form) only numbers marked by '+' or 'tel:' are taken as phone numbers.
_NUMBER_MARKED = re.compile(
    r"(?<![0-9A-Za-z])(?P<lead>tel(?::|%3A)(?:\+|%2B)?|\+|%2B)(?P<digits>[1-9][0-9]{4,14})(?![0-9])", re.I
)
_FORM_LIKE = re.compile(rb"[A-Za-z0-9_.~%+-]+=[^&\s]*(?:&[A-Za-z0-9_.~%+-]+=[^&\s]*)*")
_JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")


def is_kyc_api(uri: str) -> bool:
    """Whether `uri` names an operation of a KYC API, whose bodies are all personal data."""
    try:
        path = urlsplit(uri).path
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return bool(KYC_API.search(path))


@dataclass(frozen=True)
class ScrubConfig:
    headers: frozenset[str] = frozenset()  # extra header names to scrub (any case)
    query_params: frozenset[str] = frozenset()  # extra query/form parameter names
    json_fields: frozenset[str] = frozenset()  # extra JSON field names or dotted paths
    pseudonymise_numbers: bool = False


class Secrets(Protocol):
    """A rewriter: what the secret `value` of `kind` becomes."""

    def secret(self, value: str, kind: str) -> str: ...


class Numbers(Protocol):
    """A rewriter of phone numbers: E.164 digits, SHA-256 hashes of '+digits', and free text."""

    def number(self, digits: str) -> str: ...

    def hashed(self, value: str) -> str: ...

    def free_text(self, value: str) -> str: ...


class People(Protocol):
    """A rewriter of personal data: what `value` of the KYC field `field` (as KYC_FIELDS names it)
    becomes."""

    def personal(self, value: str, field: str) -> str: ...


def set_length(headers: Headers, body: bytes) -> None:
    """Recompute Content-Length of a changed body, where there is one (chunked messages have none)."""
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(len(body))]


class Walker:
    """Visits every secret place of a message and rewrites it with `secrets`; with `numbers`, phone
    numbers too, and with `people` the KYC personal data. Returns copies: its input is never modified."""

    def __init__(
        self,
        config: ScrubConfig,
        secrets: Secrets,
        numbers: Numbers | None = None,
        people: People | None = None,
    ) -> None:
        self.secret = secrets.secret
        self.numbers = numbers
        self.people = people
        self.extra_headers = frozenset(h.lower() for h in config.headers)
        self.extra_params = frozenset(p.lower() for p in config.query_params)
        fields = [f.lower() for f in config.json_fields]
        self.extra_names = frozenset(f for f in fields if "." not in f)
        self.extra_paths = frozenset(tuple(f.split(".")) for f in fields if "." in f)

    # Messages ------------------------------------------------------------------------------------

    def request(self, request: Request, parsed: Document | None = None) -> tuple[Request, Document | None]:
        """The rewritten request and, when its body was read as JSON, the rewritten body's Document.
        `parsed` is the body's Document when the caller has it already (so it is not parsed again)."""
        # In reading order (URI, headers, body), so numbering follows first appearance.
        uri = self.uri(request.uri)
        headers = self.headers(request.headers)
        body, document = request.body, None
        if body is not None:
            body, document = self.body(body, request.header("content-type"), parsed, is_kyc_api(request.uri))
            if body != request.body:
                set_length(headers, body)
        return Request(request.method, uri, headers, body), document

    def response(self, response: Response, uri: str = "") -> Response:
        """The rewritten response; `uri` is its request's, which says whether it is a KYC API's."""
        headers = self.headers(response.headers)
        body, _ = self.body(response.body, response.header("content-type"), kyc=is_kyc_api(uri))
        if body != response.body:
            set_length(headers, body)
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
        kind = {"basic": BASIC, "bearer": ACCESS_TOKEN}.get(scheme.lower(), CREDENTIALS)
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
        if self.numbers is not None:
            result = self.marked_numbers(result, self.numbers)
        return result

    def params(self, text: str) -> str:
        """`a=1&b=2` with secret values replaced; everything else keeps its exact encoding."""
        parts = text.split("&")
        for index, part in enumerate(parts):
            raw_name, equals, raw_value = part.partition("=")
            if not equals or not raw_value:
                continue
            name = unquote_plus(raw_name).lower()
            kind = PARAM_KINDS.get(name) or (VALUE if name in self.extra_params else None)
            if kind:
                value = unquote_plus(raw_value)
                new = self.secret(value, kind)
                if new != value:
                    parts[index] = f"{raw_name}={quote(new, safe='-._~')}"
            elif self.numbers is not None and ("phone" in name or name in _PHONE_PARAMS):
                # A phone parameter may hold the number without '+' or 'tel:'.
                match = _NUMBER_VALUE.fullmatch(raw_value)
                if match:
                    parts[index] = f"{raw_name}={match['lead']}{self.numbers.number(match['digits'])}"
        return "&".join(parts)

    @staticmethod
    def marked_numbers(text: str, numbers: Numbers) -> str:
        return _NUMBER_MARKED.sub(lambda m: m["lead"] + numbers.number(m["digits"]), text)

    def form(self, body: bytes) -> bytes:
        # latin-1 maps every byte to one character and back, so odd bytes survive untouched.
        text = body.decode("latin-1")
        result = self.params(text)
        if self.numbers is not None:
            result = self.marked_numbers(result, self.numbers)
        return body if result == text else result.encode("latin-1")

    # Bodies --------------------------------------------------------------------------------------

    def body(
        self, body: bytes, content_type: str | None, parsed: Document | None = None, kyc: bool = False
    ) -> tuple[bytes, Document | None]:
        """The rewritten body, and its Document when it was read as JSON (`parsed`: see `request`).
        `kyc`: a KYC API's body, whose KYC fields are personal data wherever they are."""
        if not body:
            return body, None
        kind = (content_type or "").lower()
        if "application/x-www-form-urlencoded" in kind:
            return self.form(body), None
        # Try JSON whatever the label says: a token response served as text/plain must not leak.
        if "json" in kind or body.removeprefix(codecs.BOM_UTF8).lstrip()[:1] in (b"{", b"["):
            return self.json_body(body, parsed, kyc)
        if "html" in kind:
            return self.html(body), None
        if not kind and _FORM_LIKE.fullmatch(body):
            return self.form(body), None
        return body, None

    def html(self, body: bytes) -> bytes:
        """Codes and tokens in links and form_post fields of an HTML page."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body

        def replace(match: re.Match[str]) -> str:
            kind = PARAM_KINDS[match["name"].lower()]
            return f"{match['name']}{match['sep']}{self.secret(match['value'], kind)}"

        new = _HTML_PARAMS.sub(replace, text)
        return body if new == text else new.encode("utf-8")

    def json_body(
        self, body: bytes, parsed: Document | None = None, kyc: bool = False
    ) -> tuple[bytes, Document | None]:
        try:
            document = jsontext.parse(body) if parsed is None else parsed
            tree, changed = self.walk(document.tree, (), kyc)
            if not changed:
                return body, document
            document = document.rewritten(tree)
        except (ValueError, RecursionError):  # not JSON after all, or absurdly deep: leave it
            return body, None
        return document.encoded(), document

    def walk(self, value: Any, path: tuple[str, ...], kyc: bool = False) -> tuple[Any, bool]:
        """The value with its secret places rewritten, and whether anything changed. Lists are
        transparent to paths: `devices.phoneNumber` reaches into a list of devices. `kyc`: inside a
        KYC place, where KYC fields are personal data."""
        if isinstance(value, Obj):
            result = Obj()
            changed = False
            for key, item in value:
                new, item_changed = self.field(item, (*path, key.lower()), kyc)
                result.append((key, new))
                changed = changed or item_changed
            return (result, True) if changed else (value, False)
        if isinstance(value, list):
            pairs = [self.walk(item, path, kyc) for item in value]
            if any(changed for _, changed in pairs):
                return [new for new, _ in pairs], True
            return value, False
        if isinstance(value, str) and self.numbers is not None:
            new = self.numbers.free_text(value)
            return new, new != value
        return value, False

    def field(self, value: Any, path: tuple[str, ...], kyc: bool = False) -> tuple[Any, bool]:
        name = path[-1]
        if name in JSON_KINDS:
            return self.leaf(value, JSON_KINDS[name])
        if name == SINK_CREDENTIAL:
            return self.credential(value)
        if name in self.extra_names or path in self.extra_paths:
            return self.leaf(value, VALUE)
        if name in JSON_URIS and isinstance(value, str):
            new = self.uri(value)
            return new, new != value
        if self.people is not None:
            if kyc and name in KYC_BY_KEY:
                return self.personal(value, KYC_BY_KEY[name], self.people)
            if name == KYC_PARENT:
                return self.walk(value, path, kyc=True)
        if self.numbers is not None:
            if name == "hashedphonenumber" and isinstance(value, str):
                new = self.numbers.hashed(value)
                return new, new != value
            if "phone" in name or name == "msisdn":
                return self.phones(value, path, self.numbers, kyc)
        return self.walk(value, path, kyc)

    def credential(self, value: Any) -> tuple[Any, bool]:
        """A sinkCredential: every value a placeholder but the ones naming its kind (see
        SINK_CREDENTIAL_KINDS); not an object, the whole of it is one."""
        if not isinstance(value, Obj):
            return self.leaf(value, VALUE)
        result = Obj()
        changed = False
        for key, item in value:
            lowered = key.lower()
            if lowered in SINK_CREDENTIAL_KEPT:
                new, item_changed = item, False
            elif lowered in JSON_URIS and isinstance(item, str):
                new = self.uri(item)
                item_changed = new != item
            else:
                new, item_changed = self.leaf(item, SINK_CREDENTIAL_KINDS.get(lowered, VALUE))
            result.append((key, new))
            changed = changed or item_changed
        return (result, True) if changed else (value, False)

    def personal(self, value: Any, field: str, people: People) -> tuple[Any, bool]:
        """A KYC field: its string (or number) rewritten by `people`; under an object or list, every one."""
        if isinstance(value, str):
            new = people.personal(value, field)
            return new, new != value
        if isinstance(value, Literal):  # e.g. a streetNumber sent as a JSON number
            text = people.personal(value.text, field)
            if text == value.text:
                return value, False
            return (Literal(text) if _JSON_INTEGER.fullmatch(text) else text), True
        if isinstance(value, Obj):
            pairs = [(key, self.personal(item, field, people)) for key, item in value]
            if any(changed for _, (_, changed) in pairs):
                return Obj((key, new) for key, (new, _) in pairs), True
            return value, False
        if isinstance(value, list):
            items = [self.personal(item, field, people) for item in value]
            if any(changed for _, changed in items):
                return [new for new, _ in items], True
            return value, False
        return value, False  # true, false, null: nothing to hide

    def leaf(self, value: Any, kind: str) -> tuple[Any, bool]:
        """A secret field: strings and numbers become placeholders; under an object or list, every one."""
        if isinstance(value, str):
            new = self.secret(value, kind)
            return new, new != value
        if isinstance(value, Literal):
            return self.secret(value.text, kind), True
        if isinstance(value, Obj):
            pairs = [(key, self.leaf(item, kind)) for key, item in value]
            if any(changed for _, (_, changed) in pairs):
                return Obj((key, new) for key, (new, _) in pairs), True
            return value, False
        if isinstance(value, list):
            items = [self.leaf(item, kind) for item in value]
            if any(changed for _, changed in items):
                return [new for new, _ in items], True
            return value, False
        return value, False  # true, false, null: nothing to hide

    def phones(
        self, value: Any, path: tuple[str, ...], numbers: Numbers, kyc: bool = False
    ) -> tuple[Any, bool]:
        """A phone field: a number string (any form), a bare JSON number, or a list of them."""
        if isinstance(value, str):
            match = _NUMBER_VALUE.fullmatch(value)
            new = f"{match['lead']}{numbers.number(match['digits'])}" if match else numbers.free_text(value)
            return new, new != value
        if isinstance(value, Literal):
            if _NUMBER_VALUE.fullmatch(value.text) and value.text.isdigit():
                new_digits = numbers.number(value.text)
                return (Literal(new_digits), True) if new_digits != value.text else (value, False)
            return value, False
        if isinstance(value, list):
            items = [self.phones(item, path, numbers, kyc) for item in value]
            if any(changed for _, changed in items):
                return [new for new, _ in items], True
            return value, False
        return self.walk(value, path, kyc)
