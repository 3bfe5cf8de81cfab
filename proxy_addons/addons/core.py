"""Options every stage shares, and the engine (rules, state, APIs) compiled from them."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from mitmproxy import ctx, exceptions

from proxy_addons.engine import Engine, Settings
from proxy_addons.modes import MODES
from proxy_addons.rules import RulesError, load_rules
from proxy_addons.schemas import default_store
from proxy_addons.state import ProxyState

log = logging.getLogger(__name__)

ENGINE_OPTIONS = {"orange_rules", "orange_profile", "orange_token_lifetime", "orange_code_lifetime"}


class Core:
    """Holds the engine; other addons read `core.engine` and `core.mode`."""

    name = "orange_core"  # mitmproxy already has addons named after the class

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.state: ProxyState | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "orange_mode",
            str,
            "synth",
            "Where answers come from: synth (the synthesiser), record (the real upstream, recorded into "
            "orange_cassette), replay (orange_cassette only).",
        )
        loader.add_option(
            "orange_forward_unknown",
            bool,
            False,
            "In synth mode, forward requests for paths of the intercept hosts that none of our APIs owns "
            "(other Orange APIs) to the real host. Off: answer them 404 as Orange's gateway does, so "
            "nothing leaves the machine.",
        )
        loader.add_option(
            "orange_profile",
            str,
            "orange",
            "Error dialect and quirks: 'orange' (as Orange's pages document) or 'camara' (CAMARA's specs).",
        )
        loader.add_option(
            "orange_rules",
            Sequence[str],
            [],
            "Rules files (YAML, schemas/rules.schema.json), layered in order over the built-in defaults.",
        )
        loader.add_option("orange_token_lifetime", int, 3600, "Lifetime of issued access tokens, in seconds.")
        loader.add_option("orange_code_lifetime", int, 120, "Lifetime of authorization codes, in seconds.")
        # Answering without any network means never dialling upstream before a request is seen.
        options = loader.master.options
        if "connection_strategy" in options and options.connection_strategy != "lazy":
            options.update(connection_strategy="lazy")

    def configure(self, updated: set[str]) -> None:
        if "orange_mode" in updated and ctx.options.orange_mode not in MODES:
            raise exceptions.OptionsError(
                f"orange_mode must be one of {', '.join(MODES)}, not {ctx.options.orange_mode!r}"
            )
        if updated & ENGINE_OPTIONS or self.engine is None:
            self.engine = self._build()

    def _build(self) -> Engine:
        try:
            settings = Settings(
                profile=ctx.options.orange_profile,
                token_lifetime=ctx.options.orange_token_lifetime,
                code_lifetime=ctx.options.orange_code_lifetime,
            )
        except ValueError as exc:
            raise exceptions.OptionsError(f"orange-proxy: {exc}") from None
        try:
            store = default_store()
        except (OSError, ValueError) as exc:  # a broken installation, not bad input
            raise exceptions.OptionsError(f"orange-proxy: cannot load the JSON Schemas: {exc}") from None
        paths = [os.path.expanduser(p) for p in ctx.options.orange_rules]
        try:
            rules = load_rules(paths, store)
        except RulesError as exc:
            raise exceptions.OptionsError(f"orange-proxy: bad rules: {exc}") from None
        if self.state is None:
            self.state = ProxyState(rules)
        else:
            self.state.apply(rules)
        return Engine(rules, settings, store, self.state)

    @property
    def mode(self) -> str:
        return ctx.options.orange_mode

    def running(self) -> None:
        assert self.engine is not None
        log.info(
            "orange-proxy: %s mode, profile %s, rules %s",
            self.mode,
            self.engine.settings.profile,
            ", ".join(self.engine.rules.sources),
        )
