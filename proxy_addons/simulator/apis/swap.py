"""What SIM Swap 1.0 and Device Swap 0.2 share: two operations on one date the operator records.

- `retrieve-date` answers the latest change, as the subscriber's record holds it.
- `check` answers whether that change lies within the last `maxAge` hours (both specs: integer,
  1..2400, default 240).

The record is one part of the subscriber's EntryData (`simSwap.latestSimChange`,
`deviceSwap.latestDeviceChange`). The playground keeps the whole history: the Admin API stores any
date, and Orange's own predefined +990100000002 READs as swapped in 2020 (ORANGE-AND-CAMARA.md §6).
So `retrieve-date` never answers the `null` that both specs reserve for operators whose regulation
limits how far back they may keep the history, nor Device Swap's `monitoredPeriod`; a rules override
can answer either, and the schemas accept them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from proxy_addons.model import ApiRequest, ApiResponse, parse_datetime
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.playground import BASE, PlaygroundApi
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import Token

HOUR = 3600
DEFAULT_MAX_AGE = 240  # hours, the default of both specs


@dataclass(frozen=True)
class LatestChange:
    """The latest change an operator's record holds."""

    text: str  # as recorded: answered as it is, so a tester reads back exactly what they set
    at: float  # epoch seconds


def latest_change(record: Mapping[str, Any], key: str) -> LatestChange | None:
    """The change `record[key]` holds; None when the record holds none that can be read."""
    value = record.get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return LatestChange(value, moment.timestamp())


def changed_within(change: LatestChange, max_age_hours: float, now: float) -> bool:
    """Did the change happen during the last `max_age_hours` hours? The window includes both ends;
    a change dated after `now` (a clock skew in the data) is recent, not outside the window."""
    return change.at >= now - max_age_hours * HOUR


def swap_routes(path: str) -> tuple[tuple[str, ...], tuple[Operation, ...]]:
    """`prefixes` and `operations` of a swap API at BASE/`path` (e.g. "sim-swap/v1")."""
    base = f"{BASE}/{path}"
    return (base + "/",), (
        Operation("retrieve-date", "POST", base + "/retrieve-date"),
        Operation("check", "POST", base + "/check"),
    )


class SwapApi(PlaygroundApi):
    """A playground swap API: retrieve-date and check, computed from one record of the subscriber."""

    device_field = "phoneNumber"
    part: ClassVar[str]  # the EntryData part holding the record
    key: ClassVar[str]  # the record's date field, also the key of the retrieve-date answer
    retrieve_request: ClassVar[str]  # request definitions in the schema file
    check_request: ClassVar[str]

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        self.check_headers(request, ctx)
        data = body.require()
        if operation.name == "check":
            self.validate_check(data, ctx)
        else:
            self.validate(self.retrieve_request, data, ctx)
        subscriber = self.subscriber(token, data, ctx)
        change = latest_change(subscriber.part(self.part), self.key)
        if operation.name == "retrieve-date":
            if change is None:
                return self.response(operation, self.no_record_answer(subscriber.number, ctx), ctx)
            return self.response(operation, {self.key: change.text}, ctx)
        if change is None:
            # Nothing to compare maxAge with: a 422 (Device Swap 0.2.0 says so for "no data in the
            # operator's records"), never a guess either way.
            raise self.no_record_error(subscriber.number, ctx)
        max_age = data.get("maxAge", DEFAULT_MAX_AGE)
        return self.response(operation, {"swapped": changed_within(change, max_age, ctx.now())}, ctx)

    # Hooks, per spec version ----------------------------------------------------------------

    def check_headers(self, request: ApiRequest, ctx: ApiContext) -> None:
        """Request headers the spec constrains (none by default)."""

    def validate_check(self, data: Any, ctx: ApiContext) -> None:
        """The check request's validation: every problem is 400 INVALID_ARGUMENT by default."""
        self.validate(self.check_request, data, ctx)

    def no_record_answer(self, number: str, ctx: ApiContext) -> dict[str, Any]:
        """retrieve-date when the record holds no date (raise where the spec wants an error)."""
        raise self.no_record_error(number, ctx)

    def no_record_error(self, number: str, ctx: ApiContext) -> ApiError:
        """The spec's 422 for a line the operator holds no date for."""
        raise NotImplementedError
