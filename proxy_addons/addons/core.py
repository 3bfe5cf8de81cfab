"""Options every stage shares, and what is built from them once per change: the classification of
requests, rules, state, the APIs' context; the synthesiser only when a plan can use it."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml
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
from proxy_addons.state.keys import KeyFileError, SigningKey, in_confdir

log = logger(__name__)

ENGINE_OPTIONS = {
    "orange_rules",
    "orange_profile",
    "orange_token_lifetime",
    "orange_code_lifetime",
    "confdir",  # holds the id_token signing key
}
OUR_PREFIX = "orange_"
CONFIG_FILES = ("config.yaml", "config.yml")  # what mitmproxy reads from the confdir


def unknown_option_problem(deferred: Mapping[str, Any], known: Iterable[str], confdir: str) -> str | None:
    """What is wrong when an `orange_*` option nobody declares was given (mitmproxy keeps unknown
    options aside, "deferred", in case an addon declares them later: a typo would be ignored).
    Names the config file that holds the key, and the closest option we do have."""
    ours = sorted(k for k in known if k.startswith(OUR_PREFIX))
    unknown = sorted(k for k in deferred if k.startswith(OUR_PREFIX) and k not in ours)
    if not unknown:
        return None
    key = unknown[0]
    # Compared without the prefix every candidate shares (it would make anything look close).
    cut = len(OUR_PREFIX)
    close = difflib.get_close_matches(key[cut:], [k[cut:] for k in ours], n=1)
    hint = f" (did you mean {OUR_PREFIX}{close[0]}?)" if close else " (see `orange-proxy --help`)"
    for name in CONFIG_FILES:
        path = os.path.join(os.path.expanduser(confdir), name)
        try:
            with open(path, encoding="utf-8") as file:
                data = yaml.safe_load(file)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # mitmproxy reports a file it cannot read; this one did not give the key
        if isinstance(data, dict) and key in data:
            return f"{path}: unknown option {key}{hint}"
    return f"unknown option {key}, given with --set{hint}"


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
        self._key: tuple[str, SigningKey] | None = None  # (confdir, its id_token key)

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
        problem = unknown_option_problem(ctx.options.deferred, ctx.options.keys(), ctx.options.confdir)
        if problem:
            raise exceptions.OptionsError(say(problem))
        check_choices(updated, {"orange_mode": Mode, "orange_profile": Profile})
        if updated & ENGINE_OPTIONS or self.rules is None:
            self._build()

    def _build(self) -> None:
        try:
            settings = Settings(
                profile=ctx.options.orange_profile,
                token_lifetime=ctx.options.orange_token_lifetime,
                code_lifetime=ctx.options.orange_code_lifetime,
                signing_key=self._signing_key(),
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

    def _signing_key(self) -> SigningKey:
        """The id_token key kept in mitmproxy's confdir, read once per confdir."""
        confdir = os.path.expanduser(ctx.options.confdir)
        if self._key is None or self._key[0] != confdir:
            try:
                self._key = (confdir, in_confdir(confdir))
            except KeyFileError as exc:
                raise exceptions.OptionsError(say(str(exc))) from None
        return self._key[1]

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
        # The hosts answered, said plainly: --intercept-host replaces the default list (as every
        # mitmproxy list option does), so api.orange.com is answered only when it is among them.
        hosts = [h.strip() for h in getattr(ctx.options, "orange_intercept_hosts", []) if h.strip()]
        log.info(
            "%s mode, profile %s, rules %s; answering %s; other hosts pass through",
            self.mode,
            self.settings.profile,
            ", ".join(os.path.abspath(source) for source in self.rules.sources),  # as the ready line's CA
            ", ".join(hosts) if hosts else "no host",
        )
