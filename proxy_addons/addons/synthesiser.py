"""Answer source "synth": the engine answers as Orange's playground and lab would."""

from __future__ import annotations

import logging

from mitmproxy import http

from proxy_addons.addons.convert import to_api_request, to_flow_response
from proxy_addons.addons.core import Core
from proxy_addons.addons.stages import ACTION, ROUTE, next_source

log = logging.getLogger(__name__)


class Synthesiser:
    name = "orange_synthesiser"  # mitmproxy already has addons named after the class

    def __init__(self, core: Core) -> None:
        self.core = core

    def request(self, flow: http.HTTPFlow) -> None:
        if next_source(flow) != "synth":
            return
        assert self.core.engine is not None
        try:
            answer = self.core.engine.handle(flow.metadata[ROUTE], to_api_request(flow))
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
