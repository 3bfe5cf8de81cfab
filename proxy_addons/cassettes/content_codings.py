"""HTTP content codings of stored bodies: which ones we undo, through mitmproxy's implementation.

Cassettes keep bodies uncompressed (see `model.identity_encoded`), the one form vcrpy replays
correctly with both requests and httpx. mitmproxy's `net.encoding` does the decoding on every
version we support (its zstd and brotli backends change between releases; ours stay out of it).
"""

from __future__ import annotations

from collections.abc import Iterable

from mitmproxy.net import encoding as mitmproxy_encoding

# The content codings of RFC 9110 §8.4.1 and the IANA registry that servers really send, mapped to
# mitmproxy's names. Anything else is not decoded: mitmproxy would hand an unknown name to Python's
# `codecs` (so "base64" or "rot13" would "decode"), which is not what an HTTP header means.
CODINGS = {
    "identity": "identity",
    "gzip": "gzip",
    "x-gzip": "gzip",
    "deflate": "deflate",  # zlib-wrapped, or raw deflate as some servers send it
    "br": "br",
    "zstd": "zstd",
}


def decode_body(body: bytes, encodings: Iterable[str]) -> bytes | None:
    """The body with its Content-Encoding(s) undone (last applied first), or None when a coding is
    unknown or the body is not what its header says."""
    for name in reversed([e.strip().lower() for e in encodings if e.strip()]):
        coding = CODINGS.get(name)
        if coding is None:
            return None
        try:
            decoded = mitmproxy_encoding.decode(body, coding)
        except ValueError:  # mitmproxy wraps every codec's own error in ValueError
            return None
        if not isinstance(decoded, bytes):
            return None
        body = decoded
    return body


def encode_body(body: bytes, coding: str) -> bytes:
    """`body` compressed with one content coding (for stand-ins and tests)."""
    return mitmproxy_encoding.encode(body, CODINGS[coding.lower()])
