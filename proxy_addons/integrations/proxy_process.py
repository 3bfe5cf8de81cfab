"""A real `orange-proxy` process for tests: started on a free port with its own confdir, its address
and CA file read back, and always ended with its whole process group.

The pytest plugin (pytest_plugin.py) adds the clients; this module is the standard library only, so
scripts can use it too:

    with ProxyProcess(Path("/tmp/run"), "synth", ["--fault", "token_expired"]) as proxy:
        subprocess.run(["my-app"], env={**os.environ, **proxy.env})
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CA_FILE = "mitmproxy-ca-cert.pem"
# vcrpy's record modes, plus pytest-recording's `rewrite` (delete the cassette, then record).
RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
# `orange-proxy <mode> ready: proxy http://HOST:PORT[, more]; CA certificate PATH ...`
READY = re.compile(r"orange-proxy \S+ ready: proxy http://(?P<host>\[[^\]]+\]|[^:\s,;]+):(?P<port>\d+)")
START_TIMEOUT = 60.0  # seconds; a cold start on a loaded CI runner takes a few
STOP_TIMEOUT = 15.0
KILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL
SUMMARY_LINES = 60  # of the proxy's output in a verdict
# What pytest-recording replaces in a test's name to make it a file name.
UNSAFE = re.compile(r"[<>?%*:|\"'/\\]")


class ProxyStartError(Exception):
    """The proxy did not come up; the message carries its output."""


def cassette_name(node: Any) -> str:
    """`<test name>.yaml`, as pytest-recording names a test's default cassette (`Class.test` in a class)."""
    cls = getattr(node, "cls", None)
    name = f"{cls.__name__}.{node.name}" if cls is not None else node.name
    return UNSAFE.sub("-", name) + ".yaml"


def orange_proxy_command() -> list[str]:
    """The console script installed beside this interpreter (what users run), else `python -m`."""
    script = Path(sys.executable).parent / "orange-proxy"
    return [str(script)] if script.exists() else [sys.executable, "-m", "proxy_addons"]


def _parent_death_signal() -> Any:
    """On Linux, a function for the child (run before exec) that asks for SIGTERM when pytest dies, even
    by SIGKILL, so no proxy outlives a killed run (finalizers do not run then). libc is loaded here, in
    the parent: the child between fork and exec should do as little as possible."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_signal() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_signal


class ProxyProcess:
    """One `orange-proxy <subcommand>` process, its address, CA file, output and clients."""

    def __init__(
        self,
        workdir: Path,
        subcommand: str = "synth",
        args: list[str] | None = None,
        cassette: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.subcommand = subcommand
        self.args = list(args or [])
        self.cassette = cassette
        self.confdir = self.workdir / "confdir"
        self.log = self.workdir / "orange-proxy.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.host = ""
        self.port = 0
        self.returncode: int | None = None
        self._clients: dict[str, Any] = {}  # what close() ends at stop(): clients a subclass made

    # Process -------------------------------------------------------------------------------------------

    @property
    def argv(self) -> list[str]:
        return [
            *orange_proxy_command(),
            self.subcommand,
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            "0",
            "--confdir",
            str(self.confdir),
            *self.args,
        ]

    def start(self) -> ProxyProcess:
        """Start the process and wait for its ready line (ProxyStartError with its output if it fails)."""
        self.confdir.mkdir(parents=True, exist_ok=True)
        # The proxy must not itself go through a proxy the developer's shell sets.
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        with open(self.log, "wb") as out:
            # A file, never a pipe: nobody reads a pipe during the test, and a full one stalls the proxy.
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,  # its own process group: teardown ends all of it, and only it
                preexec_fn=_parent_death_signal(),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = READY.search(self.output())
            if match:
                self.host, self.port = match["host"].strip("[]"), int(match["port"])
                return self
            if self.process.poll() is not None:
                raise ProxyStartError(
                    f"orange-proxy {self.subcommand} exited with status {self.process.returncode} before "
                    f"it was ready:\n{self.output()}"
                )
            time.sleep(0.05)
        raise ProxyStartError(
            f"orange-proxy {self.subcommand} not ready in {START_TIMEOUT:.0f} s:\n{self.output()}"
        )

    def stop(self) -> int | None:
        """End the process group (SIGTERM, then SIGKILL) and close the clients; returns the exit status."""
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            self._signal(signal.SIGTERM)
            if not self._exited(STOP_TIMEOUT):
                self._signal(KILL)
            # Anything else the proxy started is in its group: end it too. Its pid, the group's id, is
            # not reaped yet (_exited only looks), so no other process can have taken it.
            self._signal(KILL)
        self.returncode = process.wait()
        return self.returncode

    def _exited(self, timeout: float) -> bool:
        """Whether the proxy exited within `timeout`, leaving it unreaped where the OS allows."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if hasattr(os, "waitid"):
                try:
                    if os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG):
                        return True
                except ChildProcessError:  # reaped already
                    return True
            elif self.process.poll() is not None:
                return True
            time.sleep(0.05)
        return False

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if hasattr(os, "killpg"):
                os.killpg(self.process.pid, sig)  # the group id is the proxy's pid (start_new_session)
            elif self.process.poll() is None:  # Windows: no process groups to signal
                self.process.terminate()

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def output(self) -> str:
        """Everything the proxy printed so far (its ready line, request lines, errors, exit summary)."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def summary(self) -> str:
        """What the proxy printed from its ready line on (its request lines and exit summary)."""
        text = self.output()
        match = READY.search(text)
        lines = (text[text.rfind("\n", 0, match.start()) + 1 :] if match else text).splitlines()
        if len(lines) > SUMMARY_LINES:  # a long run: its end holds the summary and the exit status
            lines = [f"... ({len(lines) - SUMMARY_LINES} lines before)", *lines[-SUMMARY_LINES:]]
        return "\n".join(lines)

    # Addresses -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's URL, e.g. http://127.0.0.1:41234 (for HTTPS_PROXY, or a client's proxy setting)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ca(self) -> Path:
        """The CA certificate clients must trust (PEM)."""
        return self.confdir / CA_FILE

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point an app started as a subprocess at this proxy."""
        ca = str(self.ca)
        return {
            "HTTPS_PROXY": self.url,
            "HTTP_PROXY": self.url,
            "https_proxy": self.url,
            "http_proxy": self.url,
            "NO_PROXY": "",
            "no_proxy": "",
            "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
            "CURL_CA_BUNDLE": ca,
        }

    def __repr__(self) -> str:
        return f"<orange-proxy {self.subcommand} at {self.url or '(not started)'}>"
