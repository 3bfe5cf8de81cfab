"""pytest plugin (registered through the `pytest11` entry point): the real proxy as a fixture, and vcrpy.

    def test_sim_swap(orange_proxy):
        answer = orange_proxy.session.post("https://api.orange.com/...", ...)

    @pytest.mark.orange_cassette                      # cassettes/<module>/<test>.yaml beside the test
    @pytest.mark.orange_faults("token_expired")
    def test_login(orange_proxy): ...

`orange_proxy` starts `orange-proxy` (synth; replay or record with a cassette marker) for one test, on a
free port with its own confdir; `orange_proxy_session` is one synth proxy shared by the whole session.
`--orange-record-mode` picks replay (none, the default, as pytest-recording) or record
(once, new_episodes, all, rewrite). The proxy's process group is ended at teardown, whatever the outcome.

`orange_vcr` is in-process vcrpy with our matching and scrubbing:

    def test_login(orange_vcr):
        with orange_vcr.use_cassette("login.yaml"):
            ...

Its cassettes are looked up in `cassettes/` beside the test module. Override the `orange_vcr_config`
fixture to change that or any other `vcr.VCR` option (`match` and `scrub` take our config objects).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy_addons.integrations.proxy_process import (
    RECORD_MODES,
    STOP_TIMEOUT,
    ProxyProcess,
    ProxyStartError,
    cassette_name,
)

MARKERS = {
    "orange_cassette": "orange_cassette(name=None, record_mode=None): run orange_proxy on a cassette; name "
    "is relative to cassettes/<module>/ beside the test (default <test name>.yaml)",
    "orange_rules": "orange_rules(*files): rules files for orange_proxy, relative to the test file",
    "orange_faults": "orange_faults(*specs): faults orange_proxy starts with, e.g. 'token_expired'",
    "orange_args": "orange_args(*flags): more orange-proxy flags, e.g. orange_args('--profile', 'camara')",
}
LOG_SECTION = "orange-proxy output"
CONTROL = "http://orange-proxy.test/api"
# `orange-proxy replay|record` exit statuses (see `orange-proxy --help`).
VERDICTS = {
    1: "a request missed the cassette (add --allow-misses with @pytest.mark.orange_args to accept misses)",
    3: "interactions of the cassette were never played (--require-all-played)",
    4: "a forwarded request got no answer from the upstream (is it reachable? see the summary)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orange-proxy")
    group.addoption(
        "--orange-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="for tests marked orange_cassette: none (default) replays the cassette; once records it if it "
        "does not exist, new_episodes records what it lacks, all records everything again, rewrite deletes "
        "it first (as pytest-recording's --record-mode)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


# The real proxy --------------------------------------------------------------------------------------


class Control:
    """The proxy's control API (http://orange-proxy.test/api), through the proxy itself."""

    def __init__(self, proxy: OrangeProxy) -> None:
        self._proxy = proxy

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._proxy._control_session().request(method, CONTROL + path, timeout=30, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"control API {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def add_fault(self, spec: str | dict[str, Any]) -> dict[str, Any]:
        """Add a fault (a spec such as "service_unavailable:times=1", or a structured one); returns it
        with its id."""
        return self._call("POST", "/faults", json={"fault": spec} if isinstance(spec, str) else spec)

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def remove_fault(self, fault_id: str) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> int:
        """Remove every fault; returns how many there were."""
        return self._call("DELETE", "/faults")["removed"]

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        """The event log (exchanges, faults), oldest first, after sequence number `since`."""
        return self._call("GET", "/events", params={"since": str(since)})["events"]

    def state(self) -> dict[str, Any]:
        """Mode, profile, live tokens, known numbers, faults, counters."""
        return self._call("GET", "/state")


class OrangeProxy(ProxyProcess):
    """What `orange_proxy` hands a test: the process (url, ca, env, output()) and clients ready to use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.control = Control(self)

    # Clients -------------------------------------------------------------------------------------------

    def requests_session(self) -> Any:
        """A new requests.Session through the proxy, trusting its CA, ignoring the environment
        (REQUESTS_CA_BUNDLE, NO_PROXY and the like would override these settings)."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.proxies = {"http": self.url, "https": self.url}
        session.verify = str(self.ca)
        return session

    def httpx_client(self, **kwargs: Any) -> Any:
        """A new httpx.Client through the proxy, trusting its CA, ignoring the environment."""
        import httpx

        context = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(proxy=self.url, verify=context, trust_env=False, **kwargs)

    @property
    def session(self) -> Any:
        """A requests.Session ready to use (closed at teardown)."""
        if "session" not in self._clients:
            self._clients["session"] = self.requests_session()
        return self._clients["session"]

    @property
    def httpx(self) -> Any:
        """An httpx.Client ready to use (closed at teardown)."""
        if "httpx" not in self._clients:
            self._clients["httpx"] = self.httpx_client()
        return self._clients["httpx"]

    def _control_session(self) -> Any:
        """The control client's own session (the test's `session` keeps its own headers and hooks)."""
        if "control" not in self._clients:
            session = self.requests_session()
            token = self._flag("--control-token")
            if token:
                session.headers["Authorization"] = f"Bearer {token}"
            self._clients["control"] = session
        return self._clients["control"]

    def _flag(self, name: str) -> str | None:
        for i, arg in enumerate(self.args):
            if arg == name and i + 1 < len(self.args):
                return self.args[i + 1]
            if arg.startswith(name + "="):
                return arg.partition("=")[2]
        return None


@pytest.fixture
def orange_proxy_args() -> list[str]:
    """Flags every `orange_proxy` of the tests in scope starts with (override it, e.g. for `--upstream`)."""
    return []


@pytest.fixture(scope="session")
def orange_proxy_session_args() -> list[str]:
    """Flags of `orange_proxy_session` (override it in a conftest.py)."""
    return []


@pytest.fixture
def orange_cassette_dir(request: pytest.FixtureRequest) -> Path:
    """Where cassette names are resolved: cassettes/<module name>/ beside the test file, as
    pytest-recording's `vcr_cassette_dir`."""
    path = Path(request.path)
    return path.parent / "cassettes" / path.stem


@pytest.fixture
def orange_proxy(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    orange_proxy_args: list[str],
    orange_cassette_dir: Path,
) -> Iterator[OrangeProxy]:
    """A real `orange-proxy` for this test: synth, or replay/record with `@pytest.mark.orange_cassette`."""
    node = request.node
    here = Path(request.path).parent
    args = [*orange_proxy_args]
    for mark in node.iter_markers("orange_rules"):
        args += [item for file in mark.args for item in ("--rules", str(here / file))]
    for mark in node.iter_markers("orange_faults"):
        args += [item for spec in mark.args for item in ("--fault", str(spec))]
    for mark in node.iter_markers("orange_args"):
        args += [str(flag) for flag in mark.args]

    subcommand, cassette = "synth", None
    marker = node.get_closest_marker("orange_cassette")
    if marker is not None:
        name = marker.args[0] if marker.args else marker.kwargs.get("name")
        cassette = orange_cassette_dir / (name or cassette_name(node))
        record_mode = (
            marker.kwargs.get("record_mode") or request.config.getoption("--orange-record-mode") or "none"
        )
        if record_mode not in RECORD_MODES:
            pytest.fail(f"orange_cassette: record_mode must be one of {', '.join(RECORD_MODES)}", False)
        if record_mode == "none":
            if not cassette.is_file():
                pytest.fail(
                    f"cassette {cassette} does not exist: record it with --orange-record-mode=once "
                    "(or name an existing one in @pytest.mark.orange_cassette)",
                    pytrace=False,
                )
            subcommand = "replay"
            args += ["--cassette", str(cassette)]
        else:
            if record_mode == "rewrite":  # as pytest-recording: start again from nothing
                cassette.unlink(missing_ok=True)
                record_mode = "all"
            cassette.parent.mkdir(parents=True, exist_ok=True)
            subcommand = "record"
            args += ["--cassette", str(cassette), "--record-mode", record_mode]

    proxy = OrangeProxy(tmp_path_factory.mktemp("orange-proxy"), subcommand, args, cassette=cassette)
    _started(node).append(proxy)
    _start(proxy)
    try:
        yield proxy
    finally:
        status = proxy.stop()
    _verdict(proxy, status)


def _start(proxy: OrangeProxy) -> None:
    """Start it, or fail the test with the proxy's output; never leave it running, even on Ctrl-C while
    it starts (teardown only runs once the fixture has yielded)."""
    try:
        proxy.start()
    except ProxyStartError as exc:
        proxy.stop()
        pytest.fail(str(exc), pytrace=False)
    except BaseException:
        proxy.stop()
        raise


def _verdict(proxy: ProxyProcess, status: int | None) -> None:
    """The proxy's exit status is the run's verdict (CI acts on it): a replay or record run in which a
    request missed the cassette exits 1, one that left interactions unplayed with --require-all-played 3.
    A test whose proxy says so errors at teardown, with the proxy's summary, as pytest-recording fails a
    request its cassette lacks. `@pytest.mark.orange_args("--allow-misses")` keeps such a test passing."""
    if status in (0, None):
        return
    if status < 0:
        reason = f"did not stop on SIGTERM within {STOP_TIMEOUT:.0f} s and was killed"
    else:
        reason = VERDICTS.get(status, "failed")
    pytest.fail(
        f"orange-proxy {proxy.subcommand} exited with status {status}: {reason}\n{proxy.summary()}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def orange_proxy_session(
    tmp_path_factory: pytest.TempPathFactory, orange_proxy_session_args: list[str]
) -> Iterator[OrangeProxy]:
    """One synthesising `orange-proxy` for the whole session (faults and Admin numbers are shared:
    clear what a test adds, e.g. `orange_proxy_session.control.clear_faults()`)."""
    proxy = OrangeProxy(tmp_path_factory.mktemp("orange-proxy"), "synth", list(orange_proxy_session_args))
    _start(proxy)
    try:
        yield proxy
    finally:
        status = proxy.stop()
    _verdict(proxy, status)


def _started(item: pytest.Item) -> list[OrangeProxy]:
    proxies = item.stash.get(_PROXIES, None)
    if proxies is None:
        proxies = item.stash[_PROXIES] = []
    return proxies


_PROXIES = pytest.StashKey[list[OrangeProxy]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failing test's report carries its proxy's output (request lines, errors, the exit summary)."""
    report = yield
    # A failed teardown is the proxy's verdict, whose message carries the summary already.
    if report.failed and report.when != "teardown":
        for proxy in item.stash.get(_PROXIES, []):
            report.sections.append((f"{LOG_SECTION} ({proxy.subcommand})", proxy.output()))
    return report


# In-process vcrpy ------------------------------------------------------------------------------------


@pytest.fixture
def orange_vcr_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"cassette_library_dir": str(Path(request.path).parent / "cassettes")}


@pytest.fixture
def orange_vcr(orange_vcr_config: dict[str, Any]):
    """A vcr.VCR that matches and scrubs as orange-proxy does (replay only, unless record_mode says so)."""
    from proxy_addons.integrations.vcr import orange_vcr as make

    return make(**orange_vcr_config)
