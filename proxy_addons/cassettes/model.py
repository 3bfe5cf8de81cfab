"""What a cassette holds, in memory: requests, responses and interactions as the proxy handles them
(the `Cassette` that holds them, and reads and writes its file, is in `cassette.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy_addons.cassettes.content_codings import decode_body

Headers = dict[str, list[str]]


class CassetteError(Exception):
    """A cassette that cannot be read; the message names the file and what is wrong."""


def first_header(headers: Mapping[str, list[str]], name: str) -> str | None:
    lowered = name.lower()
    for key, values in headers.items():
        if key.lower() == lowered and values:
            return values[0]
    return None


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


def identity_encoded(message: Request | Response) -> Any:
    """The message with its body stored uncompressed: Content-Encoding removed and Content-Length
    recomputed. The one form that both vcrpy+requests and vcrpy+httpx replay correctly. A body
    that does not decode is kept as it is and its Content-Encoding dropped."""
    encoding: list[str] = []
    chunked = False
    for name, values in message.headers.items():  # one pass: every loaded message comes here
        lowered = name.lower()
        if lowered == "content-encoding":
            encoding += values
        elif lowered == "transfer-encoding":
            chunked = True
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
