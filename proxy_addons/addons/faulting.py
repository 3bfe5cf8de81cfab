"""Fault injection as mitmproxy addons, the same in every mode (synth, replay, record).

`Faults` sits before the answer stage: its options, commands and the waiting (latency, hangs) are
here; what fires and what it answers is `proxy_addons.pipeline.faulting`. `BodyFaults` sits after the
recorder, so a cassette always keeps what the upstream really said, and truncates or garbles bodies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

from mitmproxy import command, ctx, exceptions, http
from mitmproxy.connection import ConnectionState

from proxy_addons.addons.answer import to_flow_response
from proxy_addons.addons.core import Core
from proxy_addons.addons.eventlog import EventLog
from proxy_addons.addons.stages import ACTION, FAULT, GAVE_UP, MANGLE, OVERRIDE, ours
from proxy_addons.config import yamlfile
from proxy_addons.config.faults import Fault, FaultError, FaultFactory, expand
from proxy_addons.config.rules import OVERRIDE_HEADER
from proxy_addons.messages import logger, say
from proxy_addons.pipeline.faulting import FaultStage
from proxy_addons.pipeline.sources import Answer

log = logger(__name__)

POLL_SECONDS = 0.1  # how often a waiting flow looks whether its client is still there


class Faults:
    name = "orange_faults"

    def __init__(self, core: Core, events: EventLog) -> None:
        self.core = core
        self.events = events
        self.stage = FaultStage()
        self._running = False
        # Faults from the options, to log as added once the event log is open (it is configured
        # after this addon, so its file would miss what is logged during the first configure).
        self._unlogged: list[tuple[Fault, str]] = []

    @property
    def faults(self) -> list[Fault]:
        return self.stage.faults

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
        assert self.core.schemas is not None and self.core.rules is not None
        rules = self.core.rules
        return FaultFactory(self.core.schemas, rules.override_names)

    def configure(self, updated: set[str]) -> None:
        self.stage.context = self.core.context  # Core configured first: its context is current
        if not updated & {"orange_faults", "orange_fault_file"}:
            return
        try:
            given = [(self._factory().from_spec(spec), "orange_faults") for spec in ctx.options.orange_faults]
            if ctx.options.orange_fault_file:
                path = os.path.expanduser(ctx.options.orange_fault_file)
                given += [(fault, ctx.options.orange_fault_file) for fault in self._scenario(path)]
        except (FaultError, yamlfile.DataFileError) as exc:
            raise exceptions.OptionsError(say(f"bad fault: {exc}")) from None
        self.stage.replace([fault for fault, _ in given])
        self._unlogged = given
        if self._running:
            self._log_added()

    def running(self) -> None:
        self._running = True
        self._log_added()

    def _log_added(self) -> None:
        """Faults from the options are logged as added, as the control API's are (with their source)."""
        for fault, source in self._unlogged:
            if any(f is fault for f in self.faults):
                self.events.add({"type": "fault-added", "fault": fault.describe(), "source": source})
        self._unlogged = []

    def _scenario(self, path: str) -> list[Fault]:
        file = yamlfile.load(path)
        assert self.core.schemas is not None
        items = file.data.get("faults") if isinstance(file.data, dict) else None
        if isinstance(items, list):
            # A `fault:` may be a whole spec: flatten each before the schema looks at the keys.
            flat = []
            for i, item in enumerate(items):
                try:
                    flat.append(expand(item) if isinstance(item, dict) else item)
                except FaultError as exc:
                    raise FaultError(f"{file.position(('faults', i, 'fault'))}: {exc}") from None
            file = dataclasses.replace(file, data={**file.data, "faults": flat})
            for i, item in enumerate(flat):  # the common mistakes, in words, at their line
                found = self._factory().problem(item) if isinstance(item, dict) else None
                if found is not None:
                    key, message = found
                    where = file.key_position(("faults", i), key)
                    raise FaultError(f"{where}: fault #{i + 1}, field {key}: {message}")
        yamlfile.validate(
            file,
            self.core.schemas,
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
        self.stage.add(fault)
        self.events.add({"type": "fault-added", "fault": fault.describe()})
        return fault

    def remove(self, fault_id: str) -> bool:
        removed = self.stage.remove(fault_id)
        if removed:
            self.events.add({"type": "fault-removed", "id": fault_id})
        return removed

    def clear(self) -> int:
        count = self.stage.clear()
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

    async def request(self, flow: http.HTTPFlow) -> None:
        if not ours(flow):
            return
        exchange = self.core.exchanges.get(flow.id)
        if exchange is None:
            return
        self.stage.seen(exchange)
        if not self.stage.active:
            return  # no fault, no fault-made state: nothing more to look at
        candidates, delay = self.stage.fire(exchange)
        if exchange.faults:
            flow.metadata[FAULT] = exchange.faults  # latency and state faults: fired already
        if delay and await self._client_gave_up(flow, delay):  # only this flow waits; others go on
            return
        if flow.response or flow.error:
            return
        decision = self.stage.decide(exchange, candidates)
        if exchange.faults:
            flow.metadata[FAULT] = exchange.faults  # and the answer and body faults that won
        if decision.mangle is not None:
            flow.metadata[MANGLE] = decision.mangle
        if decision.answer is not None:
            flow.response = to_flow_response(Answer.of(decision.answer, "faulted"), flow.request)
            flow.metadata[ACTION] = "faulted"
        elif decision.transport == "reset":
            flow.metadata[ACTION] = "faulted"
            flow.kill()
        elif decision.transport == "hang":
            flow.metadata[ACTION] = "faulted"
            # The client gives up first, most likely; if not, the connection is dropped at the end.
            if not await self._client_gave_up(flow, decision.hang_seconds) and flow.killable:
                flow.kill()

    @staticmethod
    async def _client_gave_up(flow: http.HTTPFlow, seconds: float) -> bool:
        """Wait `seconds`, or less when the client closes its connection meanwhile: then the flow is
        killed (mitmproxy calls the `error` hook of every addon, so it is logged, printed and counted
        as the faulted exchange it is) and True is returned. mitmproxy holds a client's close back
        until the hook returns, so without looking, the flow would only end when the wait does."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(POLL_SECONDS, left))
            if flow.response or flow.error:
                return False
            if not flow.client_conn.state & ConnectionState.CAN_READ:  # it closed its side (or all)
                waited = time.time() - (flow.request.timestamp_start or time.time())
                flow.metadata[GAVE_UP] = f"client gave up after {waited:.1f} s"
                flow.metadata[ACTION] = "faulted"  # nothing answered it: the fault is what it got
                if flow.killable:
                    flow.kill()
                return True
        return False

    def error(self, flow: http.HTTPFlow) -> None:
        """A flow killed because its client left says so (instead of mitmproxy's "Connection killed."),
        for every later addon: the event log, the console line, the flow's comment, mitmweb."""
        if flow.error is not None and GAVE_UP in flow.metadata:
            flow.error.msg = str(flow.metadata[GAVE_UP])

    def response(self, flow: http.HTTPFlow) -> None:
        """Remember tokens as token endpoints hand them out (any source: they are new tokens). And
        name the rules override that answered (ours: synthesised, or a status fault with its body) on
        the flow, for the console line, the comment and the event log of the stages after this one."""
        exchange = self.core.exchanges.get(flow.id)
        if exchange is None or flow.response is None:
            return
        rule = flow.response.headers.get(OVERRIDE_HEADER)
        if rule and str(flow.metadata.get(ACTION, "")).partition("+")[0] in ("synthesised", "faulted"):
            flow.metadata[OVERRIDE] = rule
        self.stage.handed_out(
            exchange, flow.response.status_code, flow.response.get_content(strict=False) or b""
        )


# What a gateway in the path sends when the upstream dies mid-answer. No quote in it: a cut inside a
# JSON string leaves that string open, so the body can never parse, whatever the API's answer was.
GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def malformed(body: bytes) -> bytes:
    """The first half of the real answer, then a gateway's HTML error page: the body still claims to
    be the API's JSON, starts like it, and is not JSON (whichever API it is)."""
    return body[: len(body) // 2] + GATEWAY_PAGE


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
            flow.response.content = malformed(body)
        flow.metadata[ACTION] = f"{flow.metadata.get(ACTION, 'answered')}+{kind}"
