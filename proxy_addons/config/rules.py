"""Rules: the YAML data that says who the clients are, which numbers the network knows and where
their devices are, and which requests get an explicit answer.

Files are layered: the built-in defaults first, then each `--rules` file in order. Clients and
numbers merge by id (a later file wins); overrides of a later file are tried before earlier ones.
Everything is validated at load, including every response an override can produce.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy_addons.config import yamlfile
from proxy_addons.config.schemas import SchemaStore
from proxy_addons.config.scope import RequestFacts, Scope
from proxy_addons.resources import default_rules_path
from proxy_addons.timestamps import resolve_times

RulesError = yamlfile.DataFileError

# The header naming the override that answered, as WireMock's Matched-Stub-Name names its stub: the
# tester sees which rule spoke (apps ignore unknown headers); the proxy's stages put it on the flow.
OVERRIDE_HEADER = "x-orange-proxy-override"


@dataclass(frozen=True)
class ClientRule:
    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...] | None
    apis: frozenset[str] | None  # subscriptions; None = every API


@dataclass(frozen=True)
class Location:
    """Where the network last located a device: a circle, and how old that fix is."""

    latitude: float
    longitude: float
    accuracy_m: float
    age_seconds: float
    available: bool = True


# The parts of a subscriber's data a rules number may give, in the Admin API's EntryData shapes.
SUBSCRIBER_PARTS = ("reachability", "roaming", "simSwap", "deviceSwap", "kyc")


@dataclass(frozen=True)
class NumberRule:
    phone_number: str
    location: Location | None
    # EntryData parts as written (relative date-times such as "now-3d" kept, resolved when read).
    parts: Mapping[str, Any] = field(default_factory=dict)
    # A number given as a mapping without `location` is where the template puts it; one given as
    # `null` is known but cannot be located ("keep the number, drop its location").
    template_location: bool = False


@dataclass(frozen=True)
class Override:
    """An explicit answer for the requests in its scope."""

    name: str
    source: str  # "file:line" of the rule, for logs
    scope: Scope
    status: int
    headers: Mapping[str, str]
    response_body: Any

    @property
    def operation(self) -> str | None:
        return self.scope.operation


@dataclass(frozen=True)
class Rules:
    clients: Mapping[str, ClientRule] | None  # None: any client id/secret is accepted
    numbers: Mapping[str, NumberRule]
    overrides: tuple[Override, ...]
    sources: tuple[str, ...] = ()

    def first_override(self, facts: RequestFacts, fields: Any) -> Override | None:
        """The first override (later files first) whose scope takes this request."""
        for rule in self.overrides:
            if rule.scope.matches(facts, fields):
                return rule
        return None

    def override_for(
        self, api: str, operation: str | None, client_id: str | None, phone_number: str | None, fields: Any
    ) -> Override | None:
        return self.first_override(RequestFacts(api, operation, client_id, phone_number), fields)

    def override_names(self) -> frozenset[str]:
        return frozenset(rule.name for rule in self.overrides)


def _location(data: Mapping[str, Any] | None) -> Location | None:
    if data is None:
        return None
    return Location(
        latitude=float(data["latitude"]),
        longitude=float(data["longitude"]),
        accuracy_m=float(data.get("accuracy_m", 500)),
        age_seconds=float(data.get("age_seconds", 30)),
        available=bool(data.get("available", True)),
    )


class _Layer:
    """One validated rules file turned into objects."""

    def __init__(self, file: yamlfile.DataFile, store: SchemaStore) -> None:
        data = file.data

        def describe(path: tuple[Any, ...]) -> str | None:
            overrides = data.get("overrides") if isinstance(data, dict) else None
            if len(path) >= 2 and path[0] == "overrides" and isinstance(overrides, list):
                rule = overrides[path[1]] if isinstance(path[1], int) and path[1] < len(overrides) else {}
                name = rule.get("name") if isinstance(rule, dict) else None
                return f"rule '{name}'" if name else f"rule #{path[1] + 1}"
            return None

        # Relative date-times in numbers ("now-3d") are checked as they read now.
        if isinstance(data, dict) and isinstance(data.get("numbers"), dict):
            checked = {**data, "numbers": resolve_times(data["numbers"], time.time())}
            yamlfile.validate(
                yamlfile.DataFile(file.path, checked, file.root), store, "rules#RulesFile", describe
            )
        else:
            yamlfile.validate(file, store, "rules#RulesFile", describe)

        self.clients = {
            c["client_id"]: ClientRule(
                client_id=c["client_id"],
                client_secret=c.get("client_secret"),
                redirect_uris=tuple(c["redirect_uris"]) if "redirect_uris" in c else None,
                apis=frozenset(c["apis"]) if "apis" in c else None,
            )
            for c in data.get("clients", [])
        }
        self.lists_clients = "clients" in data
        self.numbers = {
            number: NumberRule(
                number,
                _location((entry or {}).get("location")),
                {part: entry[part] for part in SUBSCRIBER_PARTS if entry and part in entry},
                template_location=isinstance(entry, dict) and "location" not in entry,
            )
            for number, entry in data.get("numbers", {}).items()
        }
        self.overrides = []
        for index, rule in enumerate(data.get("overrides", [])):
            self.overrides.append(self._override(file, store, index, rule, describe))

    @staticmethod
    def _override(file: yamlfile.DataFile, store: SchemaStore, index: int, rule: dict, describe) -> Override:
        match = rule["match"]
        response = rule["response"]
        status = response["status"]
        body = response.get("body")
        api, operation = match["api"], match.get("operation")
        where = ("overrides", index)
        # Every answer an override gives is checked, "no body" included.
        if operation is None and status < 400:
            raise RulesError(
                f"{file.position((*where, 'match'))}: {describe(where)}: a {status} answer needs "
                f"match.operation, so that its body can be checked against that operation's schema"
            )
        problems = store.check_response(f"{api}#{operation or 'error'}.{status}", status, body)
        if problems:
            field = ("response", "body") if "body" in response else ("response",)
            raise RulesError(
                f"{file.position((*where, *field))}: {describe(where)}, field {'.'.join(field)}: "
                f"not a valid {api} {operation or 'error'} {status} body: {problems[0]}"
            )
        return Override(
            name=rule.get("name") or f"rule #{index + 1}",
            source=file.position(where),
            scope=Scope(
                api=api,
                operation=operation,
                client_id=match.get("client_id"),
                number=match.get("phone_number"),
                body=dict(match.get("body", {})),
            ),
            status=status,
            headers={str(k): str(v) for k, v in response.get("headers", {}).items()},
            response_body=body,
        )


def load_rules(paths: Sequence[str | Path], store: SchemaStore, with_defaults: bool = True) -> Rules:
    """Load and layer rules files (defaults first). Raises RulesError naming file, line and field."""
    files = [default_rules_path(), *paths] if with_defaults else list(paths)
    clients: dict[str, ClientRule] = {}
    lists_clients = False
    numbers: dict[str, NumberRule] = {}
    overrides: list[Override] = []
    for path in files:
        layer = _Layer(yamlfile.load(path), store)
        lists_clients = lists_clients or layer.lists_clients
        clients.update(layer.clients)
        numbers.update(layer.numbers)
        overrides[:0] = layer.overrides  # later files take precedence
    return Rules(
        clients=clients if lists_clients else None,
        numbers=numbers,
        overrides=tuple(overrides),
        sources=tuple(str(p) for p in files),
    )
