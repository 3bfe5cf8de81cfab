"""Synthesis cost, as ratios measured in one run (nothing here is a pass/fail threshold).

    python benchmarks/bench_synth.py [--requests N]

- engine: `Engine.handle` in-process (routing, auth, validation, geometry, schema check), per request;
- proxy: the same location-verification request through a real `orange-proxy` process over HTTPS
  (httpx, keep-alive), per request; and with requests, whose POSTs through a proxy tunnel pay ~40 ms of
  delayed-ACK/Nagle interplay (headers and body leave in separate writes) that is the client's, not ours;
- memory: the proxy's RSS before and after issuing N more tokens (tokens are swept once expired).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import requests
from mitmproxy.version import VERSION as mitmproxy_version

from proxy_addons.config.rules import load_rules
from proxy_addons.config.schemas import default_store
from proxy_addons.model import ApiRequest, Headers
from proxy_addons.simulator.engine import Engine

ORANGE = "https://api.orange.com"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
DLV_PATH = "/camara/location-verification/orange-lab/v0/verify"
BODY = {
    "device": {"phoneNumber": "33699901031"},
    "area": {"areaType": "CIRCLE", "center": {"latitude": 48.81, "longitude": 2.29}, "radius": 2000},
    "maxAge": 3600,
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def bench_engine(n: int) -> list[float]:
    engine = Engine(load_rules([], default_store()))
    token = engine.state.tokens.issue("bench", "oauth-v3", "client_credentials", (), 3600)
    request = ApiRequest(
        "POST",
        "api.orange.com",
        DLV_PATH,
        "",
        Headers([("Authorization", f"Bearer {token.value}"), ("Content-Type", "application/json")]),
        json.dumps(BODY).encode(),
    )
    route = engine.classify("POST", DLV_PATH)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = engine.handle(route, request)
        times.append(time.perf_counter() - start)
    assert response.status == 200, response.data
    return times


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_proxy(tmp: str) -> tuple[subprocess.Popen, str, str]:
    script = Path(sys.executable).parent / "orange-proxy"
    log = Path(tmp) / "proxy.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(script), "--listen-port", "0", "--confdir", tmp], stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while not (m := re.search(r"proxy (http://\S+); CA certificate (\S+)", log.read_text())):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"proxy did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return proc, m[1], m[2]


def timed(n: int, call) -> list[float]:
    for _ in range(20):  # warm up
        call()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - start)
    assert answer.status_code == 200, answer.text
    return times


def bench_proxy(n: int, tokens: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, proxy_url, ca = start_proxy(tmp)
        try:
            context = ssl.create_default_context(cafile=ca)
            with httpx.Client(proxy=proxy_url, verify=context, trust_env=False) as client:
                token = client.post(ORANGE + "/oauth/v3/token", auth=("b", "c"), data=CLIENT_CREDENTIALS)
                headers = {"Authorization": "Bearer " + token.json()["access_token"]}
                via_httpx = timed(n, lambda: client.post(ORANGE + DLV_PATH, headers=headers, json=BODY))
                before = rss_kib(proc.pid)
                for _ in range(tokens):
                    client.post(ORANGE + "/oauth/v3/token", auth=("b", "c"), data=CLIENT_CREDENTIALS)
                after = rss_kib(proc.pid)
            session = requests.Session()
            session.trust_env = False
            session.proxies = {"https": proxy_url}
            session.verify = ca
            via_requests = timed(
                max(50, n // 20), lambda: session.post(ORANGE + DLV_PATH, headers=headers, json=BODY)
            )
            return {"httpx": via_httpx, "requests": via_requests, "rss": (before, after)}
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()
    engine = bench_engine(args.requests)
    proxy = bench_proxy(args.requests, args.tokens)
    print(f"python {sys.version.split()[0]}, mitmproxy {mitmproxy_version}, {os.cpu_count()} cores")
    rows = [
        ("engine.handle", engine),
        ("proxy + httpx", proxy["httpx"]),
        ("proxy + requests", proxy["requests"]),
    ]
    for label, times in rows:
        print(
            f"{label:17} n={len(times):5}  p50 {statistics.median(times) * 1e3:7.3f} ms  "
            f"p99 {percentile(times, 0.99) * 1e3:7.3f} ms"
        )
    e50, h50 = statistics.median(engine), statistics.median(proxy["httpx"])
    print(
        f"proxied request / engine alone (p50, httpx): {h50 / e50:.1f}x; the engine is {e50 / h50:.0%} of it"
    )
    before, after = proxy["rss"]
    print(f"proxy RSS {before} KiB -> {after} KiB after {args.tokens} more tokens ({after / before:.2f}x)")


if __name__ == "__main__":
    main()
