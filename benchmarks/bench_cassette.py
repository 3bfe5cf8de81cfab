"""Cassette loading, ours beside vcrpy's, as ratios measured in one run (nothing here is a pass/fail
threshold).

    python benchmarks/bench_cassette.py                          # --sizes 1000,10000: under a minute
    python benchmarks/bench_cassette.py --sizes 1000,10000,100000   # about three minutes

For each size, a cassette of that many interactions is written to a temporary directory, built from
the sample cassettes/location-verification-success.yaml (a token request, then verify requests with
JSON bodies) with the phone number and the token varied, so that every request is distinct. Each
measure runs in a fresh process, so that its time and its peak memory (getrusage's maxrss, less what
the imports took) are its own:
- ours: `Cassette.load` (libyaml's parser when PyYAML has it, then our checks and body decoding);
- vcrpy: vcrpy loading the same file through its own persister and YAML serializer;
- Tape: `Tape(...)`, what a replaying proxy or a CI job waits for: the load, the scrubber's notes of
  the placeholders in use, and the index of masked request keys.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import vcr
import yaml

from proxy_addons.cassettes import serializer
from proxy_addons.cassettes.cassette import Cassette
from proxy_addons.cassettes.model import Interaction, Request, Response

SAMPLE = Path(__file__).resolve().parent.parent / "cassettes" / "location-verification-success.yaml"
MEASURES = ("ours", "vcrpy", "tape")
SAMPLE_NUMBER = b"33699901031"
SAMPLE_TOKEN = "SCRUBBED-ACCESS-TOKEN-0001"
CALLS_PER_TOKEN = 50


def build(path: Path, size: int) -> None:
    """A cassette of `size` interactions: the sample's, repeated, each with its own phone number and
    a new token every CALLS_PER_TOKEN interactions (as an app that refreshes its token)."""
    templates = Cassette.load(SAMPLE).interactions
    interactions = []
    for n in range(size):
        template = templates[n % len(templates)]
        number = str(33600000000 + n).encode()
        token = f"SCRUBBED-ACCESS-TOKEN-{n // CALLS_PER_TOKEN + 1:04d}"
        request, response = template.request, template.response
        headers = {
            name: [v.replace(SAMPLE_TOKEN, token) for v in values] for name, values in request.headers.items()
        }
        body = request.body.replace(SAMPLE_NUMBER, number) if request.body else request.body
        interactions.append(
            Interaction(
                Request(request.method, request.uri, headers, body),
                Response(
                    response.status,
                    response.reason,
                    dict(response.headers),
                    response.body.replace(SAMPLE_TOKEN.encode(), token.encode()),
                ),
                dict(template.meta),
            )
        )
    Cassette(
        path, interactions, {"scrubbed_fields": {"headers": [], "json_fields": [], "query_params": []}}
    ).save()


def peak_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def child(measure: str, path: Path) -> None:
    """One measure in this (fresh) process; prints its seconds and memory growth as JSON."""
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import yamlserializer

    from proxy_addons.cassettes.tape import Tape

    run = {
        "ours": lambda: Cassette.load(path),
        "vcrpy": lambda: FilesystemPersister.load_cassette(path, yamlserializer),
        "tape": lambda: Tape(path),
    }[measure]
    before = peak_kib()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "growth_kib": peak_kib() - before}))


def measure(name: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(path)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="interactions per cassette, comma-separated")
    parser.add_argument("--child", nargs=2, metavar=("MEASURE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    libyaml = "yes" if serializer._Loader is not yaml.SafeLoader else "no"
    print(
        f"python {sys.version.split()[0]}, PyYAML {yaml.__version__} (libyaml: {libyaml}), "
        f"vcrpy {vcr.__version__}, {os.cpu_count()} cores"
    )
    print(
        "interactions     MB |  ours s vcrpy s ours/vcrpy | ours MiB vcrpy MiB ours/vcrpy | "
        "Tape() s index+notes s Tape MiB"
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(folder) / f"bench-{size}.yaml"
            build(path, size)
            got = {name: measure(name, path) for name in MEASURES}
            seconds = {name: got[name]["seconds"] for name in MEASURES}
            mib = {name: got[name]["growth_kib"] / 1024 for name in MEASURES}
            cells = (
                f"{size:12,} {path.stat().st_size / 1e6:6.1f}",
                f"{seconds['ours']:7.2f} {seconds['vcrpy']:7.2f} {seconds['ours'] / seconds['vcrpy']:10.2f}",
                f"{mib['ours']:8.1f} {mib['vcrpy']:9.1f} {mib['ours'] / mib['vcrpy']:10.2f}",
                f"{seconds['tape']:8.2f} {seconds['tape'] - seconds['ours']:13.2f} {mib['tape']:8.1f}",
            )
            print(" | ".join(cells), flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
