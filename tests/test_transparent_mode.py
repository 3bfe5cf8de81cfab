"""Transparent mode as a gateway runs it: the device's traffic reaches the proxy by an iptables REDIRECT
on the gateway (no proxy set on the device). `https://api.orange.com` is answered by us; another HTTPS host
passes through with its own certificate. Two network namespaces made by the test (tests/netns.py)."""

from __future__ import annotations

import json
import re
import shlex
import socket
from pathlib import Path

import pytest
from device_lab import (
    OTHER_PORT,
    GatewayProxy,
    curl,
    passes_through_with_its_own_certificate,
    serve_other_host,
)
from flows import dlv_body
from netns import GATEWAY_ADDRESS, OTHER_HOST_ADDRESS, Lab, require

# api.orange.com as the device's DNS would give it: any address routed through the gateway will do,
# since the proxy answers by TLS server name (203.0.113.0/24 is TEST-NET-3: no real host).
ORANGE_ADDRESS = "203.0.113.10"
PROXY_PORT = 8080  # the proxy's default port, where the walkthrough's redirect delivers


WALKTHROUGH = Path(__file__).resolve().parent.parent / "docs" / "transparent.md"


def walkthrough_commands() -> tuple[list[str], list[str]]:
    """docs/transparent.md's gateway commands (sudo dropped: the test is root in its namespace), and the
    proxy's flags, as the page gives them."""
    text = WALKTHROUGH.read_text()
    gateway = [
        line.split("#")[0].strip().removeprefix("sudo ")
        for line in text.splitlines()
        if line.startswith(("sudo sysctl", "sudo iptables"))
    ]
    start = re.search(r'^sudo "\$\(command -v orange-proxy\)" (.+?)(?:\s+#.*)?$', text, re.M)
    assert gateway and start, "docs/transparent.md lost its commands"
    return gateway, shlex.split(start.group(1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require("iptables", "curl", "sysctl")
    lab = Lab.create()
    try:
        # The device routes everything through the gateway, as a phone on the gateway's Wi-Fi does.
        lab.exec(lab.device, "ip", "route", "add", "default", "via", GATEWAY_ADDRESS)
        gateway, flags = walkthrough_commands()
        for command in gateway:  # the page's own commands, on the namespace's interface for wlan0
            lab.exec(lab.gateway, "sh", "-c", command.replace("wlan0", "veth-gw"))
        directory = tmp_path_factory.mktemp("transparent")
        lab.other_cert = serve_other_host(lab, directory)
        lab.proxy = GatewayProxy(lab, directory, *flags)
        yield lab
        lab.proxy.check_log()
    finally:
        lab.destroy()


def test_the_walkthrough_redirects_https_to_the_proxy_port():
    gateway, flags = walkthrough_commands()
    assert any("--dport 443" in c and f"--to-port {PROXY_PORT}" in c for c in gateway), gateway
    assert flags[:2] == ["--mode", "transparent"], flags


def orange(lab: Lab, path: str, *args: str) -> tuple[str, str]:
    _, status, body = curl(
        lab,
        "--resolve",
        f"api.orange.com:443:{ORANGE_ADDRESS}",
        "--cacert",
        str(lab.proxy.ca),
        *args,
        f"https://api.orange.com{path}",
    )
    return status, body


def test_the_ready_line_names_the_mode(lab):
    assert "(Transparent Proxy)" in lab.proxy.ready_line, lab.proxy.ready_line


def test_api_orange_com_is_answered_by_the_proxy(lab):
    status, body = orange(
        lab, "/oauth/v3/token", "-u", "my-app:my-secret", "-d", "grant_type=client_credentials"
    )
    assert status == "200", body
    token = json.loads(body)["access_token"]
    status, body = orange(
        lab,
        "/camara/location-verification/orange-lab/v0/verify",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "Content-Type: application/json",
        "--data",
        json.dumps(dlv_body()),  # Orange's own example: TRUE
    )
    assert status == "200", body
    assert json.loads(body)["verificationResult"] == "TRUE"
    # The request line names the host the app asked for (showhost), not the address it connected to.
    assert "POST https://api.orange.com/oauth/v3/token" in lab.proxy.output()
    assert ORANGE_ADDRESS not in lab.proxy.output()
    assert "[orange-proxy: synthesised]" in lab.proxy.output()


def test_another_https_host_passes_through_with_its_own_certificate(lab):
    passes_through_with_its_own_certificate(lab)
    # It went through the proxy (the redirect took it there), which connected to the original address.
    assert f"server connect {OTHER_HOST_ADDRESS}:{OTHER_PORT}" in lab.proxy.output()


def test_the_ready_line_labels_each_listener_of_its_own(proxy_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = proxy_factory("--mode", "regular", "--mode", f"transparent@{port}")
    line = next(x for x in proxy.output().splitlines() if " ready: " in x)
    # The label follows the transparent listener's address only, not the explicit proxy's before it.
    assert re.search(
        rf"ready: proxy http://127\.0\.0\.1:\d+, http://127\.0\.0\.1:{port} \(Transparent Proxy\);", line
    ), line
