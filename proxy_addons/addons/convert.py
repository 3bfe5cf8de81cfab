"""Conversions between mitmproxy flows and our transport-neutral types (engine and cassette)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mitmproxy import http

from proxy_addons.cassette import Interaction, Request, Response, identity_encoded
from proxy_addons.model import ApiRequest, ApiResponse, Headers

# Hop-by-hop and length headers: a replayed body is served with its own length.
NOT_REPLAYED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


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


def to_flow_response(answer: ApiResponse, method: str = "GET") -> http.Response:
    # A response to HEAD has no body; sending one would corrupt the next response on the connection.
    body = b"" if method == "HEAD" else answer.body
    response = http.Response.make(answer.status, body, answer.all_headers())
    if answer.reason:
        response.reason = answer.reason
    return response


def to_cassette_request(flow: http.HTTPFlow, uri: str | None = None) -> Request:
    """The request as a cassette stores it; `uri` overrides the flow's (the URL the app asked for)."""
    request = Request(
        method=flow.request.method,
        uri=uri or flow.request.pretty_url,
        headers=multi_headers(flow.request.headers),
        body=flow.request.raw_content or None,
    )
    return identity_encoded(request)


def to_interaction(flow: http.HTTPFlow, uri: str) -> Interaction:
    """A completed upstream exchange, bodies uncompressed."""
    assert flow.response is not None
    response = flow.response
    recorded = Response(
        status=response.status_code,
        reason=response.reason or "",
        headers=multi_headers(response.headers),
        body=response.raw_content or b"",
    )
    return Interaction(to_cassette_request(flow, uri), identity_encoded(recorded))


def from_recorded(response: Response, method: str = "GET") -> http.Response:
    headers = [
        (name.encode("utf-8"), value.encode("utf-8"))
        for name, values in response.headers.items()
        if name.lower() not in NOT_REPLAYED
        for value in values
    ]
    served = http.Response.make(response.status, b"" if method == "HEAD" else response.body, headers)
    if response.reason:
        served.reason = response.reason
    return served
