"""Two hosts on one machine for the device-mode tests: network namespaces made by the test (root), joined
by a veth pair. `gateway` (10.99.0.1) runs the proxy and, on 10.98.0.1, another HTTPS host; `device`
(10.99.0.2) is the phone or laptop whose traffic the proxy gets by transparent redirect or WireGuard.

Files in /etc/netns/<name>/ replace /etc/hosts and /etc/resolv.conf inside a namespace (`ip netns exec`
bind-mounts them), so name lookups behave the same on every machine: the gateway has no name server
(offline, failing at once), the device asks whatever the test names."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GATEWAY_ADDRESS = "10.99.0.1"
DEVICE_ADDRESS = "10.99.0.2"
OTHER_HOST_ADDRESS = "10.98.0.1"  # another HTTPS server, on the gateway's loopback


def unavailable(*programs: str) -> str | None:
    """Why the namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for program in ("ip", *programs):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian: iproute2 iptables wireguard-tools wireguard-go)"
    probe = f"op-probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def require(*programs: str) -> None:
    """Skip when the machine cannot make namespaces; under CI (which installs what they need) fail."""
    reason = unavailable(*programs)
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the device-mode tests: {reason}")
    pytest.skip(reason)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result


@dataclass
class Lab:
    """The two namespaces; `exec(ns, ...)` runs a command in one, `spawn` starts one in the background."""

    gateway: str
    device: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def create(cls) -> Lab:
        tag = uuid.uuid4().hex[:6]
        lab = cls(gateway=f"op-{tag}-gw", device=f"op-{tag}-dev")
        try:
            lab._build()
        except BaseException:
            lab.destroy()
            raise
        return lab

    def _build(self) -> None:
        gw, dev = self.gateway, self.device
        for ns in (gw, dev):
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text("127.0.0.1 localhost\n")
            # No name server there (offline); a lookup gives up after one try of one second.
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "link",
            "add",
            "veth-gw",
            "netns",
            gw,
            "type",
            "veth",
            "peer",
            "name",
            "veth-dev",
            "netns",
            dev,
        )
        sh("ip", "-n", gw, "addr", "add", f"{GATEWAY_ADDRESS}/24", "dev", "veth-gw")
        sh("ip", "-n", dev, "addr", "add", f"{DEVICE_ADDRESS}/24", "dev", "veth-dev")
        sh("ip", "-n", gw, "addr", "add", f"{OTHER_HOST_ADDRESS}/32", "dev", "lo")
        sh("ip", "-n", gw, "link", "set", "veth-gw", "up")
        sh("ip", "-n", dev, "link", "set", "veth-dev", "up")
        # The gateway's default route makes 10.99.0.1 its LAN address (what the ready line offers).
        sh("ip", "-n", gw, "route", "add", "default", "via", DEVICE_ADDRESS)

    def resolver(self, ns: str, address: str) -> None:
        (Path("/etc/netns") / ns / "resolv.conf").write_text(f"nameserver {address}\n")

    def exec(
        self, ns: str, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"[{ns}] {' '.join(argv)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )
        return result

    def spawn(self, ns: str, *argv: str, log: Path, cwd: Path | None = None) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        with open(log, "wb") as out:  # a file, never a pipe nobody reads
            process = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv], stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env
            )
        self.processes.append(process)
        return process

    def destroy(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for ns in (self.gateway, self.device):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
