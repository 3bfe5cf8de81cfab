"""Masks, for matching: every secret place holds one fixed marker, whatever the secret, so a live
request carrying a real secret compares equal to the recorded one carrying its placeholder.

In a cassette recorded with pseudonyms, KYC personal data is masked too (see `personal`): a live
request with the real identity must hit the recording that holds its pseudonyms."""

from __future__ import annotations

from proxy_addons.scrubbing.places import KYC_KEPT
from proxy_addons.scrubbing.pseudonyms import birth_year

MARKER = "SCRUBBED"


class Masks:
    """The rewriter for matching: value-independent and stateless."""

    def secret(self, value: str, kind: str) -> str:
        return MARKER if value else value

    def personal(self, value: str, field: str) -> str:
        """What matching compares of a KYC field: a kept field as it is, a birthdate's year (what its
        pseudonym keeps, so a live birthdate and the recorded pseudonym compare equal), else the
        marker. Comparing more would take knowing whether a live value is the one recorded: a test of
        guesses against the pseudonyms (a birthdate has some 40,000 to try)."""
        if field in KYC_KEPT or not value.strip():
            return value
        if field == "birthdate":
            return birth_year(value)
        return MARKER
