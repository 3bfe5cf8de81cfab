"""Device Location Verification, Orange lab v0 (CAMARA 0.2.0-rc2), 2-legged tokens from /oauth/v3.

The answer is computed from where the rules put the device: a circle N (centre, accuracy radius) and
the age of that fix, against the requested circle R (see proxy_addons.simulator.geo).
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.model import ApiRequest, ApiResponse, dig
from proxy_addons.simulator import geo
from proxy_addons.simulator.apis.base import BearerApi, JsonBody, Operation
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError, Dialect
from proxy_addons.state import OAUTH_V3, Token
from proxy_addons.timestamps import rfc3339

BASE = "/camara/location-verification/orange-lab/v0"
SCOPE = "location-verification:verify"


def normalise_number(raw: str) -> str:
    """The lab takes phoneNumber "optionally prefixed with '+'"; the directory keys carry it."""
    return raw if raw.startswith("+") else "+" + raw


class LocationVerification(BearerApi):
    name = "location-verification"
    prefixes = (BASE + "/",)
    operations = (Operation("verify", "POST", BASE + "/verify"),)
    scopes = frozenset({SCOPE})
    issuers = frozenset({OAUTH_V3})
    # A lab token asked for with scopes must include this one; one without any scope is fine.
    required_scopes: ClassVar = {"verify": frozenset({SCOPE})}
    dialect = Dialect(
        orange={
            400: {"status": 400, "message": "Invalid input"},
            401: {"status": 401, "message": "Authorization failed: {detail}"},
            403: {"status": 403, "message": "Operation not allowed: {detail}"},
            404: {"status": 404, "code": "NOT_FOUND", "message": "{message}"},
            503: {"code": "UNAVAILABLE", "status": 503, "message": "Service unavailable"},
        },
        reasons={
            200: "Location verification successful",
            400: "Invalid input",
            404: "Not found",
            503: "Service unavailable",
        },
    )

    def subject(self, token: Token, body: Any) -> str | None:
        number = dig(body, "device.phoneNumber")
        return normalise_number(number) if isinstance(number, str) and number else None

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        profile = ctx.profile
        data = body.require()
        self.validate(f"VerifyRequest.{profile}", data, ctx)

        raw_number = data["device"].get("phoneNumber")
        if raw_number is None:
            if profile == "orange":
                raise ApiError(
                    400, "INVALID_ARGUMENT", "only requests using device.phoneNumber are operational"
                )
            raise ApiError(
                404, "NOT_FOUND", "no device known for the given identifiers", message="Device not found"
            )
        number = normalise_number(raw_number)
        if not ctx.state.directory.known(number, token.client_id):
            if profile == "orange":
                # Orange: invalid input "in particular for the ueId" is a 400; other numbers "will not work".
                raise ApiError(400, "INVALID_ARGUMENT", f"{number} is not a device of the lab")
            raise ApiError(
                404, "NOT_FOUND", f"{number} is not a device of the lab", message="Device not found"
            )

        now = ctx.now()
        location = ctx.state.directory.location(number, token.client_id)
        if location is None or not location.available:
            if profile == "orange":
                raise ApiError(
                    404, "NOT_FOUND", f"the network cannot locate {number}", message="Location outdated"
                )
            # CAMARA: no location history at all, so no lastLocationTime.
            return self.response(operation, {"verificationResult": "UNKNOWN"}, ctx)

        last_time = rfc3339(now - location.age_seconds)
        max_age = data.get("maxAge")
        if max_age is not None:
            # Orange's page gives maxAge in minutes; CAMARA 0.2.0-rc2 in seconds.
            max_age_seconds = max_age * 60 if profile == "orange" else max_age
            if location.age_seconds > max_age_seconds:
                if profile == "orange":
                    raise ApiError(
                        404,
                        "NOT_FOUND",
                        f"last location of {number} is {location.age_seconds:g} s old, more than maxAge",
                        message="Location outdated",
                    )
                return self.response(
                    operation, {"lastLocationTime": last_time, "verificationResult": "UNKNOWN"}, ctx
                )

        area = data["area"]
        network = geo.Circle(location.latitude, location.longitude, location.accuracy_m)
        requested = geo.Circle(area["center"]["latitude"], area["center"]["longitude"], float(area["radius"]))
        result, match_rate = geo.verify(network, requested)
        # Key order as on Orange's page: lastLocationTime first.
        data: dict[str, Any] = {"lastLocationTime": last_time, "verificationResult": result}
        if match_rate is not None:
            data["matchRate"] = match_rate
        return self.response(operation, data, ctx)
