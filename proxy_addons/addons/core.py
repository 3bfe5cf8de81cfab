"""Options every stage shares, and what is built from them once per change: the classification of
requests, rules, state, the APIs' context; the synthesiser only when a plan can use it."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mitmproxy import ctx, exceptions

from proxy_addons.addons.stages import check_choices
from proxy_addons.config.choices import Mode, Profile, values
from proxy_addons.config.rules import Rules, RulesError, load_rules
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.messages import logger, say
from proxy_addons.pipeline.exchange import InFlight
from proxy_addons.simulator.apis import ALL_APIS, GATEWAY, Api
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.engine import Engine, Settings, context
from proxy_addons.simulator.routing import Router
from proxy_addons.state import ProxyState

log = logger(__name__)

ENGINE_OPTIONS = {"orange_rules", "orange_profile", "orange_token_lifetime", "orange_code_lifetime"}


class Core:
    """Holds what the stages share: `router` (classification), `rules`, `state`, `context` (what API
    modules answer faults with), `synthesiser()` (built on first use), and the exchanges in flight."""

    name = "orange_core"  # mitmproxy already has addons named after the class

    def __init__(self, apis: Sequence[Api] = ALL_APIS, schemas: SchemaStore | None = None) -> None:
        self.router = Router(apis, fallback=GATEWAY)
        self._schemas = schemas  # None: the shipped schemas
        self.exchanges = InFlight()
        self.state: ProxyState | None = None
        self.rules: Rules | None = None
        self.settings = Settings()
        self.schemas: SchemaStore | None = None
        self.context: ApiContext | None = None
        self._engine: Engine | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "orange_mode",
            str,
            Mode.SYNTH.value,
            "Where answers come from: synth (the synthesiser), record (the real upstream, recorded into "
            "orange_cassette), replay (orange_cassette only).",
            choices=values(Mode),
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
            Profile.ORANGE.value,
            "Error dialect and quirks: 'orange' (as Orange's pages document) or 'camara' (CAMARA's specs).",
            choices=values(Profile),
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
        check_choices(updated, {"orange_mode": Mode, "orange_profile": Profile})
        if updated & ENGINE_OPTIONS or self.rules is None:
            self._build()

    def _build(self) -> None:
        try:
            settings = Settings(
                profile=ctx.options.orange_profile,
                token_lifetime=ctx.options.orange_token_lifetime,
                code_lifetime=ctx.options.orange_code_lifetime,
            )
        except ValueError as exc:
            raise exceptions.OptionsError(say(str(exc))) from None
        try:
            store = self._schemas or default_store()
        except (OSError, ValueError) as exc:  # a broken installation, not bad input
            raise exceptions.OptionsError(say(f"cannot load the JSON Schemas: {exc}")) from None
        paths = [os.path.expanduser(p) for p in ctx.options.orange_rules]
        try:
            rules = load_rules(paths, store)
        except RulesError as exc:
            raise exceptions.OptionsError(say(f"bad rules: {exc}")) from None
        if self.state is None:
            self.state = ProxyState(rules)
        else:
            self.state.apply(rules)
        self.settings, self.schemas, self.rules = settings, store, rules
        self.context = context(rules, settings, store, self.state, self.router)
        self._engine = None  # rebuilt on first use, over the new context

    def synthesiser(self) -> Engine:
        """The synthesiser (synth mode, or replay's `synth` miss policy); built when first needed.
        A method, not a property: mitmproxy reads every attribute of an addon looking for commands."""
        if self._engine is None:
            assert self.rules is not None and self.state is not None
            self._engine = Engine(
                self.rules, self.settings, self.schemas, self.state, router=self.router, ctx=self.context
            )
        return self._engine

    @property
    def mode(self) -> str:
        return ctx.options.orange_mode

    def running(self) -> None:
        assert self.rules is not None
        log.info(
            "%s mode, profile %s, rules %s",
            self.mode,
            self.settings.profile,
            ", ".join(self.rules.sources),
        )
