"""The walkthroughs' pieces that are not shell blocks: docs/examples/replay.yml (the CI job of docs/ci.md),
run step by step as GitHub Actions would run it, and the files the walkthroughs link to.

test_readme_blocks.py runs every shell block of README.md and docs/*.md; this file covers the rest.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from flows import ORANGE
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


def run_job(
    tmp_path: Path, app: Path = APP_TEST, occupy_port: int | None = None, **env: str
) -> list[tuple[str, int, str]]:
    """Run the job's `run:` steps in order, as the runner does (`bash -e`, the job's env, $GITHUB_ENV).

    `occupy_port`: another program already listens on that port of the runner's loopback.
    """
    (job,) = workflow()["jobs"].values()
    results: list[tuple[str, int, str]] = []
    with Reader(tmp_path) as reader:
        if occupy_port is not None:
            listener = (
                "import socket, sys, time\n"
                f"s = socket.socket(); s.bind(('127.0.0.1', {occupy_port})); s.listen()\n"
                "print('listening', flush=True)\ntime.sleep(600)\n"
            )
            occupied = tmp_path / "occupier.log"
            reader._popen(f"exec {shlex.quote(sys.executable)} -c {shlex.quote(listener)}", occupied)
            deadline = time.monotonic() + 10
            while "listening" not in occupied.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "listening" in occupied.read_text(), occupied.read_text()
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


def test_the_ci_job_stops_at_once_with_the_proxys_reason_when_the_proxy_cannot_start(
    tmp_path: Path, netns: None
) -> None:
    # A cassette path with a typo: the proxy exits 2 at once. The step must not wait for a ready line that
    # never comes, must show the proxy's one-line reason in the job's log, and fail with the proxy's status.
    started = time.monotonic()
    results = run_job(tmp_path, CASSETTE="cassettes/typo.yaml")
    took = time.monotonic() - started
    name, status, output = results[-1]
    assert name == "Run the app's tests against the replayed cassette"
    assert status == 2, output  # the proxy's own exit status, not timeout's 124
    assert "no cassette at" in output and "typo.yaml" in output, output
    assert "passed" not in output  # the app's tests never ran against a proxy that is not there
    assert took < 20, took  # not the 30 s of a ready-line wait


def test_the_ci_job_shows_why_when_the_proxys_port_is_taken(tmp_path: Path, netns: None) -> None:
    # Another program on 127.0.0.1:8080 in the runner: the proxy cannot listen and says so.
    results = run_job(tmp_path, occupy_port=8080)
    name, status, output = results[-1]
    assert name == "Run the app's tests against the replayed cassette"
    assert status == 2, output
    assert "cannot listen on 127.0.0.1:8080" in output, output


def install_step() -> dict:
    (job,) = workflow()["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("name") == "Install orange-proxy and the app's test tools"]
    return step


def run_install_step(tmp_path: Path, requirement: str | None) -> subprocess.CompletedProcess:
    """The install step with a `python` that records what pip was asked for (nothing is downloaded)."""
    (job,) = workflow()["jobs"].values()
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True)
    fake = bindir / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/asked"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({k: str(v) for k, v in job.get("env", {}).items()})
    if requirement is None:
        env.pop("ORANGE_PROXY_REQUIREMENT", None)
    else:
        env["ORANGE_PROXY_REQUIREMENT"] = requirement
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", install_step()["run"]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_ci_job_says_where_orange_proxy_comes_from_and_fails_clearly_until_it_is_set(
    tmp_path: Path,
) -> None:
    # orange-camara-proxy is not on a package index: the job's default must not pretend it is. Unset (the
    # default), the install step fails at once and says which variable to set and to what.
    (job,) = workflow()["jobs"].values()
    assert not job["env"].get("ORANGE_PROXY_REQUIREMENT"), job["env"]
    for requirement in (None, ""):
        result = run_install_step(tmp_path / f"unset-{requirement is None}", requirement)
        assert result.returncode != 0
        message = result.stdout + result.stderr
        assert "ORANGE_PROXY_REQUIREMENT" in message and "git+https://" in message, message
        assert "docs/ci.md" in message, message
        assert not (tmp_path / f"unset-{requirement is None}" / "bin" / "asked").exists()  # pip never ran
    # Set, pip installs exactly that, with the app's test tools.
    requirement = "orange-camara-proxy @ git+https://git.example/team/orange-camara-proxy@v0.1.0"
    result = run_install_step(tmp_path / "set", requirement)
    assert result.returncode == 0, result.stdout + result.stderr
    asked = (tmp_path / "set" / "bin" / "asked").read_text().splitlines()
    assert asked[:4] == ["-m", "pip", "install", requirement]
    assert {"pytest", "requests"} <= set(asked[4:])
    # docs/ci.md says where the package comes from and shows the forms the variable takes.
    ci = (ROOT / "docs" / "ci.md").read_text()
    assert "ORANGE_PROXY_REQUIREMENT" in ci and "git+https://" in ci
    assert "not published" in ci


def quoted_console_lines(page: Path) -> list[re.Pattern]:
    """The console answer lines a page quotes (`<< …`), as patterns: `…` stands for any text."""
    quotes = re.findall(r"`(<< [^`]+)`", page.read_text())
    return [re.compile(".*".join(map(re.escape, quote.split("…")))) for quote in quotes]


def test_the_fault_walkthrough_quotes_the_console_lines_its_clients_really_get(proxy_factory) -> None:
    # docs/faults.md's app is curl, which speaks HTTP/2 to the proxy: HTTP/2 has no reason phrase, so the
    # console shows the standard one. An HTTP/1.1 client gets the answer's own, for SIM Swap the standard one
    # too (Orange's phrases are Device Location Verification's). The page must quote what each client sees.
    quoted = quoted_console_lines(ROOT / "docs" / "faults.md")
    assert quoted
    proxy = proxy_factory("--fault", "service_unavailable:times=2,api=sim-swap")
    token = proxy.session().post(
        ORANGE + "/openidconnect/playground/v1.0/token",
        auth=("my-app", "secret"),
        data={"grant_type": "client_credentials", "scope": "sim-swap:check"},
    )
    check = [
        "-H",
        f"Authorization: Bearer {token.json()['access_token']}",
        "--json",
        '{"phoneNumber":"+990100000001","maxAge":48}',
        ORANGE + "/camara/playground/api/sim-swap/v1/check",
    ]
    seen: dict[str, str] = {}
    for client, flags in (("curl", []), ("curl --http1.1", ["--http1.1"])):
        before = len(proxy.output())
        assert proxy.curl(*flags, *check)[0] == 503
        deadline = time.monotonic() + 10
        while "<< " not in proxy.output()[before:] and time.monotonic() < deadline:
            time.sleep(0.05)
        (line,) = [ln.strip() for ln in proxy.output()[before:].splitlines() if "<< " in ln]
        seen[client] = line
    assert seen["curl"].startswith("<< HTTP/2.0 503 Service Unavailable "), seen  # what the proxy prints
    assert seen["curl --http1.1"].startswith("<< 503 Service Unavailable "), seen  # no version: HTTP/1.1
    for client, line in seen.items():
        assert any(pattern.fullmatch(line) for pattern in quoted), (client, line, [p.pattern for p in quoted])


def test_orange_reason_phrases_reach_http11_clients_only(proxy_factory) -> None:
    # What README's Device Location Verification section and docs/faults.md say: Orange's phrase for an
    # HTTP/1.1 client; the status code alone over HTTP/2 (curl's default), which has no reason phrases.
    proxy = proxy_factory("--fault", "service_unavailable:times=2,api=location-verification")
    session = proxy.session()
    token = session.post(
        ORANGE + "/oauth/v3/token", auth=("my-app", "secret"), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    verify = ORANGE + "/camara/location-verification/orange-lab/v0/verify"
    body = {
        "device": {"phoneNumber": "33699901031"},
        "area": {"areaType": "CIRCLE", "center": {"latitude": 48.8, "longitude": 2.26999}, "radius": 2000},
        "maxAge": 3600,
    }
    answer = session.post(verify, headers={"Authorization": f"Bearer {token}"}, json=body)
    assert (answer.status_code, answer.reason) == (503, "Service unavailable")  # Orange's, lower-case u
    curl = ["curl", "-sS", "-i", "--proxy", proxy.url, "--noproxy", "", "--cacert", str(proxy.ca)]
    result = subprocess.run(
        [*curl, "-H", f"Authorization: Bearer {token}", "--json", json.dumps(body), verify],
        capture_output=True,
        text=True,
        timeout=30,
    )
    status_lines = [ln.strip() for ln in result.stdout.splitlines() if ln.startswith("HTTP/")]
    assert status_lines[-1] == "HTTP/2 503", status_lines  # no phrase at all


def lan_address(proxy) -> str | None:
    """This machine's first non-loopback address from a `--listen-host 0.0.0.0` proxy's ready line."""
    line = next(ln for ln in proxy.output().splitlines() if " ready: " in ln)
    port = proxy.url.rsplit(":", 1)[1]
    others = [a for a in re.findall(r"http://([\d.]+):" + port, line.split(";")[0]) if a != "127.0.0.1"]
    return others[0] if others else None


def through(address: str, port: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": f"http://{address}:{port}", "https": f"http://{address}:{port}"}
    return session


@pytest.mark.parametrize("page", ["android.md", "ios.md"])
def test_the_phone_pages_say_what_the_control_token_does_and_that_the_proxy_is_open(page: str) -> None:
    text = " ".join((ROOT / "docs" / page).read_text().split())
    # Without a token the control API is not exposed: a phone gets 403. The token is what lets it in.
    assert "exposes the control API" not in text and "control API is reachable from the network" not in text
    assert "403" in text and "loopback clients only" in text, page
    # Anyone on the network can use an open proxy: the page must say where it is safe.
    assert "open proxy" in text and "firewall" in text and "trusted network" in text, page


def test_a_phone_needs_the_control_token_and_the_proxy_is_open_to_the_network(proxy_factory) -> None:
    # What android.md and ios.md say, with a real client reaching the proxy on the machine's LAN address.
    open_proxy = proxy_factory("--listen-host", "0.0.0.0")
    address = lan_address(open_proxy)
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    port = open_proxy.url.rsplit(":", 1)[1]
    phone = through(address, port)
    refused = phone.get("http://orange-proxy.test/api/faults")
    assert refused.status_code == 403, refused.text
    assert "the control API answers loopback clients only" in refused.text
    assert open_proxy.session().get("http://orange-proxy.test/api/faults").status_code == 200  # loopback
    # The proxy itself serves anyone who reaches it: a token for no credentials of the phone's own.
    token = phone.post(
        ORANGE + "/oauth/v3/token",
        auth=("anyone", "anything"),
        data={"grant_type": "client_credentials"},
        verify=str(open_proxy.ca),
    )
    assert token.status_code == 200 and token.json()["access_token"]

    guarded = proxy_factory("--listen-host", "0.0.0.0", "--control-token", "phone-secret")
    phone = through(address, guarded.url.rsplit(":", 1)[1])
    assert phone.get("http://orange-proxy.test/api/faults").status_code == 401
    allowed = phone.get(
        "http://orange-proxy.test/api/faults", headers={"Authorization": "Bearer phone-secret"}
    )
    assert allowed.status_code == 200, allowed.text
