"""Conversions between mitmproxy flows and our transport-neutral types (engine and cassette)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mitmproxy import http

from proxy_addons.cassettes.model import Interaction, Request, Response, identity_encoded
from proxy_addons.model import ApiRequest, Headers


def multi_headers(headers: http.Headers) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in headers.items(multi=True):
        result.setdefault(name, []).append(value)
    return result


def to_api_request(flow: http.HTTPFlow) -> ApiRequest:
    request = flow.request
    parts = urlsplit(request.path)
    peer = flow.client_conn.peername
    return ApiRequest(
        method=request.method,
        host=request.pretty_host,
        path=parts.path,
        query_string=parts.query,
        headers=Headers(request.headers.items(multi=True)),
        body=request.get_content(strict=False) or b"",
        scheme=request.scheme,
        client=f"{peer[0]}:{peer[1]}" if peer else "",
    )


def to_interaction(flow: http.HTTPFlow, uri: str) -> Interaction:
    """A completed upstream exchange, bodies uncompressed: the request as forwarded, under `uri`
    (the URL the app asked for)."""
    assert flow.response is not None
    request = identity_encoded(
        Request(
            method=flow.request.method,
            uri=uri,
            headers=multi_headers(flow.request.headers),
            body=flow.request.raw_content or None,
        )
    )
    response = flow.response
    recorded = Response(
        status=response.status_code,
        reason=response.reason or "",
        headers=multi_headers(response.headers),
        body=response.raw_content or b"",
    )
    return Interaction(request, identity_encoded(recorded))
