"""Access tokens: the ones the synthesiser issues, and every bearer token the proxy sees in any mode,
with when it was first seen and whether a fault made it expire."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
    revoked: bool = False  # ended early (its code was reused), not by its lifetime

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    @property
    def end(self) -> str:
        """How an ended token's refusal words it: revoked, or expired."""
        return "revoked (its authorization code was reused)" if self.revoked else "expired"


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
        now = self.clock()
        for token in self._tokens.values():
            if token.code == code and not token.expired(now):
                token.expires_at = now
                token.revoked = True
