"""What the CAMARA APIs of Orange's Network APIs Playground share (ORANGE-AND-CAMARA.md §6.1).

- Tokens from the playground token endpoint: `client_credentials`, where the request body names the
  device, or `authorization_code` from /authorize with `login_hint`, where the token names it.
- The device a request is about, resolved as CAMARA's identity model says: from the token, from the
  body, a body that contradicts the token (403 INVALID_TOKEN_CONTEXT), neither (the spec's missing
  identifier error); then the subscriber's data from the one directory (Admin numbers, rules, +990).
- The playground's error dialect, shared with its Number Verification.

Each API module says which of its spec version's codes these cases take, as data (`device_errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from jsonschema.exceptions import ValidationError, best_match

from proxy_addons.config.schemas import describe
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


@dataclass(frozen=True)
class Refusal:
    """One error a spec version gives: status, code and the spec's message (None: CAMARA's)."""

    status: int
    code: str
    message: str | None = None


@dataclass(frozen=True)
class DeviceErrors:
    """How one spec version refuses a request whose device it cannot settle."""

    missing: Refusal  # a 2-legged token and no device in the body
    unsupported: Refusal  # only identifiers the playground cannot resolve (it knows phone numbers)
    token_context: Refusal  # the body names another device than the 3-legged token
    not_found: Refusal  # a number the network does not know (profile camara)


# The older codes Device Swap 0.2 still uses.
LEGACY_IDENTIFIERS = DeviceErrors(
    missing=Refusal(422, "MISSING_IDENTIFIER", "The device cannot be identified."),
    unsupported=Refusal(422, "UNSUPPORTED_IDENTIFIER", "The identifier provided is not supported."),
    token_context=Refusal(403, "INVALID_TOKEN_CONTEXT", "phoneNumber is not consistent with access token."),
    not_found=Refusal(404, "IDENTIFIER_NOT_FOUND", "Device identifier not found."),
)


class PlaygroundApi(BearerApi):
    """A playground CAMARA API: playground tokens, a device per request, the subscriber's data."""

    issuers = frozenset({PLAYGROUND})
    dialect = PLAYGROUND_DIALECT
    #: Where the body names the device: "device" (a CAMARA Device object) or "phoneNumber" (a bare
    #: E.164 number, as SIM Swap 1.0 and KYC Match 0.2 take it).
    device_field: ClassVar[str] = "device"
    #: The codes this API's spec version gives the device cases (data; each module names its own).
    device_errors: ClassVar[DeviceErrors] = LEGACY_IDENTIFIERS

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

    # Validation --------------------------------------------------------------------------------

    def validate(self, schema: str, body: Any, ctx: ApiContext) -> None:
        """400 with the schema's first problem (in the reason header). The code is the version's
        (`invalid_code`); an unknown field is "<field> is not allowed", as Orange's playground says
        for `{"phoneNumber"}` where `{"device"}` belongs (observed, ORANGE-AND-CAMARA.md §6.1)."""
        problems = list(ctx.schemas.validator(f"{self.name}#{schema}").iter_errors(body))
        if not problems:
            return
        first = best_match(problems)
        innermost = first
        while innermost.context:  # as `describe` does: the closest alternative's own problem
            innermost = best_match(innermost.context)
        code, message = self.invalid_code(innermost)
        if message is None and ctx.profile == "orange" and first.validator == "additionalProperties":
            known = first.schema.get("properties", {})
            extra = next((key for key in first.instance if key not in known), None)
            if extra is not None:
                message = ".".join([*(str(p) for p in first.absolute_path), extra]) + " is not allowed"
        raise ApiError(400, code, describe(first), message=message)

    def invalid_code(self, problem: ValidationError) -> tuple[str, str | None]:
        """The 400 code (and the spec's message, if it has its own) for a schema problem."""
        return "INVALID_ARGUMENT", None

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

    # Errors, per spec version -------------------------------------------------------------------

    def refusal(self, refusal: Refusal, detail: str, ctx: ApiContext) -> ApiError:
        """The error for one of the device cases. Under profile orange a 401/403 takes the
        playground's own wording ("Operation not allowed: <why>"), not the spec's message."""
        orange_worded = ctx.profile == "orange" and refusal.status in self.dialect.orange
        return ApiError(
            refusal.status, refusal.code, detail, message=None if orange_worded else refusal.message
        )

    def missing_device_error(self, ctx: ApiContext) -> ApiError:
        """A 2-legged token and no device in the body."""
        return self.refusal(
            self.device_errors.missing,
            f"the body must name the device ({self.device_field}): a client_credentials token names none",
            ctx,
        )

    def unsupported_identifiers_error(self, ctx: ApiContext) -> ApiError:
        """A device named only by identifiers the playground cannot resolve (it knows numbers)."""
        return self.refusal(
            self.device_errors.unsupported, "the playground identifies devices by phoneNumber only", ctx
        )

    def token_context_error(self, ctx: ApiContext) -> ApiError:
        """The body names another device than the 3-legged token does."""
        return self.refusal(
            self.device_errors.token_context,
            f"the {self.device_field} in the body is not the one the access token was issued for",
            ctx,
        )

    def unknown_device_error(self, number: str, client_id: str, ctx: ApiContext) -> ApiError:
        """A number the network does not know for this client."""
        detail = f"{number} is not a playground number (+990…, user-defined, or one the rules define)"
        if ctx.profile == "orange":
            # What the live playground answers (SIM Swap, observed): 403 FORBIDDEN, these words.
            return ApiError(
                403, "PERMISSION_DENIED", detail, message=f"{number} does not exist for {client_id}"
            )
        return self.refusal(self.device_errors.not_found, detail, ctx)
