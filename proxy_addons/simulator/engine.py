"""The synthesiser: answers a request as Orange's playground and lab would, from rules and state.

It knows nothing of mitmproxy; the synthesiser answer source (and any other transport) calls `handle`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from proxy_addons.config.choices import Profile, parse
from proxy_addons.config.rules import Rules
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.messages import logger
from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis import ALL_APIS, GATEWAY, Api
from proxy_addons.simulator.apis.oauth import OIDC_SCOPES
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.simulator.routing import Route, Router
from proxy_addons.state import Clock, ProxyState
from proxy_addons.state.keys import SigningKey

log = logger(__name__)


@dataclass(frozen=True)
class Settings:
    profile: Profile = Profile.ORANGE  # "orange": as Orange's pages document; "camara": CAMARA's specs
    token_lifetime: int = 3600  # seconds
    code_lifetime: int = 120  # seconds an authorization code stays redeemable
    # Signs id_tokens; None: the process's in-memory key (no confdir, e.g. the stand-in).
    signing_key: SigningKey | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", parse(Profile, self.profile, "profile"))
        if self.token_lifetime < 1 or self.code_lifetime < 1:
            raise ValueError("token and code lifetimes must be at least 1 second")


def context(
    rules: Rules, settings: Settings, schemas: SchemaStore, state: ProxyState, router: Router
) -> ApiContext:
    """The context every API call receives, built once per configuration."""
    return ApiContext(
        state=state,
        schemas=schemas,
        rules=rules,
        profile=settings.profile,
        token_lifetime=settings.token_lifetime,
        code_lifetime=settings.code_lifetime,
        known_scopes=frozenset(OIDC_SCOPES.union(*(api.scopes for api in router.apis))),
        methods=router.methods,
        signing_key=settings.signing_key,
    )


class Engine:
    """Classification and per-API handlers over one context, put together at configuration time."""

    def __init__(
        self,
        rules: Rules,
        settings: Settings | None = None,
        schemas: SchemaStore | None = None,
        state: ProxyState | None = None,
        clock: Clock = time.time,
        apis: Sequence[Api] = ALL_APIS,
        router: Router | None = None,
        ctx: ApiContext | None = None,
    ) -> None:
        self.rules = rules
        self.settings = settings or Settings()
        self.schemas = schemas or default_store()
        self.state = state or ProxyState(rules, clock)
        self.router = router or Router(apis, fallback=GATEWAY)
        self.context = ctx or context(self.rules, self.settings, self.schemas, self.state, self.router)

    @property
    def clock(self) -> Clock:
        return self.state.clock

    def classify(self, method: str, path: str) -> Route | None:
        return self.router.classify(method, path)

    def handle(self, route: Route, request: ApiRequest) -> ApiResponse:
        """The synthesised answer; never raises for bad input (that is the API's own error)."""
        try:
            response = route.api.handle(route.operation, request, self.context)
        except Exception:
            # Our bug, not the client's: answer in the API's own format, never let the request
            # go anywhere else, and leave the traceback in the log.
            log.exception("internal error answering %s %s", request.method, request.path)
            response = route.api.error(
                ApiError(500, "INTERNAL", "internal error in orange-proxy"), self.context
            )
        response.correlated(request)
        self.check(route, response)
        return response

    def check(self, route: Route, response: ApiResponse) -> None:
        """Every synthesised body must match its schema; a miss is our bug, so say so loudly."""
        if response.schema is None or response.raw is not None:
            return
        problems = self.schemas.check_response(response.schema, response.status, response.data)
        if problems:
            log.error(
                "synthesised %s %s breaks %s: %s",
                route.label,
                response.status,
                self.schemas.resolve(response.schema),
                "; ".join(problems),
            )
