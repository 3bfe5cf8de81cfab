"""Token, authorization-code, client and subscriber state, shared by every API and every addon.

One :class:`ProxyState` lives for the whole proxy process; rules reloads replace its clients and
directory but keep issued tokens, so a running app is not logged out by a configuration change.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from proxy_addons.playground import Playground, location_of
from proxy_addons.rules import ClientRule, Location, Rules

Clock = Callable[[], float]

# Issuers: the playground OIDC server and Orange's generic /oauth/v3 server. A token is only good
# at the APIs its issuer serves.
PLAYGROUND = "playground"
OAUTH_V3 = "oauth-v3"


@dataclass
class Token:
    value: str
    client_id: str
    issuer: str
    grant_type: str
    scopes: frozenset[str]
    phone_number: str | None
    issued_at: float
    expires_at: float
    code: str | None = None  # the authorization code it was redeemed from

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass
class AuthorizationCode:
    value: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    phone_number: str
    nonce: str | None
    expires_at: float
    used: bool = False


class CodeError(Exception):
    """Why a code cannot be redeemed (becomes OAuth `invalid_grant`)."""


SEEN_LIMIT = 100_000  # tokens remembered as seen; the oldest are forgotten past this


class TokenStore:
    """Access tokens: the ones the synthesiser issued, and every bearer token the proxy has seen in
    any mode (a replayed or forwarded one included), with when it was first seen, so a fault can
    expire tokens without knowing who issued them. Expired issued tokens are dropped as new ones are
    issued, so memory stays bounded by the tokens issued within one lifetime."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tokens: dict[str, Token] = {}
        self._sweep_at = 0
        self._first_seen: dict[str, tuple[float, str | None]] = {}  # token -> (when, client_id)
        self.fault_expiries: list[tuple[float, str | None]] = []  # token_expired firings: (when, client)

    def issue(
        self,
        client_id: str,
        issuer: str,
        grant_type: str,
        scopes: Iterable[str],
        lifetime: int,
        phone_number: str | None = None,
        code: str | None = None,
    ) -> Token:
        now = self.clock()
        token = Token(
            value=secrets.token_urlsafe(32),
            client_id=client_id,
            issuer=issuer,
            grant_type=grant_type,
            scopes=frozenset(scopes),
            phone_number=phone_number,
            issued_at=now,
            expires_at=now + lifetime,
            code=code,
        )
        self._tokens[token.value] = token
        if len(self._tokens) >= self._sweep_at:
            self._sweep(now)
        return token

    def _sweep(self, now: float) -> None:
        # Keep expired tokens for a while so their use reads as "expired", not "unknown".
        grace = 3600
        self._tokens = {k: t for k, t in self._tokens.items() if now < t.expires_at + grace}
        self._sweep_at = max(1024, 2 * len(self._tokens))

    def get(self, value: str) -> Token | None:
        return self._tokens.get(value)

    def live(self) -> list[Token]:
        now = self.clock()
        return [t for t in self._tokens.values() if not t.expired(now)]

    def expire(self, predicate: Callable[[Token], bool] = lambda t: True) -> int:
        """Expire matching live tokens now (fault injection); returns how many."""
        now = self.clock()
        count = 0
        for token in self._tokens.values():
            if not token.expired(now) and predicate(token):
                token.expires_at = now
                count += 1
        return count

    # Seen tokens and fault-made expiry -----------------------------------------------------------

    def seen(self, value: str) -> None:
        """A bearer token in use: remember when it was first seen."""
        if value not in self._first_seen:
            self._remember(value, self.clock(), None)

    def handed_out(self, value: str, client_id: str | None) -> None:
        """A token endpoint's answer carried this token, for this client: it is new now."""
        self._remember(value, self.clock(), client_id)

    def _remember(self, value: str, when: float, client_id: str | None) -> None:
        if len(self._first_seen) >= SEEN_LIMIT and value not in self._first_seen:
            self._first_seen.pop(next(iter(self._first_seen)))
        self._first_seen[value] = (when, client_id)

    def client_of(self, value: str | None) -> str | None:
        """The client a seen token was handed out to, where the proxy saw that."""
        seen = self._first_seen.get(value) if value else None
        return seen[1] if seen else None

    def expire_by_fault(self, client_id: str | None) -> None:
        """Every token of `client_id` (None: of everyone) seen so far counts as expired from now on;
        the ones the synthesiser issued expire too, so its answers and /api/state agree."""
        self.fault_expiries.append((self.clock(), client_id))
        self.expire(lambda t: client_id is None or t.client_id == client_id)

    def expired_by_fault(self, value: str | None) -> bool:
        seen = self._first_seen.get(value) if value else None
        if seen is None:
            return False
        first_seen, client = seen
        return any(first_seen <= when and who in (None, client) for when, who in self.fault_expiries)

    def revoke_code(self, code: str) -> None:
        """RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it."""
        self.expire(lambda t: t.code == code)


class CodeStore:
    """Authorization codes: single use, short-lived, bound to a client and a redirect URI."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._codes: dict[str, AuthorizationCode] = {}
        self._sweep_at = 0

    def issue(
        self,
        client_id: str,
        redirect_uri: str,
        scopes: Iterable[str],
        phone_number: str,
        nonce: str | None,
        lifetime: int,
    ) -> AuthorizationCode:
        now = self.clock()
        if len(self._codes) >= self._sweep_at:
            # Drop codes long past use, so a client that never redeems cannot grow memory.
            self._codes = {k: c for k, c in self._codes.items() if now < c.expires_at + 600}
            self._sweep_at = max(1024, 2 * len(self._codes))
        code = AuthorizationCode(
            value="OFR-" + secrets.token_urlsafe(24),  # Orange's codes start with OFR-
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=frozenset(scopes),
            phone_number=phone_number,
            nonce=nonce,
            expires_at=now + lifetime,
        )
        self._codes[code.value] = code
        return code

    def redeem(self, value: str, client_id: str, redirect_uri: str | None) -> AuthorizationCode:
        code = self._codes.get(value)
        if code is None:
            raise CodeError("unknown authorization code")
        if code.used:
            raise CodeError("authorization code already used")
        if self.clock() >= code.expires_at:
            raise CodeError("authorization code expired")
        if code.client_id != client_id:
            raise CodeError("authorization code was issued to another client")
        if redirect_uri != code.redirect_uri:
            raise CodeError("redirect_uri does not match the one of the authorization request")
        code.used = True
        return code

    def was_used(self, value: str) -> bool:
        code = self._codes.get(value)
        return bool(code and code.used)


@dataclass
class Clients:
    """Who may get tokens, and which APIs each is subscribed to.

    With no clients in the rules every client id/secret pair is accepted and subscribed to everything.
    """

    rules: Mapping[str, ClientRule] | None = None

    def authenticate(self, client_id: str, secret: str) -> bool:
        if not client_id:
            return False
        if self.rules is None:
            return True
        rule = self.rules.get(client_id)
        return rule is not None and (
            rule.client_secret is None
            or secrets.compare_digest(rule.client_secret.encode("utf-8"), secret.encode("utf-8"))
        )

    def known(self, client_id: str) -> bool:
        return self.rules is None or client_id in self.rules

    def redirect_uris(self, client_id: str) -> tuple[str, ...] | None:
        rule = self.rules.get(client_id) if self.rules else None
        return rule.redirect_uris if rule else None

    def subscribed(self, client_id: str, api: str) -> bool:
        rule = self.rules.get(client_id) if self.rules else None
        return rule is None or rule.apis is None or api in rule.apis


@dataclass
class Directory:
    """The subscribers the simulated network knows: numbers from the rules (the lab's devices), and
    the playground's numbers: every predefined +990 one and each client's user-defined ones.

    A client's user-defined number wins over the same number in the rules: the tester set it on
    purpose, through the Admin API."""

    locations: dict[str, Location | None] = field(default_factory=dict)
    playground: Playground | None = None

    def known(self, number: str, client_id: str | None = None) -> bool:
        """Does the network answer for this number (as `client_id` sees it)?"""
        if number in self.locations:
            return True
        return self.playground is not None and self.playground.knows(number, client_id)

    def location(self, number: str, client_id: str | None = None) -> Location | None:
        """Where the network last located the device, or None if it cannot."""
        playground = self.playground
        user_defined = (
            playground is not None and client_id is not None and playground.users.has(client_id, number)
        )
        if number in self.locations and not user_defined:
            return self.locations[number]
        entry = playground.entry(number, client_id) if playground is not None else None
        return location_of(entry, playground.clock()) if entry is not None else None


@dataclass
class Revocations:
    """Subscriptions that faults removed, by fault id (client None: every client's). Runtime state:
    kept across rules reloads, lifted when the fault is removed."""

    by_fault: dict[str, str | None] = field(default_factory=dict)

    def revoke(self, fault_id: str, client_id: str | None) -> None:
        self.by_fault[fault_id] = client_id

    def lift(self, fault_id: str) -> None:
        self.by_fault.pop(fault_id, None)

    def clear(self) -> None:
        self.by_fault.clear()

    def covers(self, client_id: str | None) -> bool:
        return client_id is not None and any(c in (None, client_id) for c in self.by_fault.values())

    def __bool__(self) -> bool:
        return bool(self.by_fault)


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
        self.directory = Directory(
            {n: rule.location for n, rule in rules.numbers.items()}, playground=self.playground
        )
