"""The classify stage. Which traffic is ours: TLS to intercept hosts is decrypted and classified;
everything else passes through untouched (the client sees the real server's certificate)."""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import ctx, exceptions, http, tls
from mitmproxy.proxy.mode_specs import ReverseMode

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.convert import to_api_request
from proxy_addons.addons.core import Core
from proxy_addons.addons.stages import ACTION, CONTROL_HOST, PASSED_THROUGH, PLAN, ROUTE
from proxy_addons.config.choices import MissPolicy, Mode, RecordMode
from proxy_addons.messages import say
from proxy_addons.pipeline.exchange import Exchange
from proxy_addons.pipeline.modes import planner
from proxy_addons.simulator.apis import GATEWAY


def parse_host(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address → (host, port or None)."""
    text = entry.strip().lower()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"bad intercept host {entry!r}")
        port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:  # a name, or a bare IPv6 address
        host, port = text, ""
    host = host.rstrip(".")
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"bad intercept host {entry!r} (use HOST, HOST:PORT or [IPv6]:PORT)")
    return host, int(port) if port else None


PLAN_OPTIONS = {
    "orange_mode",
    "orange_record_mode",
    "orange_miss",
    "orange_forward_unknown",
    "orange_cassette",
}


class Intercept:
    """The classify stage: which flows are ours (TLS to intercept hosts is decrypted, other hosts pass
    through untouched), which API and operation each is for, and the answer sources its mode plans."""

    name = "orange_intercept"  # mitmproxy already has addons named after the class

    def __init__(self, core: Core, cassettes: Cassettes) -> None:
        self.core = core
        self.cassettes = cassettes
        self.hosts: tuple[tuple[str, int | None], ...] = (("api.orange.com", None),)
        self.plan = planner(Mode.SYNTH, RecordMode.ONCE, False, MissPolicy.ERROR, False)

    def load(self, loader) -> None:
        loader.add_option(
            "orange_intercept_hosts",
            Sequence[str],
            ["api.orange.com"],
            "Hosts (optionally host:port) whose traffic the proxy answers; all other hosts pass through.",
        )

    def configure(self, updated: set[str]) -> None:
        if "orange_intercept_hosts" in updated:
            try:
                self.hosts = tuple(parse_host(h) for h in ctx.options.orange_intercept_hosts if h.strip())
            except ValueError as exc:
                raise exceptions.OptionsError(say(str(exc))) from None
        if updated & PLAN_OPTIONS:
            options, tape = ctx.options, self.cassettes.tape
            self.plan = planner(
                options.orange_mode,
                options.orange_record_mode,
                tape.existed if tape else False,
                options.orange_miss,
                options.orange_forward_unknown,
            )

    def intercepts(self, host: str, port: int | None) -> bool:
        host = host.lower().rstrip(".")
        return any(h == host and (p is None or p == port) for h, p in self.hosts)

    def dials_real_host(self) -> bool:
        """Whether some request may be forwarded to the intercept host itself (record mode, forwarded
        paths, replay misses passed through), not to `orange_upstream`."""
        forwards = any(
            s in ("upstream", "passthrough") for unknown in (False, True) for s in self.plan(unknown)
        )
        return forwards and not ctx.options.orange_upstream

    def intercepts_name(self, host: str) -> bool:
        """An intercept host by name, on any port (a name lookup has no port)."""
        host = host.lower().rstrip(".")
        return any(h == host for h, _ in self.hosts)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        mode = data.context.client.proxy_mode
        if isinstance(mode, ReverseMode) and self.intercepts(*mode.address):
            # Reverse mode to an intercept host: every client connection is for that host, whatever
            # name the app used to reach the proxy (https://localhost:PORT, a LAN name, an IP).
            return
        server = data.context.server.address
        host = data.client_hello.sni or (server[0] if server else "")
        port = server[1] if server else 443
        # The control host is ours too: https://orange-proxy.test works for clients that trust the CA.
        if not self.intercepts(host, port) and host.lower().rstrip(".") != CONTROL_HOST:
            data.ignore_connection = True

    def request(self, flow: http.HTTPFlow) -> None:
        if not flow.live or flow.response or flow.error:
            return
        if not self.intercepts(flow.request.pretty_host, flow.request.port):
            # Another host's plain HTTP (its TLS never reaches here: tls_clienthello let it pass): it
            # goes out untouched, and is said so on the console, in the event log and the summary.
            flow.metadata[ACTION] = PASSED_THROUGH
            return
        route = self.core.router.classify(flow.request.method, flow.request.path.split("?", 1)[0])
        if route is None:
            return
        plan = self.plan(route.api is GATEWAY)
        self.core.exchanges.add(
            flow.id,
            Exchange(to_api_request(flow), flow.request.pretty_url, flow.request.raw_content, route, plan),
        )
        flow.metadata[ROUTE] = route.label
        flow.metadata[PLAN] = list(plan)
