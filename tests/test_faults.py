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
from flows import CLIENT, DLV, NV, V3_TOKEN, bearer, dlv_body, lab_token, three_legged_token

from proxy_addons.integrations.standin import serving


def verify(session, token, **body):
    return session.post(DLV, headers=bearer(token), json=dlv_body(**body))


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
    faulted = [e for e in logged if e.get("fault")]
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
    revoke = f"subscription_revoked:client={CLIENT[0]},after=1,api=location-verification"
    proxy = proxy_factory("--fault", revoke)
    session = proxy.session()
    token = lab_token(session)
    assert verify(session, token).status_code == 200
    refused = verify(session, token)
    assert refused.status_code == 403
    assert refused.json() == {
        "status": 403,
        "message": f"Operation not allowed: the subscription of {CLIENT[0]} was removed",
    }
    again = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    other = lab_token(session, ("another-app", "s"))
    assert verify(session, other).status_code == 200


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
        ("teleport", "'teleport' is not one of"),
        ("latency:ms=soon", "ms: 'soon' does not match"),
        ("reset:p=2", "p: 2.0 is greater than the maximum of 1"),
        ("status", "a status fault needs code="),
        ("status:code=418,rule=nope", "no rules override is named 'nope'"),
        ("latency:ms", "expected key=value"),
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
