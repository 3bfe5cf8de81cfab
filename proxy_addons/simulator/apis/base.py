"""The contract every API module fulfils, and the pipeline shared by bearer-protected CAMARA APIs:
authenticate → authorise → rules override → validate → operation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from proxy_addons.config.rules import OVERRIDE_HEADER
from proxy_addons.config.scope import RequestFacts
from proxy_addons.model import ApiRequest, ApiResponse, dig
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import REASON_HEADER, ApiError, Dialect, error_response, header_safe
from proxy_addons.state import Token


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str


@dataclass(frozen=True)
class FaultAnswer:
    """An error answer a fault asks for, for each API to render in its own dialect. `oauth_error` is
    the RFC 6749 error code the same fault means at a token endpoint."""

    status: int
    code: str
    detail: str
    message: str | None = None
    oauth_error: str = "invalid_request"
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""  # the fault's kind (e.g. "location_outdated"), for APIs that word it their way


class Api:
    """One API: its name (also its schema file's name), its paths and its error dialect."""

    name: ClassVar[str]
    prefixes: ClassVar[tuple[str, ...]]  # unknown paths below these are this API's 404
    operations: ClassVar[tuple[Operation, ...]]
    dialect: ClassVar[Dialect] = Dialect()
    scopes: ClassVar[frozenset[str]] = frozenset()  # OAuth scopes this API defines

    def handle(self, operation: Operation | None, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        raise NotImplementedError

    def error(self, error: ApiError, ctx: ApiContext) -> ApiResponse:
        return error_response(error, self.dialect, ctx.profile, self.name)

    def not_routed(self, request: ApiRequest, allowed: tuple[str, ...]) -> ApiError:
        """The error for a path of this API that names no operation, or a method it does not take."""
        if allowed:
            return ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        return ApiError(404, "NOT_FOUND", f"no {self.name} resource at {request.path}")

    # What faults need to know of this API ---------------------------------------------------------

    #: Does this API take bearer access tokens (so a fault-expired token is refused here)?
    takes_access_tokens: ClassVar[bool] = True

    def facts(
        self, operation: Operation | None, request: ApiRequest, token_client: str | None
    ) -> RequestFacts:
        """The request's facts as faults see them, before any authentication: the client from its
        bearer token (`token_client`, when the proxy has seen the token) or its credentials, the phone
        number it is about."""
        client = token_client or request.basic_user
        if client is None and request.media_type == "application/x-www-form-urlencoded":
            try:
                client = next(iter(request.form().get("client_id", ())), None)
            except UnicodeDecodeError:
                client = None
        number = self.number_in(request)
        if isinstance(number, str) and number and not number.startswith("+"):
            number = "+" + number
        return RequestFacts(
            self.name,
            operation.name if operation else None,
            client,
            number if isinstance(number, str) and number else None,
        )

    def number_in(self, request: ApiRequest) -> Any:
        """The phone number a request names, read before validation (for fault scopes)."""
        body = None
        if request.body and "json" in request.headers.get("content-type", ""):
            try:
                body = request.json()
            except ValueError:
                body = None
        number = dig(body, "device.phoneNumber") or dig(body, "phoneNumber")
        if number is None and (hint := (request.query.get("login_hint") or [""])[0]).startswith("tel:"):
            number = hint[4:]
        return number

    def fault_answer(self, fault: FaultAnswer, ctx: ApiContext) -> ApiResponse:
        """The answer of an injected error, in this API's dialect."""
        return self.error(
            ApiError(fault.status, fault.code, fault.detail, message=fault.message, headers=fault.headers),
            ctx,
        )

    def revoked_answer(self, client_id: str, ctx: ApiContext) -> ApiResponse:
        """The answer once a fault removed the client's subscription to this API (or to every API)."""
        return self.error(
            ApiError(403, "PERMISSION_DENIED", f"the subscription of {client_id} to {self.name} was removed"),
            ctx,
        )

    def expired_answer(self, ctx: ApiContext) -> ApiResponse:
        """The answer to an access token a fault made expire."""
        return self.error(ApiError(401, "UNAUTHENTICATED", "access token expired"), ctx)

    def issued_token(self, status: int, body: bytes) -> str | None:
        """The access token an answer of this API hands out, if it is a token endpoint."""
        return None

    def response(self, operation: Operation, data: Any, ctx: ApiContext, status: int = 200) -> ApiResponse:
        return ApiResponse(
            status=status,
            data=data,
            schema=f"{self.name}#{operation.name}.{status}",
            reason=self.dialect.reason(status, ctx.profile),
        )

    def override(self, rule, ctx: ApiContext) -> ApiResponse:
        """The answer a rules override gives, naming the rule (and, for an error, why: like every
        error of the proxy it carries the reason header, unless the rule sets one itself)."""
        data = rule.response_body
        headers = dict(rule.headers)
        given = {name.lower() for name in headers}
        headers[OVERRIDE_HEADER] = header_safe(rule.name)
        if rule.status >= 400 and REASON_HEADER not in given:
            headers[REASON_HEADER] = header_safe(f"rules override '{rule.name}' ({rule.source})")
        return ApiResponse(
            status=rule.status,
            data=data,
            raw=b"" if data is None else None,
            headers=headers,
            reason=self.dialect.reason(rule.status, ctx.profile),
            schema=None if data is None else f"{self.name}#{rule.operation or 'error'}.{rule.status}",
        )


BEARER_PREFIX = "bearer "


@dataclass(frozen=True)
class JsonBody:
    """A request's JSON object, parsed once: `data` for rules matching (None if unusable), and the
    400 an operation that needs the body raises through `require()`."""

    data: dict[str, Any] | None
    error: ApiError | None

    @classmethod
    def read(cls, request: ApiRequest) -> JsonBody:
        if request.media_type != "application/json":
            got = request.headers.get("content-type") or "none"
            return cls(
                None, ApiError(400, "INVALID_ARGUMENT", f"Content-Type must be application/json (got {got})")
            )
        try:
            return cls(request.json(), None)
        except ValueError as exc:
            return cls(None, ApiError(400, "INVALID_ARGUMENT", str(exc)))

    def require(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.data is not None
        return self.data


class BearerApi(Api):
    """A CAMARA API behind Orange's gateway: a bearer token from one of `issuers`, holding one of
    `required_scopes[operation]` when the token carries scopes."""

    issuers: ClassVar[frozenset[str]]
    required_scopes: ClassVar[Mapping[str, frozenset[str]]] = {}
    # 2-legged lab tokens carry no scope at all; 3-legged tokens always carry what was granted.
    scopeless_tokens_allowed: ClassVar[bool] = True

    def handle(self, operation: Operation | None, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        try:
            if operation is None:
                raise self.not_routed(request, ctx.methods(request.path))
            token = self.authenticate(request, ctx)
            self.authorise(operation, token, ctx)
            body = JsonBody.read(request)
            facts = RequestFacts(self.name, operation.name, token.client_id, self.subject(token, body.data))
            rule = ctx.rules.first_override(facts, body.data)
            if rule is not None:
                return self.override(rule, ctx)
            return self.run(operation, request, token, body, ctx)
        except ApiError as error:
            return self.error(error, ctx)

    # Steps -----------------------------------------------------------------------------------

    def authenticate(self, request: ApiRequest, ctx: ApiContext) -> Token:
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(401, "UNAUTHENTICATED", "missing Authorization header")
        if not header.lower().startswith(BEARER_PREFIX) or not header[len(BEARER_PREFIX) :].strip():
            raise ApiError(401, "UNAUTHENTICATED", "Authorization header is not 'Bearer <access token>'")
        token = ctx.state.tokens.get(header[len(BEARER_PREFIX) :].strip())
        if token is None:
            raise ApiError(401, "UNAUTHENTICATED", "invalid access token")
        if token.expired(ctx.now()):
            raise ApiError(401, "UNAUTHENTICATED", f"access token {token.end}")
        return token

    def authorise(self, operation: Operation, token: Token, ctx: ApiContext) -> None:
        if token.issuer not in self.issuers:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"a token from the {token.issuer} token endpoint is not valid for {self.name}",
            )
        if not ctx.state.clients.subscribed(token.client_id, self.name):
            raise ApiError(
                403, "PERMISSION_DENIED", f"client {token.client_id} has no subscription to {self.name}"
            )
        self.check_token_context(token, ctx)
        needed = self.required_scopes.get(operation.name)
        scoped = bool(token.scopes) or not self.scopeless_tokens_allowed
        if needed and scoped and not (token.scopes & needed):
            raise ApiError(
                403, "PERMISSION_DENIED", f"the access token lacks the scope {' or '.join(sorted(needed))}"
            )

    def check_token_context(self, token: Token, ctx: ApiContext) -> None:
        """API-specific checks of what the token stands for (403 if wrong); none by default."""

    def subject(self, token: Token, body: Any) -> str | None:
        """The phone number a request is about (for rules and logs)."""
        return token.phone_number

    def validate(self, schema: str, body: Any, ctx: ApiContext) -> None:
        problem = ctx.schemas.first_error(f"{self.name}#{schema}", body)
        if problem:
            raise ApiError(400, "INVALID_ARGUMENT", problem)

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        raise NotImplementedError
