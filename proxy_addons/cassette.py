"""Cassettes in vcrpy's YAML format (version 1): the in-memory model, loading (ours and vcrpy's
own), and safe writing.

What vcrpy needs is kept exactly: `request` has only `method`, `uri`, `body`, `headers`; header
values are lists; `response` has `status: {code, message}`, `headers`, `body: {string}`; UTF-8
bodies are text, others `!!binary`. Our metadata sits where vcrpy never looks: the top-level key
`orange_proxy` and, per interaction, the key `orange_proxy` beside `request` and `response`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from proxy_addons.content_codings import decode_body

FORMAT_VERSION = 1
META_KEY = "orange_proxy"
# libyaml's emitter when PyYAML has it: ~20x faster, and saving happens once per recorded exchange.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Headers = dict[str, list[str]]


class CassetteError(Exception):
    """A cassette that cannot be read; the message names the file and what is wrong."""


@dataclass
class Request:
    method: str
    uri: str
    headers: Headers = field(default_factory=dict)
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)


@dataclass
class Response:
    status: int
    reason: str = ""
    headers: Headers = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)


@dataclass
class Interaction:
    request: Request
    response: Response
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    existed: bool = False  # the file was there when loaded
    # Each interaction's YAML, rendered once: interactions are never modified after they are added,
    # so saving after each exchange costs the new one's rendering, not the whole cassette's.
    _rendered: dict[int, tuple[Interaction, str]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        """The cassette at `path`; an empty one when the file does not exist yet."""
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            raw = path.read_bytes()
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise CassetteError(f"{path}: not valid YAML: {exc}") from None
        except RecursionError:
            raise CassetteError(f"{path}: not a cassette (YAML nested too deeply)") from None
        except OSError as exc:
            raise CassetteError(f"{path}: cannot be read: {exc.strerror}") from None
        if data is None:
            # An empty file is a cassette still to record, as vcrpy treats it.
            return cls(path, existed=bool(raw.strip()))
        if isinstance(data, list):
            raise CassetteError(f"{path}: a pre-1.0 vcrpy cassette (a bare list); re-record it")
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise CassetteError(f"{path}: not a vcrpy cassette (no 'interactions' list)")
        interactions = []
        for index, item in enumerate(data["interactions"]):
            try:
                interactions.append(_interaction(item))
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                raise CassetteError(f"{path}: interaction #{index + 1} is malformed: {exc!r}") from None
        meta = data.get(META_KEY) if isinstance(data.get(META_KEY), dict) else {}
        return cls(path, interactions, meta, existed=True)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "interactions": [_interaction_data(i) for i in self.interactions],
            "version": FORMAT_VERSION,
        }
        if self.meta:
            data[META_KEY] = self.meta
        return data

    def dumps(self) -> bytes:
        """The file's bytes: `interactions`, then our metadata, then `version`, as a YAML mapping."""
        parts = ["interactions:\n" if self.interactions else "interactions: []\n"]
        for interaction in self.interactions:
            cached = self._rendered.get(id(interaction))
            if cached is None or cached[0] is not interaction:
                cached = (interaction, _dump([_interaction_data(interaction)]))
                self._rendered[id(interaction)] = cached
            parts.append(cached[1])
        if self.meta:
            parts.append(_dump({META_KEY: self.meta}))
        parts.append(f"version: {FORMAT_VERSION}\n")
        return "".join(parts).encode("utf-8")

    def save(self) -> None:
        """Write atomically: a temporary file in the same directory, then a rename. A reader, or a
        proxy killed mid-write, only ever sees the old file or the new one, both complete."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(self.dumps())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.existed = True


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=True, width=120)


# Reading -----------------------------------------------------------------------------------------


def first_header(headers: Mapping[str, list[str]], name: str) -> str | None:
    lowered = name.lower()
    for key, values in headers.items():
        if key.lower() == lowered and values:
            return values[0]
    return None


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(raw: Any) -> Headers:
    """Header lists, checked: what we replay goes on the wire, and a hand-edited name or value must not
    break the message (or split it into two)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("headers must be a mapping")
    result: Headers = {}
    for name, value in raw.items():
        if not _TOKEN.fullmatch(str(name)):
            raise ValueError(f"bad header name {str(name)[:40]!r}")
        # vcrpy writes lists; some writers put a bare string (vcrpy would split it into characters).
        values = [str(v) for v in (value if isinstance(value, list) else [value])]
        if any("\r" in v or "\n" in v or "\0" in v for v in values):
            raise ValueError(f"header {name} has a line break in its value")
        result[str(name)] = values
    return result


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ValueError(f"a body must be text or binary, not {type(value).__name__}")


def _interaction(item: Mapping[str, Any]) -> Interaction:
    raw_request, raw_response = item["request"], item["response"]
    request = Request(
        method=str(raw_request["method"]).upper(),
        uri=str(raw_request["uri"]),
        headers=_headers(raw_request.get("headers")),
        body=_bytes(raw_request.get("body")),
    )
    status = raw_response["status"]
    code = int(status["code"])
    if not 100 <= code <= 599:
        raise ValueError(f"status {code} is not an HTTP status")
    body = raw_response.get("body") or {}
    response = Response(
        status=code,
        reason=str(status.get("message") or ""),
        headers=_headers(raw_response.get("headers")),
        body=_bytes(body.get("string") if isinstance(body, Mapping) else body) or b"",
    )
    meta = item.get(META_KEY) if isinstance(item.get(META_KEY), dict) else {}
    return Interaction(identity_encoded(request), identity_encoded(response), meta)


# Writing -----------------------------------------------------------------------------------------


def _text_or_binary(body: bytes) -> str | bytes:
    """UTF-8 text stays readable; anything else is written as !!binary, as vcrpy does."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _interaction_data(interaction: Interaction) -> dict[str, Any]:
    request, response = interaction.request, interaction.response
    data: dict[str, Any] = {
        "request": {
            "method": request.method,
            "uri": request.uri,
            "body": None if request.body is None else _text_or_binary(request.body),
            "headers": {k: list(v) for k, v in request.headers.items()},
        },
        "response": {
            "status": {"code": response.status, "message": response.reason},
            "headers": {k: list(v) for k, v in response.headers.items()},
            "body": {"string": _text_or_binary(response.body)},
        },
    }
    if interaction.meta:
        data[META_KEY] = interaction.meta
    return data


# Bodies ------------------------------------------------------------------------------------------


def identity_encoded(message: Request | Response) -> Any:
    """The message with its body stored uncompressed: Content-Encoding removed and Content-Length
    recomputed. The one form that both vcrpy+requests and vcrpy+httpx replay correctly. A body
    that does not decode is kept as it is and its Content-Encoding dropped."""
    encoding = [v for k, vs in message.headers.items() if k.lower() == "content-encoding" for v in vs]
    chunked = any(k.lower() == "transfer-encoding" for k in message.headers)
    if (not encoding and not chunked) or message.body is None:
        return message
    # A stored body is whole: no transfer coding, and a length that says so.
    parts = [p for value in encoding for p in value.split(",")]
    decoded = decode_body(message.body, parts) if encoding else message.body
    dropped = ("content-encoding", "content-length", "transfer-encoding")
    headers = {k: v for k, v in message.headers.items() if k.lower() not in dropped}
    body = message.body if decoded is None else decoded
    if body:
        headers["Content-Length"] = [str(len(body))]
    message.headers = headers
    message.body = body
    return message
