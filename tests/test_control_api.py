"""The control API on http://orange-proxy.test/api/, through the real proxy."""

from __future__ import annotations

import asyncio

import pytest
from flows import DLV, bearer, dlv_body, lab_token
from mitmproxy.test import taddons, tflow, tutils

CONTROL = "http://orange-proxy.test/api"


def test_add_a_fault_see_it_fail_remove_it_see_it_pass(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    token = lab_token(session)
    added = session.post(CONTROL + "/faults", json={"fault": "service_unavailable:api=location-verification"})
    assert added.status_code == 201
    fault = added.json()
    assert fault["fault"] == "service_unavailable" and fault["api"] == "location-verification"
    assert added.headers["Location"] == f"/api/faults/{fault['id']}"
    assert session.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 503
    listed = session.get(CONTROL + "/faults").json()["faults"]
    assert [(f["id"], f["fired"]) for f in listed] == [(fault["id"], 1)]
    assert session.delete(f"{CONTROL}/faults/{fault['id']}").status_code == 204
    assert session.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 200
    assert session.delete(f"{CONTROL}/faults/{fault['id']}").status_code == 404


def test_structured_faults_and_clearing(proxy_factory):
    session = proxy_factory().session()
    structured = session.post(CONTROL + "/faults", json={"fault": "latency", "ms": 10, "times": 2})
    assert structured.status_code == 201 and structured.json()["ms"] == 10
    assert session.post(CONTROL + "/faults", json={"fault": "reset:p=0.5"}).status_code == 201
    bad = session.post(CONTROL + "/faults", json={"fault": "teleport"})
    assert bad.status_code == 400 and "teleport" in bad.json()["error"]
    assert session.post(CONTROL + "/faults", data="not json").status_code == 400
    assert session.delete(CONTROL + "/faults").json() == {"removed": 2}
    assert session.get(CONTROL + "/faults").json() == {"faults": []}


def test_state_and_events(proxy_factory):
    proxy = proxy_factory("--fault", "rate_limited:api=oauth,operation=authorize,times=1")
    session = proxy.session()
    lab = lab_token(session)
    session.post(DLV, headers=bearer(lab), json=dlv_body())
    state = session.get(CONTROL + "/state").json()
    assert state["mode"] == "synth" and state["profile"] == "orange"
    assert [t["client_id"] for t in state["live_tokens"]] == ["my-app"]
    assert 3590 <= state["live_tokens"][0]["expires_in"] <= 3600
    assert "+33699901031" in state["known_numbers"]
    assert state["faults"][0]["fault"] == "rate_limited"
    events = session.get(CONTROL + "/events").json()["events"]
    exchanges = [e for e in events if e["type"] == "exchange"]
    assert [e["request"]["route"] for e in exchanges] == ["oauth/v3-token", "location-verification/verify"]
    assert exchanges[-1]["status"] == 200 and exchanges[-1]["action"] == "synthesised"
    newer = session.get(CONTROL + f"/events?since={exchanges[0]['seq']}").json()["events"]
    assert [e["seq"] for e in newer] == [exchanges[1]["seq"]]
    assert session.get(CONTROL + "/events?since=x").status_code == 400


def test_unknown_resources_and_methods(proxy_factory):
    session = proxy_factory().session()
    assert session.get(CONTROL + "/nothing").status_code == 404
    wrong = session.put(CONTROL + "/state")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"


def test_https_to_the_control_host_works_with_the_ca(proxy_factory):
    session = proxy_factory().session()
    assert session.get("https://orange-proxy.test/api/faults").json() == {"faults": []}


def test_a_control_token_is_required_from_everyone(proxy_factory):
    session = proxy_factory("--control-token", "s3cret-control").session()
    missing = session.get(CONTROL + "/state")
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    assert session.get(CONTROL + "/state", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        session.get(CONTROL + "/state", headers={"Authorization": "Bearer s3cret-control"}).status_code == 200
    )


@pytest.mark.parametrize(("peer", "status"), [(("10.1.2.3", 5000), 403), (("::ffff:127.0.0.1", 5000), 200)])
def test_only_loopback_clients_without_a_token(peer, status):
    from proxy_addons.addons import default_addons

    async def main() -> int:
        addons = default_addons()
        with taddons.context(*addons):
            flow = tflow.tflow(
                req=tutils.treq(host="orange-proxy.test", port=80, scheme=b"http", path=b"/api/faults")
            )
            flow.client_conn.peername = peer
            control = next(a for a in addons if a.name == "orange_control")
            control.request(flow)
            return flow.response.status_code

    assert asyncio.run(main()) == status


def test_cross_site_pages_cannot_change_faults(proxy_factory):
    """A web page the tester visits through the proxy must not switch faults (its fetch carries Origin)."""
    session = proxy_factory().session()
    evil = {"Origin": "https://evil.example"}
    refused = session.post(CONTROL + "/faults", json={"fault": "hang"}, headers=evil)
    assert refused.status_code == 403 and "evil.example" in refused.json()["error"]
    assert session.delete(CONTROL + "/faults", headers={"Origin": "null"}).status_code == 403
    assert session.get(CONTROL + "/faults").json() == {"faults": []}
    own = session.post(
        CONTROL + "/faults", json={"fault": "hang"}, headers={"Origin": "http://orange-proxy.test"}
    )
    assert own.status_code == 201


def test_the_page_is_served_with_a_strict_policy(proxy_factory):
    page = proxy_factory().session().get("http://orange-proxy.test/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<title>orange-proxy control</title>" in page.text


def test_head_answers_carry_no_body_and_the_connection_survives(proxy):
    """A body after a HEAD answer would be read as the start of the next answer on the connection."""
    import http.client

    connection = http.client.HTTPConnection(*proxy.url.removeprefix("http://").split(":"))
    try:
        for path in ("http://orange-proxy.test/", "http://orange-proxy.test/api/state"):
            connection.request("HEAD", path)
            head = connection.getresponse()
            assert head.status == 200 and head.read() == b""
            assert int(head.headers["Content-Length"]) > 100
            connection.request("GET", "http://orange-proxy.test/api/faults")
            after = connection.getresponse()
            assert after.status == 200 and after.read().startswith(b'{"faults"')
    finally:
        connection.close()


def test_odd_since_values_are_refused(proxy):
    session = proxy.session()
    for since in ("²", "-1", "1e3", "٣"):
        answer = session.get(CONTROL + "/events", params={"since": since})
        assert answer.status_code == 400, since
