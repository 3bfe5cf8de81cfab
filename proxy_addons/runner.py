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
from proxy_addons.addons.offline_dns import OfflineDns
from proxy_addons.addons.stages import CONTROL_HOST
from proxy_addons.messages import say, unsaid

CA_FILE = "mitmproxy-ca-cert.pem"
WILDCARDS = ("0.0.0.0", "::", "")  # listen hosts that mean every address of the machine
# The control page polls GET /api/state and /api/events every 1.5 s: thousands of flows an hour in flow
# files and HAR (both honour save_stream_filter) unless left out. A filter of the user's own replaces it.
NOT_POLLING = f'!(~d {CONTROL_HOST} & ~m GET & ~u "/api/(state|events)")'


class StartupError(Exception):
    """Options or rules that keep the proxy from starting; the message is for the user."""


class Announce:
    """Prints, when the proxy listens, each WireGuard client config (with an address a device can
    reach) and then one line: the addresses clients can type (a phone cannot type 0.0.0.0), the CA file
    they must trust, where devices get it, and the control page.

    The line starts `orange-proxy <mode> ready: proxy http://HOST:PORT` for the first HTTP listener
    (scripts and tests parse it); a WireGuard endpoint is UDP and is shown as such. Both are printed, not
    logged: `--quiet` keeps them."""

    name = "orange_announce"

    def running(self) -> None:
        files = []
        for index, (port, conf) in enumerate(wireguard_configs()):
            print(conf, flush=True)
            files.append(
                save_client_config(
                    conf, "wireguard-client.conf" if index == 0 else f"wireguard-client-{port}.conf"
                )
            )
        print(ready_line(files), flush=True)


def save_client_config(conf: str, name: str) -> str:
    """The client config as a file beside the CA, for a QR code (`qrencode -t ansiutf8 < FILE`) or a
    copy to the device; 0600, as it holds the client's private key. Returns its absolute path."""
    path = os.path.abspath(os.path.join(os.path.expanduser(ctx.options.confdir), name))
    text = "\n".join(line for line in conf.splitlines() if not line.startswith("---")) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)  # an older file may have had other bits
    return path


def servers() -> list[Any]:
    return [i for i in ctx.master.addons.get("proxyserver").servers if i.listen_addrs]


def endpoints(instance: Any) -> list[str]:
    """A listener's addresses as clients type them (a reverse proxy to an https:// target listens on TCP
    and UDP, for HTTP/3, at the same address: listed once)."""
    return list(dict.fromkeys(a for h, p, *_ in instance.listen_addrs for a in typeable(h, p)))


def loopback_only(addresses: Sequence[str]) -> bool:
    return all(a.startswith(("127.", "[::1]")) for a in addresses)


def wireguard_configs() -> list[tuple[str, str]]:
    """mitmproxy's client config of each WireGuard listener, its Endpoint an address a device reaches:
    mitmproxy's says `Endpoint = 0.0.0.0:PORT` for a wildcard listen host."""
    configs = []
    for instance in servers():
        if instance.mode.type_name != "wireguard" or not (conf := instance.client_conf()):
            continue
        addresses = endpoints(instance)
        # A phone types a LAN address: the first non-loopback one, when the proxy listens on them.
        reachable = [a for a in addresses if not loopback_only([a])] or addresses
        lines = [
            f"Endpoint = {reachable[0]}" if line.startswith("Endpoint =") else line
            for line in conf.splitlines()
        ]
        notes = [f"# or Endpoint = {a}" for a in reachable[1:]]
        port = addresses[0].rsplit(":", 1)[1]
        wildcard = any(h in WILDCARDS for h, *_ in instance.listen_addrs)
        if wildcard and loopback_only(addresses):
            notes.append(f"# no LAN address of this machine found: use Endpoint = <its address>:{port}")
        elif loopback_only(addresses):
            notes.append(
                f"# loopback only: an Android emulator uses Endpoint = 10.0.2.2:{port}; "
                "for a phone start with --listen-host 0.0.0.0"
            )
        rule = "-" * 60
        configs.append(
            (
                port,
                "\n".join(
                    [rule, "# WireGuard client config (import it in the WireGuard app)", *lines, *notes, rule]
                ),
            )
        )
    return configs


def ready_line(client_configs: Sequence[str] = ()) -> str:
    proxies: list[str] = []
    seen: set[str] = set()
    tunnels: list[str] = []
    saved = iter(client_configs)
    for instance in servers():
        mode = instance.mode
        addresses = endpoints(instance)
        if mode.type_name == "wireguard":
            where = (
                f"client config above, and in {file}"
                if (file := next(saved, None))
                else "client config above"
            )
            tunnels.append(f"WireGuard {', '.join(f'udp://{a}' for a in addresses)} ({where})")
            continue
        scheme = "socks5" if mode.type_name == "socks5" else "http"
        new = [f"{scheme}://{a}" for a in addresses if f"{scheme}://{a}" not in seen]
        seen.update(new)
        if new:
            # Each listener's addresses, then what it is when not a plain proxy: "(Transparent Proxy)".
            proxies.append(", ".join(new) + ("" if mode.type_name == "regular" else f" ({mode.description})"))
    parts = []
    if proxies:
        parts.append("proxy " + ", ".join(proxies))
    elif tunnels:
        # WireGuard alone: no HTTP address at all, so the tunnel comes first, where scripts look.
        parts.extend(tunnels)
        tunnels = []
    else:
        parts.append("proxy (no listener)")
    # The CA right after the first listeners: `...; CA certificate PATH` is what scripts parse.
    ca = os.path.abspath(os.path.join(os.path.expanduser(ctx.options.confdir), CA_FILE))
    parts.append(f"CA certificate {ca} (devices: open http://mitm.it through the proxy)")
    parts.extend(tunnels)
    parts.append(f"control page http://{CONTROL_HOST}/")
    return f"orange-proxy {ctx.options.orange_mode} ready: " + "; ".join(parts)


class WithoutWireGuardConfig(logging.Filter):
    """Drops mitmproxy's own log of the WireGuard client config: Announce prints it with an address a
    device can reach, under --quiet too (mitmproxy's is an info line that names 0.0.0.0)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "[Interface]" not in str(record.msg)


def typeable(host: str, port: int) -> list[str]:
    """`host:port` as clients can type it: a wildcard address becomes loopback first, then this
    machine's own addresses (what a phone on the same network types)."""
    hosts = ["127.0.0.1", *machine_addresses()] if host in WILDCARDS else [host]
    return [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts]


def machine_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, found without sending a packet: first the source
    address of the default route (a UDP connect sends nothing), the one a device on the same network
    reaches; then the addresses its host name resolves to."""
    found: list[str] = []
    for target in ("192.0.2.1", "10.255.255.255"):  # TEST-NET-1, a private address: never contacted
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(probe.getsockname()[0])
        except OSError:
            pass
    try:
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(sockaddr[0]))
    except OSError:
        pass
    return [a for a in dict.fromkeys(found) if not a.startswith("127.") and a != "0.0.0.0"]


async def _serve(options: Mapping[str, Any], sets: Sequence[str], defaults: Mapping[str, Any]) -> int:
    opts = Options()
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    # mitmdump's console conventions (flow_detail, dumper_filter, request lines), with our marks; after
    # our addons, so a line says what they did.
    addons = default_addons()
    master.addons.add(*(a for a in addons if not isinstance(a, OfflineDns)), OrangeDumper(), Announce())
    # Our names are answered before mitmproxy's resolver tries them (offline, it waits for a timeout).
    for addon in addons:
        if isinstance(addon, OfflineDns):
            add_before(master, addon, "dnsresolver")
    writers_last(master)
    try:
        # Lowest to highest precedence: `defaults`, confdir/config.yaml, our flags, then explicit --set.
        # showhost: request lines name api.orange.com (the TLS server name / Host), not the address a
        # transparent or WireGuard client connected to (198.18.0.1 from our own DNS answer).
        opts.update(**{"save_stream_filter": NOT_POLLING, "showhost": True, **defaults})
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

    logging.getLogger("mitmproxy.proxy.mode_servers").addFilter(WithoutWireGuardConfig())
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


def writers_last(master: DumpMaster) -> None:
    """mitmproxy's flow file and HAR writers (`save_stream_file`, `hardump`) after our addons, where
    `mitmdump -s` has them (a script's addons come before them): `save_stream_file` writes a flow when
    it is answered, so it must see the comment and marker our addons put on it."""
    for name in ("save", "savehar"):
        addon = master.addons.get(name)
        if addon is not None:  # both are default addons of mitmproxy 11 and 12
            master.addons.chain.remove(addon)
            master.addons.chain.append(addon)


def add_before(master: DumpMaster, addon: object, anchor: str) -> None:
    """Register `addon` as `addons.add` does, then move it ahead of mitmproxy's addon `anchor` (hooks run
    in chain order)."""
    master.addons.add(addon)
    chain = master.addons.chain
    if (before := master.addons.get(anchor)) in chain:
        chain.remove(addon)
        chain.insert(chain.index(before), addon)


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
        status = asyncio.run(_serve(options, sets, defaults or {}))
    except StartupError as exc:
        print(say(str(exc)), file=sys.stderr)
        return 2
    # Everything is written now (cassette, event log, flow files: at mitmproxy's `done`). End here: after
    # WireGuard traffic, mitmproxy 12's native part can crash the interpreter's own clean-up (SIGSEGV,
    # exit 139), which would turn the run's verdict into a crash for CI.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)
