"""Token, authorization-code, client and subscriber state, shared by every API and every addon.

One :class:`ProxyState` lives for the whole proxy process; rules reloads replace its clients and
directory but keep issued tokens, so a running app is not logged out by a configuration change.
"""

from __future__ import annotations

import time

from proxy_addons.config.rules import Rules
from proxy_addons.state.clients import Clients, Revocation, Revocations
from proxy_addons.state.codes import AuthorizationCode, CodeError, CodeStore
from proxy_addons.state.directory import Directory, Subscriber
from proxy_addons.state.playground import Playground
from proxy_addons.state.tokens import OAUTH_V3, PLAYGROUND, SEEN_LIMIT, Clock, Token, TokenStore

__all__ = [
    "OAUTH_V3",
    "PLAYGROUND",
    "SEEN_LIMIT",
    "AuthorizationCode",
    "Clients",
    "Clock",
    "CodeError",
    "CodeStore",
    "Directory",
    "ProxyState",
    "Revocation",
    "Revocations",
    "Subscriber",
    "Token",
    "TokenStore",
]


class ProxyState:
    """Everything mutable the APIs, the faults and the control API share."""

    def __init__(self, rules: Rules, clock: Clock = time.time, playground: Playground | None = None) -> None:
        self.clock = clock
        self.tokens = TokenStore(clock)
        self.codes = CodeStore(clock)
        self.clients = Clients()
        self.revocations = Revocations()
        self.playground = playground or Playground(clock)
        self.directory = Directory()
        self.apply(rules)

    @property
    def fault_made(self) -> bool:
        """Has any fault changed token or subscription state?"""
        return bool(self.tokens.fault_expiries or self.revocations)

    def apply(self, rules: Rules) -> None:
        """Take clients and numbers from (re)loaded rules; issued tokens and codes stay."""
        self.clients = Clients(rules=rules.clients)
        self.directory = Directory(rules.numbers, playground=self.playground)
