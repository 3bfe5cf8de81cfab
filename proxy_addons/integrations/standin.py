"""The synthesiser served as a plain HTTP(S) server: a local stand-in for api.orange.com.

Recording needs a real upstream. When the real one is out of reach (CI, no account), this one answers
exactly as the synthesising proxy would, over a real socket with its own TLS certificate:

    orange-proxy standin --listen-port 8443 --cert cert.pem --key key.pem
    orange-proxy standin --self-signed DIR        (writes DIR/standin-cert.pem and its key)

`gzip=True` compresses every answer (Content-Encoding: gzip), as some gateways do. `answers`, when
given, answers first, and the synthesiser only what it leaves (None): a test's upstream for what the
synthesiser does not answer as that test needs, e.g. an API another module is still being written for.
"""

from __future__ import annotations

import gzip
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

from proxy_addons.model import ApiRequest, ApiResponse, Headers
from proxy_addons.simulator.engine import Engine

MAX_BODY = 1 << 20  # a CAMARA request is tiny; refuse to buffer more

Answers = Callable[[ApiRequest], ApiResponse | None]  # an answer of one's own, or None: the synthesiser's


class _Handler(http.server.BaseHTTPRequestHandler):
    server: StandInServer
    protocol_version = "HTTP/1.1"  # keep-alive, as api.orange.com
    disable_nagle_algorithm = True  # else each keep-alive answer waits ~40 ms for a delayed ACK

    def _answer(self) -> None:
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.send_error(400, "bad Content-Length")
            return
        length = int(declared)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = ApiRequest(
            method=self.command,
            host=(self.headers.get("Host") or "api.orange.com").split(":")[0],
            path=parts.path,
            query_string=parts.query,
            headers=Headers(self.headers.items()),
            body=body,
            client=f"{self.client_address[0]}:{self.client_address[1]}",
        )
        engine = self.server.engine
        route = engine.classify(self.command, parts.path)
        if route is None:  # the engine always has the gateway fallback; keep mypy honest
            self.send_error(404)
            return
        with self.server.lock:  # the engine's state is not thread-safe; the proxy runs it on one loop
            self.server.requests.append(f"{self.command} {self.path}")
            own = self.server.answers(request) if self.server.answers is not None else None
            answer = own if own is not None else engine.handle(route, request)
        payload = answer.body  # its length is also HEAD's Content-Length (RFC 9110 §9.3.2); not sent
        headers = answer.all_headers()
        if self.server.gzip and payload:
            payload = gzip.compress(payload)
            headers["Content-Encoding"] = "gzip"
        self.send_response(answer.status, answer.reason)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.server.set_cookie:
            self.send_header("Set-Cookie", self.server.set_cookie)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class StandInServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        engine: Engine,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        gzip: bool = False,
        verbose: bool = False,
        set_cookie: str | None = None,
        answers: Answers | None = None,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.engine = engine
        self.answers = answers  # asked first; may be set after construction, as `set_cookie`
        self.gzip = gzip
        self.set_cookie = set_cookie  # sent with every answer, as gateways' load balancers do
        self.verbose = verbose
        self.lock = threading.Lock()
        self.requests: list[str] = []  # "METHOD /path?query" of every request answered, in order
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if certfile else "http"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://{host}:{port}"


def _alt_name(name: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def self_signed_certificate(
    directory: Path,
    lifetime: timedelta = timedelta(days=1),
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    stem: str = "standin",
) -> tuple[Path, Path]:
    """A throw-away certificate for `names` (host names and IP addresses; by default 127.0.0.1 and
    localhost), signed by itself: (cert, key) PEM files `<stem>-cert.pem`, `<stem>-key.pem`. Clients (or
    `orange-proxy record --upstream-ca`) trust the cert file itself."""
    from cryptography import x509  # mitmproxy depends on it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    common = "orange-proxy stand-in for api.orange.com" if stem == "standin" else names[0]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(
            x509.SubjectAlternativeName([_alt_name(n) for n in names]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@contextmanager
def serving(server: StandInServer) -> Iterator[StandInServer]:
    """Serve in a background thread for the duration of the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
