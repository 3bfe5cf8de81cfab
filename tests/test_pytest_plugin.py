"""The pytest plugin's `orange_proxy` fixture, shown by `pytester`: example test files run in their own
pytest process against the installed plugin (its `pytest11` entry point), with the real proxy."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import recorder

from proxy_addons.integrations.proxy_process import READY, ProxyProcess, ProxyStartError, cassette_name

pytest_plugins = ["pytester"]

# What the example test files share: the calls an app makes, and a record of the proxy they ran on.
HELPERS = '''
import json, os
from pathlib import Path

ORANGE = "https://api.orange.com"
V3_TOKEN = ORANGE + "/oauth/v3/token"
PLAYGROUND_TOKEN = ORANGE + "/openidconnect/playground/v1.0/token"
RETRIEVE_DATE = ORANGE + "/camara/playground/api/sim-swap/v1/retrieve-date"
CLIENT = ("my-app", "my-secret")


def token(client):
    return client.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})


def note(proxy, name):
    """Leave the proxy's pid and port for the outer test to check after the run."""
    Path(os.environ["ORANGE_NOTES"], name).write_text(json.dumps({"pid": proxy.pid, "port": proxy.port}))
'''


@pytest.fixture
def notes(pytester, monkeypatch) -> Path:
    """Where example tests note the proxies they ran on (read back after the run)."""
    folder = pytester.path / "notes"
    folder.mkdir()
    monkeypatch.setenv("ORANGE_NOTES", str(folder))
    pytester.makepyfile(helpers=HELPERS)
    return folder


def noted(folder: Path) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in folder.iterdir()}


def alive(pid: int) -> bool:
    """A process that still runs (a zombie nobody reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def assert_gone(proxies: dict[str, dict], within: float = 0.0) -> None:
    deadline = time.monotonic() + within
    for name, proxy in proxies.items():
        while alive(proxy["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(proxy["pid"]), f"the proxy of {name} (pid {proxy['pid']}) is still running"
        assert not listening(proxy["port"]), f"port {proxy['port']} of {name} still accepts connections"


def run(pytester, *args: str):
    """The example files in their own pytest process, as a user's suite runs (no -p: the entry point)."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=300)


# Synth, markers, the clients and the control client -------------------------------------------------------


def test_synth_with_a_fault_marker_rules_marker_and_the_control_client(pytester, notes):
    pytester.makefile(
        ".yaml",
        sim_rules='numbers:\n  "+33612000077":\n    simSwap: {latestSimChange: "2025-11-02T08:00:00Z"}\n',
    )
    pytester.makepyfile(
        test_synth="""
import pytest
from helpers import PLAYGROUND_TOKEN, RETRIEVE_DATE, CLIENT, note, token


@pytest.mark.orange_faults("service_unavailable:times=1,api=oauth")
def test_fault_from_the_marker(orange_proxy):
    note(orange_proxy, "fault")
    assert orange_proxy.url == f"http://127.0.0.1:{orange_proxy.port}"
    assert orange_proxy.ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert token(orange_proxy.session).status_code == 503
    assert token(orange_proxy.httpx).status_code == 200
    (fault,) = orange_proxy.control.faults()
    assert (fault["fault"], fault["fired"], fault["exhausted"]) == ("service_unavailable", 1, True)
    exchanges = [e for e in orange_proxy.control.events() if e["type"] == "exchange"]
    assert [(e["action"], e["status"]) for e in exchanges] == [("faulted", 503), ("synthesised", 200)]


def test_each_test_has_its_own_proxy(orange_proxy):
    note(orange_proxy, "clean")
    assert token(orange_proxy.session).status_code == 200  # no fault from the other test
    assert orange_proxy.control.faults() == []


def test_control_client_adds_and_clears_faults(orange_proxy):
    state = orange_proxy.control.state()
    assert (state["mode"], state["profile"]) == ("synth", "orange")
    added = orange_proxy.control.add_fault("status:code=500,api=oauth")
    assert added["id"] and token(orange_proxy.session).status_code == 500
    assert orange_proxy.control.clear_faults() == 1
    assert token(orange_proxy.session).status_code == 200
    assert orange_proxy.control.state()["faults"] == []


@pytest.mark.orange_rules("sim_rules.yaml")
def test_rules_from_the_marker(orange_proxy):
    session = orange_proxy.session
    access = session.post(PLAYGROUND_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"})
    answer = session.post(
        RETRIEVE_DATE,
        headers={"Authorization": "Bearer " + access.json()["access_token"]},
        json={"phoneNumber": "+33612000077"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["latestSimChange"] == "2025-11-02T08:00:00Z"


@pytest.mark.orange_args("--profile", "camara")
def test_more_flags_from_the_marker(orange_proxy):
    assert orange_proxy.control.state()["profile"] == "camara"


def test_env_points_an_app_in_a_subprocess_at_the_proxy(orange_proxy):
    import os, subprocess, sys

    app = (
        "import requests; print(requests.post('https://api.orange.com/oauth/v3/token', auth=('a', 'b'), "
        "data={'grant_type': 'client_credentials'}).json()['token_type'])"
    )
    env = {**os.environ, **orange_proxy.env}
    out = subprocess.run([sys.executable, "-c", app], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "Bearer", out.stderr
    assert [e["request"]["url"] for e in orange_proxy.control.events() if e["type"] == "exchange"] == [
        "https://api.orange.com/oauth/v3/token"
    ]
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=6)
    proxies = noted(notes)
    assert proxies["fault"]["pid"] != proxies["clean"]["pid"]
    assert_gone(proxies)


def test_the_session_proxy_is_shared_and_its_flags_come_from_a_fixture(pytester, notes):
    pytester.makeconftest(
        """
import pytest

@pytest.fixture(scope="session")
def orange_proxy_session_args():
    return ["--profile", "camara"]
"""
    )
    pytester.makepyfile(
        test_session="""
from helpers import note, token

def test_one(orange_proxy_session):
    note(orange_proxy_session, "one")
    orange_proxy_session.control.add_fault("status:code=500,api=oauth,times=1")

def test_two(orange_proxy_session):
    note(orange_proxy_session, "two")
    assert orange_proxy_session.control.state()["profile"] == "camara"
    assert token(orange_proxy_session.session).status_code == 500  # the fault test_one added
"""
    )
    run(pytester).assert_outcomes(passed=2)
    proxies = noted(notes)
    assert proxies["one"] == proxies["two"]
    assert_gone(proxies)


# Cassettes ----------------------------------------------------------------------------------------------


@pytest.fixture
def token_cassette(proxy_factory, tls_files, standin, tmp_path) -> Path:
    """A cassette of one lab token request, recorded through the real proxy from the stand-in."""
    cassette = tmp_path / "token.yaml"
    session = recorder(proxy_factory, tls_files, standin, cassette).session()
    answer = session.post(
        "https://api.orange.com/oauth/v3/token",
        auth=("my-app", "my-secret"),
        data={"grant_type": "client_credentials"},
    )
    assert answer.status_code == 200
    standin.requests.clear()
    return cassette


def test_replay_of_cassettes_resolved_next_to_the_test_file(pytester, notes, token_cassette):
    library = pytester.path / "cassettes" / "test_replaying"
    library.mkdir(parents=True)
    for name in ("test_default_name.yaml", "shared.yaml", "TestGrouped.test_in_a_class.yaml"):
        (library / name).write_bytes(token_cassette.read_bytes())
    pytester.makepyfile(
        test_replaying="""
import pytest
from helpers import note, token


@pytest.mark.orange_cassette
@pytest.mark.orange_args("--allow-misses")  # this test misses on purpose
def test_default_name(orange_proxy):
    note(orange_proxy, "replay")
    assert orange_proxy.cassette.name == "test_default_name.yaml"
    assert orange_proxy.control.state()["mode"] == "replay"
    assert token(orange_proxy.session).json()["access_token"] == "SCRUBBED-ACCESS-TOKEN-0001"
    miss = orange_proxy.session.post("https://api.orange.com/oauth/v3/token", data={"grant_type": "x"})
    assert miss.status_code == 502  # not in the cassette, and replay never goes out


@pytest.mark.orange_cassette("shared.yaml")
def test_named_cassette(orange_proxy):
    assert token(orange_proxy.httpx).json()["access_token"] == "SCRUBBED-ACCESS-TOKEN-0001"


class TestGrouped:
    @pytest.mark.orange_cassette
    def test_in_a_class(self, orange_proxy):
        assert orange_proxy.cassette.name == "TestGrouped.test_in_a_class.yaml"
        assert token(orange_proxy.session).status_code == 200


@pytest.mark.orange_cassette
def test_never_recorded(orange_proxy):
    pass


@pytest.mark.orange_cassette("shared.yaml")
def test_a_miss_is_the_verdict(orange_proxy):
    miss = orange_proxy.session.post("https://api.orange.com/oauth/v3/token", data={"grant_type": "y"})
    assert miss.status_code == 502


@pytest.mark.orange_cassette("shared.yaml")
@pytest.mark.orange_args("--require-all-played")
def test_unplayed_interactions_are_the_verdict_when_asked(orange_proxy):
    pass
"""
    )
    result = run(pytester)
    # These tests pass their own assertions, then error at teardown with the proxy's verdict.
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_a_miss_is_the_verdict*",
            "orange-proxy replay exited with status 1: a request missed the cassette*",
            "*missed 1*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unplayed_interactions_are_the_verdict_when_asked*",
            "orange-proxy replay exited with status 3: interactions of the cassette were never played*",
        ]
    )
    result.stdout.no_fnmatch_line("*ERROR at teardown of test_default_name*")
    missing = pytester.path / "cassettes" / "test_replaying" / "test_never_recorded.yaml"
    result.stdout.fnmatch_lines(
        [f"*cassette {missing} does not exist: record it with --orange-record-mode=once*"]
    )
    assert not missing.exists()
    assert_gone(noted(notes))


def test_record_into_the_path_next_to_the_test_file_then_replay_it(pytester, notes, tls_files, standin):
    cert, _ = tls_files
    pytester.makeconftest(
        f"""
import pytest

@pytest.fixture
def orange_proxy_args():
    return ["--upstream", {standin.url!r}, "--upstream-ca", {str(cert)!r}]
"""
    )
    pytester.makepyfile(
        test_recording="""
import pytest
from helpers import note, token


@pytest.mark.orange_cassette
@pytest.mark.parametrize("app", ["requests", "httpx"])
def test_records(orange_proxy, app):
    note(orange_proxy, "record-" + app)
    client = orange_proxy.session if app == "requests" else orange_proxy.httpx
    answer = token(client)
    assert answer.status_code == 200
    print("mode", orange_proxy.control.state()["mode"], "token", answer.json()["access_token"])
"""
    )
    library = pytester.path / "cassettes" / "test_recording"
    recorded = run(pytester, "--orange-record-mode=once", "-s")
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(["*mode record token *"])
    assert sorted(p.name for p in library.iterdir()) == [
        "test_records[httpx].yaml",
        "test_records[requests].yaml",
    ]
    for path in library.iterdir():
        (interaction,) = yaml.safe_load(path.read_text())["interactions"]
        assert interaction["request"]["uri"] == "https://api.orange.com/oauth/v3/token"
    assert len(standin.requests) == 2  # both went upstream

    standin.requests.clear()
    replayed = run(pytester, "-s")  # no option: replay, as pytest-recording's default `none`
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*mode replay token SCRUBBED-ACCESS-TOKEN-0001*"])
    assert standin.requests == []

    # rewrite: the cassette starts again from nothing, so it still holds one interaction.
    run(pytester, "--orange-record-mode=rewrite").assert_outcomes(passed=2)
    assert len(standin.requests) == 2
    for path in library.iterdir():
        assert len(yaml.safe_load(path.read_text())["interactions"]) == 1
    assert_gone(noted(notes))


def test_record_mode_of_a_marker_wins_over_the_option(pytester, notes, tls_files, standin):
    cert, _ = tls_files
    pytester.makepyfile(
        test_marker_mode=f"""
import pytest
from helpers import token

ARGS = ("--upstream", {standin.url!r}, "--upstream-ca", {str(cert)!r})


@pytest.mark.orange_args(*ARGS)
@pytest.mark.orange_cassette("all.yaml", record_mode="all")
def test_always_records(orange_proxy):
    assert orange_proxy.control.state()["mode"] == "record"
    assert token(orange_proxy.session).status_code == 200
"""
    )
    run(pytester).assert_outcomes(passed=1)
    run(pytester).assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_marker_mode" / "all.yaml"
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 2
    assert len(standin.requests) == 2


def test_a_bad_record_mode_is_a_usage_error(pytester):
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = run(pytester, "--orange-record-mode=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--orange-record-mode*invalid choice*sometimes*"])


# No process or port left behind ---------------------------------------------------------------------------


def test_a_failing_test_leaves_no_process_and_shows_the_proxy_output(pytester, notes):
    pytester.makepyfile(
        test_failing="""
import pytest
from helpers import note, token


@pytest.mark.orange_faults("status:code=500,api=oauth")
def test_fails(orange_proxy):
    note(orange_proxy, "failing")
    assert token(orange_proxy.session).status_code == 200


def test_passes(orange_proxy):
    note(orange_proxy, "passing")


@pytest.fixture
def broken(orange_proxy):
    raise RuntimeError("a fixture after the proxy fails")


def test_uses_a_broken_fixture(broken):
    pass
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    # The failure's report shows what the proxy printed.
    result.stdout.fnmatch_lines(
        ["*orange-proxy output (synth)*", "*orange-proxy synth ready: proxy http://*"]
    )
    proxies = noted(notes)
    assert set(proxies) == {"failing", "passing"}
    assert_gone(proxies)
    # ...and the fixture whose dependent broke started a proxy too: no orange-proxy of this run is left.
    assert not [pid for pid in _orange_proxy_pids() if _started_in(pid, pytester.path)]


def test_an_interrupted_run_leaves_no_process(pytester, notes):
    pytester.makepyfile(
        test_interrupted="""
from helpers import note


def test_interrupted(orange_proxy):
    note(orange_proxy, "interrupted")
    raise KeyboardInterrupt  # what Ctrl-C raises in the test
"""
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert_gone(noted(notes))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signalled_pytest_leaves_no_process(pytester, notes, sig):
    """Ctrl-C runs the finalizers; SIGTERM and SIGKILL run none: then the proxy ends itself when the
    pytest that started it dies."""
    pytester.makepyfile(
        test_signalled="""
import time
from helpers import note


def test_waits(orange_proxy):
    note(orange_proxy, "signalled")
    time.sleep(120)
"""
    )
    env = {**os.environ, "ORANGE_NOTES": str(notes)}
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_signalled.py"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as run_:
        deadline = time.monotonic() + 60
        while not (notes / "signalled").exists():
            assert run_.poll() is None and time.monotonic() < deadline, "the example never started"
            time.sleep(0.1)
        proxy = noted(notes)["signalled"]
        assert alive(proxy["pid"]) and listening(proxy["port"])  # it really ran
        run_.send_signal(sig)
        assert run_.wait(timeout=60) != 0
    assert_gone({"signalled": proxy}, within=20)


def test_the_readme_example_passes_as_written(pytester):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.partition("\n## pytest plugin\n")[2].partition("\n## ")[0]
    example = section.partition("```python\n")[2].partition("```")[0]
    assert "def test_" in example
    pytester.makepyfile(test_readme=example)
    run(pytester).assert_outcomes(passed=1)


# Units ----------------------------------------------------------------------------------------------------


class _Node:
    def __init__(self, name: str, cls: type | None = None) -> None:
        self.name, self.cls = name, cls


def test_cassette_names_follow_pytest_recording():
    class TestThing:
        pass

    assert cassette_name(_Node("test_a")) == "test_a.yaml"
    assert cassette_name(_Node("test_a[x-1]")) == "test_a[x-1].yaml"
    assert cassette_name(_Node("test_b", TestThing)) == "TestThing.test_b.yaml"
    assert cassette_name(_Node('test_c[a/b:"c"]')) == "test_c[a-b--c-].yaml"


def test_the_ready_line_is_read_as_the_proxy_prints_it():
    line = (
        "orange-proxy replay ready: proxy http://127.0.0.1:41234, http://[::1]:41234; CA certificate "
        "/c/mitmproxy-ca-cert.pem (devices: open http://mitm.it through the proxy); control page "
        "http://orange-proxy.test/"
    )
    match = READY.search("[19:00:00] HTTP(S) proxy listening at 127.0.0.1:41234.\n" + line)
    assert match is not None and (match["host"], match["port"]) == ("127.0.0.1", "41234")
    match = READY.search("orange-proxy synth ready: proxy http://[::1]:8080; CA certificate /c.pem")
    assert match is not None and (match["host"], match["port"]) == ("[::1]", "8080")


def test_a_proxy_that_cannot_start_says_why(tmp_path):
    proxy = ProxyProcess(tmp_path, "synth", ["--rules", str(tmp_path / "nowhere.yaml")])
    with pytest.raises(ProxyStartError, match=r"(?s)exited with status 2 before it was ready.*no such file"):
        proxy.start()
    assert proxy.stop() == 2


# Helpers for the leak checks ------------------------------------------------------------------------------


def _orange_proxy_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(part.endswith(b"orange-proxy") or part == b"proxy_addons" for part in command):
                pids.append(int(entry.name))
    return [pid for pid in pids if alive(pid)]


def _started_in(pid: int, folder: Path) -> bool:
    """Whether the process's confdir lies in a pytester run's base temp (the example run's proxies)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(folder) in command
