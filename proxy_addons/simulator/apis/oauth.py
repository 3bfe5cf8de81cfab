"""Orange's OAuth 2.0 / OpenID Connect endpoints.

- Playground (Number Verification): `GET /openidconnect/playground/v1.0/authorize` (auth code with
  `login_hint=tel:+…`) and `POST /openidconnect/playground/v1.0/token` (authorization_code, and
  client_credentials for the other playground APIs).
- Generic: `POST /oauth/v3/token`, client_credentials (the lab APIs).
- OpenID Connect Discovery 1.0 for the playground issuer: `GET …/.well-known/openid-configuration`
  and the JWKS at its `jwks_uri` (`GET …/jwks`), whose key signs the id_tokens (RS256).

Errors use the RFC 6749 envelope `{error, error_description}`; authorize errors are redirected to
the client when its redirect_uri is trustworthy (RFC 6749 §4.1.2.1), answered as JSON otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlencode, urlsplit

from proxy_addons.config.scope import RequestFacts
from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import Api, FaultAnswer, Operation
from proxy_addons.simulator.context import ApiContext
from proxy_addons.state import OAUTH_V3, PLAYGROUND, CodeError

PLAYGROUND_BASE = "/openidconnect/playground/v1.0"
V3_BASE = "/oauth/v3"
PLAYGROUND_ISSUER = "https://api.orange.com" + PLAYGROUND_BASE
DISCOVERY_PATH = PLAYGROUND_BASE + "/.well-known/openid-configuration"
# Orange publishes no discovery document for the playground [unknown]; the JWKS path is ours.
JWKS_PATH = PLAYGROUND_BASE + "/jwks"
# Claims our id_tokens carry (discovery's claims_supported).
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr")

# Scopes /authorize grants beside the APIs' own: OIDC's and Orange's purpose scope.
OIDC_SCOPES = frozenset({"openid", "dpv:FraudPreventionAndDetection"})
LOGIN_HINT = re.compile(r"tel:(\+[1-9][0-9]{4,14})")  # used with fullmatch
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


CHALLENGE = {"WWW-Authenticate": 'Basic realm="api.orange.com"'}
INVALID_CREDENTIALS = "The requested service needs credentials, but the ones provided were invalid."


@dataclass
class OAuthError(Exception):
    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)


class OAuth(Api):
    name = "oauth"
    prefixes = (PLAYGROUND_BASE + "/", V3_BASE + "/")
    operations = (
        Operation("authorize", "GET", PLAYGROUND_BASE + "/authorize"),
        Operation("playground-token", "POST", PLAYGROUND_BASE + "/token"),
        Operation("v3-token", "POST", V3_BASE + "/token"),
        Operation("openid-configuration", "GET", DISCOVERY_PATH),
        Operation("jwks", "GET", JWKS_PATH),
    )
    issuer_of: ClassVar = {"playground-token": PLAYGROUND, "v3-token": OAUTH_V3}

    def handle(self, operation: Operation | None, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        try:
            if operation is None:
                allowed = ctx.methods(request.path)
                if allowed:
                    raise OAuthError(
                        "invalid_request",
                        f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}",
                        405,
                        {"Allow": ", ".join(allowed)},
                    )
                raise OAuthError("invalid_request", f"no OAuth endpoint at {request.path}", 404)
            fields = self._fields(request, operation)
            try:
                client_id = (_basic_credentials(request) or (fields.get("client_id"), ""))[0]
            except OAuthError:
                client_id = fields.get("client_id")
            rule = ctx.rules.first_override(RequestFacts(self.name, operation.name, client_id), fields)
            if rule is not None:
                return self.override(rule, ctx)
            if operation.name == "authorize":
                return self.authorize(request, ctx)
            if operation.name == "openid-configuration":
                return self.discovery(ctx)
            if operation.name == "jwks":
                return self._document("jwks", ctx.id_token_key().jwks())
            return self.token(operation, request, ctx)
        except OAuthError as error:
            return self.oauth_error(error)

    @staticmethod
    def _fields(request: ApiRequest, operation: Operation) -> dict[str, str]:
        """Query (authorize) or form (token) fields, first value each; for override matching."""
        if operation.name == "authorize":
            params = request.query
        else:
            try:
                params = request.form()
            except UnicodeDecodeError:
                params = {}
        return {k: v[0] for k, v in params.items()}

    # Faults at the token endpoints: RFC 6749's envelope, and no access token to expire here.

    takes_access_tokens = False

    def fault_answer(self, fault: FaultAnswer, ctx: ApiContext) -> ApiResponse:
        error = OAuthError(fault.oauth_error, fault.detail, fault.status, dict(fault.headers))
        return self.oauth_error(error)

    def revoked_answer(self, client_id: str, ctx: ApiContext) -> ApiResponse:
        # As Orange's gateway treats a revoked client id: its credentials no longer count.
        return self.oauth_error(OAuthError("invalid_client", INVALID_CREDENTIALS, 401))

    def issued_token(self, status: int, body: bytes) -> str | None:
        try:
            token = json.loads(body or b"{}").get("access_token")
        except (ValueError, AttributeError, RecursionError):
            return None
        return token if isinstance(token, str) else None

    @staticmethod
    def oauth_error(error: OAuthError) -> ApiResponse:
        return ApiResponse(
            status=error.status,
            data={"error": error.error, "error_description": error.description},
            headers={**NO_STORE, **error.headers},
            schema=f"oauth#error.{error.status}",
        )

    # Discovery (OpenID Connect Discovery 1.0 §3, §4) ---------------------------------------------

    def discovery(self, ctx: ApiContext) -> ApiResponse:
        """What standard OIDC tooling reads to find the endpoints and the keys of the issuer."""
        return self._document(
            "openid-configuration",
            {
                "issuer": PLAYGROUND_ISSUER,
                "authorization_endpoint": "https://api.orange.com" + PLAYGROUND_BASE + "/authorize",
                "token_endpoint": "https://api.orange.com" + PLAYGROUND_BASE + "/token",
                "jwks_uri": "https://api.orange.com" + JWKS_PATH,
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                # `sub` is one value per number for every client.
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": sorted(ctx.known_scopes),
                # Basic, or the credentials as form fields (Orange's v3 guide; `_authenticate_client`).
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "claims_supported": list(ID_TOKEN_CLAIMS),
                "claims_parameter_supported": False,
                "request_parameter_supported": False,
                "request_uri_parameter_supported": False,
            },
        )

    @staticmethod
    def _document(operation: str, data: dict[str, object]) -> ApiResponse:
        # Public documents: clients may cache them a while (the key changes only with the confdir).
        return ApiResponse(
            status=200,
            data=data,
            headers={"Cache-Control": "public, max-age=300"},
            schema=f"oauth#{operation}.200",
        )

    # Authorization endpoint ---------------------------------------------------------------------

    def authorize(self, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        query = request.query
        repeated = [k for k, v in query.items() if len(v) > 1]
        if repeated:
            raise OAuthError("invalid_request", f"parameter {repeated[0]} is repeated")
        params = {k: v[0] for k, v in query.items()}
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        clients = ctx.state.clients
        # Until client and redirect URI are trusted, errors go to the caller, never to the URI.
        if not client_id:
            raise OAuthError("invalid_request", "client_id is required")
        if not clients.known(client_id):
            raise OAuthError("unauthorized_client", f"unknown client_id {client_id}")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")
        if not _acceptable_redirect(redirect_uri):
            raise OAuthError(
                "invalid_request",
                "redirect_uri must be an absolute URI, without fragment, spaces or control characters",
            )
        registered = clients.redirect_uris(client_id)
        if registered is not None and redirect_uri not in registered:
            raise OAuthError("invalid_request", "redirect_uri is not registered for this client")

        # The state goes back exactly as sent (RFC 6749 §4.1.2): take it still percent-encoded.
        state = _raw_param(request.query_string, "state")
        try:
            scopes, number = self._check_authorization(params, ctx)
        except OAuthError as error:
            return self._redirect(
                redirect_uri, {"error": error.error, "error_description": error.description}, state
            )
        code = ctx.state.codes.issue(
            client_id, redirect_uri, scopes, number, params.get("nonce"), ctx.code_lifetime
        )
        return self._redirect(redirect_uri, {"code": code.value}, state)

    def _check_authorization(self, params: dict[str, str], ctx: ApiContext) -> tuple[frozenset[str], str]:
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be code")
        scope = params.get("scope", "").split()
        if not scope:
            raise OAuthError("invalid_request", "scope is required")
        unknown = [s for s in scope if s not in ctx.known_scopes]
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope {unknown[0]}")
        hint = params.get("login_hint")
        if not hint:
            raise OAuthError(
                "invalid_request", "login_hint is required by the playground (login_hint=tel:+<E.164>)"
            )
        match = LOGIN_HINT.fullmatch(hint)
        if match is None:
            raise OAuthError(
                "invalid_request", "login_hint must be tel:+<E.164 number>, e.g. tel:+33699901031"
            )
        number = match.group(1)
        if not ctx.state.directory.known(number, params.get("client_id")):
            raise OAuthError(
                "access_denied",
                f"{number} is not a playground number (+990…, user-defined, or one the rules define)",
            )
        return frozenset(scope), number

    @staticmethod
    def _redirect(redirect_uri: str, params: dict[str, str], raw_state: str | None) -> ApiResponse:
        query = urlencode(params) + (f"&state={raw_state}" if raw_state is not None else "")
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return ApiResponse(
            status=302,
            raw=b"",
            headers={"Location": redirect_uri + separator + query, **NO_STORE},
            schema="oauth#authorize.302",
        )

    # Token endpoints ----------------------------------------------------------------------------

    def token(self, operation: Operation, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        # An empty POST has no Content-Type; let it fail on its missing fields instead.
        if request.body and request.media_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        try:
            form = request.form()
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "the body is not UTF-8") from None
        repeated = [k for k, v in form.items() if len(v) > 1]
        if repeated:
            raise OAuthError("invalid_request", f"parameter {repeated[0]} is repeated")
        params = {k: v[0] for k, v in form.items()}
        client_id = self._authenticate_client(request, params, ctx)

        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "Missing grant_type in body")
        issuer = self.issuer_of[operation.name]
        if grant_type == "authorization_code" and issuer == PLAYGROUND:
            return self._grant_code(params, client_id, ctx)
        if grant_type == "client_credentials":
            return self._grant_client(params, client_id, issuer, ctx)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported here")

    @staticmethod
    def _authenticate_client(request: ApiRequest, params: dict[str, str], ctx: ApiContext) -> str:
        credentials = _basic_credentials(request)
        if credentials is not None:
            client_id, secret = credentials
        else:
            # Orange's v3 guide allows the credentials as POST parameters too.
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
            if not client_id:
                raise OAuthError(
                    "invalid_client",
                    "The requested service needs credentials, but none were provided.",
                    401,
                    CHALLENGE,
                )
        if not ctx.state.clients.authenticate(client_id, secret):
            raise OAuthError("invalid_client", INVALID_CREDENTIALS, 401, CHALLENGE)
        return client_id

    def _grant_code(self, params: dict[str, str], client_id: str, ctx: ApiContext) -> ApiResponse:
        code_value = params.get("code")
        if not code_value:
            raise OAuthError("invalid_request", "code is required")
        if not params.get("redirect_uri"):
            raise OAuthError("invalid_request", "redirect_uri is required")
        state = ctx.state
        try:
            code = state.codes.redeem(code_value, client_id, params.get("redirect_uri"))
        except CodeError as exc:
            if state.codes.was_used(code_value):
                state.tokens.revoke_code(code_value)
            raise OAuthError("invalid_grant", str(exc)) from None
        lifetime = ctx.token_lifetime
        token = state.tokens.issue(
            client_id, PLAYGROUND, "authorization_code", code.scopes, lifetime, code.phone_number, code.value
        )
        body: dict[str, object] = {
            "token_type": "Bearer",
            "access_token": token.value,
            "expires_in": lifetime,
            "scope": " ".join(sorted(code.scopes)),
        }
        if "openid" in code.scopes:
            body["id_token"] = self._id_token(
                client_id, code.phone_number, code.nonce, token.issued_at, lifetime, ctx
            )
        return self._token_response("playground-token", body)

    def _grant_client(
        self, params: dict[str, str], client_id: str, issuer: str, ctx: ApiContext
    ) -> ApiResponse:
        scopes = list(dict.fromkeys(params.get("scope", "").split()))  # once each, in order
        unknown = [s for s in scopes if s not in ctx.known_scopes]
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope {unknown[0]}")
        lifetime = ctx.token_lifetime
        token = ctx.state.tokens.issue(client_id, issuer, "client_credentials", scopes, lifetime)
        # Orange's lab pages show expires_in as a string ("3600"); newer pages and live answers a number.
        expires: int | str = str(lifetime) if issuer == OAUTH_V3 and ctx.profile == "orange" else lifetime
        body: dict[str, object] = {"token_type": "Bearer", "access_token": token.value, "expires_in": expires}
        if scopes:
            body["scope"] = " ".join(scopes)
        return self._token_response("v3-token" if issuer == OAUTH_V3 else "playground-token", body)

    @staticmethod
    def _token_response(operation: str, body: dict[str, object]) -> ApiResponse:
        return ApiResponse(status=200, data=body, headers=dict(NO_STORE), schema=f"oauth#{operation}.200")

    @staticmethod
    def _id_token(
        client_id: str, number: str, nonce: str | None, now: float, lifetime: int, ctx: ApiContext
    ) -> str:
        """An OIDC id_token (Core 1.0 §2), RS256-signed by the key the JWKS publishes."""
        claims: dict[str, object] = {
            "iss": PLAYGROUND_ISSUER,
            "sub": subject(number),
            "aud": client_id,
            "iat": int(now),
            "exp": int(now) + lifetime,
            # The network authenticated the device when the code was asked for (no user login).
            "auth_time": int(now),
            "amr": ["nbma"],  # network-based mobile authentication
        }
        if nonce:
            claims["nonce"] = nonce
        return ctx.id_token_key().sign(claims)


def subject(number: str) -> str:
    """The id_token's `sub` for a phone number: stable, and not the number itself."""
    return hashlib.sha256(number.encode()).hexdigest()[:32]


def _basic_credentials(request: ApiRequest) -> tuple[str, str] | None:
    """(client_id, secret) from an `Authorization: Basic` header; None without the header."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    undecodable = OAuthError("invalid_client", "Unable to decode Basic authorization.", 401, CHALLENGE)
    if scheme.lower() != "basic":
        raise undecodable
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError; so is non-ASCII input
        raise undecodable from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise undecodable
    return client_id, secret


_UNSAFE_IN_URI = re.compile(r"[\x00-\x20\x7f]")


def _acceptable_redirect(uri: str) -> bool:
    """Absolute, no fragment, nothing that could break the Location header (RFC 6749 §3.1.2)."""
    if _UNSAFE_IN_URI.search(uri):
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    if not parts.scheme or parts.fragment:
        return False
    # http(s) needs a host; an app's custom scheme (com.example.app:/cb) need not have one.
    return bool(parts.netloc) or parts.scheme not in ("http", "https")


def _raw_param(query_string: str, name: str) -> str | None:
    """A query parameter as sent (still percent-encoded), or None. Never holds raw CR/LF: those
    cannot appear in a request line."""
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None
