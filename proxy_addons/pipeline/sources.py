"""The answer sources a mode chooses from, and the one stage that walks them.

A mode chooses an ordered tuple of source names per request (see `modes.plan`); the answer stage
asks each source in turn and stops at the first that answers. Each source implements one method,
`answer(exchange, rest)`: an `Answer` (a response for the app), a `Forward` (let it go to the real
host, or the `--upstream` base URL), or None (the next source's turn). Nothing here imports mitmproxy.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from proxy_addons.cassettes.model import Response
from proxy_addons.cassettes.tape import Hit, Tape
from proxy_addons.messages import logger
from proxy_addons.model import ApiResponse
from proxy_addons.pipeline.exchange import Exchange
from proxy_addons.scrubbing.idtokens import Refresher
from proxy_addons.simulator.engine import Engine
from proxy_addons.simulator.errors import header_safe

log = logger(__name__)

MISS_HEADER = "x-orange-proxy-replay-miss"
# Hop-by-hop and length headers: a replayed body is served with its own length.
NOT_REPLAYED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_STATE = re.compile(r"(?<=[?&#])state=[^&#]*")


@dataclass(frozen=True)
class Answer:
    """A response for the app, and what made it (the event log's action)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    action: str
    reason: str | None = None
    replay: bool = False  # a recorded answer served again (mitmproxy's `flow.is_replay`)

    @classmethod
    def of(cls, response: ApiResponse, action: str) -> Answer:
        return cls(
            response.status, tuple(response.all_headers().items()), response.body, action, response.reason
        )


@dataclass(frozen=True)
class Forward:
    """Let the request go upstream; `action` says whether its answer is recorded ("forwarded")."""

    action: str


Outcome = Answer | Forward | None


class Source(Protocol):
    def answer(self, exchange: Exchange, rest: Sequence[str]) -> Outcome:
        """This source's answer, or None to leave the request to the `rest` of the plan."""


class CassetteSource:
    """Recorded answers, matched through the tape's index."""

    def __init__(self, tape: Callable[[], Tape | None]) -> None:
        self.tape = tape
        self.id_tokens = Refresher()  # replayed id_tokens made valid for this run's app

    def answer(self, exchange: Exchange, rest: Sequence[str]) -> Outcome:
        tape = self.tape()
        if tape is None:
            return None
        # The nearest recording is looked for only when a miss answer will show it.
        found = tape.find(exchange.recorded_request, explain=bool(rest) and rest[0] == "miss")
        if isinstance(found, Hit):
            return self._fresh(replayed(found.interaction.response, exchange), exchange)
        exchange.miss = found.reason
        return None

    def _fresh(self, answer: Answer, exchange: Exchange) -> Answer:
        """The answer with a cassette-signed id_token signed again for now and the app's nonce."""
        location = next((value for name, value in answer.headers if name.lower() == "location"), None)
        self.id_tokens.authorize(exchange.url, location)
        sent = exchange.recorded_request.body or b""
        body = self.id_tokens.body(answer.body, sent.decode("latin-1"))
        return answer if body == answer.body else dataclasses.replace(answer, body=body)


def replayed(response: Response, exchange: Exchange) -> Answer:
    headers = tuple(
        (name, value)
        for name, values in response.headers.items()
        if name.lower() not in NOT_REPLAYED
        for value in values
    )
    return Answer(
        response.status,
        echo_state(headers, exchange.request.query_string),
        response.body,
        "replayed",
        response.reason or None,
        replay=True,
    )


def echo_state(headers: tuple[tuple[str, str], ...], query_string: str) -> tuple[tuple[str, str], ...]:
    """Apps make up a new OAuth `state` each run and check that the redirect brings it back; a
    replayed redirect carries the recorded one, so put the app's own in its place."""
    sent = _raw_query_param(query_string, "state")
    if sent is None:
        return headers
    result = []
    done = False
    for name, value in headers:
        if not done and name.lower() == "location" and _STATE.search(value):
            value = _STATE.sub(lambda _: f"state={sent}", value, count=1)
            done = True
        result.append((name, value))
    return tuple(result)


def _raw_query_param(query_string: str, name: str) -> str | None:
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None


class MissSource:
    """The replay-miss answer: a 502 that says what differed from the nearest recording."""

    def answer(self, exchange: Exchange, rest: Sequence[str]) -> Outcome:
        reason = exchange.miss or f"{exchange.request.method} {exchange.url}: no recorded interaction matches"
        body = {"status": 502, "code": "REPLAY_MISS", "message": f"orange-proxy replay miss: {reason}"}
        log.warning("replay miss: %s", reason)
        headers = (("Content-Type", "application/json"), (MISS_HEADER, header_safe(reason, 1000)))
        return Answer(502, headers, json.dumps(body).encode(), "replay-miss")


class SynthSource:
    """The synthesiser answers as Orange's playground and lab would."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.engine = engine

    def answer(self, exchange: Exchange, rest: Sequence[str]) -> Outcome:
        try:
            response = self.engine().handle(exchange.route, exchange.request)
        except Exception:
            # Never let a request we own fall through to the real upstream (it carries credentials).
            log.exception("could not answer %s %s", exchange.request.method, exchange.url)
            body = b'{"status": 500, "code": "INTERNAL", "message": "Server error"}'
            return Answer(500, (("Content-Type", "application/json"),), body, "synthesised")
        return Answer.of(response, "synthesised")


class ForwardSource:
    """The real host: "upstream" answers are recorded, "passthrough" ones (a miss policy) never are."""

    def __init__(self, action: str) -> None:
        self.action = action

    def answer(self, exchange: Exchange, rest: Sequence[str]) -> Outcome:
        return Forward(self.action)


NO_SOURCE = Answer(
    502,
    (("Content-Type", "application/json"),),
    b'{"status": 502, "code": "BAD_GATEWAY", "message": "orange-proxy: no answer source"}',
    "none",
)


def walk(sources: Mapping[str, Source], exchange: Exchange) -> Answer | Forward:
    """The answer stage: the first source of the plan that answers. A plan that runs out is refused
    here, never forwarded by accident (the request carries the app's credentials)."""
    plan = exchange.plan
    for index, name in enumerate(plan):
        outcome = sources[name].answer(exchange, plan[index + 1 :])
        if outcome is not None:
            return outcome
    log.error("nothing answered %s (plan %s)", exchange.url, plan)
    return NO_SOURCE
