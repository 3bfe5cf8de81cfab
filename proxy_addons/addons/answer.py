"""The answer stage as a mitmproxy addon: walks the flow's plan over the answer sources (see
`proxy_addons.pipeline.sources`), then puts the first answer on the flow, or lets it go upstream.

`orange_upstream` sends forwarded requests to another base URL (a staging gateway, a local stand-in);
cassettes keep the URL the app asked for.
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.core import Core
from proxy_addons.addons.stages import ACTION, MISS, ORIGINAL_URL, ours
from proxy_addons.messages import say
from proxy_addons.pipeline.sources import (
    Answer,
    CassetteSource,
    ForwardSource,
    MissSource,
    Source,
    SynthSource,
    walk,
)


def to_flow_response(answer: Answer, request: http.Request) -> http.Response:
    """Our answer as mitmproxy's response to `request`: in its HTTP version, as a server answers (and
    as the console line shows); no body to HEAD, which would corrupt the next response."""
    # HTTP/2 and 3 header names are lower case (RFC 9113 §8.2.1); mitmproxy would otherwise lowercase
    # them itself and log a warning for each one.
    lower = not request.http_version.startswith("HTTP/1")
    headers = [
        ((name.lower() if lower else name).encode("utf-8"), value.encode("utf-8"))
        for name, value in answer.headers
    ]
    body = b"" if request.method == "HEAD" else answer.body
    response = http.Response.make(answer.status, body, headers)
    if request.method == "HEAD" and answer.body and "transfer-encoding" not in response.headers:
        # The same headers as GET (RFC 9110 §9.3.2): the length of the body GET would get.
        response.headers["content-length"] = str(len(answer.body))
    response.http_version = request.http_version
    if answer.reason:
        response.reason = answer.reason
    elif not response.reason:
        # mitmproxy's table lacks some (429 among them); a bare "429 " status line puzzles clients.
        with contextlib.suppress(ValueError):  # a status Python does not name keeps no phrase
            response.reason = HTTPStatus(answer.status).phrase
    return response


class AnswerStage:
    name = "orange_answer"

    def __init__(self, core: Core, cassettes: Cassettes) -> None:
        self.core = core
        self.base: tuple[str, str, int, str] | None = None  # scheme, host, port, path prefix
        self.sources: dict[str, Source] = {
            "cassette": CassetteSource(lambda: cassettes.tape),
            "synth": SynthSource(core.synthesiser),
            "upstream": ForwardSource("forwarded"),
            "passthrough": ForwardSource("passed-through"),
            "miss": MissSource(),
        }

    def load(self, loader) -> None:
        loader.add_option(
            "orange_upstream",
            str,
            "",
            "Send forwarded requests to this base URL (a staging gateway, a local stand-in) instead of the "
            "intercepted host; cassettes keep the original https://api.orange.com/... URI. Trust its "
            "certificate with ssl_verify_upstream_trusted_ca or ssl_insecure.",
        )

    def configure(self, updated: set[str]) -> None:
        if "orange_upstream" not in updated:
            return
        url = ctx.options.orange_upstream
        if not url:
            self.base = None
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise exceptions.OptionsError(say(f"orange_upstream must be an http(s) URL, not {url!r}"))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = (parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def request(self, flow: http.HTTPFlow) -> None:
        if not ours(flow):
            return
        exchange = self.core.exchanges.get(flow.id)
        if exchange is None:
            return
        outcome = walk(self.sources, exchange)
        if exchange.miss is not None:
            flow.metadata[MISS] = exchange.miss
        if isinstance(outcome, Answer):
            flow.response = to_flow_response(outcome, flow.request)
            if outcome.replay:
                flow.is_replay = "response"  # as mitmproxy's own server playback marks it
            if outcome.action != "none":
                flow.metadata[ACTION] = outcome.action
            return
        flow.metadata[ORIGINAL_URL] = flow.request.pretty_url
        flow.metadata[ACTION] = outcome.action
        if self.base is not None:
            scheme, host, port, prefix = self.base
            flow.request.scheme, flow.request.host, flow.request.port = scheme, host, port
            flow.request.path = prefix + flow.request.path
            # Keep the Host the app sent: gateways route on it, and stand-ins do not mind.
            flow.request.headers["Host"] = urlsplit(flow.metadata[ORIGINAL_URL]).netloc
