"""The sample cassettes in cassettes/: recorded by cassettes/record_samples.py through the real proxy,
valid, free of secrets, and replayable by the proxy."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from conftest import orange_proxy_command

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
SAMPLES = sorted(CASSETTES.glob("*.yaml"))


def load_script():
    spec = importlib.util.spec_from_file_location("record_samples", CASSETTES / "record_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def statuses(path: Path) -> list[int]:
    return [i["response"]["status"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]]


def test_every_scenario_has_its_sample():
    assert {p.stem for p in SAMPLES} == set(load_script().SCENARIOS)


def test_samples_cover_success_401_and_403():
    seen = {code for path in SAMPLES for code in statuses(path)}
    assert {200, 302, 401, 403} <= seen
    for api in ("number-verification", "location-verification"):
        assert 401 in statuses(CASSETTES / f"{api}-401-expired-token.yaml")
        assert 403 in [code for p in SAMPLES if p.stem.startswith(f"{api}-403") for code in statuses(p)]


def test_samples_pass_cassette_check():
    result = subprocess.run(
        [*orange_proxy_command(), "cassette", "check", *map(str, SAMPLES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok (") == len(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_replay_through_the_proxy(proxy_factory, sample, monkeypatch):
    script = load_script()
    monkeypatch.setattr(script.time, "sleep", lambda seconds: None)  # replay has no clock to wait for
    proxy = proxy_factory("--cassette", str(sample), "--exhausted", "miss", subcommand="replay")
    answered: list[int] = []
    session = proxy.session()
    session.hooks["response"].append(lambda response, *a, **k: answered.append(response.status_code))
    script.SCENARIOS[sample.stem](session)
    assert answered == statuses(sample)  # every call answered from the cassette, in recorded order


def test_the_script_records_the_same_scenarios_again(tmp_path):
    written = load_script().record(
        tmp_path,
        [
            "number-verification-403-missing-scope",
            "location-verification-success",
            "location-verification-401-expired-token",
        ],
    )
    for path in written:
        assert statuses(path) == statuses(CASSETTES / path.name)
        assert recorded_lifetimes(path) == recorded_lifetimes(CASSETTES / path.name)  # 2 s only for expiry


@pytest.mark.parametrize("name", ["playground-fraud-check", "playground-apis-tour"])
def test_playground_samples_replay_in_process_with_orange_vcr(name, monkeypatch):
    """A CI job with no proxy: the app's own requests session, answered by vcrpy from the sample."""
    from proxy_addons.vcr import orange_vcr

    script = load_script()
    answered: list[int] = []
    vcr = orange_vcr(cassette_library_dir=str(CASSETTES), record_mode="none")
    with vcr.use_cassette(f"{name}.yaml") as played:
        session = requests.Session()
        session.trust_env = False
        session.hooks["response"].append(lambda response, *a, **k: answered.append(response.status_code))
        script.SCENARIOS[name](session)
    assert answered == statuses(CASSETTES / f"{name}.yaml")
    assert played.all_played


def test_sample_id_tokens_keep_their_claims_and_a_signature():
    """README: a recorded id_token keeps its claims, signed again by the cassette key (never alg none)."""
    import base64
    import json

    def part(segment: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    seen = 0
    for path in SAMPLES:
        for interaction in yaml.safe_load(path.read_text())["interactions"]:
            body = interaction["response"]["body"]["string"]
            if '"id_token"' not in body:
                continue
            header_b64, payload_b64, signature = json.loads(body)["id_token"].split(".")
            header, claims = part(header_b64), part(payload_b64)
            assert header["alg"] == "RS256" and header.get("kid"), (path.name, header)
            assert {"iss", "sub", "aud", "exp", "iat"} <= set(claims), (path.name, claims)
            assert signature
            seen += 1
    assert seen >= 3


def recorded_lifetimes(path: Path) -> list[int]:
    """The `expires_in` of every token answer in a cassette (Orange's lab sends it as a string)."""
    import json

    lifetimes = []
    for interaction in yaml.safe_load(path.read_text())["interactions"]:
        body = interaction["response"]["body"]["string"]
        if '"expires_in"' in body:
            lifetimes.append(int(json.loads(body)["expires_in"]))
    return lifetimes


def test_only_the_expiry_samples_record_short_lived_tokens():
    """An app that respects expires_in (authlib refreshes 60 s early) must get usable tokens on replay: only
    the scenarios that let a token expire record the short lifetime; every other sample the normal hour."""
    script = load_script()
    assert {
        "number-verification-401-expired-token",
        "location-verification-401-expired-token",
    } == script.EXPIRY_SCENARIOS
    assert set(script.SCENARIOS) >= script.EXPIRY_SCENARIOS
    for path in SAMPLES:
        lifetimes = recorded_lifetimes(path)
        assert lifetimes, f"{path.name} records no token"
        if path.stem in script.EXPIRY_SCENARIOS:
            assert set(lifetimes) == {script.SHORT_TOKEN_LIFETIME}, (path.name, lifetimes)
            assert script.SHORT_TOKEN_LIFETIME < 60  # expired within the scenario's own sleep
        else:
            assert set(lifetimes) == {3600}, (path.name, lifetimes)
