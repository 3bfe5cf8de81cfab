"""Which rules override answered, through the real proxy: the answer's headers, the request line, the
flow's comment and metadata (kept by a flow file), and the event log name the rule, as WireMock names the
stub that matched; an override's error answer carries the reason header every error carries."""

from __future__ import annotations

import json

import pytest
from flows import PLAYGROUND_API, bearer, playground_token
from mitmproxy import io as mitmproxy_io

from proxy_addons.simulator.errors import REASON_HEADER

SIM_SWAP_CHECK = PLAYGROUND_API + "/sim-swap/v1/check"
OUTAGE = "+33687654321"
RULES = f"""
overrides:
  - name: sim-swap-outage
    match: {{api: sim-swap, operation: check, phone_number: "{OUTAGE}"}}
    response:
      status: 503
      headers: {{Retry-After: 30}}
      body: {{status: 503, code: UNAVAILABLE, message: Service unavailable}}
  - name: always-swapped
    match: {{api: sim-swap, operation: check, phone_number: "+33611111111"}}
    response:
      status: 200
      body: {{swapped: true}}
"""


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    # mitmdump cuts URLs to the terminal's width at flow_detail 1; the proxies started here inherit this.
    monkeypatch.setenv("COLUMNS", "300")


def read_flows(path) -> list:
    with open(path, "rb") as file:
        return list(mitmproxy_io.FlowReader(file).stream())


def test_an_override_names_its_rule_everywhere(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    log, dump = tmp_path / "events.jsonl", tmp_path / "flows.mitm"
    proxy = proxy_factory("--rules", str(rules), "--event-log", str(log), "--set", f"save_stream_file={dump}")
    session = proxy.session()
    token = playground_token(session, scope="sim-swap:check")
    outage = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": OUTAGE})
    assert outage.status_code == 503 and outage.headers["retry-after"] == "30"
    assert outage.headers["x-orange-proxy-override"] == "sim-swap-outage"
    reason = outage.headers[REASON_HEADER]
    assert "sim-swap-outage" in reason and "rules.yaml:" in reason, reason
    swapped = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": "+33611111111"})
    assert swapped.status_code == 200 and swapped.json() == {"swapped": True}
    assert swapped.headers["x-orange-proxy-override"] == "always-swapped"
    assert REASON_HEADER not in swapped.headers  # no error, no reason
    plain = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": "+990100000001"})
    assert plain.status_code == 200 and "x-orange-proxy-override" not in plain.headers
    session.close()
    proxy.stop()

    lines = [line for line in proxy.output().splitlines() if "<< " in line]
    assert "[orange-proxy: synthesised; override sim-swap-outage; UNAVAILABLE: " in lines[1], lines
    assert "[orange-proxy: synthesised; override always-swapped]" in lines[2], lines
    assert "override" not in lines[3], lines

    events = [json.loads(line) for line in log.read_text().splitlines()]
    checks = [e for e in events if e["type"] == "exchange" and e["request"]["route"] == "sim-swap/check"]
    assert [e.get("override") for e in checks] == ["sim-swap-outage", "always-swapped", None]
    assert "sim-swap-outage" in checks[0]["reason"]

    flows = [f for f in read_flows(dump) if f.request.path.endswith("/check")]
    assert [f.metadata.get("orange.override") for f in flows] == ["sim-swap-outage", "always-swapped", None]
    assert flows[0].comment.startswith("orange-proxy: synthesised sim-swap/check; override sim-swap-outage; ")
    assert flows[1].comment == "orange-proxy: synthesised sim-swap/check; override always-swapped"


def test_a_status_fault_with_a_rules_body_names_the_rule(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    fault = "status:code=503,rule=sim-swap-outage,api=sim-swap,times=1"
    proxy = proxy_factory("--rules", str(rules), "--fault", fault)
    session = proxy.session()
    token = playground_token(session, scope="sim-swap:check")
    faulted = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": "+990100000001"})
    assert faulted.status_code == 503 and faulted.headers["x-orange-proxy-override"] == "sim-swap-outage"
    session.close()
    proxy.stop()
    line = next(line for line in proxy.output().splitlines() if "<< 503" in line)
    assert "faulted; fault status; override sim-swap-outage" in line, line
