"""Answer source for `synth` mode: the engine answers every classified request."""

from __future__ import annotations

from urllib.parse import urlsplit

from mitmproxy import http

from proxy_addons.addons.core import Core
from proxy_addons.addons.intercept import ROUTE
from proxy_addons.model import ApiRequest, ApiResponse, Headers

ACTION = "orange.action"  # flow.metadata key: what the proxy did with a flow


def to_api_request(flow: http.HTTPFlow) -> ApiRequest:
    request = flow.request
    parts = urlsplit(request.path)
    body = request.get_content(strict=False) or b""
    peer = flow.client_conn.peername
    return ApiRequest(
        method=request.method,
        host=request.pretty_host,
        path=parts.path,
        query_string=parts.query,
        headers=Headers(request.headers.items(multi=True)),
        body=body,
        scheme=request.scheme,
        client=f"{peer[0]}:{peer[1]}" if peer else "",
    )


def to_flow_response(answer: ApiResponse) -> http.Response:
    response = http.Response.make(answer.status, answer.body, answer.all_headers())
    if answer.reason:
        response.reason = answer.reason
    return response


class Synthesiser:
    name = "orange_synthesiser"  # mitmproxy already has addons named after the class

    def __init__(self, core: Core) -> None:
        self.core = core

    def request(self, flow: http.HTTPFlow) -> None:
        route = flow.metadata.get(ROUTE)
        if route is None or flow.response or flow.error or self.core.mode != "synth":
            return
        assert self.core.engine is not None
        flow.response = to_flow_response(self.core.engine.handle(route, to_api_request(flow)))
        flow.metadata[ACTION] = "synthesised"
