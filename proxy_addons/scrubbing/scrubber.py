"""`Scrubber`: the walk over secret places with the rewriters of one cassette, for storage (scrub)
and for matching (mask)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

from proxy_addons.cassettes.matching import ParsedBody
from proxy_addons.cassettes.model import Interaction, Request, Response
from proxy_addons.scrubbing import idtokens, jsontext
from proxy_addons.scrubbing.jsontext import Document
from proxy_addons.scrubbing.masks import Masks
from proxy_addons.scrubbing.placeholders import Placeholders
from proxy_addons.scrubbing.places import ScrubConfig, Walker, set_length
from proxy_addons.scrubbing.pseudonyms import Pseudonyms

NO_EXTRAS = ScrubConfig()  # the built-in secret places only
# Interaction metadata: recorded with pseudonyms. A cassette holding one such interaction is
# pseudonymised from then on (see `Scrubber`), whatever a later run's options say.
PSEUDONYMISED = "pseudonymised"


def _texts(interaction: Interaction) -> Iterator[str]:
    for message in (interaction.request, interaction.response):
        if isinstance(message, Request):
            yield message.uri
        for values in message.headers.values():
            yield from values
        if message.body:
            yield message.body.decode("utf-8", "replace")


def _free_text(value: Any, pseudonyms: Pseudonyms) -> Any:
    """Metadata with the known numbers and KYC values out of its strings: the schema verdict quotes
    the answer as it came, before scrubbing (e.g. "'22/08/1978' does not match ...")."""
    if isinstance(value, str):
        return pseudonyms.free_text(value)
    if isinstance(value, dict):
        return {key: _free_text(item, pseudonyms) for key, item in value.items()}
    if isinstance(value, list):
        return [_free_text(item, pseudonyms) for item in value]
    return value


def _cassette_jwks(response: Response) -> Response:
    """A recorded JWK Set becomes the cassette key's: the scrubbed id_tokens are signed with it, so
    an app that fetches the JWKS on replay verifies them."""
    body = response.body
    if not body or b'"keys"' not in body:
        return response
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return response
    if not idtokens.is_jwks(data):
        return response
    new = idtokens.cassette_jwks()
    if new == body:
        return response
    headers = {name: list(values) for name, values in response.headers.items()}
    set_length(headers, new)
    return Response(response.status, response.reason, headers, new)


def _parsed(document: Document | None) -> ParsedBody | None:
    """A masked body's tree in the form the matching key reads; None when the key must parse the
    body itself (not JSON to the mask, or an integer too long for `json.loads` to read)."""
    if document is None:
        return None
    try:
        return ParsedBody(jsontext.plain(document.tree))
    except (ValueError, RecursionError):
        return None


class Scrubber:
    """Scrubs the interactions of one cassette, keeping placeholders stable across them; masks
    requests for matching.

    `scrub` replaces every secret it knows the place of (see `places`) with a placeholder
    `SCRUBBED-<KIND>-<nnnn>`, and, when pseudonyms are asked, real phone numbers with `+990…`
    pseudonyms and KYC personal data with its own. `mask` puts one fixed marker in the same places
    instead, so a live request carrying a real secret compares equal to the stored request carrying
    its placeholder.

    Pseudonyms are asked by `config.pseudonymise_numbers`, or by the cassette: once it holds an
    interaction recorded with them (metadata `pseudonymised`), what is added to it gets them too (a
    cassette shared outside a team must not take real data back in), and its KYC data is masked for
    matching, so that a replay with the real identity hits the recording of its pseudonyms."""

    def __init__(self, config: ScrubConfig = NO_EXTRAS, existing: Iterable[Interaction] = ()) -> None:
        self.config = config
        existing = list(existing)
        self.pseudonymising = config.pseudonymise_numbers or any(
            interaction.meta.get(PSEUDONYMISED) is True for interaction in existing
        )
        self._pseudonyms = Pseudonyms() if self.pseudonymising else None
        self._placeholders = Placeholders(self._pseudonyms)
        self._scrubbing = Walker(config, self._placeholders, self._pseudonyms, self._pseudonyms)
        masks = Masks()
        self._masking = Walker(config, masks, people=masks if self.pseudonymising else None)
        for interaction in existing:
            for text in _texts(interaction):
                self._placeholders.note(text)
                if self._pseudonyms is not None:
                    self._pseudonyms.note(text)

    def scrub(self, interaction: Interaction) -> Interaction:
        """A scrubbed copy (the input is not modified). Content-Length of a changed body is recomputed."""
        return self._scrub(interaction)[0]

    def _scrub(self, interaction: Interaction) -> tuple[Interaction, Document | None]:
        """`scrub`, and the scrubbed request body's Document when it is JSON."""
        request, document = self._scrubbing.request(interaction.request)
        response = _cassette_jwks(self._scrubbing.response(interaction.response, interaction.request.uri))
        meta = copy.deepcopy(interaction.meta)
        if self._pseudonyms is not None:
            meta = _free_text(meta, self._pseudonyms)
            meta[PSEUDONYMISED] = True
        return Interaction(request, response, meta), document

    def mask(self, request: Request) -> Request:
        """A copy for MATCHING, not for storage: every secret place holds the fixed marker `SCRUBBED`,
        so a request with a real secret and one with that secret's placeholder compare equal.
        No pseudonymisation, no state change; in a cassette with pseudonyms, KYC data is masked
        too (`Masks.personal`)."""
        return self._masking.request(request)[0]

    def masked(self, request: Request) -> tuple[Request, ParsedBody | None]:
        """`mask`, and the masked JSON body as the matching key reads it, so the key does not parse
        the body again (None: the key parses the body itself)."""
        masked, document = self._masking.request(request)
        return masked, _parsed(document)

    def scrub_and_mask(self, interaction: Interaction) -> tuple[Interaction, Request, ParsedBody | None]:
        """`scrub`, and `masked` of the scrubbed request, which reuses the scrubbed body's parse."""
        scrubbed, document = self._scrub(interaction)
        masked, document = self._masking.request(scrubbed.request, document)
        return scrubbed, masked, _parsed(document)
