"""The mitmproxy addons, one per pipeline stage, in pipeline order.

    Intercept (classify and plan, or pass through) → Faults
        → answer sources, tried in the order the mode planned: Replayer | Synthesiser | Upstream
        → Recorder (upstream answers only) → BodyFaults → EventLog

`Core` owns the shared options and the engine; `Cassettes` the cassette in use. Stages talk through
the flow metadata keys in `stages`.
"""

from __future__ import annotations

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.control import Control
from proxy_addons.addons.core import Core
from proxy_addons.addons.eventlog import EventLog
from proxy_addons.addons.faulting import BodyFaults, Faults
from proxy_addons.addons.intercept import Intercept
from proxy_addons.addons.recorder import Recorder
from proxy_addons.addons.replayer import Replayer
from proxy_addons.addons.synthesiser import Synthesiser
from proxy_addons.addons.upstream import Upstream


def default_addons() -> list[object]:
    """A fresh, wired set of addons for one mitmproxy master, in pipeline order."""
    core = Core()
    cassettes = Cassettes()
    events = EventLog()
    faults = Faults(core, events)
    return [
        core,
        cassettes,
        Control(core, faults, events),  # http://orange-proxy.test/api/…, before anything classifies
        Intercept(core, cassettes),
        faults,
        Replayer(cassettes),
        Synthesiser(core),
        Upstream(),
        Recorder(core, cassettes),
        BodyFaults(),  # after the recorder: cassettes keep the real body
        events,  # last: it sees what every stage did
    ]


__all__ = [
    "BodyFaults",
    "Cassettes",
    "Control",
    "Core",
    "EventLog",
    "Faults",
    "Intercept",
    "Recorder",
    "Replayer",
    "Synthesiser",
    "Upstream",
    "default_addons",
]
