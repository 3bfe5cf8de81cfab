"""SIM Swap, Orange Network APIs Playground (CAMARA SIM Swap 1.0.0, `/sim-swap/v1`).

From the subscriber's `simSwap.latestSimChange`: `retrieve-date` answers it, `check` says whether it
lies within the last `maxAge` hours (see `swap`). The line is the 3-legged token's, or the body's
`phoneNumber` with a `client_credentials` token. The 1.0.0 codes (its info.description and its
Generic4xx examples, as its test definitions at tag r1.3 use them):

- a body `phoneNumber` other than the 3-legged token's: 403 INVALID_TOKEN_CONTEXT;
- no `phoneNumber` and none in the token: 422 UNIDENTIFIABLE_PHONE_NUMBER;
- every invalid body, `maxAge` outside 1..2400 included: 400 INVALID_ARGUMENT (1.0.0 has no
  OUT_OF_RANGE);
- an unknown line: 404 NOT_FOUND (profile orange: the playground's observed 403 FORBIDDEN).
"""

from __future__ import annotations

from typing import ClassVar

from proxy_addons.simulator.apis.playground import DeviceErrors, Refusal
from proxy_addons.simulator.apis.swap import SwapApi, swap_routes
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError

RETRIEVE_SCOPE = "sim-swap:retrieve-date"
CHECK_SCOPE = "sim-swap:check"
API_SCOPE = "sim-swap"  # the spec's second `security` alternative: both operations


class SimSwap(SwapApi):
    device_errors = DeviceErrors(
        missing=Refusal(422, "UNIDENTIFIABLE_PHONE_NUMBER", "The phone number cannot be identified"),
        unsupported=Refusal(422, "UNIDENTIFIABLE_PHONE_NUMBER", "The phone number cannot be identified"),
        token_context=Refusal(
            403, "INVALID_TOKEN_CONTEXT", "phoneNumber is not consistent with access token"
        ),
        # 1.0.0's Generic404 has NOT_FOUND only (IDENTIFIER_NOT_FOUND came with Commonalities 0.5).
        not_found=Refusal(404, "NOT_FOUND", "The specified resource is not found."),
    )
    name = "sim-swap"
    prefixes, operations = swap_routes("sim-swap/v1")
    scopes = frozenset({RETRIEVE_SCOPE, CHECK_SCOPE, API_SCOPE})
    required_scopes: ClassVar = {
        "retrieve-date": frozenset({RETRIEVE_SCOPE, API_SCOPE}),
        "check": frozenset({CHECK_SCOPE, API_SCOPE}),
    }
    part = "simSwap"
    key = "latestSimChange"
    retrieve_request = "CreateSimSwapDate"
    check_request = "CreateCheckSimSwap"

    def no_record_answer(self, number: str, ctx: ApiContext) -> dict[str, None]:
        # 1.0.0: a line whose SIM swap or activation date cannot be given reads as null.
        return {self.key: None}

    def no_record_error(self, number: str, ctx: ApiContext) -> ApiError:
        return ApiError(
            422,
            "NOT_SUPPORTED",
            f"the operator holds no SIM change date for {number}",
            message="Service not supported for this phoneNumber",
        )
