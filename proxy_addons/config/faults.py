"""Faults: what can go wrong on purpose, for which requests, and when.

One fault is one flat record, written either as a spec string (`--fault`, the control API, the
mitmproxy command) or as a mapping (a scenario file, the control API), validated by
`schemas/faults.schema.json`:

    token_expired                          every token seen so far expires, at the next API call
    latency:ms=1500,api=location-verification
    latency:ms=200-800,seed=3              uniform in a range, reproducible
    service_unavailable:times=2            the next two matching requests
    reset:p=0.3,seed=7                     30 % of matching requests, reproducibly
    subscription_revoked:client=my-app,after=5
    status:code=418,rule=my-override       any status; the body of a rules override
    hang:for=60                            only during the next 60 seconds

Scope keys: api, operation, number (a phone number), client (a client_id). Trigger keys: times (the
next N matching requests), after (skip the first N), p (probability) with seed, delay and for (a time
window, in seconds from when the fault is added). A mapping's `fault` may be a whole spec too
(`{fault: "latency:ms=200", times: 2}`).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy_addons.config.schemas import SchemaStore
from proxy_addons.config.scope import RequestFacts, Scope
from proxy_addons.config.yamlfile import did_you_mean

# Kinds that change state once per firing default to firing once: a token that expires on every
# request would be a permanent 401, not an expiry.
ONCE_BY_DEFAULT = frozenset({"token_expired"})
# Kinds about the access token a request carries: they count (and fire on) API calls with a bearer
# token only. The app's own token request would otherwise spend them (and its fresh token would work).
ACCESS_TOKEN_FAULTS = frozenset({"token_expired"})
INTEGER_KEYS = frozenset({"times", "after", "seed", "code", "retry_after"})
# The keys every kind takes (a label, the scope, the trigger), and the kinds' own: a key of another
# kind is an error, not silently ignored (`service_unavailable:seconds=5` does not hang).
COMMON_KEYS = ("name", "api", "operation", "number", "client", "times", "after", "p", "seed", "delay", "for")
KIND_KEYS: Mapping[str, tuple[str, ...]] = {
    "latency": ("ms",),
    "status": ("code", "rule"),
    "rate_limited": ("retry_after",),
    "hang": ("seconds",),
}
NUMBER_KEYS = frozenset({"p", "delay", "for", "seconds"})

_ids = itertools.count(1)


class FaultError(ValueError):
    """A fault that cannot be used; the message says which key is wrong and why."""


@dataclass
class Fault:
    kind: str
    spec: dict[str, Any]  # the validated record, as given (for listing and the event log)
    id: str = field(default_factory=lambda: f"f{next(_ids)}")
    created: float = field(default_factory=time.time)
    matched: int = 0  # matching requests seen
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    scope: Scope = field(init=False)

    def __post_init__(self) -> None:
        spec = self.spec
        self.scope = Scope(spec.get("api"), spec.get("operation"), spec.get("client"), spec.get("number"))

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    @property
    def exhausted(self) -> bool:
        times = self.get("times")
        return times is not None and self.fired >= times

    def consider(self, facts: RequestFacts, now: float, bearer_call: bool = True) -> bool:
        """Count a request against the scope and trigger; True when the fault would fire for it.
        `bearer_call`: the request is an API call carrying a bearer token (else a fault about access
        tokens does not see it at all, so `after=N` counts API calls).

        Whether it does is the faults stage's call (`count_fired`): an answer fault that loses to one
        listed before it is not spent, so `times=N` stays "the next N requests it answers". The `p`
        draw happens here, once per matching request, so a seed gives the same run every time."""
        if self.kind in ACCESS_TOKEN_FAULTS and not bearer_call:
            return False
        if not self.scope.matches(facts):
            return False
        self.matched += 1
        start = self.created + self.get("delay", 0)
        if now < start or ("for" in self.spec and now >= start + self.spec["for"]):
            return False
        if self.matched <= self.get("after", 0) or self.exhausted:
            return False
        return "p" not in self.spec or self.rng.random() < self.spec["p"]

    def count_fired(self) -> None:
        """The fault acted on a request (its latency, state change, answer or body was applied)."""
        self.fired += 1

    def latency_seconds(self) -> float:
        low, _, high = str(self.get("ms", 1000)).partition("-")
        if high:
            return self.rng.uniform(float(low), float(high)) / 1000
        return float(low) / 1000

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.kind,
            **{k: v for k, v in self.spec.items() if k != "fault"},
            "matched": self.matched,
            "fired": self.fired,
            "exhausted": self.exhausted,
        }


def parse_spec(text: str) -> dict[str, Any]:
    """`name:key=value,key=value` → {"fault": name, key: value, …}, numbers converted."""
    name, _, rest = text.strip().partition(":")
    if "," in name or "=" in name:
        # Keys before any colon: a comma where the colon belongs, most likely.
        raise FaultError(f"fault {text!r}: write name:key=value,key=value (e.g. {_example(name, rest)})")
    record: dict[str, Any] = {"fault": name.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise FaultError(f"fault {text!r}: expected key=value, got {item!r}")
        if key in record:
            raise FaultError(f"fault {text!r}: {key} is given twice")
        try:
            record[key] = _number(key, value)
        except FaultError as exc:
            raise FaultError(f"fault {text!r}: {exc}") from None
    return record


def _example(name: str, rest: str) -> str:
    """The spec someone who wrote `name` (keys before the colon) most likely meant."""
    items = [item.strip() for item in name.split(",") if item.strip()]
    names = [item for item in items if "=" not in item]
    if len(names) != 1:
        return "service_unavailable:api=location-verification"
    keys = [item for item in items if "=" in item] + ([rest.strip()] if rest.strip() else [])
    return f"{names[0]}:{','.join(keys)}" if keys else names[0]


def expand(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record whose `fault` is a whole spec (`{fault: "latency:ms=200", times: 2}`, as a scenario
    file or the control API may give it) → one flat record; other records are returned as they are."""
    flat = dict(record)
    name = flat.get("fault")
    if not isinstance(name, str) or not any(mark in name for mark in ":,="):
        return flat
    spec = parse_spec(name)
    for key in sorted((spec.keys() & flat.keys()) - {"fault"}):
        raise FaultError(f"fault {name!r}: {key} is given twice")
    return {**flat, **spec}


def _number(key: str, value: str) -> Any:
    try:
        if key in INTEGER_KEYS:
            return int(value)
        if key in NUMBER_KEYS:
            return float(value)
    except ValueError:
        raise FaultError(f"{key} must be a number, not {value!r}") from None
    if key == "ms" and value.replace(".", "", 1).isdigit():
        return float(value)
    return value


class FaultFactory:
    """Validates fault records against `schemas/faults.schema.json` and builds faults."""

    def __init__(self, schemas: SchemaStore, rule_names: Callable[[], frozenset[str]] = frozenset) -> None:
        self.schemas = schemas
        self.rule_names = rule_names

    def from_spec(self, text: str) -> Fault:
        return self.build(parse_spec(text), source=f"fault {text!r}")

    def build(self, record: Mapping[str, Any], source: str | None = None) -> Fault:
        """A fault from a record; `source` (e.g. a scenario file's `file:line:col`) prefixes errors."""
        try:
            record = expand(record)
        except FaultError as exc:
            raise FaultError(f"{source}: {exc}" if source else str(exc)) from None
        source = source or "fault"
        found = self.problem(record)
        if found is not None:
            raise FaultError(f"{source}: {found[1]}")
        problem = self.schemas.first_error("faults#Fault", record)
        if problem:
            raise FaultError(f"{source}: {problem}")
        kind = record["fault"]
        if kind == "status" and "code" not in record:
            raise FaultError(f"{source}: a status fault needs code=<HTTP status>")
        if "rule" in record and record["rule"] not in self.rule_names():
            raise FaultError(f"{source}: no rules override is named {record['rule']!r}")
        if kind in ONCE_BY_DEFAULT:
            record.setdefault("times", 1)
        if kind == "location_outdated":
            record.setdefault("api", "location-verification")
        fault = Fault(kind, record)
        if "seed" in record:
            fault.rng.seed(record["seed"])
        return fault

    def kinds(self) -> list[str]:
        """The fault kinds, as the schema lists them."""
        return list(self.schemas.documents["faults"]["$defs"]["Fault"]["properties"]["fault"]["enum"])

    def problem(self, record: Mapping[str, Any]) -> tuple[str, str] | None:
        """(key, message) for the mistakes people make, said in their words with the name most
        likely meant, before the schema's own messages (which quote its lists and patterns):
        an unknown kind, a key the kind does not take, a latency that is not milliseconds, an
        unknown API. None: leave the rest to the schema."""
        kinds = self.kinds()
        kind = record.get("fault")
        if not isinstance(kind, str) or kind not in kinds:
            hint = did_you_mean(str(kind), kinds)
            return "fault", f"unknown fault {kind!r}{hint} (the kinds: {', '.join(kinds)})"
        takes = [*KIND_KEYS.get(kind, ()), *COMMON_KEYS]
        for key in record:
            if key == "fault" or key in takes:
                continue
            owner = next((k for k, keys in KIND_KEYS.items() if key in keys), None)
            hint = f"; only {owner} takes it" if owner else did_you_mean(str(key), takes)
            listed = ", ".join(takes)
            return str(key), f"{kind} has no parameter {str(key)!r}{hint} (its parameters: {listed})"
        if "ms" in record and not _milliseconds(record["ms"]):
            return "ms", (
                f"{record['ms']!r} is not a number of milliseconds (a number, e.g. 1500, or a range "
                f"such as 200-800)"
            )
        apis = self.schemas.documents["apis"]["$defs"]["ApiName"]["enum"]
        if "api" in record and record["api"] not in apis:
            api = record["api"]
            return "api", f"api {api!r} is not one of {', '.join(apis)}{did_you_mean(str(api), apis)}"
        named = record.get("operation")
        known = self.operations().get(str(record.get("api")), ())
        if isinstance(named, str) and known and named not in known:
            # A typo would make a fault that never fires, silently.
            return "operation", (
                f"{record['api']} has no operation {named!r}{did_you_mean(named, known)} "
                f"(its operations: {', '.join(known)})"
            )
        return None

    def operations(self) -> dict[str, tuple[str, ...]]:
        """Each API's operations, as the generated `apis` schema lists them."""
        found: dict[str, tuple[str, ...]] = {}
        for case in self.schemas.documents["apis"]["$defs"]["Operations"].get("allOf", []):
            api = case.get("if", {}).get("properties", {}).get("api", {}).get("const")
            names = case.get("then", {}).get("properties", {}).get("operation", {}).get("enum")
            if isinstance(api, str) and isinstance(names, list):
                found[api] = tuple(names)
        return found


def _milliseconds(value: Any) -> bool:
    """A latency's `ms`: a number, or a range "min-max" of them (the schema checks the bounds)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if not isinstance(value, str):
        return False
    low, dash, high = value.partition("-")
    return bool(dash) and all(part.replace(".", "", 1).isdigit() for part in (low, high))
