"""What a fault leaves behind, through the real proxy and real clients: a hung or delayed request the
client gave up on is still an exchange (request line, event log, control page, summary)."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time

import pytest
from flows import PLAYGROUND_API, V3_TOKEN, bearer, playground_token
from mitmproxy import io as mitmproxy_io
from mitmproxy.utils.emoji import emoji

CONTROL = "http://orange-proxy.test/api"
SIM_SWAP_CHECK = PLAYGROUND_API + "/sim-swap/v1/check"
PLAYGROUND_NUMBER = "+990100000001"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    # mitmdump cuts URLs to the terminal's width at flow_detail 1; the proxies started here inherit this.
    monkeypatch.setenv("COLUMNS", "300")


def add_fault(session, spec: str) -> dict:
    added = session.post(CONTROL + "/faults", json={"fault": spec})
    assert added.status_code == 201, added.text
    return added.json()


def curl_giving_up(proxy, token: str, seconds: int) -> int:
    """curl -m `seconds` on a sim-swap check; returns curl's exit status (28: it timed out)."""
    result = subprocess.run(
        [
            "curl", "-sS", "-m", str(seconds), "--proxy", proxy.url, "--noproxy", "",
            "--cacert", str(proxy.ca),
            "-H", f"Authorization: Bearer {token}",
            "--json", json.dumps({"phoneNumber": PLAYGROUND_NUMBER}),
            SIM_SWAP_CHECK,
        ],
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return result.returncode


def exchanges(session) -> list[dict]:
    logged = session.get(CONTROL + "/events", params={"since": 0}).json()["events"]
    return [e for e in logged if e["type"] == "exchange" and e["request"]["route"] == "sim-swap/check"]


def wait_for(condition, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    return condition()


def test_a_hung_request_the_client_gave_up_on_is_an_exchange(proxy_factory, tmp_path):
    log = tmp_path / "events.jsonl"
    proxy = proxy_factory("--event-log", str(log))
    session = proxy.session()
    token = playground_token(session, scope="sim-swap:check")
    add_fault(session, "hang:times=1")
    started = time.monotonic()
    assert curl_giving_up(proxy, token, 2) == 28  # curl's "operation timed out"
    assert time.monotonic() - started < 10
    hung = wait_for(lambda: exchanges(session))
    assert len(hung) == 1, hung
    event = hung[0]
    assert event["action"] == "faulted"
    assert [f["fault"] for f in event["fault"]] == ["hang"]
    assert event["error"].startswith("client gave up after "), event
    assert 1.5 <= float(event["error"].removeprefix("client gave up after ").split()[0]) < 5
    on_file = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e.get("error", "").startswith("client gave up") for e in on_file)
    # The next request is answered: the fault fired once and the proxy is not stuck.
    answered = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": PLAYGROUND_NUMBER})
    assert answered.status_code == 200
    lines = [line for line in proxy.output().splitlines() if "client gave up" in line]
    assert lines and "[orange-proxy: faulted; fault hang" in lines[0], proxy.output()
    assert "sim-swap/v1/check" in proxy.output().split(lines[0])[0].splitlines()[-1]  # its request line
    proxy.stop()
    summary = proxy.output().split("summary (synth")[1]
    assert "exchanges: 3 (" in summary, summary  # the token, the hung check, the answered check
    assert "faulted 1)" in summary, summary


def test_a_delayed_request_the_client_gave_up_on_is_an_exchange(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    token = playground_token(session, scope="sim-swap:check")
    add_fault(session, "latency:ms=20000,times=1")
    started = time.monotonic()
    assert curl_giving_up(proxy, token, 1) == 28
    hung = wait_for(lambda: exchanges(session), 3.0)
    assert time.monotonic() - started < 6  # logged when the client left, not 20 s later
    assert len(hung) == 1, hung
    assert hung[0]["action"] == "faulted" and [f["fault"] for f in hung[0]["fault"]] == ["latency"]
    assert hung[0]["error"].startswith("client gave up after ")


# Marks on flows that are not answered by us -----------------------------------------------------------


def test_plain_http_to_another_host_is_marked_passed_through(proxy_factory, tmp_path):
    """`passed-through` → 🌐 and a comment, as README's table says, for another host's plain HTTP too."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dump = tmp_path / "flows.mitm"
        proxy = proxy_factory("--set", f"save_stream_file={dump}")
        session = proxy.session()
        answer = session.get(f"http://127.0.0.1:{server.server_address[1]}/hello")
        assert answer.status_code == 200 and answer.text == "hello"
        session.close()
        proxy.stop()
    finally:
        server.shutdown()
    [flow] = read_flows(dump)
    assert flow.comment == "orange-proxy: passed-through"
    assert flow.marked == ":globe_with_meridians:"


def test_a_forward_the_upstream_did_not_answer_has_a_marker(proxy_factory, tmp_path):
    from proxy_addons.addons.answer import UPSTREAM_FAILED
    from proxy_addons.addons.console import MARKERS

    assert MARKERS[UPSTREAM_FAILED] == ":warning:" and ":warning:" in emoji
    with socket.socket() as probe:  # a port nothing listens on: the upstream refuses
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dump = tmp_path / "flows.mitm"
    proxy = proxy_factory(
        "--cassette", str(tmp_path / "new.yaml"), "--upstream", f"https://127.0.0.1:{port}",
        "--set", f"save_stream_file={dump}", subcommand="record",
    )  # fmt: skip
    session = proxy.session()
    session.hooks["response"].clear()  # the 502 is mitmproxy's own page, not an API answer
    session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    session.close()
    proxy.stop()
    flows = read_flows(dump)
    assert flows and flows[0].marked == ":warning:", [(f.comment, f.marked) for f in flows]
    assert flows[0].comment.startswith("orange-proxy: upstream-failed oauth/v3-token")


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args) -> None:  # quiet
        pass


def read_flows(path) -> list:
    with open(path, "rb") as file:
        return list(mitmproxy_io.FlowReader(file).stream())
