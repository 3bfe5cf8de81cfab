"""Run a mitmproxy master with our addons in this process (what `orange-proxy` does)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mitmproxy import ctx, exceptions, optmanager
from mitmproxy.options import Options
from mitmproxy.tools.dump import DumpMaster

from proxy_addons.addons import default_addons
from proxy_addons.messages import say, unsaid

CA_FILE = "mitmproxy-ca-cert.pem"


class StartupError(Exception):
    """Options or rules that keep the proxy from starting; the message is for the user."""


class Announce:
    """Prints one line when the proxy listens: its address and the CA file clients must trust."""

    name = "orange_announce"

    def running(self) -> None:
        addresses = ctx.master.addons.get("proxyserver").listen_addrs()
        listen = ", ".join(f"http://{h if ':' not in h else f'[{h}]'}:{p}" for h, p, *_ in addresses)
        ca = os.path.join(os.path.expanduser(ctx.options.confdir), CA_FILE)
        mode = ctx.options.orange_mode
        print(
            f"orange-proxy {mode} ready: proxy {listen or '(no listener)'}; CA certificate {ca}", flush=True
        )


async def _serve(options: Mapping[str, Any], sets: Sequence[str], defaults: Mapping[str, Any]) -> None:
    opts = Options()
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    master.addons.add(*default_addons(), Announce())
    try:
        # Lowest to highest precedence: `defaults`, confdir/config.yaml, our flags, then explicit --set.
        opts.update(**defaults)
        if "confdir" in options:
            opts.update(confdir=options["confdir"])
        optmanager.load_paths(
            opts,
            os.path.join(os.path.expanduser(opts.confdir), "config.yaml"),
            os.path.join(os.path.expanduser(opts.confdir), "config.yml"),
        )
        opts.update(**options)
    except exceptions.OptionsError as exc:
        raise StartupError(str(exc)) from None
    # One set() per option: repeated values of a list option accumulate, and an error names its option.
    by_name: dict[str, list[str]] = {}
    for spec in sets:
        by_name.setdefault(spec.partition("=")[0].strip(), []).append(spec)
    for name, specs in by_name.items():
        try:
            opts.set(*specs)
        except exceptions.OptionsError as exc:
            raise StartupError(f"--set {name}: {unsaid(str(exc))}") from None

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    await master.run()
    # asyncio.run() now cancels the handlers of clients still connected (a phone keeps its
    # connections open); their CancelledError is the normal end of a shutdown, not an error.
    loop.set_exception_handler(_quiet_on_shutdown)


def _quiet_on_shutdown(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def serve(
    options: Mapping[str, Any],
    sets: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM. Returns the exit status (2 for bad options or rules)."""
    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(_serve(options, sets, defaults or {}))
    except StartupError as exc:
        print(say(str(exc)), file=sys.stderr)
        return 2
    return 0
