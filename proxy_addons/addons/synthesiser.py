"""Answer source for `synth` mode: the engine answers every classified request."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from mitmproxy import ctx, http

from proxy_addons.addons.core import Core
from proxy_addons.addons.intercept import ROUTE
from proxy_addons.apis import GATEWAY
from proxy_addons.model import ApiRequest, ApiResponse, Headers

log = logging.getLogger(__name__)

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


def to_flow_response(answer: ApiResponse, method: str = "GET") -> http.Response:
    # A response to HEAD has no body; sending one would corrupt the next response on the connection.
    response = http.Response.make(
        answer.status, b"" if method == "HEAD" else answer.body, answer.all_headers()
    )
    if answer.reason:
        response.reason = answer.reason
    return response


class Synthesiser:
    name = "orange_synthesiser"  # mitmproxy already has addons named after the class

    def __init__(self, core: Core) -> None:
        self.core = core

    def load(self, loader) -> None:
        loader.add_option(
            "orange_forward_unknown",
            bool,
            False,
            "Forward requests for paths of the intercept hosts that none of our APIs owns (other Orange "
            "APIs) to the real host. Off: answer them 404 as Orange's gateway does, so nothing leaves "
            "the machine.",
        )

    def request(self, flow: http.HTTPFlow) -> None:
        route = flow.metadata.get(ROUTE)
        if route is None or flow.response or flow.error or self.core.mode != "synth":
            return
        if route.api is GATEWAY and ctx.options.orange_forward_unknown:
            return
        assert self.core.engine is not None
        try:
            answer = self.core.engine.handle(route, to_api_request(flow))
            flow.response = to_flow_response(answer, flow.request.method)
        except Exception:
            # Never let a flow we own fall through to the real upstream (it carries credentials).
            log.exception(
                "orange-proxy: could not answer %s %s", flow.request.method, flow.request.pretty_url
            )
            flow.response = http.Response.make(
                500,
                b'{"status": 500, "code": "INTERNAL", "message": "Server error"}',
                {"Content-Type": "application/json"},
            )
        flow.metadata[ACTION] = "synthesised"
