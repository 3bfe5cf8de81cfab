"""One cassette in use by the proxy: lookup for replay, and scrubbed, crash-safe recording.

Matching goes through an index built at load; identical requests are answered in recorded order
(a cassette can hold a 200 and then a 401 for the same call), then per the `exhausted` policy.
Both sides of a comparison are masked first, so a real secret and its placeholder compare equal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from proxy_addons.cassettes import persister
from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.matching import Index, MatchConfig
from proxy_addons.cassettes.model import Interaction, Request
from proxy_addons.config.choices import Exhausted, parse
from proxy_addons.scrubbing import Scrubber, ScrubConfig

SCRUB_META = "scrubbed_fields"  # cassette metadata: the user-listed fields scrubbed when recording


def _merged(config: ScrubConfig, remembered: object) -> ScrubConfig:
    if not isinstance(remembered, dict):
        return config

    def names(key: str) -> frozenset[str]:
        values = remembered.get(key)
        return frozenset(v for v in values if isinstance(v, str)) if isinstance(values, list) else frozenset()

    return ScrubConfig(
        headers=config.headers | names("headers"),
        query_params=config.query_params | names("query_params"),
        json_fields=config.json_fields | names("json_fields"),
        pseudonymise_numbers=config.pseudonymise_numbers,
    )


@dataclass(frozen=True)
class Hit:
    interaction: Interaction


@dataclass(frozen=True)
class Miss:
    reason: str  # one line, for people: what was asked and what differed from the nearest recording


class Tape:
    def __init__(
        self,
        path: str | Path,
        match: MatchConfig | None = None,
        scrub: ScrubConfig | None = None,
        exhausted: str = Exhausted.REPEAT,
    ) -> None:
        exhausted = parse(Exhausted, exhausted, "exhausted")
        self.cassette = Cassette.load(path)  # raises CassetteError for an unreadable file
        persister.remove_stale_temporaries(self.cassette.path)
        self.existed = self.cassette.existed
        self.match = match or MatchConfig()
        self.exhausted = exhausted
        # The cassette remembers the extra fields it was scrubbed of, so replay masks them too.
        self.scrub_config = _merged(scrub or ScrubConfig(), self.cassette.meta.get(SCRUB_META))
        self.scrubber = Scrubber(self.scrub_config, self.cassette.interactions)
        self.index = Index((), self.match)
        for interaction in self.cassette.interactions:
            self.index.add_key(self.index.key(*self.scrubber.masked(interaction.request)))
        # Only what was on file is replayed: exchanges recorded in this run are "the rest".
        self.replayable = len(self.cassette.interactions)
        self._served: dict[tuple[int, ...], int] = defaultdict(int)  # answers given per distinct request

    @property
    def path(self) -> Path:
        return self.cassette.path

    @property
    def recorded(self) -> int:
        """Interactions added in this run."""
        return len(self.cassette.interactions) - self.replayable

    def unplayed(self) -> list[int]:
        """Positions of the interactions on file that no request was answered with in this run."""
        played = {p for positions, served in self._served.items() for p in positions[:served]}
        return [p for p in range(self.replayable) if p not in played]

    def find(self, request: Request, explain: bool = True) -> Hit | Miss:
        """The recorded answer for `request`, or why there is none. The nearest recorded request is
        looked for (a scan) only when `explain`: when the miss is answered, not forwarded."""
        # One key, from one parse of the body: the mask hands its parsed JSON on to the key.
        key = self.index.key(*self.scrubber.masked(request))
        # The positions of identical recordings name their class of requests: no second key needed.
        positions = tuple(p for p in self.index.positions_of(key) if p < self.replayable)
        label = f"{request.method} {request.uri}"
        if positions:
            served = self._served[positions]
            if served < len(positions):
                self._served[positions] = served + 1
                return Hit(self.cassette.interactions[positions[served]])
            if self.exhausted == "repeat":  # the last recorded answer, served again
                return Hit(self.cassette.interactions[positions[-1]])
            return Miss(f"{label}: all {len(positions)} recorded answers to this request were already served")
        if self.replayable == 0:
            return Miss(f"{label}: the cassette {self.path.name} holds no recorded interactions")
        if not explain:
            return Miss(f"{label}: no recorded interaction matches")
        nearest = self.index.nearest_to(key)
        if nearest is None or nearest.position >= self.replayable:
            return Miss(f"{label}: no recorded interaction matches")
        return Miss(f"{label}: no recorded interaction matches; {nearest.summary()}")

    def record(self, interaction: Interaction) -> Interaction:
        """Scrub, append and write the cassette at once (atomically), so the exchange is on disk
        before the next one is recorded. Returns what was written."""
        # The scrubbed request is masked for the index from the scrubbed body's parse: one parse.
        scrubbed, masked, parsed = self.scrubber.scrub_and_mask(interaction)
        self.cassette.interactions.append(scrubbed)
        config = self.scrub_config
        self.cassette.meta[SCRUB_META] = {
            "headers": sorted(config.headers),
            "query_params": sorted(config.query_params),
            "json_fields": sorted(config.json_fields),
        }
        self.index.add_key(self.index.key(masked, parsed))
        self.cassette.save()
        return scrubbed
