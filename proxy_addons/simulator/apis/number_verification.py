"""Number Verification, Orange Network APIs Playground 1.0 (CAMARA NV 1.0.0 wire format).

The playground takes the device's number from `login_hint` at /authorize; the token carries it, and
`/verify` compares against it, `/device-phone-number` returns it.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import BearerApi, JsonBody, Operation
from proxy_addons.simulator.apis.playground import PLAYGROUND_DIALECT
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import PLAYGROUND, Token

BASE = "/camara/playground/api/number-verification/v1"

VERIFY_SCOPE = "number-verification:verify"
SHARE_SCOPE = "number-verification:device-phone-number:read"
# Orange France's older form of the verify scope (ORANGE-AND-CAMARA.md §3.7).
LEGACY_VERIFY_SCOPE = "dpv:FraudPreventionAndDetection#number-verification:verify"


def hash_number(number: str) -> str:
    """CAMARA's hashedPhoneNumber: SHA-256, lower-case hex, of the E.164 number with its '+'."""
    return hashlib.sha256(number.encode("ascii")).hexdigest()


class NumberVerification(BearerApi):
    name = "number-verification"
    prefixes = (BASE + "/",)
    operations = (
        Operation("verify", "POST", BASE + "/verify"),
        Operation("device-phone-number", "GET", BASE + "/device-phone-number"),
    )
    scopes = frozenset({VERIFY_SCOPE, SHARE_SCOPE, LEGACY_VERIFY_SCOPE})
    issuers = frozenset({PLAYGROUND})
    required_scopes: ClassVar = {
        "verify": frozenset({VERIFY_SCOPE, LEGACY_VERIFY_SCOPE}),
        "device-phone-number": frozenset({SHARE_SCOPE}),
    }
    scopeless_tokens_allowed = False
    dialect = PLAYGROUND_DIALECT

    def check_token_context(self, token: Token, ctx: ApiContext) -> None:
        if token.phone_number is None:
            raise ApiError(
                403,
                "INVALID_TOKEN_CONTEXT",
                "the access token was not issued for a phone number "
                "(use the authorization-code flow with login_hint)",
            )
        if not ctx.state.directory.known(token.phone_number, token.client_id):
            # What the live playground answers for a number it does not know (§4.4, observed).
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                "the playground does not know this number",
                message=f"{token.phone_number} does not exist for {token.client_id}",
            )

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        number = token.phone_number
        assert number is not None  # authorise() guarantees it
        if operation.name == "device-phone-number":
            return self.response(operation, {"devicePhoneNumber": number}, ctx)
        data = body.require()
        self.validate("VerifyRequest", data, ctx)
        if "phoneNumber" in data:
            verified = data["phoneNumber"] == number
        else:
            verified = data["hashedPhoneNumber"].lower() == hash_number(number)
        return self.response(operation, {"devicePhoneNumberVerified": verified}, ctx)
