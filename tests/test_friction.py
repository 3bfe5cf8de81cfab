"""Issue 11's fault and configuration friction, through the real proxy (and the real mitmdump): faults
about access tokens fire on API calls, faults given at start are logged, a revoked token says so,
config typos and bad option values are clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import orange_proxy_command
from flows import (
    CLIENT,
    DLV,
    NV,
    NV_SCOPE,
    PLAYGROUND_API,
    authorize,
    bearer,
    dlv_body,
    exchange,
    lab_token,
    playground_token,
    redirect_params,
)

CONTROL = "http://orange-proxy.test/api"
ROOT = Path(__file__).resolve().parent.parent
MITMDUMP = Path(sys.executable).parent / "mitmdump"
SIM_SWAP_CHECK = PLAYGROUND_API + "/sim-swap/v1/check"
NUMBER = "+990100000001"


def verify(session, token):
    return session.post(DLV, headers=bearer(token), json=dlv_body())


def faults(session) -> list[dict]:
    listed = session.get(CONTROL + "/faults")
    assert listed.status_code == 200
    return listed.json()["faults"]


def events(session) -> list[dict]:
    answer = session.get(CONTROL + "/events")
    assert answer.status_code == 200
    return answer.json()["events"]


# 1. Faults about access tokens fire on API calls that carry one --------------------------------


def test_token_expired_is_not_used_up_by_the_apps_token_request(proxy_factory):
    """With no scope, the app's own token request used to spend `token_expired` (times=1): its
    freshly issued token then worked, and the app never saw a 401."""
    proxy = proxy_factory("--fault", "token_expired")
    session = proxy.session()
    token = lab_token(session)
    expired = verify(session, token)
    assert expired.status_code == 401
    assert expired.json() == {"status": 401, "message": "Authorization failed: access token expired"}
    assert verify(session, token).status_code == 401  # a real expiry: the token stays expired
    [fault] = faults(session)
    assert (fault["matched"], fault["fired"], fault["exhausted"]) == (2, 1, True)  # token calls not counted
    fresh = lab_token(session)
    assert verify(session, fresh).status_code == 200


def test_token_expired_after_counts_api_calls_only(proxy_factory):
    proxy = proxy_factory("--fault", "token_expired:after=2")
    session = proxy.session()
    token = lab_token(session)
    again = lab_token(session)  # token requests are not "after" material
    assert [verify(session, token).status_code, verify(session, again).status_code] == [200, 200]
    assert verify(session, token).status_code == 401  # the third API call
    assert verify(session, again).status_code == 401  # every token seen before it fired
    [fault] = faults(session)
    assert fault["matched"] == 4 and fault["fired"] == 1


def test_token_expired_on_a_playground_api_in_camara_dialect(proxy_factory):
    proxy = proxy_factory("--profile", "camara", "--fault", "token_expired:api=sim-swap")
    session = proxy.session()
    token = playground_token(session)
    answer = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": NUMBER})
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHENTICATED"
    assert answer.headers["x-orange-proxy-reason"] == "access token expired"


def test_other_faults_still_count_token_requests(proxy_factory):
    """Only faults about access tokens skip token requests: a 503 still hits the token endpoint."""
    proxy = proxy_factory("--fault", "service_unavailable:times=1")
    session = proxy.session()
    refused = session.post(
        "https://api.orange.com/oauth/v3/token", auth=CLIENT, data={"grant_type": "client_credentials"}
    )
    assert refused.status_code == 503 and refused.json()["error"] == "temporarily_unavailable"


# 3. Faults given at start are logged as added -----------------------------------------------------


def test_faults_given_at_start_are_logged_as_added(proxy_factory, tmp_path):
    log = tmp_path / "events.jsonl"
    scenario = tmp_path / "faults.yaml"
    scenario.write_text("faults:\n  - {fault: latency, ms: 5, api: location-verification}\n")
    proxy = proxy_factory(
        "--fault",
        "service_unavailable:times=2,api=sim-swap",
        "--faults",
        str(scenario),
        "--event-log",
        str(log),
    )
    session = proxy.session()
    added = [e for e in events(session) if e["type"] == "fault-added"]
    assert [(e["fault"]["fault"], e["fault"].get("api")) for e in added] == [
        ("service_unavailable", "sim-swap"),
        ("latency", "location-verification"),
    ]
    assert added[0]["fault"]["times"] == 2 and added[0]["fault"]["id"] == faults(session)[0]["id"]
    assert added[0]["source"] == "orange_faults" and added[1]["source"] == str(scenario)
    on_disk = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["fault"]["fault"] for e in on_disk if e["type"] == "fault-added"] == [
        "service_unavailable",
        "latency",
    ]


# 4. A token revoked by a reused code says revoked --------------------------------------------------


REVOKED = "access token revoked (its authorization code was reused)"


def _revoked_token(session) -> str:
    code = redirect_params(authorize(session, "+990123456789", NV_SCOPE))["code"]
    first = exchange(session, code)
    assert first.status_code == 200
    reused = exchange(session, code)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    return first.json()["access_token"]


@pytest.mark.parametrize("profile", ["orange", "camara"])
def test_a_token_revoked_by_a_reused_code_says_revoked(proxy_factory, profile):
    proxy = proxy_factory("--profile", profile)
    session = proxy.session()
    token = _revoked_token(session)
    refused = session.post(NV + "/verify", headers=bearer(token), json={"phoneNumber": "+990123456789"})
    assert refused.status_code == 401
    assert refused.headers["x-orange-proxy-reason"] == REVOKED
    if profile == "orange":
        assert refused.json() == {"code": "UNAUTHORIZED", "message": f"Authorization failed: {REVOKED}"}
    else:
        assert refused.json()["code"] == "UNAUTHENTICATED" and refused.json()["status"] == 401
    state = session.get(CONTROL + "/state").json()
    assert not any(t["phone_number"] == "+990123456789" for t in state["live_tokens"])


# 5. Unknown orange_* keys in config.yaml ---------------------------------------------------------


def _run(argv: list[str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a command that must stop by itself; a proxy that starts instead is stopped and fails."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"still running after {timeout} s: {exc.stdout}{exc.stderr}") from None


def test_a_typo_in_config_yaml_is_refused(tmp_path):
    confdir = tmp_path / "conf"
    confdir.mkdir()
    config = confdir / "config.yaml"
    config.write_text("orange_profil: camara\n")
    argv = [*orange_proxy_command(), "synth", "--listen-port", "0", "--confdir", str(confdir)]
    result = _run(argv, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"orange-proxy: {config}: unknown option orange_profil (did you mean orange_profile?)"
    )
    assert "ready" not in result.stdout


def test_known_and_foreign_keys_in_config_yaml_are_fine(proxy_factory, tmp_path):
    """Known orange_ keys apply; other addons' keys (no orange_ prefix) are not ours to refuse."""
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "config.yaml").write_text("orange_profile: camara\nsome_addon_option: 3\n")
    proxy = proxy_factory("--confdir", str(confdir))
    assert proxy.session().get(CONTROL + "/state").json()["profile"] == "camara"


def test_unknown_option_problem_names_the_file_and_the_closest_option(tmp_path):
    from proxy_addons.addons.core import unknown_option_problem

    yml = tmp_path / "config.yml"
    yml.write_text("orange_evnt_log: /tmp/x\nblock_global: false\n")
    known = ["orange_event_log", "orange_profile", "orange_mode"]
    deferred = {"orange_evnt_log": "/tmp/x", "block_global": False}
    assert unknown_option_problem(deferred, known, str(tmp_path)) == (
        f"{yml}: unknown option orange_evnt_log (did you mean orange_event_log?)"
    )
    assert unknown_option_problem({"orange_zzz": 1}, known, str(tmp_path)) == (
        "unknown option orange_zzz, given with --set (see `orange-proxy --help`)"
    )
    assert unknown_option_problem({"block_global": False}, known, str(tmp_path)) is None


# 6. mitmdump -s with a bad value: one line, no traceback -------------------------------------------


@pytest.mark.parametrize(
    ("option", "config", "expected"),
    [
        ("orange_mode=bogus", "", "orange_mode must be one of synth, record, replay, not 'bogus'"),
        ("orange_faults=teleport", "", "orange-proxy: bad fault: fault 'teleport': "),
        (None, "orange_profil: camara\n", "unknown option orange_profil (did you mean orange_profile?)"),
    ],
)
def test_mitmdump_script_with_a_bad_option_says_it_in_one_line(tmp_path, option, config, expected):
    assert MITMDUMP.exists(), "mitmdump is installed with mitmproxy"
    confdir = tmp_path / "conf"
    confdir.mkdir()
    if config:
        (confdir / "config.yaml").write_text(config)
    argv = [str(MITMDUMP), "-q", "--listen-port", "0", "--set", f"confdir={confdir}"]
    argv += ["-s", str(ROOT / "proxy_addons" / "mitm_script.py")]
    if option:
        argv += ["--set", option]
    result = _run(argv, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    assert expected in output
    assert len([line for line in output.splitlines() if "orange-proxy:" in line]) == 1
