"""What Orange's Network APIs Playground holds for a phone number: the predefined +990 numbers and
each client's user-defined numbers (managed through the Admin API).

Number Verification and location verification read this through `state.Directory`; the Admin API
module changes it. Entries are EntryData dicts exactly as the Admin API speaks them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from proxy_addons.config import yamlfile
from proxy_addons.config.rules import Location
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.model import parse_datetime
from proxy_addons.resources import playground_numbers_path
from proxy_addons.timestamps import resolve_times

# Orange's playground answers for the unassigned country code +990 (ORANGE-AND-CAMARA.md §4.5).
PLAYGROUND_PREFIX = "+990"
# One report gives 10 user-defined numbers per application, another 4 (ORANGE-AND-CAMARA.md §6).
USER_NUMBER_LIMIT = 10

Entry = dict[str, Any]


def location_of(entry: Entry, now: float) -> Location:
    """The network's fix for an entry, in the form location verification computes with."""
    where = entry["location"]
    return Location(
        latitude=float(where["latitude"]),
        longitude=float(where["longitude"]),
        accuracy_m=float(where["radius"]),
        # A fix "in the future" (a clock skew in the data) counts as fresh, not as negative age; one
        # before 1970 as of 1970, so the lastLocationTime computed back from the age stays printable.
        age_seconds=min(max(0.0, now - parse_datetime(where["lastLocationTime"]).timestamp()), now),
        available=bool(where["available"]),
    )


@dataclass(frozen=True)
class Builtins:
    """The predefined numbers: every +990 number, listed ones with their own profile."""

    template: Entry
    numbers: dict[str, Entry]

    @classmethod
    def load(cls, path: str | Path, store: SchemaStore, now: float) -> Builtins:
        """Parse and validate the file once; relative times are checked as resolved at `now`."""
        file = yamlfile.load(path)
        resolved = yamlfile.DataFile(file.path, resolve_times(file.data, now), file.root)
        yamlfile.validate(resolved, store, "playground-admin#NumbersFile")
        return cls(template=file.data["template"], numbers=file.data["numbers"])

    def read(self, number: str, now: float) -> Entry | None:
        if not number.startswith(PLAYGROUND_PREFIX):
            return None
        return resolve_times(self.numbers.get(number, self.template), now)

    def new_entry(self, now: float) -> Entry:
        """What CREATE fills a user-defined number with."""
        return resolve_times(self.template, now)


@cache
def default_builtins() -> Builtins:
    return Builtins.load(playground_numbers_path(), default_store(), time.time())


class LimitReached(Exception):
    """A client already has as many user-defined numbers as the playground allows."""


@dataclass
class UserNumbers:
    """Each client's user-defined numbers. Runtime state like tokens: kept across rules reloads."""

    limit: int = USER_NUMBER_LIMIT
    _by_client: dict[str, dict[str, Entry]] = field(default_factory=dict)

    def numbers(self, client_id: str) -> list[str]:
        return list(self._by_client.get(client_id, {}))

    def has(self, client_id: str, number: str) -> bool:
        return number in self._by_client.get(client_id, {})

    def get(self, client_id: str, number: str) -> Entry | None:
        entry = self._by_client.get(client_id, {}).get(number)
        return copy.deepcopy(entry) if entry is not None else None

    def create(self, client_id: str, number: str, entry: Entry) -> Entry:
        """Store a new number (the caller checked it does not exist yet)."""
        own = self._by_client.setdefault(client_id, {})
        if len(own) >= self.limit:
            raise LimitReached(f"at most {self.limit} user-defined numbers per application")
        own[number] = copy.deepcopy(entry)
        return copy.deepcopy(entry)

    def update(self, client_id: str, number: str, parts: Entry) -> None:
        """Replace each top-level part given, whole (the playground does no deep merge)."""
        self._by_client[client_id][number].update(copy.deepcopy(parts))

    def delete(self, client_id: str, number: str) -> bool:
        own = self._by_client.get(client_id, {})
        return own.pop(number, None) is not None

    def snapshot(self) -> dict[str, list[str]]:
        return {client: sorted(own) for client, own in self._by_client.items() if own}


@dataclass
class Playground:
    """Predefined and user-defined numbers, read with the proxy's clock."""

    clock: Callable[[], float]
    builtins: Builtins = field(default_factory=default_builtins)
    users: UserNumbers = field(default_factory=UserNumbers)

    def knows(self, number: str, client_id: str | None) -> bool:
        """Cheaper than `entry() is not None`: nothing copied or resolved."""
        return number.startswith(PLAYGROUND_PREFIX) or (
            client_id is not None and self.users.has(client_id, number)
        )

    def entry(self, number: str, client_id: str | None) -> Entry | None:
        """The data the playground holds for `number` as `client_id` sees it."""
        if client_id is not None:
            own = self.users.get(client_id, number)
            if own is not None:
                return own
        return self.builtins.read(number, self.clock())
