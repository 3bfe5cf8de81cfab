"""One intercepted request on its way through the pipeline, in our own types (no mitmproxy).

The classify stage makes it; the faults and answer stages read it; the answer sources fill in what
answered. Whatever must outlive the request phase (and mitmproxy's flow serialisation) is copied
into the flow's metadata as plain strings by the adapters.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

from proxy_addons.cassettes.model import Request, identity_encoded
from proxy_addons.config.scope import RequestFacts
from proxy_addons.model import ApiRequest
from proxy_addons.simulator.routing import Route


@dataclass
class Exchange:
    request: ApiRequest  # the request as the engine sees it (its JSON body parsed at most once)
    url: str  # the URL the app asked for
    raw_body: bytes | None  # the body as sent, content coding and all (what a cassette stores)
    route: Route
    plan: tuple[str, ...]  # the answer sources to try, first to last
    miss: str | None = None  # why the cassette could not answer
    faults: list[dict[str, str]] = field(default_factory=list)  # [{"id", "fault"}] that fired
    facts: RequestFacts | None = None  # as the faults stage read them (only when a fault is active)

    @cached_property
    def recorded_request(self) -> Request:
        """The request as the app sent it, in a cassette's form (every header, the body uncompressed):
        what replay looks up. The recorder stores the request as forwarded instead."""
        headers: dict[str, list[str]] = {}
        for name, value in self.request.headers.pairs:
            headers.setdefault(name, []).append(value)
        return identity_encoded(Request(self.request.method, self.url, headers, self.raw_body or None))


class InFlight(OrderedDict[str, Exchange]):
    """Exchanges by flow id while their flows are in flight: added when classified, dropped when the
    flow ends (answered or failed). Bounded, so flows that never end cannot make it grow for ever."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.limit = limit

    def add(self, key: str, value: Exchange) -> None:
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)
