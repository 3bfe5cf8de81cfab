"""What the transparent and WireGuard tests share: the lab of tests/netns.py, another HTTPS host on it
(its own certificate, for `other.test`), the proxy started inside the gateway namespace, and curl on the
device."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from conftest import LOG_MARKERS, orange_proxy_command
from netns import OTHER_HOST_ADDRESS, Lab

from proxy_addons.integrations.standin import self_signed_certificate

OTHER_HOST = "other.test"
OTHER_PORT = 443  # as a real site: the transparent redirect takes port 443
OTHER_BODY = "answered by other.test itself"

SERVE_OTHER_HOST = f"""
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {OTHER_BODY!r}.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.HTTPServer(("{OTHER_HOST_ADDRESS}", {OTHER_PORT}), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def other_host_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for other.test: what the device must see when its traffic passes
    through (never one signed by the proxy's CA)."""
    return self_signed_certificate(directory, names=(OTHER_HOST,), stem="other")


def serve_other_host(lab: Lab, directory: Path) -> Path:
    """Start other.test on the gateway (10.98.0.1:8443); returns the certificate its clients trust."""
    cert, key = other_host_certificate(directory)
    lab.spawn(
        lab.gateway, sys.executable, "-c", SERVE_OTHER_HOST, str(cert), str(key), log=directory / "other.log"
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        probe = lab.exec(
            lab.gateway,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--cacert",
            str(cert),
            "--resolve",
            f"{OTHER_HOST}:{OTHER_PORT}:{OTHER_HOST_ADDRESS}",
            f"https://{OTHER_HOST}:{OTHER_PORT}/",
            check=False,
        )
        if probe.returncode == 0:
            return cert
        time.sleep(0.1)
    raise AssertionError(f"other.test did not start:\n{(directory / 'other.log').read_text()}")


class GatewayProxy:
    """`orange-proxy` running in the gateway namespace; its output is in `log`."""

    def __init__(self, lab: Lab, directory: Path, *args: str) -> None:
        self.confdir = directory / "confdir"
        self.confdir.mkdir(parents=True, exist_ok=True)
        self.log = directory / "proxy.log"
        self.process = lab.spawn(
            lab.gateway,
            *orange_proxy_command(),
            "synth",
            "--confdir",
            str(self.confdir),
            *args,
            log=self.log,
            cwd=directory,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if match := re.search(r"^orange-proxy \w+ ready: .*$", self.output(), re.M):
                self.ready_line = match.group()
                self.ca = self.confdir / "mitmproxy-ca-cert.pem"
                return
            if self.process.poll() is not None:
                raise AssertionError(f"proxy exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"proxy not ready in 30 s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def check_log(self) -> None:
        """Bad input must never crash an addon (the markers conftest scans every proxy log for)."""
        text = self.output()
        for marker in LOG_MARKERS:
            assert marker not in text, f"proxy logged {marker!r}:\n{text}"


def curl(lab: Lab, *args: str, check: bool = True) -> tuple[int, str, str]:
    """curl on the device, straight at the host (no proxy configured: the network takes it to the
    proxy); returns (exit status, HTTP status, body)."""
    result = lab.exec(
        lab.device,
        "curl",
        "-sS",
        "--max-time",
        "15",
        "--noproxy",
        "*",
        "-w",
        "\n%{http_code}",
        *args,
        check=False,
        timeout=30,
    )
    body, _, status = result.stdout.rpartition("\n")
    if check:
        assert result.returncode == 0, f"curl {' '.join(args)}: exit {result.returncode}: {result.stderr}"
    return result.returncode, status, body


def passes_through_with_its_own_certificate(lab: Lab) -> None:
    """other.test answers the device itself, with its own certificate: a client trusting only the
    proxy's CA refuses it (curl exit 60)."""
    target = (
        "--resolve",
        f"{OTHER_HOST}:{OTHER_PORT}:{OTHER_HOST_ADDRESS}",
        f"https://{OTHER_HOST}:{OTHER_PORT}/",
    )
    _, status, body = curl(lab, "--cacert", str(lab.other_cert), *target)
    assert (status, body) == ("200", OTHER_BODY)
    code, _, _ = curl(lab, "--cacert", str(lab.proxy.ca), *target, check=False)
    assert code == 60
