"""What the CAMARA APIs of Orange's Network APIs Playground share (ORANGE-AND-CAMARA.md §6.1).

- Tokens from the playground token endpoint: `client_credentials`, where the request body names the
  device, or `authorization_code` from /authorize with `login_hint`, where the token names it.
- The device a request is about, resolved as CAMARA's identity model says: from the token, from the
  body, a body that contradicts the token (403 INVALID_TOKEN_CONTEXT), neither (the spec's missing
  identifier error); then the subscriber's data from the one directory (Admin numbers, rules, +990).
- The playground's error dialect, shared with its Number Verification.

Each API module says which of its spec version's codes these cases take, by overriding the
`*_error` methods; the defaults are Commonalities r1.x (CAMARA Spring25 APIs).
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.model import dig
from proxy_addons.simulator.apis.base import BearerApi, Operation
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError, Dialect
from proxy_addons.state import PLAYGROUND, Subscriber, Token

BASE = "/camara/playground/api"

# Orange's playground documents 401 and 403 only, without `status` (its Number Verification page;
# the SIM Swap playground answers an unknown number with the same FORBIDDEN body, observed). Every
# other status is CAMARA's ErrorInfo.
PLAYGROUND_DIALECT = Dialect(
    orange={
        401: {"code": "UNAUTHORIZED", "message": "Authorization failed: {detail}"},
        403: {"code": "FORBIDDEN", "message": "Operation not allowed: {detail}"},
    }
)


class PlaygroundApi(BearerApi):
    """A playground CAMARA API: playground tokens, a device per request, the subscriber's data."""

    issuers = frozenset({PLAYGROUND})
    dialect = PLAYGROUND_DIALECT
    #: Where the body names the device: "device" (a CAMARA Device object) or "phoneNumber" (a bare
    #: E.164 number, as SIM Swap 1.0 and KYC Match 0.2 take it).
    device_field: ClassVar[str] = "device"

    def authorise(self, operation: Operation, token: Token, ctx: ApiContext) -> None:
        if token.issuer not in self.issuers:
            # Observed on the live playground for an /oauth/v3 token (ORANGE-AND-CAMARA.md §4.4).
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"{self.name} takes a token from /openidconnect/playground/v1.0/token, "
                f"not one from the {token.issuer} token endpoint",
                message="Request must be authorized" if ctx.profile == "orange" else None,
            )
        super().authorise(operation, token, ctx)

    # The device ------------------------------------------------------------------------------

    def named_number(self, body: Any) -> Any:
        """The phone number the body names (not validated), or None."""
        if self.device_field == "device":
            return dig(body, "device.phoneNumber")
        return dig(body, self.device_field)

    def subject(self, token: Token, body: Any) -> str | None:
        number = self.named_number(body)
        return number if isinstance(number, str) and number else token.phone_number

    def device_number(self, token: Token, body: dict[str, Any], ctx: ApiContext) -> str:
        """The number a validated request is about (raises the spec's identifier errors)."""
        named = body.get(self.device_field)
        number = self.named_number(body)
        if token.phone_number is not None:  # 3-legged: the token names the device
            if named is None:
                return token.phone_number
            if number is None:
                raise self.unsupported_identifiers_error(ctx)
            if number != token.phone_number:
                raise self.token_context_error(ctx)
            return number
        if named is None:
            raise self.missing_device_error(ctx)
        if number is None:
            raise self.unsupported_identifiers_error(ctx)
        return number

    def subscriber(self, token: Token, body: dict[str, Any], ctx: ApiContext) -> Subscriber:
        """The data the network holds for the request's device, as the token's client sees it."""
        number = self.device_number(token, body, ctx)
        found = ctx.state.directory.subscriber(number, token.client_id)
        if found is None:
            raise self.unknown_device_error(number, token.client_id, ctx)
        return found

    # Errors, per spec version (defaults: Commonalities r1.x) --------------------------------------

    def missing_device_error(self, ctx: ApiContext) -> ApiError:
        """A 2-legged token and no device in the body."""
        return ApiError(
            422,
            "MISSING_IDENTIFIER",
            f"the body must name the device ({self.device_field}): a client_credentials token names none",
            message="The device cannot be identified.",
        )

    def unsupported_identifiers_error(self, ctx: ApiContext) -> ApiError:
        """A device named only by identifiers the playground cannot resolve (it knows numbers)."""
        return ApiError(
            422,
            "UNSUPPORTED_IDENTIFIER",
            "the playground identifies devices by phoneNumber only",
            message="The identifier provided is not supported.",
        )

    def token_context_error(self, ctx: ApiContext) -> ApiError:
        """The body names another device than the 3-legged token does."""
        return ApiError(
            403,
            "INVALID_TOKEN_CONTEXT",
            f"{self.device_field} is not consistent with access token",
            message=f"{self.device_field} is not consistent with access token.",
        )

    def unknown_device_error(self, number: str, client_id: str, ctx: ApiContext) -> ApiError:
        """A number the network does not know for this client."""
        if ctx.profile == "orange":
            # What the live playground answers (SIM Swap, observed): 403 FORBIDDEN.
            return ApiError(
                403,
                "PERMISSION_DENIED",
                f"{number} is not a playground number (+990…, user-defined, or one the rules define)",
                message=f"{number} does not exist for {client_id}",
            )
        return ApiError(
            404, "IDENTIFIER_NOT_FOUND", f"no device {number}", message="Device identifier not found."
        )
