"""The control page's polling (GET /api/state and /api/events every 1.5 s) stays out of flow files and
HAR written by `orange-proxy`, unless the user sets a save_stream_filter of their own; what a tester
does on the page (adding a fault) and the app's exchanges stay in."""

from __future__ import annotations

import json

from flows import DLV, V3_TOKEN, bearer, dlv_body
from mitmproxy import io as mitmproxy_io

CONTROL = "http://orange-proxy.test"


def session_of_a_tester(proxy) -> None:
    session = proxy.session()
    for _ in range(3):  # what the open page does
        assert session.get(f"{CONTROL}/api/state").status_code == 200
        assert session.get(f"{CONTROL}/api/events?since=0").status_code == 200
    assert session.post(f"{CONTROL}/api/faults", json={"fault": "latency:ms=1"}).status_code == 201
    token = session.post(V3_TOKEN, auth=("a", "b"), data={"grant_type": "client_credentials"})
    assert session.post(DLV, headers=bearer(token.json()["access_token"]), json=dlv_body()).status_code == 200
    session.close()
    proxy.stop()


def urls_in_flow_file(path) -> list[tuple[str, str]]:
    with open(path, "rb") as file:
        return [(f.request.method, f.request.pretty_url) for f in mitmproxy_io.FlowReader(file).stream()]


def test_polling_is_left_out_of_flow_files_and_har(proxy_factory, tmp_path):
    flows, har = tmp_path / "session.mitm", tmp_path / "session.har"
    proxy = proxy_factory("--set", f"save_stream_file={flows}", "--set", f"hardump={har}")
    session_of_a_tester(proxy)
    expected = [("POST", f"{CONTROL}/api/faults"), ("POST", V3_TOKEN), ("POST", DLV)]
    assert urls_in_flow_file(flows) == expected
    entries = json.loads(har.read_text())["log"]["entries"]
    assert [(e["request"]["method"], e["request"]["url"]) for e in entries] == expected


def test_a_filter_of_the_users_own_wins(proxy_factory, tmp_path):
    flows = tmp_path / "everything.mitm"
    proxy = proxy_factory("--set", f"save_stream_file={flows}", "--set", "save_stream_filter=")
    session_of_a_tester(proxy)
    saved = urls_in_flow_file(flows)
    assert saved.count(("GET", f"{CONTROL}/api/state")) == 3
    assert ("POST", DLV) in saved
