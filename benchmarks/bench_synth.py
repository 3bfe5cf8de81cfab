"""Synthesis cost, as ratios measured in one run (nothing here is a pass/fail threshold).

    python benchmarks/bench_synth.py [--requests N]

- engine: `Engine.handle` in-process (routing, auth, validation, geometry, schema check), per request;
- proxy: the same location-verification request through a real `orange-proxy` process over HTTPS
  (requests, keep-alive), per request;
- memory: the proxy's RSS before and after issuing N more tokens (tokens are swept once expired).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from proxy_addons.engine import Engine
from proxy_addons.model import ApiRequest, Headers
from proxy_addons.rules import load_rules
from proxy_addons.schemas import default_store

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
        "POST", "api.orange.com", DLV_PATH, "",
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


def bench_proxy(n: int, tokens: int) -> tuple[list[float], int, int]:
    script = Path(sys.executable).parent / "orange-proxy"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "proxy.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(script), "--listen-port", "0", "--confdir", tmp], stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 30
            while not (m := re.search(r"proxy (http://\S+); CA certificate (\S+)", log.read_text())):
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                time.sleep(0.05)
            session = requests.Session()
            session.trust_env = False
            session.proxies = {"https": m[1]}
            session.verify = m[2]
            url = "https://api.orange.com"
            token = session.post(url + "/oauth/v3/token", auth=("b", "c"), data={"grant_type": "client_credentials"})
            headers = {"Authorization": "Bearer " + token.json()["access_token"]}
            for _ in range(20):  # warm up
                session.post(url + DLV_PATH, headers=headers, json=BODY)
            times = []
            for _ in range(n):
                start = time.perf_counter()
                answer = session.post(url + DLV_PATH, headers=headers, json=BODY)
                times.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
            before = rss_kib(proc.pid)
            for _ in range(tokens):
                session.post(url + "/oauth/v3/token", auth=("b", "c"), data={"grant_type": "client_credentials"})
            after = rss_kib(proc.pid)
            return times, before, after
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()
    engine = bench_engine(args.requests)
    proxy, before, after = bench_proxy(args.requests, args.tokens)
    e50, p50 = statistics.median(engine), statistics.median(proxy)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.requests} requests")
    print(f"engine.handle   p50 {e50 * 1e3:7.3f} ms   p99 {percentile(engine, 0.99) * 1e3:7.3f} ms")
    print(f"through proxy   p50 {p50 * 1e3:7.3f} ms   p99 {percentile(proxy, 0.99) * 1e3:7.3f} ms")
    print(f"ratio proxy/engine p50: {p50 / e50:.1f}x  (the engine's share of a proxied request: {e50 / p50:.1%})")
    print(f"proxy RSS {before} KiB -> {after} KiB after {args.tokens} more tokens ({after / before:.2f}x)")


if __name__ == "__main__":
    main()
