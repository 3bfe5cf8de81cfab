"""Fault injection, the same in every mode (synth, replay, record).

`Faults` sits before the answer sources: it counts each request of ours against every fault's scope
and trigger, applies state faults (expired tokens, a revoked subscription), waits out latency,
answers error faults in the API's own shape, or breaks the connection. `BodyFaults` sits after the
recorder, so a cassette always keeps what the upstream really said, and truncates or garbles bodies.

Token expiry works without knowing who issued a token: every bearer token is remembered with the
time it was first seen (in a token response, or in use); `token_expired` makes every token first seen
before it fired count as expired, until the app fetches a new one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from mitmproxy import command, ctx, exceptions, http

from proxy_addons import yamlfile
from proxy_addons.addons.convert import to_flow_response
from proxy_addons.addons.core import Core
from proxy_addons.addons.eventlog import EventLog
from proxy_addons.addons.stages import ACTION, FAULT, ROUTE
from proxy_addons.apis.oauth import OAuth, OAuthError
from proxy_addons.errors import ApiError
from proxy_addons.faults import Fault, FaultError, FaultFactory, RequestFacts
from proxy_addons.model import dig, json_object

log = logging.getLogger(__name__)

MANGLE = "orange.mangle"  # flow metadata: the body fault to apply to the answer
SEEN_LIMIT = 100_000  # remembered tokens; the oldest are forgotten past this
STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "CONFLICT",
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


def _bearer(flow: http.HTTPFlow) -> str | None:
    header = flow.request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _basic_client(flow: http.HTTPFlow) -> str | None:
    header = flow.request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[0] or None
    except ValueError:
        return None


class Faults:
    name = "orange_faults"

    def __init__(self, core: Core, events: EventLog) -> None:
        self.core = core
        self.events = events
        self.faults: list[Fault] = []
        self.seen: dict[str, tuple[float, str | None]] = {}  # token -> (first seen, client_id)
        self.expired: list[tuple[float, str | None]] = []  # token_expired firings: (when, client or all)
        self.revoked: dict[str, str | None] = {}  # subscription_revoked fault id -> client (None: all)

    # Options and commands -------------------------------------------------------------------

    def load(self, loader) -> None:
        loader.add_option(
            "orange_faults", Sequence[str], [], "Faults to inject, as specs, e.g. 'latency:ms=500'."
        )
        loader.add_option(
            "orange_fault_file", str, "", "A scenario file of faults (YAML, schemas/faults.schema.json)."
        )

    def _factory(self) -> FaultFactory:
        # A method, not a property: mitmproxy reads every attribute of an addon looking for commands.
        assert self.core.engine is not None
        rules = self.core.engine.rules
        return FaultFactory(self.core.engine.schemas, lambda: frozenset(o.name for o in rules.overrides))

    def configure(self, updated: set[str]) -> None:
        if not updated & {"orange_faults", "orange_fault_file"}:
            return
        try:
            faults = [self._factory().from_spec(spec) for spec in ctx.options.orange_faults]
            if ctx.options.orange_fault_file:
                faults += self._scenario(os.path.expanduser(ctx.options.orange_fault_file))
        except (FaultError, yamlfile.DataFileError) as exc:
            raise exceptions.OptionsError(f"orange-proxy: bad fault: {exc}") from None
        self.faults = faults
        self.revoked.clear()

    def _scenario(self, path: str) -> list[Fault]:
        file = yamlfile.load(path)
        assert self.core.engine is not None
        yamlfile.validate(
            file,
            self.core.engine.schemas,
            "faults#ScenarioFile",
            lambda p: f"fault #{p[1] + 1}" if len(p) > 1 and p[0] == "faults" else None,
        )
        return [
            self._factory().build(record, f"{file.position(('faults', i))}")
            for i, record in enumerate(file.data["faults"])
        ]

    def add(self, record: str | dict[str, Any]) -> Fault:
        """Add a fault (a spec string or a record); raises FaultError when it is not valid."""
        fault = (
            self._factory().from_spec(record) if isinstance(record, str) else self._factory().build(record)
        )
        self.faults.append(fault)
        self.events.add({"type": "fault-added", "fault": fault.describe()})
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        self.revoked.pop(fault_id, None)
        removed = len(self.faults) != before
        if removed:
            self.events.add({"type": "fault-removed", "id": fault_id})
        return removed

    def clear(self) -> int:
        count = len(self.faults)
        self.faults, self.expired = [], []
        self.revoked.clear()
        self.events.add({"type": "faults-cleared", "count": count})
        return count

    @command.command("orange.fault")
    def fault_command(self, spec: str) -> str:
        """Inject a fault, e.g. `orange.fault service_unavailable:times=2`; returns its id."""
        try:
            return self.add(spec).id
        except FaultError as exc:
            raise exceptions.CommandError(str(exc)) from None

    @command.command("orange.unfault")
    def unfault_command(self, fault_id: str) -> None:
        """Remove one fault by id."""
        if not self.remove(fault_id):
            raise exceptions.CommandError(f"no fault {fault_id}")

    @command.command("orange.faults.clear")
    def clear_command(self) -> None:
        """Remove every fault (and the token expiries they caused)."""
        self.clear()

    # The pipeline ---------------------------------------------------------------------------

    def _facts(self, flow: http.HTTPFlow, route) -> RequestFacts:
        token = _bearer(flow)
        client = self.seen[token][1] if token in self.seen else _basic_client(flow)
        if client is None:
            client = flow.request.urlencoded_form.get("client_id") if flow.request.urlencoded_form else None
        body = None
        if flow.request.raw_content and "json" in flow.request.headers.get("content-type", ""):
            try:
                body = json_object(flow.request.get_content(strict=False) or b"")
            except ValueError:
                body = None
        number = dig(body, "device.phoneNumber") or dig(body, "phoneNumber")
        if number is None and (hint := flow.request.query.get("login_hint", "")).startswith("tel:"):
            number = hint[4:]
        if isinstance(number, str) and number and not number.startswith("+"):
            number = "+" + number
        operation = route.operation.name if route.operation else None
        return RequestFacts(route.api.name, operation, client, number if isinstance(number, str) else None)

    async def request(self, flow: http.HTTPFlow) -> None:
        route = flow.metadata.get(ROUTE)
        if route is None or flow.response or flow.error:
            return
        now = time.time()
        token = _bearer(flow)
        if token and token not in self.seen:
            self._remember(token, now, None)
        if not (self.faults or self.expired or self.revoked):
            return  # nothing to do: no body parsing on the way of a fault-free session
        facts = self._facts(flow, route)
        fired = [f for f in self.faults if f.consider(facts, now)]
        if fired:
            flow.metadata[FAULT] = [{"id": f.id, "fault": f.kind} for f in fired]
        for fault in fired:
            if fault.kind == "token_expired":
                self.expired.append((now, fault.get("client")))
                self._expire_engine_tokens(fault.get("client"))
            elif fault.kind == "subscription_revoked":
                self.revoked[fault.id] = fault.get("client")
        delay = sum(f.latency_seconds() for f in fired if f.kind == "latency")
        if delay:
            await asyncio.sleep(delay)  # only this flow waits; others go on
        if flow.response or flow.error:
            return
        blocked = self._blocked(flow, route, token, facts)
        if blocked is not None:
            self._answer(flow, blocked)
            return
        for fault in fired:
            if fault.kind in ANSWERS or fault.kind == "status":
                self._answer(flow, self._error_answer(fault, route))
                return
            if fault.kind == "reset":
                flow.metadata[ACTION] = "faulted"
                flow.kill()
                return
            if fault.kind == "hang":
                flow.metadata[ACTION] = "faulted"
                await asyncio.sleep(fault.get("seconds", 600))  # the client gives up first
                if flow.killable:
                    flow.kill()
                return
            if fault.kind in ("truncate", "malformed"):
                flow.metadata[MANGLE] = fault.kind

    def response(self, flow: http.HTTPFlow) -> None:
        """Remember tokens as token endpoints hand them out (any source: they are new tokens)."""
        route = flow.metadata.get(ROUTE)
        if route is None or not isinstance(route.api, OAuth) or flow.response is None:
            return
        try:
            token = json.loads(flow.response.get_content(strict=False) or b"{}").get("access_token")
        except (ValueError, AttributeError, RecursionError):
            return
        if isinstance(token, str):
            self._remember(token, time.time(), _basic_client(flow) or None)

    # Helpers ------------------------------------------------------------------------------

    def _remember(self, token: str, when: float, client: str | None) -> None:
        if len(self.seen) >= SEEN_LIMIT:
            self.seen.pop(next(iter(self.seen)))
        self.seen[token] = (when, client)

    def _expire_engine_tokens(self, client: str | None) -> None:
        if self.core.state is not None:  # so the engine, and /api/state, agree
            self.core.state.tokens.expire(lambda t: client is None or t.client_id == client)

    def _blocked(self, flow: http.HTTPFlow, route, token: str | None, facts: RequestFacts) -> Any:
        """The 401/403 that fault-made state imposes on this request, or None."""
        revoked = facts.client_id is not None and any(
            c in (None, facts.client_id) for c in self.revoked.values()
        )
        if revoked and isinstance(route.api, OAuth):
            # As Orange's gateway treats a revoked client id: its credentials no longer count.
            return OAuthError(
                "invalid_client",
                "The requested service needs credentials, but the ones provided were invalid.",
                401,
            )
        if revoked:
            return ApiError(403, "PERMISSION_DENIED", f"the subscription of {facts.client_id} was removed")
        if token and token in self.seen and not isinstance(route.api, OAuth):
            first_seen, client = self.seen[token]
            if any(first_seen <= when and who in (None, client) for when, who in self.expired):
                return ApiError(401, "UNAUTHENTICATED", "access token expired")
        return None

    def _error_answer(self, fault: Fault, route) -> Any:
        if fault.kind == "status":
            code = fault.get("code")
            if fault.get("rule"):
                assert self.core.engine is not None
                rule = next(o for o in self.core.engine.rules.overrides if o.name == fault.get("rule"))
                return rule
            return ApiError(code, STATUS_CODES.get(code, "ERROR"), f"injected status {code}")
        status, code, message, oauth_error = ANSWERS[fault.kind]
        headers = {"Retry-After": str(fault.get("retry_after", 30))} if fault.kind == "rate_limited" else {}
        if isinstance(route.api, OAuth):
            return OAuthError(oauth_error, f"injected fault: {fault.kind}", status, headers)
        return ApiError(status, code, f"injected fault: {fault.kind}", message=message, headers=headers)

    def _answer(self, flow: http.HTTPFlow, error: Any) -> None:
        engine = self.core.engine
        assert engine is not None
        route = flow.metadata[ROUTE]
        if isinstance(error, OAuthError):
            answer = OAuth.oauth_error(error)
        elif isinstance(error, ApiError):
            answer = route.api.error(error, engine)
        else:  # a rules override
            answer = route.api.override(error, engine)
        flow.response = to_flow_response(answer, flow.request.method)
        flow.metadata[ACTION] = "faulted"


class BodyFaults:
    """Truncates or garbles an answer's body, after the recorder has kept the real one."""

    name = "orange_body_faults"

    def response(self, flow: http.HTTPFlow) -> None:
        kind = flow.metadata.get(MANGLE)
        if kind is None or flow.response is None:
            return
        body = flow.response.get_content(strict=False) or b""
        flow.response.headers.pop("content-encoding", None)  # the new body is sent as it is
        if kind == "truncate":
            flow.response.content = body[: len(body) // 2]
        else:
            flow.response.content = b'{"verificationResult": <html>502 Bad Gateway</html>'
        flow.metadata[ACTION] = f"{flow.metadata.get(ACTION, 'answered')}+{kind}"
