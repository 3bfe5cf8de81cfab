"""The walkthroughs' pieces that are not shell blocks: docs/examples/replay.yml (the CI job of docs/ci.md),
run step by step as GitHub Actions would run it, and the files the walkthroughs link to.

test_readme_blocks.py runs every shell block of README.md and docs/*.md; this file covers the rest.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_readme_blocks import ROOT, Reader, netns_available, parse_blocks

WORKFLOW = ROOT / "docs" / "examples" / "replay.yml"
APP_TEST = ROOT / "docs" / "examples" / "test_app_location.py"
# Steps the local run leaves out, and why: the working directory is the checkout, the test's interpreter is
# the set-up Python, and orange-proxy is installed in it already.
NOT_RUN_LOCALLY = {
    "actions/checkout@v4": "the working directory is a copy of the repository's files",
    "actions/setup-python@v5": "the tests' own Python",
    "actions/upload-artifact@v4": "the log is read by the test",
    "Install orange-proxy and the app's test tools": "installed in the tests' virtualenv already",
}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_ci_job_needs_no_secret_and_runs_on_pushes_and_pull_requests() -> None:
    text = WORKFLOW.read_text()
    assert "secrets." not in text and "${{" not in text  # nothing GitHub must fill in for it
    flow = workflow()
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert flow["permissions"] == {"contents": "read"}
    (job,) = flow["jobs"].values()
    steps = job["steps"]
    for step in steps:
        assert set(step) & {"run", "uses"}, step
        assert step.get("uses", step.get("name")) in NOT_RUN_LOCALLY or "run" in step
    assert not (ROOT / ".github" / "workflows" / "replay.yml").exists()  # an example, not our repo's CI


def run_job(tmp_path: Path, app: Path = APP_TEST, **env: str) -> list[tuple[str, int, str]]:
    """Run the job's `run:` steps in order, as the runner does (`bash -e`, the job's env, $GITHUB_ENV)."""
    (job,) = workflow()["jobs"].values()
    results: list[tuple[str, int, str]] = []
    with Reader(tmp_path) as reader:
        (reader.work / "tests").mkdir()
        shutil.copy(app, reader.work / "tests" / app.name)
        github_env = tmp_path / "github_env"
        github_env.touch()
        reader.env.update({k: str(v) for k, v in job.get("env", {}).items()})
        reader.env.update(env, GITHUB_ENV=str(github_env), CI="true", GITHUB_ACTIONS="true")
        for n, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("uses")
            if name in NOT_RUN_LOCALLY or step.get("uses") in NOT_RUN_LOCALLY:
                continue
            log = tmp_path / f"step-{n}.log"
            saved = dict(reader.env)
            reader.env.update({k: str(v) for k, v in step.get("env", {}).items()})
            process = reader._popen("set -e\n" + step["run"], log)
            try:
                status = process.wait(timeout=120)
            finally:
                reader.env = saved
            for line in github_env.read_text().splitlines():
                key, _, value = line.partition("=")
                reader.env[key] = value
            results.append((name, status, log.read_text(errors="replace")))
            if status != 0:
                break  # as the runner: later steps are skipped
    return results


@pytest.fixture
def netns() -> None:
    why = netns_available()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the CI walkthrough must run under CI: {why}")
        pytest.skip(why)


def test_the_ci_job_replays_the_cassette_for_the_apps_tests_and_passes(tmp_path: Path, netns: None) -> None:
    results = run_job(tmp_path)
    assert [(name, status) for name, status, _ in results] == [
        ("Check the committed cassettes", 0),
        ("Run the app's tests against the replayed cassette", 0),
    ], results
    checked, tests = results[0][2], results[1][2]
    assert "cassettes/location-verification-success.yaml: ok (4 interactions)" in checked
    assert "1 passed" in tests
    assert "replayed 4" in tests and "missed 0" in tests  # the proxy's summary, printed by the step


def test_the_ci_job_fails_when_the_app_and_the_cassette_drift_apart(tmp_path: Path, netns: None) -> None:
    # The same app against a cassette of other calls: its requests miss (502), and the proxy's verdict
    # fails the step even if the app's tests had passed.
    results = run_job(tmp_path, CASSETTE="cassettes/number-verification-success.yaml")
    name, status, output = results[-1]
    assert name == "Run the app's tests against the replayed cassette"
    assert status != 0
    assert "REPLAY_MISS" in output or "missed" in output
    assert re.search(r"missed [1-9]", output), output


def test_the_ci_job_fails_when_the_app_stopped_making_a_recorded_call(tmp_path: Path, netns: None) -> None:
    # --require-all-played: the app's tests pass, but an interaction of the cassette was never played.
    cut = APP_TEST.read_text().replace(
        '    assert verify(token, 45.764, 4.8357, 200000)["verificationResult"] == "FALSE"\n', ""
    )
    assert cut != APP_TEST.read_text()
    shortened = tmp_path / "short" / APP_TEST.name
    shortened.parent.mkdir()
    shortened.write_text(cut)
    results = run_job(tmp_path / "run", shortened)
    name, status, output = results[-1]
    assert name == "Run the app's tests against the replayed cassette"
    assert status == 3, output  # the tests passed, but an interaction was never played
    assert "1 passed" in output
    assert "never played: 1 of 4" in output


def test_walkthroughs_are_linked_from_readme_and_link_to_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walkthroughs", 1)[1].split("\n## ", 1)[0]
    for name in ("android", "ios", "ci", "faults", "rules", "recording", "wireguard", "transparent"):
        assert f"(docs/{name}.md)" in section, name
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http", "mailto")):
                continue
            if target in ("wireguard.md", "transparent.md") and not (page.parent / target).exists():
                continue  # the lead's pages, written beside these
            assert (page.parent / target).exists(), f"{page.name} links to {target}"
        assert parse_blocks(page), f"{page.name} shows no command"


def test_the_android_debug_config_trusts_user_cas_in_debug_builds_only() -> None:
    from xml.etree import ElementTree

    blocks = {b.marker("file:"): b for b in parse_blocks(ROOT / "docs" / "android.md") if b.marker("file:")}
    config = ElementTree.fromstring(blocks["app/src/debug/res/xml/network_security_config.xml"].text.encode())
    assert config.tag == "network-security-config"
    assert [child.tag for child in config] == ["debug-overrides"]  # nothing for release builds
    (certificates,) = config.findall("./debug-overrides/trust-anchors/certificates")
    assert certificates.get("src") == "user"
    manifest = ElementTree.fromstring(blocks["app/src/debug/AndroidManifest.xml"].text.encode())
    android = "{http://schemas.android.com/apk/res/android}"
    assert (
        manifest.find("application").get(f"{android}networkSecurityConfig") == "@xml/network_security_config"
    )
