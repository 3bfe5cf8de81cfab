"""The mitmproxy addons: thin adapters over the pipeline's plain stages, in pipeline order.

    Intercept (classify, plan) → Faults → AnswerStage (the plan's sources: cassette | synth |
        upstream | passthrough | miss; first answer wins) → Recorder (upstream answers only)
        → BodyFaults → EventLog → Marks (flow.comment / flow.marked for mitmproxy's tools)

`Core` owns the shared options and what is built from them (classification, rules, state, the
synthesiser); `Cassettes` the cassette in use; `Control` the control page and API.
"""

from __future__ import annotations

from collections.abc import Sequence

from proxy_addons.addons.answer import AnswerStage
from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.console import Marks
from proxy_addons.addons.control import Control
from proxy_addons.addons.core import Core
from proxy_addons.addons.eventlog import EventLog
from proxy_addons.addons.faulting import BodyFaults, Faults
from proxy_addons.addons.intercept import Intercept
from proxy_addons.addons.offline_dns import OfflineDns
from proxy_addons.addons.recorder import Recorder
from proxy_addons.addons.verdict import Verdict
from proxy_addons.config.schemas import SchemaStore
from proxy_addons.simulator.apis import ALL_APIS, Api


def default_addons(apis: Sequence[Api] = ALL_APIS, schemas: SchemaStore | None = None) -> list[object]:
    """A fresh, wired set of addons for one mitmproxy master, in pipeline order. `apis` and `schemas`
    are the registered APIs and their schema files (see README, "Adding an API")."""
    core = Core(apis, schemas)
    cassettes = Cassettes()
    events = EventLog(core.exchanges)
    faults = Faults(core, events)
    recorder = Recorder(core, cassettes)
    intercept = Intercept(core, cassettes)
    return [
        core,
        cassettes,
        Control(core, faults, events),  # http://orange-proxy.test/api/…, before anything classifies
        intercept,
        OfflineDns(intercept),  # a WireGuard client's lookups of our names, when they do not resolve
        faults,
        AnswerStage(core, cassettes),
        recorder,
        BodyFaults(),  # after the recorder: cassettes keep the real body
        events,  # last stage: it sees what every stage did, and ends the flow's exchange
        Marks(),  # flow.comment and flow.marked for mitmweb, flow files and HAR: what the proxy did
        Verdict(cassettes, recorder),  # the run's tally, its summary and exit status at the end
    ]


__all__ = [
    "AnswerStage",
    "BodyFaults",
    "Cassettes",
    "Control",
    "Core",
    "EventLog",
    "Faults",
    "Intercept",
    "Marks",
    "OfflineDns",
    "Recorder",
    "Verdict",
    "default_addons",
]
