"""Masks, for matching: every secret place holds one fixed marker, whatever the secret, so a live
request carrying a real secret compares equal to the recorded one carrying its placeholder."""

from __future__ import annotations

MARKER = "SCRUBBED"


class Masks:
    """The rewriter for matching: value-independent and stateless."""

    def secret(self, value: str, kind: str) -> str:
        return MARKER if value else value
