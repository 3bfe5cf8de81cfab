"""Faults through the real proxy: from --fault and scenario files, in synth, replay and record mode."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from conftest import orange_proxy_command, recorder, stand_in
from flows import (
    CLIENT,
    DLV,
    NV,
    PLAYGROUND_API,
    PLAYGROUND_TOKEN,
    V3_TOKEN,
    bearer,
    dlv_body,
    lab_token,
    playground_token,
    three_legged_token,
)

from proxy_addons.integrations.standin import serving

CONTROL = "http://orange-proxy.test/api"
SIM_SWAP_CHECK = PLAYGROUND_API + "/sim-swap/v1/check"
ROAMING = PLAYGROUND_API + "/device-roaming-status/v0.6/retrieve"
PLAYGROUND_NUMBER = "+990100000001"


def verify(session, token, **body):
    return session.post(DLV, headers=bearer(token), json=dlv_body(**body))


def add_fault(session, spec: str) -> dict:
    added = session.post(CONTROL + "/faults", json={"fault": spec})
    assert added.status_code == 201, added.text
    return added.json()


def check_sim_swap(session, token):
    return session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": PLAYGROUND_NUMBER})


def roaming(session, token):
    return session.post(ROAMING, headers=bearer(token), json={"device": {"phoneNumber": PLAYGROUND_NUMBER}})


def events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_token_expired_then_a_new_token_works(proxy_factory, tmp_path):
    log = tmp_path / "events.jsonl"
    proxy = proxy_factory(
        "--fault", "token_expired:after=1,api=location-verification", "--event-log", str(log)
    )
    session = proxy.session()
    token = lab_token(session)
    assert verify(session, token).status_code == 200
    expired = verify(session, token)
    assert expired.status_code == 401
    assert expired.json() == {"status": 401, "message": "Authorization failed: access token expired"}
    assert verify(session, token).status_code == 401  # still expired: a real expiry
    fresh = lab_token(session)
    assert [verify(session, fresh).status_code for _ in range(3)] == [200, 200, 200]  # fires once
    logged = events(log)
    faulted = [e for e in logged if e["type"] == "exchange" and e.get("fault")]
    assert faulted[0]["fault"][0]["fault"] == "token_expired" and faulted[0]["status"] == 401
    assert [e["action"] for e in logged if e["type"] == "exchange"][:3] == [
        "synthesised",
        "synthesised",
        "faulted",
    ]


def test_error_faults_in_each_apis_shape(proxy_factory):
    proxy = proxy_factory(
        "--fault",
        "service_unavailable:times=2,api=location-verification",
        "--fault",
        "rate_limited:api=number-verification,retry_after=7",
        "--fault",
        "invalid_input:api=oauth,operation=playground-token,times=1",
    )
    session = proxy.session()
    token = lab_token(session)
    first, second, third = (verify(session, token) for _ in range(3))
    assert first.status_code == second.status_code == 503
    assert (
        first.text == '{"code": "UNAVAILABLE", "status": 503, "message": "Service unavailable"}'
    )  # Orange's order
    assert third.status_code == 200
    code_grant = session.post(
        "https://api.orange.com/openidconnect/playground/v1.0/token",
        auth=CLIENT,
        data={"grant_type": "client_credentials"},
    )
    assert code_grant.status_code == 400 and code_grant.json()["error"] == "invalid_request"
    nv_token = three_legged_token(session, "+990123456789")
    limited = session.post(NV + "/verify", headers=bearer(nv_token), json={"phoneNumber": "+990123456789"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["code"] == "TOO_MANY_REQUESTS"


def test_subscription_revoked_refuses_api_calls_and_new_tokens(proxy_factory):
    """With no `api=`, every subscription of the client goes: its calls, and its token requests."""
    proxy = proxy_factory("--fault", f"subscription_revoked:client={CLIENT[0]},after=1")
    session = proxy.session()
    token = lab_token(session)  # the first matching request: let through
    refused = verify(session, token)
    assert refused.status_code == 403
    assert refused.json() == {
        "status": 403,
        "message": "Operation not allowed: "
        f"the subscription of {CLIENT[0]} to location-verification was removed",
    }
    again = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    playground = session.post(PLAYGROUND_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    assert playground.status_code == 401 and playground.json()["error"] == "invalid_client"
    assert roaming(session, token).status_code == 403
    other = lab_token(session, ("another-app", "s"))
    assert verify(session, other).status_code == 200


def test_subscription_revoked_for_one_api_takes_that_subscription_only(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    fault = add_fault(session, f"subscription_revoked:api=device-roaming-status,client={CLIENT[0]}")
    token = playground_token(session)
    refused = roaming(session, token)
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "FORBIDDEN",
        "message": "Operation not allowed: "
        f"the subscription of {CLIENT[0]} to device-roaming-status was removed",
    }
    assert roaming(session, token).status_code == 403  # from then on
    assert check_sim_swap(session, token).status_code == 200  # other APIs keep answering
    assert verify(session, lab_token(session)).status_code == 200
    fresh = playground_token(session)  # the token endpoint still takes the client
    assert roaming(session, fresh).status_code == 403 and check_sim_swap(session, fresh).status_code == 200
    other = playground_token(session, ("another-app", "s"))  # client= narrows who
    assert roaming(session, other).status_code == 200
    assert session.delete(f"{CONTROL}/faults/{fault['id']}").status_code == 204
    assert roaming(session, fresh).status_code == 200  # lifted with the fault


def test_only_the_fault_that_answers_is_spent(proxy_factory, tmp_path):
    """Two answer faults match: the first listed answers, the second keeps its turn for the next."""
    log = tmp_path / "events.jsonl"
    proxy = proxy_factory("--event-log", str(log), "--fault", "latency:ms=1,api=sim-swap,times=2")
    session = proxy.session()
    first = add_fault(session, "status:code=500,api=sim-swap,times=1")
    second = add_fault(session, "service_unavailable:api=sim-swap,times=1")
    token = playground_token(session)
    assert [check_sim_swap(session, token).status_code for _ in range(3)] == [500, 503, 200]
    listed = {f["fault"]: f for f in session.get(CONTROL + "/faults").json()["faults"]}
    assert {k: (f["matched"], f["fired"], f["exhausted"]) for k, f in listed.items()} == {
        "latency": (3, 2, True),  # every latency that matches fires
        "status": (3, 1, True),
        "service_unavailable": (3, 1, True),
    }
    exchanges = [
        e for e in events(log) if e["type"] == "exchange" and e["request"]["route"] == "sim-swap/check"
    ]
    latency = listed["latency"]["id"]
    assert [e.get("fault") for e in exchanges] == [
        [{"id": latency, "fault": "latency"}, {"id": first["id"], "fault": "status"}],
        [{"id": latency, "fault": "latency"}, {"id": second["id"], "fault": "service_unavailable"}],
        None,
    ]
    assert [e["action"] for e in exchanges] == ["faulted", "faulted", "synthesised"]


def test_a_body_fault_that_did_not_apply_is_not_spent(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    add_fault(session, f"subscription_revoked:api=sim-swap,client={CLIENT[0]},times=1")
    add_fault(session, "truncate:api=sim-swap,times=1")
    token = playground_token(session)
    assert check_sim_swap(session, token).status_code == 403  # the revocation's 403, whole
    assert check_sim_swap(session, token).status_code == 403  # still revoked: the fault was not removed
    listed = {f["fault"]: f for f in session.get(CONTROL + "/faults").json()["faults"]}
    assert (listed["truncate"]["matched"], listed["truncate"]["fired"]) == (2, 0)


def test_location_outdated_and_status_with_a_rule_body(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "overrides:\n  - name: teapot\n"
        "    match: {api: location-verification, operation: verify, client_id: nobody}\n"
        "    response: {status: 418, body: {status: 418, code: I_AM_A_TEAPOT, message: short and stout}}\n"
    )
    proxy = proxy_factory(
        "--rules",
        str(rules),
        "--fault",
        "location_outdated:times=1",
        "--fault",
        "status:code=418,rule=teapot,after=1,times=1,api=location-verification",
    )
    session = proxy.session()
    token = lab_token(session)
    outdated = verify(session, token)
    assert outdated.status_code == 404
    assert outdated.json() == {"status": 404, "code": "NOT_FOUND", "message": "Location outdated"}
    teapot = verify(session, token)
    assert teapot.status_code == 418 and teapot.json()["code"] == "I_AM_A_TEAPOT"


def test_latency_does_not_stall_other_requests(proxy_factory):
    proxy = proxy_factory("--fault", "latency:ms=800,api=location-verification")
    session = proxy.session()
    token = lab_token(session)
    started = time.monotonic()
    results: list[int] = []

    def call() -> None:
        results.append(verify(proxy.session(), token).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    quick_started = time.monotonic()
    assert lab_token(proxy.session())  # the token endpoint is out of scope: no wait
    quick = time.monotonic() - quick_started
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 4
    assert 0.8 <= elapsed < 3.0  # four delays overlap instead of adding up to 3.2 s
    assert quick < 0.8  # less than one delay


def test_reset_hang_and_reproducible_probability(proxy_factory):
    proxy = proxy_factory(
        "--fault",
        "reset:api=number-verification",
        "--fault",
        "hang:seconds=30,api=oauth,operation=authorize",
        "--fault",
        "service_unavailable:p=0.5,seed=7,api=location-verification",
    )
    session = proxy.session()
    with pytest.raises(requests.ConnectionError):
        session.post(NV + "/verify", json={"phoneNumber": "+990123456789"})
    with pytest.raises(requests.Timeout):
        session.get("https://api.orange.com/openidconnect/playground/v1.0/authorize", timeout=1.5)
    token = lab_token(session)
    first = [verify(session, token).status_code for _ in range(12)]
    second_proxy = proxy_factory("--fault", "service_unavailable:p=0.5,seed=7,api=location-verification")
    token = lab_token(second_proxy.session())
    second = [verify(second_proxy.session(), token).status_code for _ in range(12)]
    assert first == second  # the same seed, the same run
    assert set(first) == {200, 503}


def test_a_scenario_file(proxy_factory, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "description: after 2 verifies expire tokens; after 5 revoke the subscription\n"
        "faults:\n"
        "  - {fault: token_expired, api: location-verification, operation: verify, after: 2}\n"
        "  - {fault: subscription_revoked, api: location-verification, operation: verify, after: 5}\n"
    )
    proxy = proxy_factory("--faults", str(scenario))
    session = proxy.session()
    token = lab_token(session)
    codes = [verify(session, token).status_code for _ in range(3)]
    token = lab_token(session)
    codes += [verify(session, token).status_code for _ in range(3)]
    assert codes == [200, 200, 401, 200, 200, 403]


def test_body_faults_never_reach_the_cassette(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "real.yaml"
    server = stand_in(tls_files)
    with serving(server):
        proxy = recorder(
            proxy_factory,
            tls_files,
            server,
            cassette,
            "--fault",
            "truncate:api=location-verification",
            "--event-log",
            str(tmp_path / "events.jsonl"),
        )
        session = proxy.session()
        session.hooks["response"].clear()  # the client is meant to get a broken body here
        token = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"}).json()[
            "access_token"
        ]
        broken = verify(session, token)
        with pytest.raises(ValueError):
            broken.json()
    recorded = yaml.safe_load(cassette.read_text())["interactions"][1]["response"]["body"]["string"]
    assert json.loads(recorded)["verificationResult"] == "TRUE"
    # The event log says what happened to each: recorded, then recorded and truncated on the way out.
    logged = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["action"] for e in logged if e["type"] == "exchange"] == ["recorded", "recorded+truncate"]


def test_malformed_body_is_not_json_and_logged(proxy_factory, tmp_path):
    events = tmp_path / "events.jsonl"
    proxy = proxy_factory(
        "--fault", "malformed:api=location-verification,times=1", "--event-log", str(events)
    )
    session = proxy.session()
    session.hooks["response"].clear()  # the client is meant to get a broken body here
    token = lab_token(session)
    broken = verify(session, token)
    assert broken.status_code == 200
    assert broken.headers["Content-Type"].startswith("application/json")  # it claims to be JSON ...
    with pytest.raises(ValueError):
        broken.json()  # ... and is not
    assert int(broken.headers["Content-Length"]) == len(broken.content)
    assert verify(session, token).json()["verificationResult"] == "TRUE"  # times=1: only once
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    actions = [e["action"] for e in logged if e["type"] == "exchange"]
    assert actions == ["synthesised", "synthesised+malformed", "synthesised"]


def test_malformed_is_the_apis_own_answer_cut_by_a_gateway_page(proxy_factory):
    """On any API (here roaming), not some other API's field: the real answer's start, then HTML."""
    proxy = proxy_factory("--fault", "malformed:api=device-roaming-status,times=1")
    broken_session = proxy.session()
    broken_session.hooks["response"].clear()  # the client is meant to get a broken body here
    token = playground_token(proxy.session())
    broken = roaming(broken_session, token)
    real = roaming(proxy.session(), token)  # times=1: the next one is whole (and schema-checked)
    assert broken.status_code == real.status_code == 200
    assert real.json()["roaming"] in (True, False)
    with pytest.raises(ValueError):
        broken.json()
    half = real.content[: len(real.content) // 2]
    assert broken.content.startswith(half + b"<html>")
    assert b"<title>502 Bad Gateway</title>" in broken.content
    assert b"verificationResult" not in broken.content


def test_faults_apply_in_replay_mode(proxy_factory):
    cassette = str(
        Path(__file__).resolve().parent.parent / "cassettes" / "location-verification-success.yaml"
    )
    proxy = proxy_factory(
        "--cassette",
        cassette,
        "--fault",
        "token_expired:after=1,api=location-verification",
        subcommand="replay",
    )
    session = proxy.session()
    token = lab_token(session)
    assert verify(session, token).status_code == 200
    assert verify(session, token).status_code == 401  # the same token, now expired


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("teleport", "unknown fault 'teleport' (the kinds: token_expired, "),
        ("latency:ms=soon", "'soon' is not a number of milliseconds"),
        ("reset:p=2", "p: 2.0 is greater than the maximum of 1"),
        ("status", "a status fault needs code="),
        ("status:code=418,rule=nope", "no rules override is named 'nope'"),
        ("latency:ms", "expected key=value"),
        (
            "service_unavailable,api=kyc-match",
            "fault 'service_unavailable,api=kyc-match': write name:key=value,key=value"
            " (e.g. service_unavailable:api=kyc-match)",
        ),
        ("latency,ms=5:times=2", "(e.g. latency:ms=5,times=2)"),
    ],
)
def test_bad_faults_are_clear_errors(tmp_path, spec, message):
    result = subprocess.run(
        [*orange_proxy_command(), "--listen-port", "0", "--confdir", str(tmp_path), "--fault", spec],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_number_scope_takes_the_device_a_3_legged_token_names(proxy_factory):
    """The share request names no number: the token does, and a fault for that number fires on it."""
    proxy = proxy_factory("--fault", "service_unavailable:number=+990100000005,api=number-verification")
    session = proxy.session()
    scope = "openid number-verification:device-phone-number:read"
    mine = three_legged_token(session, "+990100000005", scope)
    other = three_legged_token(session, "+990100000006", scope)
    assert session.get(NV + "/device-phone-number", headers=bearer(other)).status_code == 200
    refused = session.get(NV + "/device-phone-number", headers=bearer(mine))
    assert refused.status_code == 503


COMMA_HINT = (
    "fault 'service_unavailable,api=kyc-match': write name:key=value,key=value"
    " (e.g. service_unavailable:api=kyc-match)"
)


def test_a_comma_for_the_colon_gets_the_same_hint_from_the_control_api_and_a_scenario(
    proxy_factory, tmp_path
):
    session = proxy_factory().session()
    for body in (
        {"fault": "service_unavailable,api=kyc-match"},
        {"fault": "service_unavailable,api=kyc-match", "times": 2},
    ):
        refused = session.post(CONTROL + "/faults", json=body)
        assert refused.status_code == 400 and refused.json() == {"error": COMMA_HINT}
    # What the hint says to write works in a structured fault too, other keys beside it.
    taken = session.post(CONTROL + "/faults", json={"fault": "service_unavailable:api=kyc-match", "times": 2})
    assert taken.status_code == 201
    assert {k: taken.json()[k] for k in ("fault", "api", "times")} == {
        "fault": "service_unavailable",
        "api": "kyc-match",
        "times": 2,
    }
    twice = session.post(CONTROL + "/faults", json={"fault": "latency:times=1", "times": 2})
    assert twice.status_code == 400 and "times is given twice" in twice.json()["error"]

    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("faults:\n  - {fault: 'service_unavailable,api=kyc-match', times: 1}\n")
    result = subprocess.run(
        [
            *orange_proxy_command(),
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path),
            "--faults",
            str(scenario),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{scenario}:2:13: {COMMA_HINT}" in result.stderr and "Traceback" not in result.stderr


def test_a_scenario_fault_may_be_written_as_a_spec(proxy_factory, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("faults:\n  - {fault: 'status:code=500,api=location-verification', times: 1}\n")
    proxy = proxy_factory("--faults", str(scenario))
    session = proxy.session()
    token = lab_token(session)
    assert [verify(session, token).status_code for _ in range(2)] == [500, 200]
