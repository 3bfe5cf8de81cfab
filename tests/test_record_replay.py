"""Recording through the real proxy against a local HTTPS stand-in of api.orange.com, and replaying the
cassette: through the proxy with the stand-in gone, and in-process with vcrpy + requests / + httpx."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
import yaml
from conftest import recorder, stand_in
from flows import AUTHORIZE, CLIENT, DLV, NV, PLAYGROUND_TOKEN, REDIRECT, V3_TOKEN, bearer, dlv_body

from proxy_addons.integrations.standin import serving
from proxy_addons.integrations.vcr import orange_vcr

SCOPE = "openid number-verification:verify number-verification:device-phone-number:read"


def app_flow(session: requests.Session) -> list[tuple[int, object]]:
    """What an app does with both APIs; returns (status, JSON body or Location) per call."""
    seen: list[tuple[int, object]] = []
    token = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    seen.append((token.status_code, sorted(token.json())))
    lab = token.json()["access_token"]
    for body in (dlv_body(), dlv_body(lat=45.764, lon=4.8357)):
        answer = session.post(DLV, headers=bearer(lab), json=body)
        seen.append((answer.status_code, answer.json()))
    authorize = session.get(
        AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": CLIENT[0],
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": "s1",
            "login_hint": "tel:+990123456789",
        },
        allow_redirects=False,
    )
    seen.append((authorize.status_code, sorted(parse_qs(urlsplit(authorize.headers["Location"]).query))))
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    exchange = session.post(
        PLAYGROUND_TOKEN,
        auth=CLIENT,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
    )
    seen.append((exchange.status_code, sorted(exchange.json())))
    access = exchange.json()["access_token"]
    verify = session.post(NV + "/verify", headers=bearer(access), json={"phoneNumber": "+990123456789"})
    seen.append((verify.status_code, verify.json()))
    share = session.get(NV + "/device-phone-number", headers=bearer(access))
    seen.append((share.status_code, share.json()))
    return seen


def test_record_then_replay_through_the_proxy_with_the_stand_in_gone(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "flow.yaml"
    server = stand_in(tls_files)
    with serving(server):
        recording = recorder(proxy_factory, tls_files, server, cassette)
        recorded = app_flow(recording.session())
        assert len(server.requests) == 7  # everything went upstream
    assert [status for status, _ in recorded] == [200, 200, 200, 302, 200, 200, 200]
    assert recorded[1][1]["verificationResult"] == "TRUE" and recorded[2][1]["verificationResult"] == "FALSE"

    data = yaml.safe_load(cassette.read_text())
    assert data["version"] == 1
    assert len(data["interactions"]) == 7
    first = data["interactions"][0]
    assert first["request"]["uri"] == V3_TOKEN  # the original URI, not the stand-in's
    assert set(first["request"]) == {"method", "uri", "body", "headers"}
    assert all(isinstance(v, list) for v in first["response"]["headers"].values())
    assert first["orange_proxy"]["schema"]["valid"] is True

    # The stand-in is gone; replay answers everything, identically.
    replaying = proxy_factory("--cassette", str(cassette), subcommand="replay")
    assert app_flow(replaying.session()) == recorded


def test_replay_in_process_with_vcrpy_requests_and_httpx(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "library" / "flow.yaml"
    recorded = app_flow(recorder(proxy_factory, tls_files, standin, cassette).session())
    vcr = orange_vcr(cassette_library_dir=str(cassette.parent))

    with vcr.use_cassette("flow.yaml") as played:
        session = requests.Session()
        session.trust_env = False
        assert app_flow(session) == recorded
    assert played.play_count == 7

    with vcr.use_cassette("flow.yaml"), httpx.Client(trust_env=False) as client:
        token = client.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
        assert token.status_code == 200
        answer = client.post(DLV, headers=bearer(token.json()["access_token"]), json=dlv_body())
        assert answer.json() == recorded[1][1]


def test_a_cassette_vcrpy_recorded_is_served_by_the_proxy_to_curl(proxy_factory, tls_files, tmp_path):
    """Plain vcrpy + requests record straight from a gzip-encoding stand-in; vcrpy keeps
    `Content-Encoding: gzip` beside the decoded body. The proxy serves that cassette to curl."""
    import vcr as vcrpy

    server = stand_in(tls_files, gzip=True)
    with serving(server):
        base = server.url
        with vcrpy.VCR(record_mode="once").use_cassette(str(tmp_path / "vcrpy.yaml")):
            session = requests.Session()
            session.trust_env = False
            session.verify = str(tls_files[0])
            token = session.post(
                base + "/oauth/v3/token", auth=CLIENT, data={"grant_type": "client_credentials"}
            )
            verified = session.post(
                base + "/camara/location-verification/orange-lab/v0/verify",
                headers=bearer(token.json()["access_token"]),
                json=dlv_body(),
            )
    assert verified.json()["verificationResult"] == "TRUE"
    recorded = yaml.safe_load((tmp_path / "vcrpy.yaml").read_text())["interactions"][1]["response"]
    assert recorded["headers"]["Content-Encoding"] == ["gzip"]  # the vcrpy quirk this test is about
    assert json.loads(recorded["body"]["string"]) == verified.json()  # ...with a body that is not gzip

    host = urlsplit(base).netloc
    replaying = proxy_factory(
        "--cassette", str(tmp_path / "vcrpy.yaml"), "--intercept-host", host, subcommand="replay"
    )
    status, headers, body = replaying.curl(
        "-X",
        "POST",
        base + "/camara/location-verification/orange-lab/v0/verify",
        "-H",
        "Authorization: Bearer whatever",
        "-H",
        "Content-Type: application/json",
        "--compressed",
        "-d",
        json.dumps(dlv_body()),
    )
    assert status == 200
    assert json.loads(body) == verified.json()
    assert "content-encoding" not in headers
    assert headers["content-length"] == str(len(body))


def test_gzip_upstream_answers_are_stored_uncompressed(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "gzip.yaml"
    server = stand_in(tls_files, gzip=True)
    with serving(server):
        session = recorder(proxy_factory, tls_files, server, cassette).session()
        session.headers["Accept-Encoding"] = "gzip"
        token = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
        assert token.status_code == 200
    response = yaml.safe_load(cassette.read_text())["interactions"][0]["response"]
    names = {name.lower() for name in response["headers"]}
    assert "content-encoding" not in names
    body = response["body"]["string"]
    assert isinstance(body, str)  # text, not !!binary
    assert json.loads(body)["token_type"] == "Bearer"
    length = next(v for k, v in response["headers"].items() if k.lower() == "content-length")
    assert length == [str(len(body.encode()))]
    # Replays in vcrpy with requests and with httpx alike.
    vcr = orange_vcr(cassette_library_dir=str(tmp_path))
    with vcr.use_cassette("gzip.yaml"):
        replayed = requests.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
        assert replayed.json()["token_type"] == "Bearer"
    with vcr.use_cassette("gzip.yaml"), httpx.Client(trust_env=False) as client:
        answer = client.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
        assert answer.json()["token_type"] == "Bearer"


# Record modes ----------------------------------------------------------------------------------------


def token_call(session) -> requests.Response:
    return session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})


def verify_call(session, token: str, **body) -> requests.Response:
    return session.post(DLV, headers=bearer(token), json=dlv_body(**body))


def test_record_mode_once(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "once.yaml"
    first = recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", "once").session()
    token_call(first)
    assert len(standin.requests) == 1
    # The cassette exists now: a second proxy in `once` mode only replays.
    second = recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", "once").session()
    assert token_call(second).status_code == 200
    miss = verify_call(second, "x")
    assert miss.status_code == 502
    assert len(standin.requests) == 1
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 1


def test_record_mode_new_episodes(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "episodes.yaml"
    token_call(recorder(proxy_factory, tls_files, standin, cassette).session())
    again = recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", "new_episodes").session()
    replayed = token_call(again).json()["access_token"]
    assert replayed == "SCRUBBED-ACCESS-TOKEN-0001"  # from the cassette (scrubbed), not forwarded
    assert len(standin.requests) == 1
    assert verify_call(again, replayed).status_code == 401  # forwarded: the stand-in never issued that token
    assert len(standin.requests) == 2
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    assert [i["response"]["status"]["code"] for i in interactions] == [200, 401]


def test_record_mode_all(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "all.yaml"
    for _ in range(2):
        token_call(recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", "all").session())
    assert len(standin.requests) == 2
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 2


def test_record_mode_none_never_forwards(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "none.yaml"
    token_call(recorder(proxy_factory, tls_files, standin, cassette).session())
    frozen = recorder(proxy_factory, tls_files, standin, cassette, "--record-mode", "none").session()
    assert token_call(frozen).status_code == 200
    assert verify_call(frozen, "t").status_code == 502
    assert len(standin.requests) == 1


# Miss policies and ordering ----------------------------------------------------------------------------


@pytest.fixture
def token_cassette(proxy_factory, tls_files, standin, tmp_path) -> Path:
    cassette = tmp_path / "token.yaml"
    session = recorder(proxy_factory, tls_files, standin, cassette).session()
    token = token_call(session).json()["access_token"]
    verify_call(session, token)
    standin.requests.clear()
    return cassette


def test_miss_policy_error_names_the_differing_field(proxy_factory, token_cassette):
    session = proxy_factory("--cassette", str(token_cassette), subcommand="replay").session()
    token = token_call(session).json()["access_token"]
    miss = verify_call(session, token, number="33699901032")
    assert miss.status_code == 502
    assert miss.json()["code"] == "REPLAY_MISS"
    reason = miss.headers["x-orange-proxy-replay-miss"]
    assert "body.device.phoneNumber" in reason
    assert "33699901031" in reason and "33699901032" in reason
    assert "replay miss" in miss.json()["message"]


def test_miss_policy_passthrough(proxy_factory, tls_files, standin, token_cassette):
    session = proxy_factory(
        "--cassette",
        str(token_cassette),
        "--miss",
        "passthrough",
        "--upstream",
        standin.url,
        "--upstream-ca",
        str(tls_files[0]),
        subcommand="replay",
    ).session()
    token = token_call(session).json()["access_token"]
    assert standin.requests == []  # a hit never leaves the machine
    other = verify_call(session, token, number="33699901032")
    assert other.status_code == 401  # the stand-in answered: it never issued the placeholder token
    assert len(standin.requests) == 1
    assert len(yaml.safe_load(token_cassette.read_text())["interactions"]) == 2  # replay mode never records


def test_miss_policy_synth(proxy_factory, token_cassette):
    session = proxy_factory(
        "--cassette", str(token_cassette), "--miss", "synth", subcommand="replay"
    ).session()
    assert token_call(session).json()["access_token"].startswith("SCRUBBED-")  # replayed
    # Not in the cassette (another body): the synthesiser answers, with a token of its own.
    fresh = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials", "scope": "openid"})
    assert fresh.status_code == 200
    assert not fresh.json()["access_token"].startswith("SCRUBBED")


def test_identical_requests_are_answered_in_recorded_order(proxy_factory, tls_files, tmp_path):
    cassette = tmp_path / "order.yaml"
    server = stand_in(tls_files, token_lifetime=1)
    with serving(server):
        session = recorder(proxy_factory, tls_files, server, cassette).session()
        token = token_call(session).json()["access_token"]
        assert verify_call(session, token).status_code == 200
        import time

        time.sleep(1.1)
        assert verify_call(session, token).status_code == 401
    for policy, third in (("repeat", 401), ("miss", 502)):
        replay = proxy_factory(
            "--cassette", str(cassette), "--exhausted", policy, subcommand="replay"
        ).session()
        token = token_call(replay).json()["access_token"]
        assert [verify_call(replay, token).status_code for _ in range(3)] == [200, 401, third]


@pytest.fixture
def orange_vcr_config(tmp_path):
    return {"cassette_library_dir": str(tmp_path)}


def test_the_pytest_fixture_replays_a_proxy_recording(
    orange_vcr, proxy_factory, tls_files, standin, tmp_path
):
    recorded = app_flow(recorder(proxy_factory, tls_files, standin, tmp_path / "fixture.yaml").session())
    with orange_vcr.use_cassette("fixture.yaml"):
        assert app_flow(requests.Session()) == recorded


def test_replay_brings_back_the_apps_own_state(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "state.yaml"
    params = {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "login_hint": "tel:+990123456789",
    }
    recording = recorder(proxy_factory, tls_files, standin, cassette).session()
    recording.get(AUTHORIZE, params={**params, "state": "first-run", "nonce": "n1"}, allow_redirects=False)
    replay = proxy_factory("--cassette", str(cassette), subcommand="replay").session()
    answer = replay.get(
        AUTHORIZE, params={**params, "state": "second run!", "nonce": "n2"}, allow_redirects=False
    )
    assert answer.status_code == 302  # a new state and nonce still match
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["second run!"]
    assert query["code"] == ["SCRUBBED-CODE-0001"]


@pytest.mark.parametrize("record_mode", ["none", "once"])
def test_passthrough_never_writes_a_replay_only_cassette(
    proxy_factory, tls_files, standin, tmp_path, record_mode
):
    cassette = tmp_path / "frozen.yaml"
    token_call(recorder(proxy_factory, tls_files, standin, cassette).session())
    before = cassette.read_bytes()
    session = recorder(
        proxy_factory, tls_files, standin, cassette, "--record-mode", record_mode, "--miss", "passthrough"
    ).session()
    assert verify_call(session, "anything").status_code == 401  # forwarded to the stand-in
    assert len(standin.requests) == 2
    assert cassette.read_bytes() == before


def test_an_empty_cassette_file_is_recorded_into(proxy_factory, tls_files, standin, tmp_path):
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("")
    token_call(recorder(proxy_factory, tls_files, standin, cassette).session())
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 1


def test_a_cassette_that_would_inject_headers_is_refused(tmp_path):
    import subprocess

    from conftest import orange_proxy_command

    cassette = tmp_path / "evil.yaml"
    cassette.write_text(
        "interactions:\n- request: {method: GET, uri: 'https://api.orange.com/x', body: null, headers: {}}\n"
        "  response:\n    status: {code: 200, message: OK}\n"
        "    headers: {X-A: [\"a\\r\\nInjected: yes\"]}\n    body: {string: ''}\nversion: 1\n"
    )
    result = subprocess.run(
        [
            *orange_proxy_command(),
            "replay",
            "--cassette",
            str(cassette),
            "--listen-port",
            "0",
            "--confdir",
            str(tmp_path / "conf"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "interaction #1 is malformed" in result.stderr and "line break" in result.stderr
    assert "Traceback" not in result.stderr
