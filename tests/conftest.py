"""Shared fixtures: the real `orange-proxy` process, clients that trust its CA, and schema checks
applied to every response a test receives."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import requests

from proxy_addons.config.rules import load_rules
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.integrations.standin import StandInServer, self_signed_certificate, serving
from proxy_addons.simulator.engine import Engine, Settings

ORANGE = "https://api.orange.com"
# The first address of the ready line (reverse and other modes may list more).
READY = re.compile(r"ready: proxy http://(?P<host>[^:\s]+):(?P<port>\d+)[^;]*; CA certificate (?P<ca>\S+)")

# Which schema each documented path's answers follow; written here, independently of the proxy's router.
PATH_SCHEMAS = {
    "/openidconnect/playground/v1.0/authorize": ("oauth", "authorize"),
    "/openidconnect/playground/v1.0/token": ("oauth", "playground-token"),
    "/oauth/v3/token": ("oauth", "v3-token"),
    "/openidconnect/playground/v1.0/.well-known/openid-configuration": ("oauth", "openid-configuration"),
    "/openidconnect/playground/v1.0/jwks": ("oauth", "jwks"),
    "/camara/playground/api/number-verification/v1/verify": ("number-verification", "verify"),
    "/camara/playground/api/number-verification/v1/device-phone-number": (
        "number-verification",
        "device-phone-number",
    ),
    "/camara/location-verification/orange-lab/v0/verify": ("location-verification", "verify"),
    "/camara/playground/admin/v1.0/action": ("playground-admin", "action"),
}
# The playground's other CAMARA APIs (ORANGE-AND-CAMARA.md §6.1): API name, base path, operations.
PLAYGROUND_APIS = {
    "playground-location-verification": ("location-verification/v1", ("verify",)),
    "location-retrieval": ("location-retrieval/v0.3", ("retrieve",)),
    "device-reachability-status": ("device-reachability-status/v0.6", ("retrieve",)),
    "device-roaming-status": ("device-roaming-status/v0.6", ("retrieve",)),
    "sim-swap": ("sim-swap/v1", ("retrieve-date", "check")),
    "device-swap": ("device-swap/v0.2", ("retrieve-date", "check")),
    "kyc-match": ("kyc-match/v0.2", ("match",)),
    "population-density-data": ("population-density-data/v0.2", ("retrieve",)),
}
for _api, (_base, _operations) in PLAYGROUND_APIS.items():
    for _operation in _operations:
        PATH_SCHEMAS[f"/camara/playground/api/{_base}/{_operation}"] = (_api, _operation)
API_PREFIXES = {
    "/": "gateway",
    "/openidconnect/playground/v1.0/": "oauth",
    "/oauth/v3/": "oauth",
    "/camara/playground/api/number-verification/v1/": "number-verification",
    "/camara/location-verification/orange-lab/v0/": "location-verification",
    "/camara/playground/admin/v1.0/": "playground-admin",
    "/camara/playground/api/": "playground-paths",
    **{f"/camara/playground/api/{base}/": api for api, (base, _) in PLAYGROUND_APIS.items()},
}


def orange_proxy_command() -> list[str]:
    """The installed console script next to this interpreter (what users run), else `-m`."""
    script = Path(sys.executable).parent / "orange-proxy"
    return [str(script)] if script.exists() else [sys.executable, "-m", "proxy_addons"]


def run_orange_proxy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`orange-proxy ARGS` to its end, as a user runs it from `cwd` (no input, text output)."""
    return subprocess.run(
        [*orange_proxy_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore()


def schema_problems(store: SchemaStore, url: str, status: int, body: bytes) -> list[str] | None:
    """Problems of one answer from api.orange.com against our schemas; None for other hosts."""
    parts = urlsplit(url)
    if parts.hostname != "api.orange.com":
        return None
    if parts.path in PATH_SCHEMAS:
        api, operation = PATH_SCHEMAS[parts.path]
    else:
        prefix = max((p for p in API_PREFIXES if parts.path.startswith(p)), key=len)
        api, operation = API_PREFIXES[prefix], "unknown"
    data = json.loads(body) if body else None
    return store.check_response(f"{api}#{operation}.{status}", status, data)


# Error body keys per (API, status) under profile orange, as Orange's pages document them; every other
# error of these APIs, and all of them under profile camara, is CAMARA's {status, code, message}.
ORANGE_ERROR_KEYS = {
    ("number-verification", 401): {"code", "message"},
    ("number-verification", 403): {"code", "message"},
    ("location-verification", 400): {"status", "message"},
    ("location-verification", 401): {"status", "message"},
    ("location-verification", 403): {"status", "message"},
    # The playground's other APIs speak its Number Verification dialect.
    **{(api, status): {"code", "message"} for api in PLAYGROUND_APIS for status in (401, 403)},
}
CAMARA_APIS = ("number-verification", "location-verification", *PLAYGROUND_APIS)
LOG_MARKERS = ("Traceback", "Addon error", " breaks ")
LIVE: list[Proxy] = []


def dialect_problem(url: str, status: int, body: bytes, profile: str) -> str | None:
    """The error body's keys must be those of the profile's dialect (schemas accept both dialects)."""
    parts = urlsplit(url)
    if parts.hostname != "api.orange.com" or status < 400 or not body:
        return None
    api = next((a for p, a in API_PREFIXES.items() if a in CAMARA_APIS and parts.path.startswith(p)), None)
    if api is None:
        return None
    keys = set(json.loads(body))
    expected = (ORANGE_ERROR_KEYS.get((api, status)) if profile == "orange" else None) or {
        "status",
        "code",
        "message",
    }
    return (
        None
        if keys == expected
        else f"{profile} {api} {status} body has keys {sorted(keys)}, not {sorted(expected)}"
    )


@dataclass
class Proxy:
    """A running `orange-proxy` process."""

    process: subprocess.Popen
    url: str
    ca: Path
    log: Path
    schemas: SchemaStore
    profile: str = "orange"
    checked: list[str] = field(default_factory=list)
    log_offset: int = 0

    # Clients -----------------------------------------------------------------------------------

    def check(self, url: str, status: int, body: bytes, method: str = "GET") -> None:
        if method == "HEAD":  # no body to check
            return
        problems = schema_problems(self.schemas, url, status, body)
        if problems is not None:
            self.checked.append(url)
            assert not problems, f"{status} from {url} breaks its schema: {problems}; body {body!r}"
            wrong = dialect_problem(url, status, body, self.profile)
            assert wrong is None, wrong

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no NO_PROXY or CA bundle from the environment
        session.proxies = {"http": self.url, "https": self.url}
        session.verify = str(self.ca)

        def hook(response: requests.Response, *args, **kwargs) -> None:
            self.check(response.url, response.status_code, response.content, response.request.method)

        session.hooks["response"].append(hook)
        return session

    def httpx_client(self, **kwargs) -> httpx.Client:
        def hook(response: httpx.Response) -> None:
            response.read()
            self.check(str(response.url), response.status_code, response.content, response.request.method)

        context = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(
            proxy=self.url, verify=context, trust_env=False, event_hooks={"response": [hook]}, **kwargs
        )

    def curl(self, *args: str) -> tuple[int, dict[str, str], bytes]:
        """Run curl through the proxy; returns (status, headers, body) of the last response."""
        assert shutil.which("curl"), "curl is needed"
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "20",
                "--proxy",
                self.url,
                "--noproxy",
                "",
                "--cacert",
                str(self.ca),
                "-D",
                "-",
                *args,
            ],
            capture_output=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr.decode()
        head, _, body = result.stdout.rpartition(b"\r\n\r\n")
        # Skip the proxy's "200 Connection established" block and keep the last response's head.
        last = head.split(b"\r\n\r\n")[-1].decode("latin-1").split("\r\n")
        status = int(last[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in last[1:])}
        url = next(a for a in args if a.startswith("http"))
        self.check(url, status, body)
        return status, headers, body

    # Process -----------------------------------------------------------------------------------

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def scan(self) -> None:
        """Fail on log lines that betray a bug, written since the last scan (run after every test)."""
        with open(self.log, "rb") as log:
            log.seek(self.log_offset)
            data = log.read()
        self.log_offset += len(data)
        new = data.decode(errors="replace")
        for marker in LOG_MARKERS:
            assert marker not in new, f"proxy logged {marker!r}:\n{new}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self in LIVE:
            LIVE.remove(self)
        # Bad input must never crash an addon, and every synthesised body must match its schema.
        self.scan()


def start_proxy(
    tmp: Path,
    schemas: SchemaStore,
    *args: str,
    command: list[str] | None = None,
    ready: tuple[str, int, Path] | None = None,
    subcommand: str = "synth",
) -> Proxy:
    """Start `orange-proxy synth` on a free loopback port with its own confdir; wait for its ready line.

    With `command` (another program, e.g. mitmdump) pass `ready` = (host, port, CA file) to wait for
    the port to accept connections instead."""
    confdir = tmp / "confdir"
    confdir.mkdir(parents=True, exist_ok=True)
    log = tmp / "proxy.log"
    argv = command or [
        *orange_proxy_command(),
        subcommand,
        "--listen-port",
        "0",
        "--confdir",
        str(confdir),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    with open(log, "wb") as out:
        # Output goes to a file, never a pipe nobody reads (a full pipe would stall the proxy).
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready is not None:
            host, port, ca = ready
            if ca.exists() and _accepts(host, port):
                proxy = Proxy(process, f"http://{host}:{port}", ca, log, schemas)
                break
        elif match := READY.search(log.read_text(errors="replace")):
            proxy = Proxy(process, f"http://{match['host']}:{match['port']}", Path(match["ca"]), log, schemas)
            break
        if process.poll() is not None:
            raise AssertionError(f"proxy exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(f"proxy not ready in 30 s:\n{log.read_text()}")
    words = " ".join(argv)
    proxy.profile = (
        "camara" if ("--profile camara" in words or "orange_profile=camara" in words) else "orange"
    )
    LIVE.append(proxy)
    return proxy


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _proxy_logs_stay_clean():
    """After each test, every running proxy's new log lines are checked, so a failure names its test."""
    yield
    for proxy in list(LIVE):
        proxy.scan()


@pytest.fixture
def proxy_factory(tmp_path_factory, schemas) -> Iterator[Callable[..., Proxy]]:
    """Start extra proxies with their own flags; all are stopped (and their logs checked) afterwards."""
    started: list[Proxy] = []

    def factory(*args: str, command: list[str] | None = None, ready=None, subcommand: str = "synth") -> Proxy:
        proxy = start_proxy(
            tmp_path_factory.mktemp("proxy"),
            schemas,
            *args,
            command=command,
            ready=ready,
            subcommand=subcommand,
        )
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def proxy(tmp_path_factory, schemas) -> Iterator[Proxy]:
    """One proxy with the default settings (profile orange), shared by the tests that need no other."""
    running = start_proxy(tmp_path_factory.mktemp("proxy"), schemas)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def camara_proxy(tmp_path_factory, schemas) -> Iterator[Proxy]:
    running = start_proxy(tmp_path_factory.mktemp("proxy"), schemas, "--profile", "camara")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """(cert, key) of a self-signed certificate for 127.0.0.1 and localhost."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def stand_in(tls_files, **settings) -> StandInServer:
    """An HTTPS stand-in of api.orange.com (the synthesiser on a real socket); `settings` go to Settings,
    `gzip=True` compresses its answers."""
    cert, key = tls_files
    gzip = settings.pop("gzip", False)
    engine = Engine(load_rules([], default_store()), Settings(**settings))
    return StandInServer(engine, certfile=str(cert), keyfile=str(key), gzip=gzip)


@pytest.fixture
def standin(tls_files) -> Iterator[StandInServer]:
    with serving(stand_in(tls_files)) as server:
        yield server


def recorder(proxy_factory, tls_files, server: StandInServer, cassette: Path, *extra: str):
    return proxy_factory(
        "--cassette",
        str(cassette),
        "--upstream",
        server.url,
        "--upstream-ca",
        str(tls_files[0]),
        *extra,
        subcommand="record",
    )
