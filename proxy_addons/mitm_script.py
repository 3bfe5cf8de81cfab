"""Entry point for people who run mitmproxy themselves:

mitmdump -s "$(orange-proxy addon-path)" --set orange_profile=camara

A bad option value is an `OptionsError` raised in `configure`, as mitmproxy's own addons do: when an
option changes later (mitmweb's options, `:set`), mitmproxy shows its one line and keeps the old value.
At the script's load, though, mitmproxy prints a traceback for it; there we log the one line instead,
and mitmproxy's startup check exits on it ("Error logged during startup, exiting...").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from mitmproxy import ctx, exceptions

from proxy_addons.addons import default_addons
from proxy_addons.messages import say

log = logging.getLogger(__name__)


class LoadErrors:
    """Whether an addon of this script failed its first configure: the ones after it build on it
    (the faults need the core's state), so they skip theirs; mitmproxy exits before any request."""

    def __init__(self) -> None:
        self.failed = False

    def guard(self, addon: object) -> object:
        """`addon` with a `configure` that, on its first call only, logs an OptionsError as one line."""
        configure: Callable[[set[str]], None] | None = getattr(addon, "configure", None)
        if configure is None:
            return addon
        first = True

        @functools.wraps(configure)
        def guarded(updated: set[str]) -> None:
            nonlocal first
            if not first:
                configure(updated)
                return
            first = False
            if self.failed:
                return
            try:
                configure(updated)
            except exceptions.OptionsError as exc:
                if ctx.master.addons.get("errorcheck") is None:
                    raise  # nothing would stop a half-configured proxy: let mitmproxy say it its way
                self.failed = True
                log.error(say(str(exc)))

        addon.configure = guarded  # type: ignore[attr-defined]  # mitmproxy looks hooks up on the instance
        return addon


_errors = LoadErrors()
addons = [_errors.guard(addon) for addon in default_addons()]
