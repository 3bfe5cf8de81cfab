"""One request matcher for everything that targets some requests: rules overrides and faults.

A request is described by its facts (which API and operation, which client, which phone number);
a scope names the facts it wants, leaving out the ones it does not care about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy_addons.model import dig


@dataclass(frozen=True)
class RequestFacts:
    """What a scope is matched against."""

    api: str
    operation: str | None
    client_id: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class Scope:
    """None matches anything; `body` maps dotted JSON paths (or form fields) to required values."""

    api: str | None = None
    operation: str | None = None
    client_id: str | None = None
    number: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, facts: RequestFacts, fields: Any = None) -> bool:
        return (
            self.api in (None, facts.api)
            and self.operation in (None, facts.operation)
            and self.client_id in (None, facts.client_id)
            and self.number in (None, facts.number)
            and all(dig(fields, path) == value for path, value in self.body.items())
        )
