"""Which traffic is ours: TLS to intercept hosts is decrypted and classified; everything else passes
through untouched (the client sees the real server's certificate)."""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import ctx, http, tls

from proxy_addons.addons.core import Core

ROUTE = "orange.route"  # flow.metadata key: the Route of a classified flow


def _host_of(address: str) -> tuple[str, int | None]:
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and "]" not in port:
        return host.strip("[]").lower(), int(port)
    return address.strip("[]").lower(), None


class Intercept:
    name = "orange_intercept"  # mitmproxy already has addons named after the class

    def __init__(self, core: Core) -> None:
        self.core = core
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
            self.hosts = tuple(_host_of(h.strip()) for h in ctx.options.orange_intercept_hosts if h.strip())

    def intercepts(self, host: str, port: int | None) -> bool:
        host = host.lower().rstrip(".")
        return any(h == host and (p is None or p == port) for h, p in self.hosts)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        server = data.context.server.address
        host = data.client_hello.sni or (server[0] if server else "")
        port = server[1] if server else 443
        if not self.intercepts(host, port):
            data.ignore_connection = True

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not self.intercepts(flow.request.pretty_host, flow.request.port):
            return
        assert self.core.engine is not None
        route = self.core.engine.classify(flow.request.method, flow.request.path.split("?", 1)[0])
        if route is not None:
            flow.metadata[ROUTE] = route
