"""Device Swap, Orange Network APIs Playground (CAMARA Device Swap 0.2.0, `/device-swap/v0.2`).

From the subscriber's `deviceSwap.latestDeviceChange` (our EntryData part: Orange's Admin API has
none): `retrieve-date` answers it, `check` says whether it lies within the last `maxAge` hours (see
`swap`). The 0.2.0 codes (its info.description and Generic4xx enums, as its test definitions at tag
r2.2 use them):

- `phoneNumber` with a 3-legged token: 422 UNNECESSARY_IDENTIFIER, even when it is the token's
  number ("the server is unable to make this comparison"); 0.2.0 has no INVALID_TOKEN_CONTEXT;
- no `phoneNumber` and none in the token: 422 MISSING_IDENTIFIER;
- `maxAge` outside 1..2400: 400 OUT_OF_RANGE; every other invalid body: 400 INVALID_ARGUMENT;
- an `x-correlator` outside the spec's pattern `^[a-zA-Z0-9-]{0,55}$`: 400 INVALID_ARGUMENT;
- an unknown line: 404 IDENTIFIER_NOT_FOUND (profile orange: the playground's observed 403 FORBIDDEN);
- no date in the operator's records: 422 SERVICE_NOT_APPLICABLE, for both operations.
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.model import ApiRequest
from proxy_addons.simulator.apis.swap import SwapApi, swap_routes
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import Token

API_SCOPE = "device-swap"  # the spec's first `security` alternative: both operations
RETRIEVE_SCOPE = "device-swap:retrieve-date"
CHECK_SCOPE = "device-swap:check"
CORRELATOR = "x-correlator"


class DeviceSwap(SwapApi):
    name = "device-swap"
    prefixes, operations = swap_routes("device-swap/v0.2")
    scopes = frozenset({API_SCOPE, RETRIEVE_SCOPE, CHECK_SCOPE})
    required_scopes: ClassVar = {
        "retrieve-date": frozenset({API_SCOPE, RETRIEVE_SCOPE}),
        "check": frozenset({API_SCOPE, CHECK_SCOPE}),
    }
    part = "deviceSwap"
    key = "latestDeviceChange"
    retrieve_request = "CreateDeviceSwapDate"
    check_request = "CreateCheckDeviceSwap"

    def check_headers(self, request: ApiRequest, ctx: ApiContext) -> None:
        correlator = request.headers.get(CORRELATOR)
        if correlator is not None:
            problem = ctx.schemas.first_error(f"{self.name}#Correlator", correlator)
            if problem:
                raise ApiError(400, "INVALID_ARGUMENT", f"{CORRELATOR}: {problem}")

    def validate_check(self, data: Any, ctx: ApiContext) -> None:
        # Types and fields first (INVALID_ARGUMENT); what fails after that is maxAge's range.
        self.validate("CheckDeviceSwapFields", data, ctx)
        problem = ctx.schemas.first_error(f"{self.name}#{self.check_request}", data)
        if problem:
            raise ApiError(400, "OUT_OF_RANGE", problem, message="Client specified an invalid range.")

    def device_number(self, token: Token, body: dict[str, Any], ctx: ApiContext) -> str:
        if token.phone_number is not None and body.get(self.device_field) is not None:
            raise ApiError(
                422,
                "UNNECESSARY_IDENTIFIER",
                "a 3-legged token names the phone number: the body must not give phoneNumber",
                message="The device is already identified by the access token.",
            )
        return super().device_number(token, body, ctx)

    def no_record_error(self, number: str, ctx: ApiContext) -> ApiError:
        return ApiError(
            422,
            "SERVICE_NOT_APPLICABLE",
            f"the operator holds no device change date for {number}",
            message="The service is not available for the provided identifier.",
        )
