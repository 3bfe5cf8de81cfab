"""The contract every API module fulfils, and the pipeline shared by bearer-protected CAMARA APIs:
authenticate → authorise → rules override → validate → operation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from proxy_addons.errors import ApiError, Dialect, error_response
from proxy_addons.model import ApiRequest, ApiResponse, json_object
from proxy_addons.state import Token

if TYPE_CHECKING:
    from proxy_addons.engine import Engine


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str


class Api:
    """One API: its name (also its schema file's name), its paths and its error dialect."""

    name: ClassVar[str]
    prefixes: ClassVar[tuple[str, ...]]  # unknown paths below these are this API's 404
    operations: ClassVar[tuple[Operation, ...]]
    dialect: ClassVar[Dialect] = Dialect()
    scopes: ClassVar[frozenset[str]] = frozenset()  # OAuth scopes this API defines

    def handle(self, operation: Operation | None, request: ApiRequest, engine: Engine) -> ApiResponse:
        raise NotImplementedError

    def error(self, error: ApiError, engine: Engine) -> ApiResponse:
        return error_response(error, self.dialect, engine.settings.profile, self.name)

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

    def response(self, operation: Operation, data: Any, engine: Engine, status: int = 200) -> ApiResponse:
        return ApiResponse(
            status=status,
            data=data,
            schema=f"{self.name}#{operation.name}.{status}",
            reason=self.dialect.reason(status, engine.settings.profile),
        )

    def override(self, rule, engine: Engine) -> ApiResponse:
        """The answer a rules override gives."""
        data = rule.response_body
        return ApiResponse(
            status=rule.status,
            data=data,
            raw=b"" if data is None else None,
            headers=dict(rule.headers),
            reason=self.dialect.reason(rule.status, engine.settings.profile),
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
            return cls(json_object(request.body), None)
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

    def handle(self, operation: Operation | None, request: ApiRequest, engine: Engine) -> ApiResponse:
        try:
            if operation is None:
                raise self.not_routed(request, engine.router.methods(request.path))
            token = self.authenticate(request, engine)
            self.authorise(operation, token, engine)
            body = JsonBody.read(request)
            rule = engine.rules.override_for(
                self.name, operation.name, token.client_id, self.subject(token, body.data), body.data
            )
            if rule is not None:
                return self.override(rule, engine)
            return self.run(operation, request, token, body, engine)
        except ApiError as error:
            return self.error(error, engine)

    # Steps -----------------------------------------------------------------------------------

    def authenticate(self, request: ApiRequest, engine: Engine) -> Token:
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(401, "UNAUTHENTICATED", "missing Authorization header")
        if not header.lower().startswith(BEARER_PREFIX) or not header[len(BEARER_PREFIX) :].strip():
            raise ApiError(401, "UNAUTHENTICATED", "Authorization header is not 'Bearer <access token>'")
        token = engine.state.tokens.get(header[len(BEARER_PREFIX) :].strip())
        if token is None:
            raise ApiError(401, "UNAUTHENTICATED", "invalid access token")
        if token.expired(engine.clock()):
            raise ApiError(401, "UNAUTHENTICATED", "access token expired")
        return token

    def authorise(self, operation: Operation, token: Token, engine: Engine) -> None:
        if token.issuer not in self.issuers:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"a token from the {token.issuer} token endpoint is not valid for {self.name}",
            )
        if not engine.state.clients.subscribed(token.client_id, self.name):
            raise ApiError(
                403, "PERMISSION_DENIED", f"client {token.client_id} has no subscription to {self.name}"
            )
        self.check_token_context(token, engine)
        needed = self.required_scopes.get(operation.name)
        scoped = bool(token.scopes) or not self.scopeless_tokens_allowed
        if needed and scoped and not (token.scopes & needed):
            raise ApiError(
                403, "PERMISSION_DENIED", f"the access token lacks the scope {' or '.join(sorted(needed))}"
            )

    def check_token_context(self, token: Token, engine: Engine) -> None:
        """API-specific checks of what the token stands for (403 if wrong); none by default."""

    def subject(self, token: Token, body: Any) -> str | None:
        """The phone number a request is about (for rules and logs)."""
        return token.phone_number

    def validate(self, schema: str, body: Any, engine: Engine) -> None:
        problem = engine.schemas.first_error(f"{self.name}#{schema}", body)
        if problem:
            raise ApiError(400, "INVALID_ARGUMENT", problem)

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, engine: Engine
    ) -> ApiResponse:
        raise NotImplementedError
