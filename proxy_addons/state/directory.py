"""The subscribers the simulated network knows, and where their devices are."""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy_addons.config.rules import Location
from proxy_addons.state.playground import Playground, location_of


@dataclass
class Directory:
    """The subscribers the simulated network knows: numbers from the rules (the lab's devices), and
    the playground's numbers: every predefined +990 one and each client's user-defined ones.

    A client's user-defined number wins over the same number in the rules: the tester set it on
    purpose, through the Admin API."""

    locations: dict[str, Location | None] = field(default_factory=dict)
    playground: Playground | None = None

    def known(self, number: str, client_id: str | None = None) -> bool:
        """Does the network answer for this number (as `client_id` sees it)?"""
        if number in self.locations:
            return True
        return self.playground is not None and self.playground.knows(number, client_id)

    def location(self, number: str, client_id: str | None = None) -> Location | None:
        """Where the network last located the device, or None if it cannot."""
        playground = self.playground
        user_defined = (
            playground is not None and client_id is not None and playground.users.has(client_id, number)
        )
        if number in self.locations and not user_defined:
            return self.locations[number]
        entry = playground.entry(number, client_id) if playground is not None else None
        return location_of(entry, playground.clock()) if entry is not None else None
