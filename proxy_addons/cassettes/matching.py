"""Matching incoming requests against recorded ones, for replay.

Every request is reduced once to a hashable `RequestKey` (method, scheme, host, port, path, query,
body, selected headers, each in a canonical form), so replay is one dictionary look-up per request,
whatever the cassette's size. On a miss, `Index.nearest` names the recorded request that differs
in the fewest fields and says how, down to the JSON path inside a body.

Canonical forms: method upper-case; scheme and host lower-case; port inferred from the scheme when
absent; empty path is "/"; query parameters sorted, repeats kept; body by kind (JSON re-dumped
with sorted keys and no whitespace, minus ignored fields; form bodies as sorted pairs; anything
else raw bytes; no body is b""); only the headers named in `MatchConfig.match_headers`. The URI's
fragment is never sent by clients, so it is ignored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from proxy_addons.cassettes.model import Request

FIELDS = ("method", "scheme", "host", "port", "path", "query", "body", "headers")

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
UNKNOWN_PORT = 0  # an unknown scheme without an explicit port
RENDER_LIMIT = 120
FORM_TYPE = "application/x-www-form-urlencoded"

Query = tuple[tuple[str, str], ...]
HeaderValues = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class MatchConfig:
    """What matching ignores or adds, beyond the always-compared fields."""

    # A bare name drops that key at any depth; a dotted path (`device.ipv4Address`) drops that path only.
    ignore_json_fields: frozenset[str] = frozenset()
    match_headers: tuple[str, ...] = ()  # lower-case header names that must also be equal
    # Query and form parameters left out of the comparison. By default the OAuth values an app makes
    # up afresh on every run: matching on them would make every replayed authorization a miss.
    ignore_params: frozenset[str] = frozenset({"state", "nonce", "code_challenge"})


DEFAULT_CONFIG = MatchConfig()


@dataclass(frozen=True)
class RequestKey:
    """Hashable, canonical form of a request: one attribute per FIELDS entry."""

    method: str
    scheme: str
    host: str
    port: int
    path: str
    query: Query
    body: bytes | str  # str: canonical JSON or form; bytes: raw (b"" for no body)
    headers: HeaderValues


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A request's JSON body as `json.loads` reads it, from a step that parsed it already (masking),
    so that keying the request does not parse it again. The key may change `value`."""

    value: Any


def request_key(
    request: Request, config: MatchConfig = DEFAULT_CONFIG, parsed: ParsedBody | None = None
) -> RequestKey:
    """The canonical key of `request` under `config`. Never raises on odd input: whatever cannot be
    parsed is compared as it is. `parsed`, when given, is the body's JSON, not parsed again."""
    scheme, host, port, path, query = _split_uri(request.uri, config.ignore_params)
    return RequestKey(
        method=request.method.upper(),
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        query=query,
        body=_canonical_body(request, config.ignore_json_fields, config.ignore_params, parsed),
        headers=_selected_headers(request, config.match_headers),
    )


# URI ---------------------------------------------------------------------------------------------


def _split_uri(uri: str, ignored_params: frozenset[str] = frozenset()) -> tuple[str, str, int, str, Query]:
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unbalanced IPv6 bracket in a hand-edited cassette
        return "", "", UNKNOWN_PORT, uri, ()
    scheme = parts.scheme.lower()
    host = parts.hostname or ""  # already lower-case, brackets of an IPv6 literal removed
    try:
        port = parts.port
    except ValueError:  # a non-numeric or out-of-range port: keep the text so it still compares
        port, host = None, parts.netloc.rpartition("@")[2].lower()
    if port is None:
        port = DEFAULT_PORTS.get(scheme, UNKNOWN_PORT)
    # surrogateescape keeps distinct invalid percent-encodings distinct (the default would replace them).
    pairs = parse_qsl(parts.query, keep_blank_values=True, errors="surrogateescape")
    query = tuple(sorted(pair for pair in pairs if pair[0] not in ignored_params))
    return scheme, host, port, parts.path or "/", query


# Body --------------------------------------------------------------------------------------------


def _canonical_body(
    request: Request,
    ignored: frozenset[str],
    ignored_params: frozenset[str] = frozenset(),
    parsed: ParsedBody | None = None,
) -> bytes | str:
    body = request.body
    if not body:
        return b""
    content_type = (request.header("content-type") or "").lower()
    # An explicit form content type wins over sniffing: a form body like "true" also parses as JSON.
    if FORM_TYPE in content_type:
        form = _canonical_form(body, ignored_params)
        if form is not None:
            return form
    else:
        canonical = _canonical_json(body, ignored, parsed)
        if canonical is not None:
            return canonical
    return body


def _canonical_json(body: bytes, ignored: frozenset[str], parsed: ParsedBody | None = None) -> str | None:
    """Sorted keys, no whitespace, ignored fields removed; None when `body` is not JSON."""
    try:
        value = json.loads(body) if parsed is None else parsed.value
        if ignored:
            value = _without_fields(value, ignored)
        return _dump(value)
    # ValueError covers bad JSON, bad UTF-8 and too-long integers; RecursionError deep nesting.
    except (ValueError, RecursionError):
        return None


def _canonical_form(body: bytes, ignored_params: frozenset[str] = frozenset()) -> str | None:
    """Pairs sorted and re-encoded, so `b=2&a=1` equals `a=1&b=2`; None when not UTF-8 or empty."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    pairs = parse_qsl(text, keep_blank_values=True, errors="surrogateescape")
    if not pairs:  # e.g. "&&": nothing to sort, and "" would look like an empty body
        return None
    return urlencode(sorted(p for p in pairs if p[0] not in ignored_params), errors="surrogateescape")


def _without_fields(value: Any, ignored: frozenset[str]) -> Any:
    bare = {name for name in ignored if "." not in name}
    paths = [name.split(".") for name in ignored if "." in name]
    value = _drop_bare(value, bare) if bare else value
    for path in paths:
        _drop_path(value, path)
    return value


def _drop_bare(value: Any, names: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop_bare(v, names) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        return [_drop_bare(v, names) for v in value]
    return value


def _drop_path(value: Any, path: list[str]) -> None:
    # Lists along the way are transparent: `devices.id` drops `id` from every element of `devices`.
    if isinstance(value, list):
        for item in value:
            _drop_path(item, path)
    elif isinstance(value, dict):
        if len(path) == 1:
            value.pop(path[0], None)
        elif path[0] in value:
            _drop_path(value[path[0]], path[1:])


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _parsed_canonical(body: str) -> tuple[bool, Any]:
    """A canonical body parsed back, for naming JSON paths in a miss; (False, None) for a form body.
    Cached so repeated misses against the same nearest request do not parse it again."""
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None


# Headers -----------------------------------------------------------------------------------------


def _selected_headers(request: Request, names: tuple[str, ...]) -> HeaderValues:
    if not names:
        return ()
    wanted = sorted({name.lower() for name in names})
    values: dict[str, list[str]] = {name: [] for name in wanted}
    for name, header_values in request.headers.items():
        bucket = values.get(name.lower())
        if bucket is not None:  # the same header may be stored under several spellings
            bucket.extend(header_values)
    return tuple((name, tuple(values[name])) for name in wanted)


# Explaining a miss -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One field that differs, rendered briefly for a log line or an error body."""

    field: str  # one of FIELDS
    recorded: str
    received: str
    path: str = ""  # for a JSON body, where inside it the first difference is (e.g. "device.phoneNumber")

    def __str__(self) -> str:
        where = f"{self.field}.{self.path}" if self.path else self.field
        return f"{where}: recorded {self.recorded} received {self.received}"


@dataclass(frozen=True)
class NearMiss:
    """The recorded request closest to one that matched none, and how it differs."""

    position: int  # index of the nearest recorded request
    differences: tuple[Difference, ...]

    def summary(self) -> str:
        # Numbered from 1, as the serializer numbers interactions in its messages.
        number = self.position + 1
        if not self.differences:
            return f"nearest recorded request #{number} is identical"
        return f"nearest recorded request #{number} differs in " + "; ".join(map(str, self.differences))


def _same(a: object, b: object) -> bool:
    # The type check keeps a str body from being compared with a bytes one (BytesWarning under -b).
    return type(a) is type(b) and a == b


def _differing_fields(recorded: RequestKey, received: RequestKey) -> list[str]:
    return [name for name in FIELDS if not _same(getattr(recorded, name), getattr(received, name))]


def _difference(name: str, recorded: RequestKey, received: RequestKey) -> Difference:
    if name == "body":
        return _body_difference(recorded.body, received.body)
    if name == "headers":
        return _headers_difference(recorded.headers, received.headers)
    if name == "query":
        return Difference(name, _render_query(recorded.query), _render_query(received.query))
    return Difference(
        name, _render_text(str(getattr(recorded, name))), _render_text(str(getattr(received, name)))
    )


def _body_difference(recorded: bytes | str, received: bytes | str) -> Difference:
    if isinstance(recorded, str) and isinstance(received, str):
        recorded_json, recorded_value = _parsed_canonical(recorded)
        received_json, received_value = _parsed_canonical(received)
        if recorded_json and received_json:
            found = _first_json_difference(recorded_value, received_value, [])
            if found is not None:
                path, mine, theirs = found
                return Difference("body", mine, theirs, path)
    return Difference("body", _render_body(recorded), _render_body(received))


_MISSING = object()
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*\Z")


def _first_json_difference(recorded: Any, received: Any, path: list[str]) -> tuple[str, str, str] | None:
    """The first differing JSON path, in canonical (sorted-key) order, with both values rendered."""
    if isinstance(recorded, dict) and isinstance(received, dict):
        for key in sorted(recorded.keys() | received.keys()):
            step = f".{key}" if _IDENTIFIER.match(key) else f"[{_dump(key)}]"
            found = _first_json_difference(
                recorded.get(key, _MISSING), received.get(key, _MISSING), [*path, step]
            )
            if found is not None:
                return found
        return None
    if isinstance(recorded, list) and isinstance(received, list):
        for index in range(max(len(recorded), len(received))):
            mine = recorded[index] if index < len(recorded) else _MISSING
            theirs = received[index] if index < len(received) else _MISSING
            found = _first_json_difference(mine, theirs, [*path, f"[{index}]"])
            if found is not None:
                return found
        return None
    # Compare dumps, not values: True == 1 and 1 == 1.0 in Python but not in the canonical body.
    if recorded is not _MISSING and received is not _MISSING and _dump(recorded) == _dump(received):
        return None
    if not path:  # the bodies differ at the top: the whole-body rendering says it as well
        return None
    return "".join(path).lstrip("."), _render_json(recorded), _render_json(received)


def _render_json(value: Any) -> str:
    return "(absent)" if value is _MISSING else _render_text(_dump(value))


def _render_body(body: bytes | str) -> str:
    if isinstance(body, str):
        return _render_text(body)
    if not body:
        return "(no body)"
    try:
        return _render_text(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _truncate(f"({len(body)} bytes) {body!r}")


def _render_query(query: Query) -> str:
    return _render_text(urlencode(query, errors="surrogateescape")) if query else "(none)"


def _headers_difference(recorded: HeaderValues, received: HeaderValues) -> Difference:
    # Both sides list the same configured names, so only the differing headers need showing.
    changed = [
        (name, mine, theirs)
        for (name, mine), (_, theirs) in zip(recorded, received, strict=True)
        if mine != theirs
    ]
    return Difference(
        "headers",
        _truncate("; ".join(f"{name}: {_render_values(mine)}" for name, mine, _ in changed)),
        _truncate("; ".join(f"{name}: {_render_values(theirs)}" for name, _, theirs in changed)),
    )


def _render_values(values: tuple[str, ...]) -> str:
    return ", ".join(_escape(v) for v in values) if values else "(absent)"


_CONTROL = {c: f"\\x{c:02x}" for c in range(0x20)} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x7F: "\\x7f"}


def _escape(text: str) -> str:
    """One line, printable: control characters escaped, lone surrogates (from invalid percent or JSON
    escapes) made writable to any UTF-8 log."""
    return text.translate(_CONTROL).encode("utf-8", "backslashreplace").decode("utf-8")


def _render_text(text: str) -> str:
    return _truncate(_escape(text)) if text else "(empty)"


def _truncate(text: str) -> str:
    return text if len(text) <= RENDER_LIMIT else text[: RENDER_LIMIT - 3] + "..."


# Index -------------------------------------------------------------------------------------------


class Index:
    """Recorded requests by canonical key, built once: a look-up is one key computation and one
    dictionary access, never a scan of the cassette."""

    def __init__(self, requests: Sequence[Request], config: MatchConfig = DEFAULT_CONFIG) -> None:
        self._config = config
        self._keys: list[RequestKey] = []
        self._positions: dict[RequestKey, list[int]] = {}
        for request in requests:
            self.add(request)

    def key(self, request: Request, parsed: ParsedBody | None = None) -> RequestKey:
        """The request's key under this index's config; `parsed` is its JSON body, already parsed."""
        return request_key(request, self._config, parsed)

    def add(self, request: Request) -> int:
        """Append one more recorded request (new_episodes recording); return its position."""
        return self.add_key(request_key(request, self._config))

    def add_key(self, key: RequestKey) -> int:
        """`add` for a request already keyed."""
        position = len(self._keys)
        self._keys.append(key)
        self._positions.setdefault(key, []).append(position)
        return position

    def positions(self, request: Request) -> tuple[int, ...]:
        """Recorded positions whose key equals the request's, in recorded order; () when none."""
        return self.positions_of(request_key(request, self._config))

    def positions_of(self, key: RequestKey) -> tuple[int, ...]:
        """`positions` for a request already keyed."""
        return tuple(self._positions.get(key, ()))

    def nearest(self, request: Request) -> NearMiss | None:
        """The recorded request differing in the fewest fields (ties: same method and path first,
        then the earliest), with its differences; None when nothing is recorded."""
        return self.nearest_to(request_key(request, self._config)) if self._keys else None

    def nearest_to(self, received: RequestKey) -> NearMiss | None:
        """`nearest` for a request already keyed."""
        if not self._keys:
            return None
        # A scan is fine here: it only runs on a miss, over keys computed at load.
        best_position, best_rank = -1, (len(FIELDS) + 1, True, 0)
        best_fields: list[str] = []
        for position, recorded in enumerate(self._keys):
            differing = _differing_fields(recorded, received)
            other_route = "method" in differing or "path" in differing
            rank = (len(differing), other_route, position)
            if rank < best_rank:
                best_position, best_fields, best_rank = position, differing, rank
        recorded = self._keys[best_position]
        return NearMiss(best_position, tuple(_difference(name, recorded, received) for name in best_fields))
