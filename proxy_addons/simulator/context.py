"""What an API module may use to answer a request, and nothing more of the proxy.

The engine builds one context when its options change and hands it to every API call, so API code
never reaches back into the engine (no service locator, no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxy_addons.config.choices import Profile
from proxy_addons.config.rules import Rules
from proxy_addons.config.schemas import SchemaStore
from proxy_addons.state import ProxyState
from proxy_addons.state.keys import SigningKey, in_memory


@dataclass(frozen=True)
class ApiContext:
    state: ProxyState
    schemas: SchemaStore
    rules: Rules
    profile: Profile = Profile.ORANGE
    token_lifetime: int = 3600  # seconds
    code_lifetime: int = 120  # seconds an authorization code stays redeemable
    known_scopes: frozenset[str] = frozenset()  # every scope an API or OIDC defines
    # The methods a path takes (for 405 and Allow), from the classification of every API.
    methods: Callable[[str], tuple[str, ...]] = lambda path: ()
    signing_key: SigningKey | None = None  # the id_token key; None: the process's in-memory one

    def now(self) -> float:
        """One clock for tokens, codes and answers."""
        return self.state.clock()

    def id_token_key(self) -> SigningKey:
        """The key that signs id_tokens and whose JWK the JWKS publishes."""
        return self.signing_key or in_memory()
