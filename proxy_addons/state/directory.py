"""The subscribers the simulated network knows, and everything it holds for each: the one place every
API reads a number's data from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from proxy_addons.config.rules import Location, NumberRule
from proxy_addons.state.playground import Entry, Playground, location_of
from proxy_addons.timestamps import resolve_times

Origin = Literal["user-defined", "rules", "predefined"]


@dataclass(frozen=True)
class Subscriber:
    """A number's data as one client sees it, read once per request: every EntryData part
    (reachability, roaming, simSwap, deviceSwap, kyc, location) with absolute date-times, and the
    network's fix in the form the location APIs compute with (None: it cannot locate the device)."""

    number: str
    origin: Origin
    data: Entry
    location: Location | None

    def part(self, name: str) -> dict[str, Any]:
        return self.data.get(name) or {}


@dataclass
class Directory:
    """The subscribers the simulated network knows: numbers from the rules (the lab's devices and
    the tester's own), and the playground's numbers: every predefined +990 one and each client's
    user-defined ones.

    A client's user-defined number wins over the same number in the rules: the tester set it on
    purpose, through the Admin API. A rules number takes each part it does not give from the
    playground's template (a nominal subscriber)."""

    numbers: Mapping[str, NumberRule] = field(default_factory=dict)
    playground: Playground | None = None

    @property
    def locations(self) -> dict[str, Location | None]:
        return {number: rule.location for number, rule in self.numbers.items()}

    def known(self, number: str, client_id: str | None = None) -> bool:
        """Does the network answer for this number (as `client_id` sees it)?"""
        if number in self.numbers:
            return True
        return self.playground is not None and self.playground.knows(number, client_id)

    def _user_defined(self, number: str, client_id: str | None) -> bool:
        playground = self.playground
        return playground is not None and client_id is not None and playground.users.has(client_id, number)

    def _rule_location(self, rule: NumberRule) -> Location | None:
        if rule.location is None and rule.template_location and self.playground is not None:
            now = self.playground.clock()
            return location_of(self.playground.builtins.new_entry(now), now)
        return rule.location

    def location(self, number: str, client_id: str | None = None) -> Location | None:
        """Where the network last located the device, or None if it cannot."""
        if number in self.numbers and not self._user_defined(number, client_id):
            return self._rule_location(self.numbers[number])
        playground = self.playground
        entry = playground.entry(number, client_id) if playground is not None else None
        return location_of(entry, playground.clock()) if entry is not None else None

    def subscriber(self, number: str, client_id: str | None = None) -> Subscriber | None:
        """Everything the network holds for `number` as `client_id` sees it; None if unknown."""
        playground = self.playground
        if number in self.numbers and not self._user_defined(number, client_id):
            rule = self.numbers[number]
            data: Entry = {}
            if playground is not None:
                now = playground.clock()
                data = playground.builtins.new_entry(now)
                data.update(resolve_times(dict(rule.parts), now))
            else:
                data = dict(rule.parts)
            data.pop("location", None)  # the rules' own location form is the one that counts
            return Subscriber(number, "rules", data, self._rule_location(rule))
        if playground is None:
            return None
        origin: Origin = "user-defined" if self._user_defined(number, client_id) else "predefined"
        entry = playground.entry(number, client_id)
        if entry is None:
            return None
        now = playground.clock()
        # Parts a number lacks (deviceSwap, our addition, on numbers created before it) read the template's.
        for name, part in playground.builtins.template.items():
            if name not in entry:
                entry[name] = resolve_times(part, now)
        return Subscriber(number, origin, entry, location_of(entry, now))
