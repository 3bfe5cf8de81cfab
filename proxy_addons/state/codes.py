"""Authorization codes of the 3-legged flow: issued at /authorize, redeemed once at the token endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from proxy_addons.state.tokens import Clock


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
