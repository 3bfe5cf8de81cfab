"""Who may get tokens, which APIs each client is subscribed to, and the subscriptions faults removed."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy_addons.config.rules import ClientRule


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


@dataclass(frozen=True)
class Revocation:
    """What one `subscription_revoked` fault took away: `client_id`'s subscription (None: every
    client's) to `api` (None: to every API, and the token endpoints no longer take its credentials)."""

    client_id: str | None
    api: str | None = None

    def covers(self, client_id: str, api: str) -> bool:
        return self.client_id in (None, client_id) and self.api in (None, api)


@dataclass
class Revocations:
    """Subscriptions that faults removed, by fault id. Runtime state: kept across rules reloads,
    lifted when the fault is removed."""

    by_fault: dict[str, Revocation] = field(default_factory=dict)

    def revoke(self, fault_id: str, client_id: str | None, api: str | None = None) -> None:
        self.by_fault[fault_id] = Revocation(client_id, api)

    def lift(self, fault_id: str) -> None:
        self.by_fault.pop(fault_id, None)

    def clear(self) -> None:
        self.by_fault.clear()

    def covers(self, client_id: str | None, api: str) -> bool:
        """Has a fault removed `client_id`'s subscription to `api` (the API's name; "oauth" for the
        token endpoints, which only an every-API revocation, or one scoped to them, closes)?"""
        return client_id is not None and any(r.covers(client_id, api) for r in self.by_fault.values())

    def __bool__(self) -> bool:
        return bool(self.by_fault)
