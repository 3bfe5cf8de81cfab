"""Which traffic is ours: TLS to intercept hosts is decrypted and classified; everything else passes
through untouched (the client sees the real server's certificate)."""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import ctx, exceptions, http, tls

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.core import Core
from proxy_addons.addons.stages import CONTROL_HOST, PLAN, ROUTE
from proxy_addons.apis import GATEWAY
from proxy_addons.modes import sources


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


class Intercept:
    name = "orange_intercept"  # mitmproxy already has addons named after the class

    def __init__(self, core: Core, cassettes: Cassettes) -> None:
        self.core = core
        self.cassettes = cassettes
        self.hosts: tuple[tuple[str, int | None], ...] = (("api.orange.com", None),)

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
                raise exceptions.OptionsError(f"orange-proxy: {exc}") from None

    def intercepts(self, host: str, port: int | None) -> bool:
        host = host.lower().rstrip(".")
        return any(h == host and (p is None or p == port) for h, p in self.hosts)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        server = data.context.server.address
        host = data.client_hello.sni or (server[0] if server else "")
        port = server[1] if server else 443
        # The control host is ours too: https://orange-proxy.test works for clients that trust the CA.
        if not self.intercepts(host, port) and host.lower().rstrip(".") != CONTROL_HOST:
            data.ignore_connection = True

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not self.intercepts(flow.request.pretty_host, flow.request.port):
            return
        assert self.core.engine is not None
        route = self.core.engine.classify(flow.request.method, flow.request.path.split("?", 1)[0])
        if route is None:
            return
        options, tape = ctx.options, self.cassettes.tape
        flow.metadata[ROUTE] = route
        flow.metadata[PLAN] = sources(
            mode=options.orange_mode,
            record_mode=options.orange_record_mode,
            cassette_existed=tape.existed if tape else False,
            miss=options.orange_miss,
            unknown_path=route.api is GATEWAY,
            forward_unknown=options.orange_forward_unknown,
        )
