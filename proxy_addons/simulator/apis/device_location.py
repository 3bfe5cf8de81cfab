"""What the playground's CAMARA DeviceLocation APIs share: Location Verification 1.0.0 and Location
Retrieval 0.3.0, both built on Commonalities 0.4.0.

- That generation's device errors: 422 UNIDENTIFIABLE_DEVICE, 422 UNSUPPORTED_DEVICE_IDENTIFIERS,
  404 DEVICE_NOT_FOUND (profile camara; the playground's 403 under orange), 403 INVALID_TOKEN_CONTEXT.
- 400s that tell a value outside its documented range (OUT_OF_RANGE, "a given field has a pre-defined
  range") from a malformed request (INVALID_ARGUMENT).
- The network's fix as `maxAge` allows it: none (the network cannot locate the device), too old (the
  API's 422 UNABLE_TO_FULFILL_MAX_AGE), or the fix and when it was taken.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from jsonschema.exceptions import ValidationError

from proxy_addons.config.rules import Location
from proxy_addons.model import ApiResponse, parse_datetime
from proxy_addons.simulator.apis.base import FaultAnswer
from proxy_addons.simulator.apis.playground import DeviceErrors, PlaygroundApi, Refusal
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import Subscriber
from proxy_addons.timestamps import rfc3339

# JSON Schema keywords that bound a value: failing one means "out of range", not "malformed".
RANGE_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


def whole_seconds(age: float) -> int:
    """A fix's age in whole seconds, maxAge's unit, rounded to the nearest: a fix stored as "now-1m"
    reads back a fraction of a millisecond either side of 60 s, and must meet maxAge=60, not
    maxAge=59, every time."""
    return math.floor(age + 0.5)


class DeviceLocationApi(PlaygroundApi):
    """A playground DeviceLocation API: the device from the token or the body, its network fix."""

    device_errors = DeviceErrors(
        missing=Refusal(422, "UNIDENTIFIABLE_DEVICE", "A device must be provided"),
        unsupported=Refusal(
            422, "UNSUPPORTED_DEVICE_IDENTIFIERS", "Supported device identifiers are: phoneNumber"
        ),
        token_context=Refusal(403, "INVALID_TOKEN_CONTEXT", "device is not consistent with access token."),
        not_found=Refusal(404, "DEVICE_NOT_FOUND", "No device found for a provided identifier"),
    )

    #: The API's own error code prefix (CAMARA `API_NAME.SPECIFIC_CODE`).
    code_prefix: ClassVar[str]

    # Validation ------------------------------------------------------------------------------

    def invalid_code(self, problem: ValidationError) -> tuple[str, str | None]:
        if problem.validator in RANGE_KEYWORDS:
            return self.out_of_range_code(tuple(problem.absolute_path))
        return "INVALID_ARGUMENT", None

    def out_of_range_code(self, path: tuple[Any, ...]) -> tuple[str, str | None]:
        """The 400 code (and message) for a value outside its range at `path` in the body."""
        return "OUT_OF_RANGE", None

    # Device errors, Commonalities 0.4.0 ---------------------------------------------------------

    def max_age_error(self, detail: str) -> ApiError:
        return ApiError(
            422,
            f"{self.code_prefix}.UNABLE_TO_FULFILL_MAX_AGE",
            detail,
            message="Unable to provide expected freshness for location",
        )

    def fault_answer(self, fault: FaultAnswer, ctx: ApiContext) -> ApiResponse:
        """A `location_outdated` fault is, at these versions, a fix too old for the request."""
        if fault.kind == "location_outdated":
            return self.error(self.max_age_error(fault.detail), ctx)
        return super().fault_answer(fault, ctx)

    # The network's fix -------------------------------------------------------------------------

    def fix(self, subscriber: Subscriber, max_age: int | None) -> Location | None:
        """Where the network last located the device, if it can and the fix is no older than
        `max_age` seconds (None: any age); None if it cannot locate it at all."""
        location = subscriber.location
        if location is None or not location.available:
            if max_age == 0:
                # Both specs: maxAge=0 asks for a fresh calculation; one the network cannot make is
                # the 422, not "no location" (LR 0.3 and LV 1.0 info.description, "Max Age").
                raise self.max_age_error(f"the network cannot locate {subscriber.number} now (maxAge 0)")
            return None
        if max_age is not None and (age := whole_seconds(location.age_seconds)) > max_age:
            raise self.max_age_error(
                f"the network's last fix of {subscriber.number} is {age} s old, more than maxAge {max_age}"
            )
        return location

    @staticmethod
    def fix_time(subscriber: Subscriber, location: Location, ctx: ApiContext) -> str:
        """lastLocationTime: when the network took the fix. A playground number stores that instant
        (read it, so the answer repeats it to the millisecond); a rules number gives an age."""
        now = ctx.now()
        stored = subscriber.part("location").get("lastLocationTime")
        taken = parse_datetime(stored).timestamp() if isinstance(stored, str) else now - location.age_seconds
        # As the age is bounded (state.playground.location_of): never in the future, never before 1970.
        return rfc3339(max(min(taken, now), 0.0))
