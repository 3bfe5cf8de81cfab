"""Hosts other than the intercept hosts pass through untouched: the client sees the real server's
certificate, and plain-HTTP requests reach the real server."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


class Hello(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = f"real server saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "the-real-server")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def https_server(tls_files) -> Iterator[tuple[int, Path]]:
    cert, key = tls_files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for port in serve(server):
        yield port, cert


@pytest.fixture(scope="module")
def http_server() -> Iterator[int]:
    yield from serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello))


def test_other_https_hosts_keep_their_own_certificate(proxy, https_server):
    port, cert = https_server
    session = proxy.session()
    # Trusting only the server's own certificate: this succeeds only if the proxy did not intercept.
    answer = session.get(f"https://127.0.0.1:{port}/hello", verify=str(cert))
    assert answer.status_code == 200
    assert answer.text == "real server saw /hello"
    with pytest.raises(requests.exceptions.SSLError):
        # ...and the proxy's CA is of no use for it.
        session.get(f"https://127.0.0.1:{port}/hello", verify=str(proxy.ca))
    status, _headers, body = proxy.curl("--cacert", str(cert), f"https://localhost:{port}/via-curl")
    assert (status, body) == (200, b"real server saw /via-curl")


def test_plain_http_to_other_hosts_is_forwarded(proxy, http_server):
    answer = proxy.session().get(f"http://127.0.0.1:{http_server}/plain?x=1")
    assert answer.status_code == 200
    assert answer.headers["X-Served-By"] == "the-real-server"
    assert answer.text == "real server saw /plain?x=1"


def test_other_paths_of_an_intercept_host_get_the_gateway_404(proxy, http_server, proxy_factory):
    """Nothing leaves the machine in synth mode: a path none of our APIs owns gets Orange's gateway 404."""
    answer = proxy.session().get(
        "https://api.orange.com/sms/v1/outbound", headers={"Authorization": "Bearer x"}
    )
    assert answer.status_code == 404
    assert answer.json() == {
        "code": 60,
        "message": "Resource not found",
        "description": "The requested URI or the requested resource does not exist.",
    }
    # With an intercept host that really exists (a local server) the same holds...
    local = proxy_factory("--intercept-host", f"127.0.0.1:{http_server}")
    other = local.session().get(f"http://127.0.0.1:{http_server}/some/other/api")
    assert other.status_code == 404
    assert "X-Served-By" not in other.headers
    ours = local.session().post(
        f"http://127.0.0.1:{http_server}/oauth/v3/token",
        auth=("a", "b"),
        data={"grant_type": "client_credentials"},
    )
    assert ours.json()["token_type"] == "Bearer"


def test_forwarding_unknown_paths_is_opt_in(proxy_factory, http_server):
    local = proxy_factory(
        "--intercept-host", f"127.0.0.1:{http_server}", "--set", "orange_forward_unknown=true"
    )
    session = local.session()
    other = session.get(f"http://127.0.0.1:{http_server}/some/other/api")
    assert other.headers["X-Served-By"] == "the-real-server"
    ours = session.post(
        f"http://127.0.0.1:{http_server}/oauth/v3/token",
        auth=("a", "b"),
        data={"grant_type": "client_credentials"},
    )
    assert ours.json()["token_type"] == "Bearer"  # our APIs are still answered, never forwarded
