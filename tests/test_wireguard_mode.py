"""WireGuard mode with a real WireGuard client: the device (a network namespace, tests/netns.py) runs
wireguard-go with the client config the proxy printed, exactly as printed, and reaches
`https://api.orange.com` and the control page through the tunnel by name, with no network (the proxy
answers the tunnel's name lookups of its own names). Another HTTPS host passes through with its own
certificate."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time

import pytest
from device_lab import GatewayProxy, curl, passes_through_with_its_own_certificate, serve_other_host
from netns import GATEWAY_ADDRESS, OTHER_HOST_ADDRESS, Lab, require

WG_PORT = 51820  # WireGuard's default port, and mitmproxy's
# wireguard-go's control socket (/var/run/wireguard/NAME.sock) is shared by every namespace: a name of
# this run's own, so two runs at once (or a stale socket) never collide.
TUNNEL = f"wg-{os.getpid() % 100000}"
CONTROL_TOKEN = "lab-control-token"


def client_config(output: str) -> str:
    """The config block the proxy printed above its ready line."""
    match = re.search(r"^-{60}\n(# WireGuard client config.*?)\n-{60}$", output, re.M | re.S)
    assert match, f"no client config printed:\n{output}"
    return match.group(1)


def setting(config: str, name: str) -> str:
    match = re.search(rf"^{name} = (\S+)$", config, re.M)
    assert match, f"no {name} in:\n{config}"
    return match.group(1)


def bring_up_tunnel(lab: Lab, config: str, directory) -> None:
    """What the WireGuard app does with the config: the keys and peer to `wg`, Address and DNS to the
    system (as wg-quick does), and every route into the tunnel (AllowedIPs = 0.0.0.0/0)."""
    lab.spawn(lab.device, "wireguard-go", "-f", TUNNEL, log=directory / "wireguard-go.log")
    deadline = time.monotonic() + 10
    while lab.exec(lab.device, "ip", "link", "show", TUNNEL, check=False).returncode != 0:
        assert time.monotonic() < deadline, (directory / "wireguard-go.log").read_text()
        time.sleep(0.05)
    wg_only = "\n".join(line for line in config.splitlines() if not line.startswith(("Address", "DNS")))
    (directory / "wg.conf").write_text(wg_only + "\n")
    lab.exec(lab.device, "wg", "setconf", TUNNEL, str(directory / "wg.conf"))
    lab.exec(lab.device, "ip", "addr", "add", setting(config, "Address"), "dev", TUNNEL)
    lab.exec(lab.device, "ip", "link", "set", TUNNEL, "up")
    # The endpoint stays on the LAN; everything else goes into the tunnel.
    lab.exec(lab.device, "ip", "route", "add", "default", "dev", TUNNEL)
    lab.resolver(lab.device, setting(config, "DNS"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require("wireguard-go", "wg", "curl")
    lab = Lab.create()
    try:
        directory = tmp_path_factory.mktemp("wireguard")
        lab.other_cert = serve_other_host(lab, directory)
        # -q: the client config is printed all the same (it is not a log line).
        lab.proxy = GatewayProxy(
            lab,
            directory,
            "-q",
            "--mode",
            "wireguard",  # no port: WireGuard's own 51820, as mitmproxy listens (not our 8080)
            "--listen-host",
            "0.0.0.0",
            "--control-token",
            CONTROL_TOKEN,
        )
        lab.config = client_config(lab.proxy.output())
        bring_up_tunnel(lab, lab.config, directory)
        yield lab
        lab.proxy.check_log()
    finally:
        lab.destroy()


def test_the_client_config_names_an_endpoint_the_device_reaches(lab):
    # mitmproxy's own config says 0.0.0.0 for a wildcard listen host: no device can use that.
    assert setting(lab.config, "Endpoint") == f"{GATEWAY_ADDRESS}:{WG_PORT}"
    assert "0.0.0.0" not in lab.config.replace("AllowedIPs = 0.0.0.0/0", "")
    assert lab.proxy.output().count("[Interface]") == 1  # mitmproxy's copy of it is not logged too


def test_a_wireguard_only_ready_line_starts_with_the_tunnel(lab):
    line = lab.proxy.ready_line
    assert line.startswith(
        f"orange-proxy synth ready: WireGuard udp://127.0.0.1:{WG_PORT}, "
        f"udp://{GATEWAY_ADDRESS}:{WG_PORT} (client config above, and in "
        f"{lab.proxy.confdir}/wireguard-client.conf); CA certificate "
    ), line


def test_api_orange_com_is_answered_through_the_tunnel_by_name(lab):
    ca = str(lab.proxy.ca)
    _, status, body = curl(
        lab,
        "--cacert",
        ca,
        "-u",
        "my-app:my-secret",
        "-d",
        "grant_type=client_credentials",
        "https://api.orange.com/oauth/v3/token",
    )
    assert status == "200", body
    assert json.loads(body)["token_type"] == "Bearer"
    # The device asked the tunnel's name server (its only one) and the proxy answered; the event log
    # has the exchange.
    exchanges = [e for e in events(lab) if e.get("request", {}).get("url", "").endswith("/oauth/v3/token")]
    assert exchanges, events(lab)
    assert exchanges[0]["action"] == "synthesised"
    assert exchanges[0]["client"].startswith("10.0.0.1:")  # the device's address inside the tunnel


def test_the_tunnel_resolves_the_proxy_names_and_nothing_else(lab):
    for name in ("api.orange.com", "orange-proxy.test", "mitm.it"):
        found = lab.exec(lab.device, "getent", "ahostsv4", name).stdout.split()
        assert found[:1] == ["198.18.0.1"], (name, found)
    # Other names go to mitmproxy's own resolver, which has no network here: they do not resolve.
    assert lab.exec(lab.device, "getent", "ahostsv4", "example.org", check=False).returncode != 0


def events(lab: Lab) -> list[dict]:
    _, status, body = curl(
        lab, "-H", f"Authorization: Bearer {CONTROL_TOKEN}", "http://orange-proxy.test/api/events"
    )
    assert status == "200", body
    return json.loads(body)["events"]


def test_the_control_page_is_reached_through_the_tunnel(lab):
    _, status, body = curl(lab, "http://orange-proxy.test/")
    assert status == "200"
    assert "<html" in body.lower()


def test_another_https_host_passes_through_with_its_own_certificate(lab):
    passes_through_with_its_own_certificate(lab)
    # The device reaches 10.98.0.1 only through the tunnel (its one route there), so the proxy passed it on.
    assert lab.exec(lab.device, "ip", "route", "get", OTHER_HOST_ADDRESS).stdout.split()[2] == TUNNEL


def test_the_client_config_is_saved_for_a_qr_code(lab):
    saved = lab.proxy.confdir / "wireguard-client.conf"
    assert saved.read_text().strip() == lab.config.strip()
    assert saved.stat().st_mode & 0o777 == 0o600  # it holds the client's private key


def test_the_device_gets_the_ca_from_mitm_it_through_the_tunnel(lab):
    _, status, body = curl(lab, "http://mitm.it/cert/pem")
    assert status == "200"
    assert body.strip() == lab.proxy.ca.read_text().strip()


def test_the_tunnel_is_really_up(lab):
    shown = lab.exec(lab.device, "wg", "show", TUNNEL, "latest-handshakes").stdout.split()
    assert len(shown) == 2 and int(shown[1]) > 0, shown  # a handshake with the proxy happened
    assert shutil.which("wg")


def test_stopping_after_tunnel_traffic_exits_0(lab):
    """Last in this file: it stops the proxy. After WireGuard traffic, mitmproxy 12's native part could crash
    the interpreter's clean-up (SIGSEGV in about 1 run of 3), which CI would take for the run's verdict."""
    curl(
        lab,
        "--cacert",
        str(lab.proxy.ca),
        "-u",
        "a:b",
        "-d",
        "grant_type=client_credentials",
        "https://api.orange.com/oauth/v3/token",
    )
    lab.proxy.process.send_signal(signal.SIGINT)
    assert lab.proxy.process.wait(timeout=20) == 0, lab.proxy.output()
