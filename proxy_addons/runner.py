"""Run a mitmproxy master with our addons in this process (what `orange-proxy` does)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mitmproxy import ctx, exceptions, optmanager
from mitmproxy.options import Options
from mitmproxy.tools.dump import DumpMaster

from proxy_addons.addons import default_addons
from proxy_addons.addons.console import OrangeDumper
from proxy_addons.addons.core import unknown_option_problem
from proxy_addons.addons.stages import CONTROL_HOST
from proxy_addons.messages import say, unsaid

CA_FILE = "mitmproxy-ca-cert.pem"


class StartupError(Exception):
    """Options or rules that keep the proxy from starting; the message is for the user."""


class Announce:
    """Prints one line when the proxy listens: the addresses clients can type (a phone cannot type
    0.0.0.0), the CA file they must trust, where devices get it, and the control page.

    The line starts `orange-proxy <mode> ready: proxy http://HOST:PORT` for the first HTTP listener
    (scripts and tests parse it); a WireGuard endpoint is UDP and is shown as such."""

    name = "orange_announce"

    def running(self) -> None:
        print(ready_line(), flush=True)


def ready_line() -> str:
    proxies: list[str] = []
    notes: list[str] = []
    others: list[str] = []
    for instance in ctx.master.addons.get("proxyserver").servers:
        mode = instance.mode
        # A reverse proxy to an https:// target listens on TCP and UDP (HTTP/3) at the same address.
        addresses = list(dict.fromkeys(a for h, p, *_ in instance.listen_addrs for a in typeable(h, p)))
        if not addresses:
            continue
        if mode.type_name == "wireguard":
            others.append(f"WireGuard {', '.join(f'udp://{a}' for a in addresses)} (client config above)")
            continue
        scheme = "socks5" if mode.type_name == "socks5" else "http"
        proxies.extend(f"{scheme}://{a}" for a in addresses if f"{scheme}://{a}" not in proxies)
        if mode.type_name != "regular":
            notes.append(mode.description)
    parts = []
    if proxies:
        parts.append("proxy " + ", ".join(proxies) + (f" ({', '.join(notes)})" if notes else ""))
    elif not others:
        parts.append("proxy (no listener)")
    # The CA right after the first listeners: `...; CA certificate PATH` is what scripts parse.
    ca = os.path.abspath(os.path.join(os.path.expanduser(ctx.options.confdir), CA_FILE))
    parts.append(f"CA certificate {ca} (devices: open http://mitm.it through the proxy)")
    parts.extend(others)
    parts.append(f"control page http://{CONTROL_HOST}/")
    return f"orange-proxy {ctx.options.orange_mode} ready: " + "; ".join(parts)


def typeable(host: str, port: int) -> list[str]:
    """`host:port` as clients can type it: a wildcard address becomes loopback first, then this
    machine's own addresses (what a phone on the same network types)."""
    hosts = ["127.0.0.1", *machine_addresses()] if host in ("0.0.0.0", "::", "") else [host]
    return [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts]


def machine_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, found without sending a packet: the addresses its
    host name resolves to, and the source address of the default route (a UDP connect sends nothing)."""
    found: list[str] = []
    try:
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(sockaddr[0]))
    except OSError:
        pass
    for target in ("192.0.2.1", "10.255.255.255"):  # TEST-NET-1, a private address: never contacted
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(probe.getsockname()[0])
        except OSError:
            pass
    return [a for a in dict.fromkeys(found) if not a.startswith("127.") and a != "0.0.0.0"]


async def _serve(options: Mapping[str, Any], sets: Sequence[str], defaults: Mapping[str, Any]) -> int:
    opts = Options()
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    # mitmdump's console conventions (flow_detail, dumper_filter, request lines), with our marks; after
    # our addons, so a line says what they did.
    master.addons.add(*default_addons(), OrangeDumper(), Announce())
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
            # A typo of one of ours gets the same "did you mean" as in config.yaml.
            hint = (
                unknown_option_problem({name: None}, opts.keys(), opts.confdir) if name not in opts else None
            )
            if hint is not None:
                raise StartupError(hint) from None
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
    verdict = master.addons.get("orange_verdict")
    return verdict.exit_status if verdict is not None else 0


def _quiet_on_shutdown(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def serve(
    options: Mapping[str, Any],
    sets: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM. Returns the exit status: 2 for bad options or rules, else the run's
    verdict (see proxy_addons.addons.verdict: 1 a request missed the cassette, 3 interactions unplayed)."""
    logging.getLogger().setLevel(logging.INFO)
    try:
        return asyncio.run(_serve(options, sets, defaults or {}))
    except StartupError as exc:
        print(say(str(exc)), file=sys.stderr)
        return 2
