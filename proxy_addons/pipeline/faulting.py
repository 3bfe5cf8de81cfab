"""The faults stage, in plain code over our own types: which faults fire for a request, the state
they change (through the one state package), and what the request gets instead of its answer.

Token expiry works without knowing who issued a token: the state remembers every bearer token with
the time it was first seen (in a token answer, or in use); `token_expired` makes every token first
seen before it fired count as expired, until the app fetches a new one. It fires on (and counts) API
calls that carry a bearer token only, never the token requests, so the app does see its 401. How each
API words an injected error is that API's business (`Api.fault_answer`, `revoked_answer`, `expired_answer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from proxy_addons.config.faults import Fault
from proxy_addons.model import ApiResponse
from proxy_addons.pipeline.exchange import Exchange
from proxy_addons.simulator.apis.base import FaultAnswer
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError

STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL",
    502: "BAD_GATEWAY",
    503: "UNAVAILABLE",
    504: "TIMEOUT",
}
# Error faults: (status, CAMARA code, message or None, OAuth error for the token endpoints).
ANSWERS = {
    "service_unavailable": (503, "UNAVAILABLE", None, "temporarily_unavailable"),
    "invalid_input": (400, "INVALID_ARGUMENT", None, "invalid_request"),
    "rate_limited": (429, "TOO_MANY_REQUESTS", None, "temporarily_unavailable"),
    "location_outdated": (404, "NOT_FOUND", "Location outdated", "invalid_request"),
}
BODY_FAULTS = ("truncate", "malformed")


@dataclass
class Decision:
    """What a request gets once its faults fired: an answer instead of the real one, a broken
    connection ("reset", or "hang" for `hang_seconds` first), a body fault on the answer, or nothing."""

    answer: ApiResponse | None = None
    transport: str | None = None
    hang_seconds: float = 0
    mangle: str | None = None


@dataclass
class FaultStage:
    context: ApiContext | None = None  # the APIs' context of the current configuration
    faults: list[Fault] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Is there anything to do beyond noting tokens? A fault-free session parses no bodies here."""
        assert self.context is not None
        return bool(self.faults) or self.context.state.fault_made

    def fire(self, exchange: Exchange) -> tuple[list[Fault], float]:
        """Count the request against every fault. Of those that would fire, the ones that act at once
        fire here: every latency fault, and the state faults (their change is made now). Returns the
        faults that would fire, in the order listed (for `decide`), and the latency to wait first."""
        assert self.context is not None
        state = self.context.state
        request, route = exchange.request, exchange.route
        token = request.bearer_token
        facts = route.api.facts(route.operation, request, state.tokens.client_of(token))
        issued = state.tokens.get(token) if token and facts.number is None else None
        if issued is not None and issued.phone_number:
            # A 3-legged token names the device when the body does not (the playground APIs).
            facts = replace(facts, number=issued.phone_number)
        exchange.facts = facts
        now = state.clock()
        bearer_call = bool(token) and route.api.takes_access_tokens  # not a token endpoint
        candidates = [fault for fault in self.faults if fault.consider(facts, now, bearer_call)]
        delay = 0.0
        for fault in candidates:
            if fault.kind == "latency":
                delay += fault.latency_seconds()
            elif fault.kind == "token_expired":
                state.tokens.expire_by_fault(fault.get("client"))
            elif fault.kind == "subscription_revoked":
                # Subscriptions are per API: `api=` takes that one only; no `api`, every one.
                state.revocations.revoke(fault.id, fault.get("client"), fault.get("api"))
            else:
                continue
            fault.count_fired()
            self._note(exchange, candidates, fault)
        return candidates, delay

    def decide(self, exchange: Exchange, candidates: Sequence[Fault]) -> Decision:
        """After any latency: the 401/403 fault-made state imposes, else the first answer or
        connection fault in the order listed. A body fault listed before it still applies to the
        answer (a 418 with its body cut in half); the last body fault listed wins. Only the faults
        applied here count as fired: an answer fault listed after the winner keeps its turn."""
        ctx = self.context
        assert ctx is not None
        blocked = self._blocked(exchange, ctx)
        if blocked is not None:
            return Decision(answer=blocked.correlated(exchange.request))
        body: Fault | None = None
        winner: Fault | None = None
        for fault in candidates:
            if not self._still_on(fault):
                continue  # spent (or removed) by another request while this one waited
            if fault.kind in BODY_FAULTS:
                body = fault
            elif fault.kind in ANSWERS or fault.kind in ("status", "reset", "hang"):
                winner = fault
                break
        if winner is not None and winner.kind in ("reset", "hang"):
            body = None  # no answer for a body fault to act on
        for fault in (body, winner):
            if fault is not None:
                fault.count_fired()
                self._note(exchange, candidates, fault)
        mangle = body.kind if body is not None else None
        if winner is None:
            return Decision(mangle=mangle)
        if winner.kind == "reset":
            return Decision(transport="reset")
        if winner.kind == "hang":
            return Decision(transport="hang", hang_seconds=winner.get("seconds", 600))
        answer = self._error_answer(winner, exchange, ctx).correlated(exchange.request)
        return Decision(answer=answer, mangle=mangle)

    def _still_on(self, fault: Fault) -> bool:
        return not fault.exhausted and any(f is fault for f in self.faults)

    @staticmethod
    def _note(exchange: Exchange, candidates: Sequence[Fault], fault: Fault) -> None:
        """Add a fault that fired to the exchange's list (for the event log), in the order listed."""
        fired = {entry["id"] for entry in exchange.faults} | {fault.id}
        exchange.faults = [{"id": f.id, "fault": f.kind} for f in candidates if f.id in fired]

    def _blocked(self, exchange: Exchange, ctx: ApiContext) -> ApiResponse | None:
        if not ctx.state.fault_made:
            return None
        api, tokens, token = exchange.route.api, ctx.state.tokens, exchange.request.bearer_token
        client = exchange.facts.client_id if exchange.facts else None
        if ctx.state.revocations.covers(client, api.name):
            assert client is not None
            return api.revoked_answer(client, ctx)
        if api.takes_access_tokens and tokens.expired_by_fault(token):
            return api.expired_answer(ctx)
        return None

    def _error_answer(self, fault: Fault, exchange: Exchange, ctx: ApiContext) -> ApiResponse:
        api = exchange.route.api
        if fault.kind == "status":
            code: int = fault.get("code")
            if fault.get("rule"):
                rule = next(o for o in ctx.rules.overrides if o.name == fault.get("rule"))
                return api.override(rule, ctx)
            # The generic code for the status, if this API's error schema takes it; else the first
            # code the API itself defines for that status (a 422 of roaming 0.6 is not one of LV 1.0).
            known = ctx.schemas.error_codes(api.name, code)
            name = STATUS_CODES.get(code, "ERROR")
            if known and name not in known:
                name = known[0]
            return api.error(ApiError(code, name, f"injected status {code}"), ctx)
        status, code_name, message, oauth_error = ANSWERS[fault.kind]
        headers: dict[str, Any] = {}
        if fault.kind == "rate_limited":
            headers["Retry-After"] = str(fault.get("retry_after", 30))
        return api.fault_answer(
            FaultAnswer(
                status, code_name, f"injected fault: {fault.kind}", message, oauth_error, headers, fault.kind
            ),
            ctx,
        )

    def seen(self, exchange: Exchange) -> None:
        """Note the request's bearer token, fault or no fault: a later `token_expired` must know it."""
        assert self.context is not None
        token = exchange.request.bearer_token
        if token:
            self.context.state.tokens.seen(token)

    def handed_out(self, exchange: Exchange, status: int, body: bytes) -> None:
        """Remember a token a token endpoint hands out (from any source: it is a new token)."""
        assert self.context is not None
        token = exchange.route.api.issued_token(status, body)
        if token is not None:
            self.context.state.tokens.handed_out(token, exchange.request.basic_user)

    # The list of faults ------------------------------------------------------------------------

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        self.context.state.revocations.lift(fault_id)
        return len(self.faults) != before

    def clear(self) -> int:
        count = len(self.faults)
        self.faults = []
        state = self.context.state
        state.tokens.fault_expiries.clear()
        state.revocations.clear()
        return count

    def replace(self, faults: list[Fault]) -> None:
        """New faults from the options: revocations of the old ones are lifted."""
        self.faults = faults
        self.context.state.revocations.clear()
