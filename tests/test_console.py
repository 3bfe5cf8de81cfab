"""The `orange-proxy` console: the ready line (addresses a client can type, the CA, mitm.it, the control
page) and mitmdump's request lines with what the proxy did, `flow_detail`, `termlog_verbosity`,
`--quiet`."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from conftest import READY
from flows import CLIENT, DLV, NV, V3_TOKEN, bearer, dlv_body

SAMPLE = Path(__file__).resolve().parent.parent / "cassettes" / "location-verification-success.yaml"


def ready_line(proxy) -> str:
    return next(line for line in proxy.output().splitlines() if " ready: " in line)


def token_call(session):
    return session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    # mitmdump cuts URLs to the terminal's width at flow_detail 1; the proxies started here inherit this.
    monkeypatch.setenv("COLUMNS", "300")


# The ready line --------------------------------------------------------------------------------


def test_the_ready_line_names_the_ca_mitm_it_and_the_control_page(proxy_factory):
    proxy = proxy_factory("--confdir", "relative-confdir")  # relative to the proxy's working directory
    line = ready_line(proxy)
    ca = READY.search(line)["ca"]
    assert Path(ca).is_absolute(), line
    assert Path(ca).is_file() and Path(ca).parent.name == "relative-confdir"
    assert "http://mitm.it" in line
    assert "control page http://orange-proxy.test/" in line


def test_reverse_mode_lists_its_address_once(proxy_factory):
    proxy = proxy_factory("--mode", "reverse:https://api.orange.com")
    line = ready_line(proxy)
    port = READY.search(line)["port"]
    assert line.count(f"127.0.0.1:{port}") == 1, line
    assert "reverse proxy to https://api.orange.com" in line


def test_listening_on_every_interface_shows_addresses_a_phone_can_type(proxy_factory):
    proxy = proxy_factory("--listen-host", "0.0.0.0")
    line = ready_line(proxy)
    assert "0.0.0.0" not in line, line
    match = READY.search(line)
    assert match["host"] == "127.0.0.1"  # the first address works from this machine
    addresses = re.findall(r"http://([\d.]+):" + match["port"], line.split(";")[0])
    assert addresses[0] == "127.0.0.1"
    for address in addresses[1:]:
        # Each is an address of this machine: it can be bound, and the proxy answers on it.
        with socket.socket() as probe:
            probe.bind((address, 0))
        with socket.create_connection((address, int(match["port"])), timeout=5):
            pass
    assert token_call(proxy.session()).status_code == 200


def test_a_wireguard_endpoint_is_shown_as_udp(proxy_factory):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = proxy_factory("--mode", "regular", "--mode", f"wireguard@{port}")
    line = ready_line(proxy)
    assert READY.search(line)  # the HTTP proxy still comes first
    assert f"WireGuard udp://127.0.0.1:{port}" in line, line
    assert f"http://127.0.0.1:{port}" not in line


# Request lines ---------------------------------------------------------------------------------


def test_request_lines_say_what_answered_and_why_an_error(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    assert token_call(session).status_code == 200
    refused = session.post(
        NV + "/verify", headers=bearer("not-a-token"), json={"phoneNumber": "+33699901031"}
    )
    assert refused.status_code == 401
    proxy.stop()
    output = proxy.output()
    assert re.search(
        r"127\.0\.0\.1:\d+: POST " + re.escape(V3_TOKEN) + r"\b.*\n\s*<< .*200 OK \d+b "
        r"\[orange-proxy: synthesised\]",
        output,
    ), output
    reason = f"{refused.json()['code']}: {refused.json()['message']}"
    assert f"401 Unauthorized {len(refused.content)}b [orange-proxy: synthesised; {reason}]" in output


def test_request_lines_mark_replayed_missed_and_faulted_answers(proxy_factory):
    proxy = proxy_factory(
        "--cassette",
        str(SAMPLE),
        "--fault",
        "service_unavailable:times=1,api=location-verification",
        subcommand="replay",
    )
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert session.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 503
    miss = session.post(DLV, headers=bearer(token), json=dlv_body(number="33699901032"))
    assert miss.status_code == 502
    proxy.stop()
    output = proxy.output()
    assert "200 OK" in output and "[orange-proxy: replayed]" in output
    assert "<< HTTP/1.1 503" not in output  # answered in the request's HTTP version
    assert re.search(
        r"(?i)<< 503 Service Unavailable \d+b \[orange-proxy: faulted; fault service_unavailable", output
    )
    assert (
        "[orange-proxy: replay-miss; no recorded interaction matches; nearest recorded request #2 differs in "
        'body.device.phoneNumber: recorded "33699901031" received "33699901032"]'
    ) in output


def test_the_control_pages_own_traffic_is_not_printed(proxy_factory):
    proxy = proxy_factory()
    assert proxy.session().get("http://orange-proxy.test/api/events").status_code == 200
    assert token_call(proxy.session()).status_code == 200
    proxy.stop()
    output = proxy.output()
    assert "orange-proxy.test" not in output.replace("control page http://orange-proxy.test/", "")
    assert "oauth/v3/token" in output


def test_flow_detail_is_mitmdumps(proxy_factory):
    """--set flow_detail was refused before: mitmproxy's dumper was not there."""
    proxy = proxy_factory("--set", "flow_detail=2")
    assert token_call(proxy.session()).status_code == 200
    proxy.stop()
    output = proxy.output()
    assert "[orange-proxy: synthesised]" in output
    assert re.search(r"(?i)content-type: application/json", output)  # level 2 adds the headers


def test_flow_detail_0_prints_no_request_line(proxy_factory):
    proxy = proxy_factory("--set", "flow_detail=0")
    assert token_call(proxy.session()).status_code == 200
    proxy.stop()
    assert "oauth/v3/token" not in proxy.output()
    assert "summary (synth)" in proxy.output()


def test_termlog_verbosity_hides_info_lines_not_request_lines(proxy_factory):
    proxy = proxy_factory("--set", "termlog_verbosity=warn")
    assert token_call(proxy.session()).status_code == 200
    proxy.stop()
    output = proxy.output()
    assert "[orange-proxy: synthesised]" in output
    assert "summary (synth)" not in output
    assert "listening at" not in output


def test_quiet_keeps_only_the_ready_line_and_problems(proxy_factory):
    proxy = proxy_factory("--quiet", "--cassette", str(SAMPLE), subcommand="replay")
    session = proxy.session()
    token = token_call(session).json()["access_token"]
    assert session.post(DLV, headers=bearer(token), json=dlv_body(number="33699901032")).status_code == 502
    proxy.stop()
    output = proxy.output()
    assert proxy.process.returncode == 1
    assert " ready: proxy http://" in output
    assert "oauth/v3/token" not in output and "summary" not in output
    assert "exit status 1" in output  # the verdict is an error: said even when quiet
