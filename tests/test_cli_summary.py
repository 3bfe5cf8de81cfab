"""What `orange-proxy` says of a run: every path it prints is absolute, and plain HTTP to other hosts,
forwarded untouched, is said on the console, logged in the event log and counted at exit."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import recorder
from flows import CLIENT, V3_TOKEN

from proxy_addons.resources import default_rules_path


def token_call(session):
    return session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})


def stopped(proxy) -> tuple[int, str]:
    proxy.stop()
    return proxy.process.returncode, proxy.output()


# 2. A relative --cassette is printed absolute ------------------------------------------------------


def test_a_relative_cassette_is_named_absolute_in_every_line(proxy_factory, tls_files, standin):
    proxy = recorder(proxy_factory, tls_files, standin, Path("relative.yaml"))
    written = proxy.log.parent / "relative.yaml"  # the proxy runs in its own directory
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert written.is_file()
    assert f"cassette {written} (0 interactions, new)" in output  # at start
    assert f"summary (record, cassette {written}):" in output
    assert f"files written: {written} (1 new interaction(s))" in output
    assert " relative.yaml" not in output


def test_relative_rules_files_are_named_absolute_at_start(proxy_factory, tmp_path):
    rules = tmp_path / "lab.yaml"
    rules.write_text('numbers:\n  "+33612345678": {location: {latitude: 43.6, longitude: 1.44}}\n')
    # The proxy runs in a directory of its own beside tmp_path: reach the file relative to it.
    proxy = proxy_factory("--rules", f"../{tmp_path.name}/lab.yaml")
    # The installed package's default rules (site-packages in CI, the source tree in an editable install).
    assert f"rules {default_rules_path()}, " in proxy.output()
    assert f", {rules}" in proxy.output()


# 3. Plain HTTP to another host: passed through untouched, and said so -------------------------------


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers with what it received, so a test sees the request arrived untouched."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "x-app": self.headers.get("x-app")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def other_host() -> Iterator[str]:
    """A plain-HTTP server on 127.0.0.1 (no test reaches an outside host): another host to the proxy."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_to_another_host_is_passed_through_logged_and_counted(proxy_factory, other_host, tmp_path):
    events = tmp_path / "events.jsonl"
    # A fault on every API exchange: the other host's answer must not be touched by it.
    proxy = proxy_factory("--event-log", str(events), "--fault", "service_unavailable:times=5")
    session = proxy.session()
    answer = session.get(f"{other_host}/hello?x=1", headers={"x-app": "demo"})
    assert answer.status_code == 200
    assert answer.json() == {"path": "/hello?x=1", "x-app": "demo"}  # the server's own answer
    assert token_call(session).status_code == 503  # one exchange of ours, faulted
    status, output = stopped(proxy)
    assert status == 0, output
    assert f"GET {other_host}/hello?x=1" in output
    assert "[orange-proxy: passed-through]" in output  # the console line
    assert "exchanges: 1 (synthesised 0, replayed 0, recorded 0, forwarded 0, missed 0, faulted 1)" in output
    assert "passed through untouched (other hosts, plain HTTP): 1" in output
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    exchanges = [e for e in logged if e["type"] == "exchange"]
    assert [e["action"] for e in exchanges] == ["passed-through", "faulted"]
    passed = exchanges[0]
    assert passed["request"] == {"method": "GET", "url": f"{other_host}/hello?x=1", "route": None}
    assert passed["status"] == 200
    assert "fault" not in passed
    assert set(passed) >= {"seq", "time", "client", "duration_ms"}  # the format of every exchange


def test_a_passed_through_request_that_fails_is_logged_with_its_error(proxy_factory, tmp_path):
    events = tmp_path / "events.jsonl"
    proxy = proxy_factory("--event-log", str(events))
    # A port nobody listens on: the proxy cannot connect, and says so.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    assert proxy.session().get(dead).status_code == 502
    status, output = stopped(proxy)
    assert status == 0, output
    assert "passed through untouched (other hosts, plain HTTP): 1" in output
    (event,) = [json.loads(line) for line in events.read_text().splitlines()]
    assert event["action"] == "passed-through"
    assert "error" in event and event["request"]["url"] == dead


def test_the_summary_says_0_when_nothing_passed_through(proxy_factory):
    proxy = proxy_factory()
    assert token_call(proxy.session()).status_code == 200
    status, output = stopped(proxy)
    assert status == 0, output
    assert "passed through untouched (other hosts, plain HTTP): 0" in output
    assert "exchanges: 1 (synthesised 1," in output
