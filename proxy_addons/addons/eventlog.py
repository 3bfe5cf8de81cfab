"""Event log: every exchange of ours and every injected fault, as one JSON object each.

Written as JSON lines to `orange_event_log` (a file) when set, and kept in a bounded in-memory ring
that the control API serves, so a tester can line up what the app did with what the proxy did.
"""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import IO, Any

from mitmproxy import ctx, exceptions, http

from proxy_addons.addons.stages import ACTION, FAULT, MISS, ORIGINAL_URL, OVERRIDE, PASSED_THROUGH, ROUTE
from proxy_addons.messages import logger, say
from proxy_addons.pipeline.exchange import InFlight
from proxy_addons.simulator.errors import REASON_HEADER

log = logger(__name__)

RING_SIZE = 1000  # events kept in memory; the file keeps everything
LIVE_LIMIT = 10_000  # flows of this run remembered until they end


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    name = "orange_event_log"

    def __init__(self, in_flight: InFlight | None = None) -> None:
        self.in_flight = in_flight  # the pipeline's exchanges: a flow's ends here
        self.events: deque[dict[str, Any]] = deque(maxlen=RING_SIZE)
        self.counter = 0  # events ever logged; gives each a sequence number
        self._live: OrderedDict[str, None] = OrderedDict()  # ids of this run's flows not ended yet
        self._file: IO[str] | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "orange_event_log",
            str,
            "",
            "Append every exchange and injected fault to this file, one JSON object a line.",
        )

    def configure(self, updated: set[str]) -> None:
        if "orange_event_log" not in updated:
            return
        self._close()
        path = ctx.options.orange_event_log
        if path:
            try:
                # Line-buffered: each event is on disk when its line is complete.
                self._file = open(os.path.expanduser(path), "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as exc:
                message = say(f"cannot write the event log {path}: {exc.strerror}")
                raise exceptions.OptionsError(message) from None

    def add(self, event: dict[str, Any]) -> dict[str, Any]:
        """Log one event (the pipeline's own, or one a control action makes)."""
        self.counter += 1
        event = {"seq": self.counter, "time": _now(), **event}
        self.events.append(event)
        if self._file is not None:
            try:
                self._file.write(json.dumps(event, ensure_ascii=False) + "\n")
            except OSError as exc:
                log.error("event log write failed: %s", exc)
        return event

    def since(self, seq: int = 0, limit: int = RING_SIZE) -> list[dict[str, Any]]:
        """Events after sequence number `seq`, oldest first (newest last)."""
        newer = [e for e in self.events if e["seq"] > seq]
        return newer[-limit:]

    # The pipeline's end: every flow of ours, answered or failed ---------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Flows of this run to other hosts have no exchange in flight: remember them as live here.
        if flow.live:
            self._live[flow.id] = None
            if len(self._live) > LIVE_LIMIT:  # flows that never end cannot make it grow for ever
                self._live.popitem(last=False)

    def response(self, flow: http.HTTPFlow) -> None:
        self._flow_event(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._flow_event(flow)

    def _flow_event(self, flow: http.HTTPFlow) -> None:
        route = flow.metadata.get(ROUTE)
        live = flow.id in self._live
        self._live.pop(flow.id, None)
        if route is None:
            # Another host's plain HTTP, passed through untouched: logged as an exchange of no route.
            if live and flow.metadata.get(ACTION) == PASSED_THROUGH:
                self._exchange(flow, None)
            return
        # Only exchanges of this run: a flow read back from a file (`mitmdump -r`) carries our
        # metadata but was never in flight here. A killed flow was, though it is no longer live.
        if self.in_flight is not None and self.in_flight.pop(flow.id, None) is None:
            return
        self._exchange(flow, route)

    def _exchange(self, flow: http.HTTPFlow, route: str | None) -> None:
        started = flow.request.timestamp_start
        peer = flow.client_conn.peername
        event: dict[str, Any] = {
            "type": "exchange",
            "client": f"{peer[0]}:{peer[1]}" if peer else None,
            "request": {
                "method": flow.request.method,
                "url": flow.metadata.get(ORIGINAL_URL) or flow.request.pretty_url,
                "route": route,
            },
            "action": flow.metadata.get(ACTION, "none"),
        }
        if flow.response is not None:
            event["status"] = flow.response.status_code
            if reason := flow.response.headers.get(REASON_HEADER):
                event["reason"] = reason  # why the proxy said no (the control page shows it)
        if flow.error is not None:
            event["error"] = flow.error.msg
        if FAULT in flow.metadata:
            event["fault"] = flow.metadata[FAULT]
        if OVERRIDE in flow.metadata:
            event["override"] = flow.metadata[OVERRIDE]  # the rules override that answered
        if MISS in flow.metadata:
            event["miss"] = flow.metadata[MISS]
        if started:
            event["duration_ms"] = round((time.time() - started) * 1000, 1)
        self.add(event)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def done(self) -> None:
        self._close()
