"""Entry point for people who run mitmproxy themselves:

mitmdump -s "$(orange-proxy addon-path)" --set orange_profile=camara

A bad option value is an `OptionsError` raised in `configure`, as mitmproxy's own addons do: when an
option changes later (mitmweb's options, `:set`), mitmproxy shows its one line and keeps the old value.
At the script's load, though, mitmproxy prints a traceback for it; there we log the one line instead
and exit with status 1 before mitmproxy binds its ports (its own start-up check would only exit after).
"""

from __future__ import annotations

import functools
import logging
import sys
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
                check = ctx.master.addons.get("errorcheck")
                if check is None:
                    raise  # nothing would stop a half-configured proxy: let mitmproxy say it its way
                self.failed = True
                log.error(say(str(exc)))
                if running():
                    return  # loaded into a running proxy (mitmweb's options): the line is enough
                if getattr(check, "repeat_errors_on_stderr", False):
                    # mitmproxy's console UI shows no log before it starts; its check would repeat
                    # the error on stderr, and we exit before it can.
                    print(say(str(exc)), file=sys.stderr)
                # mitmproxy checks for errors before it loads scripts (in a task of their own), and
                # next only once its servers are up: left to that check, a proxy that cannot run would
                # listen for a moment. SystemExit leaves the event loop at once, as mitmproxy's own
                # check does: on Python 3.11 before any port is bound (3.12's eager tasks bind them
                # before scripts load), and always before anything is served or said to listen.
                sys.exit(1)

        addon.configure = guarded  # type: ignore[attr-defined]  # mitmproxy looks hooks up on the instance
        return addon


def running() -> bool:
    """Whether the proxy already serves (a script loaded or reloaded later must not end it)."""
    server = ctx.master.addons.get("proxyserver")
    return bool(getattr(server, "is_running", False))


_errors = LoadErrors()
addons = [_errors.guard(addon) for addon in default_addons()]
