"""The answer stage as a mitmproxy addon: walks the flow's plan over the answer sources (see
`proxy_addons.pipeline.sources`), then puts the first answer on the flow, or lets it go upstream.

`orange_upstream` sends forwarded requests to another base URL (a staging gateway, a local stand-in);
cassettes keep the URL the app asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.core import Core
from proxy_addons.addons.stages import ACTION, MISS, ORIGINAL_URL, ROUTE, ours
from proxy_addons.messages import logger, say
from proxy_addons.pipeline.exchange import Exchange
from proxy_addons.pipeline.sources import (
    Answer,
    CassetteSource,
    ForwardSource,
    MissSource,
    Source,
    SynthSource,
    walk,
)
from proxy_addons.simulator.apis.base import FaultAnswer

log = logger(__name__)

# The action of a forwarded request the upstream never answered (refused, TLS failure, timeout).
UPSTREAM_FAILED = "upstream-failed"
FORWARD_ACTIONS = ("forwarded", "passed-through")
# Flow metadata (a plain string, so flow files keep it): what the upstream failure was.
UPSTREAM_ERROR = "orange.upstream_error"
CONNECT_TIMEOUT = 10.0  # seconds a connection to the upstream may take before it counts as failed


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
        self._reached: set[tuple[str, int]] = set()  # upstreams a connection reached (not probed again)
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

    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """Answers in place; for a forwarded request, returns the check that its upstream can be
        reached (mitmproxy awaits what a hook returns), so every other answer stays synchronous."""
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
        return self._check_upstream(flow, exchange)

    async def _check_upstream(self, flow: http.HTTPFlow, exchange: Exchange) -> None:
        problem = await self._unreachable(flow.request.host, flow.request.port)
        if problem is None or flow.response or flow.error:
            return
        # Answered here, in the API's own error dialect: once mitmproxy has tried and failed, it
        # writes its own HTML 502 page after the `error` hook and takes no answer from an addon.
        flow.metadata[UPSTREAM_ERROR] = problem
        flow.metadata[ACTION] = UPSTREAM_FAILED
        log.error("%s", upstream_failure(flow))
        answer = self._failure_answer(exchange, upstream_failure(flow, with_request=False))
        flow.response = to_flow_response(answer, flow.request)

    async def _unreachable(self, host: str, port: int) -> str | None:
        """Why the upstream cannot be reached (refused, no such name, no answer to the connect), or
        None. A TCP connect, once per upstream while it answers: mitmproxy then opens its own
        connection (TLS failures and upstream timeouts after that reach the `error` hook). Not
        through an upstream proxy (`--mode upstream:`), which is the one mitmproxy dials."""
        if (host, port) in self._reached or any(m.startswith("upstream") for m in ctx.options.mode):
            return None
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
        except TimeoutError:
            return f"no answer to the connection within {CONNECT_TIMEOUT:g} s"
        except OSError as exc:
            return str(exc) or type(exc).__name__  # worded as mitmproxy words its own 502
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        self._reached.add((host, port))
        return None

    def _failure_answer(self, exchange: Exchange, reason: str) -> Answer:
        """A 502 in the API's own error dialect (the token endpoints' is OAuth's), as faults answer."""
        api, context = exchange.route.api, self.core.context
        assert context is not None
        known = context.schemas.error_codes(api.name, 502)
        code = "BAD_GATEWAY" if not known or "BAD_GATEWAY" in known else known[0]
        failure = FaultAnswer(502, code, reason, reason, "temporarily_unavailable", kind=UPSTREAM_FAILED)
        return Answer.of(api.fault_answer(failure, context), UPSTREAM_FAILED)

    def error(self, flow: http.HTTPFlow) -> None:
        """A forwarded request of ours that got no answer from the upstream: said, and marked so the
        request line, the event log and the verdict (exit status 4) tell it from a forwarded answer.
        mitmproxy itself answers the app (its HTML 502) after this hook: it takes no answer from it."""
        if ROUTE not in flow.metadata or flow.metadata.get(ACTION) not in FORWARD_ACTIONS:
            return
        if flow.error is None or flow.error.msg == flow.error.KILLED_MESSAGE:
            return  # a fault (or a script) killed it: not the upstream's doing
        if flow.error.msg.startswith("Client"):
            return  # the app hung up first ("Client disconnected."): the upstream may be fine
        flow.metadata[ACTION] = UPSTREAM_FAILED
        flow.metadata[UPSTREAM_ERROR] = flow.error.msg
        self._reached.discard((flow.request.host, flow.request.port))  # probed again next time
        log.error("%s", upstream_failure(flow))


def upstream_failure(flow: http.HTTPFlow, with_request: bool = True) -> str:
    """Why a forwarded request got no answer, naming the upstream it was sent to."""
    request = flow.request
    default = 443 if request.scheme == "https" else 80
    netloc = request.host if request.port == default else f"{request.host}:{request.port}"
    message = flow.metadata.get(UPSTREAM_ERROR) or (flow.error.msg if flow.error else "no answer")
    text = f"upstream {request.scheme}://{netloc} unreachable: {message}"
    if not with_request:
        return text
    url = flow.metadata.get(ORIGINAL_URL) or request.pretty_url
    return f"{text} ({request.method} {url})"
