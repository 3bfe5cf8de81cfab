"""Transport-neutral request and response types the engine works on.

The mitmproxy addons convert flows to and from these, so the API logic never imports mitmproxy.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header view (first value wins for repeated names)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self.pairs = tuple(items)  # every header as sent, names in their own case, repeats kept
        self._items: dict[str, str] = {}
        for name, value in self.pairs:
            self._items.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request as the engine sees it."""

    method: str
    host: str
    path: str  # without the query string
    query_string: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    scheme: str = "https"
    client: str = ""  # peer address, for logs

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def form(self) -> dict[str, list[str]]:
        """The body parsed as application/x-www-form-urlencoded (strictly: bad UTF-8 raises)."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, parsed once however many stages ask (ValueError with the reason
        when it is not one). Callers must not modify what it returns."""
        data, problem = self._parsed_json
        if problem is not None:
            raise ValueError(problem)
        assert data is not None
        return data

    @cached_property
    def _parsed_json(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            return json_object(self.body), None
        except ValueError as exc:
            return None, str(exc)

    @property
    def bearer_token(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None

    @property
    def basic_user(self) -> str | None:
        """The user (client id) of `Authorization: Basic`, or None."""
        scheme, _, encoded = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            return base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[0] or None
        except ValueError:
            return None


CORRELATOR = "x-correlator"


@dataclass
class ApiResponse:
    """A synthesised answer. `data` is the JSON document, `schema` the schema it must satisfy."""

    status: int
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    schema: str | None = None  # e.g. "location-verification#verify.200"
    raw: bytes | None = None  # a non-JSON body (e.g. empty for redirects)

    @property
    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.data is None:
            return b""
        return json.dumps(self.data, ensure_ascii=False).encode("utf-8")

    def correlated(self, request: ApiRequest) -> ApiResponse:
        """This answer with the request's `x-correlator` echoed, as CAMARA asks of every response
        (synthesised or injected by a fault)."""
        correlator = request.headers.get(CORRELATOR)
        if correlator is not None:
            self.headers[CORRELATOR] = correlator
        return self

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.raw is None and self.data is not None:
            headers.setdefault("Content-Type", "application/json")
        return headers


def dig(document: Any, dotted: str) -> Any:
    """Value at a dotted path in nested dicts (`device.phoneNumber`), or None."""
    node = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


MAX_JSON_DEPTH = 64  # far beyond any CAMARA body; deeper input is refused before it can recurse


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_STRUCTURE = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def _depth(text: str) -> int:
    """Nesting depth of JSON text: brackets outside strings, visiting only the characters that matter."""
    depth = deepest = 0
    in_string = False
    for match in _STRUCTURE.finditer(text):
        char = match.group()
        if char == '"':
            in_string = not in_string
        elif in_string or len(char) == 2:  # inside a string, or an escape sequence
            continue
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def json_object(body: bytes) -> dict[str, Any]:
    """Parse a JSON object body strictly (no NaN/Infinity, finite numbers, bounded nesting);
    raise ValueError with a readable reason otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("the body is not UTF-8") from exc
    if _depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"the body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_datetime(text: str) -> datetime:
    """An RFC 3339 date-time as an aware datetime; ValueError for anything else, an impossible
    date or time included (February 30th, 25:61). A leap second (only at 23:59:60 UTC) reads as the
    second before it."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    normal = text.upper()
    leap = normal[17:19] == "60"
    if leap:
        normal = normal[:17] + "59" + normal[19:]
    moment = datetime.fromisoformat(normal)
    if leap and moment.astimezone(UTC).strftime("%H:%M") != "23:59":
        raise ValueError(f"{text!r}: a leap second is only ever 23:59:60 UTC")
    return moment
