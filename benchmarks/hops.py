"""The way one request takes through our code: every call into a `proxy_addons` function while the
addons handle one synthesised or one replayed location-verification request, in order.

    python benchmarks/hops.py [synth|replay] [--list] [--checkout DIR]

It drives the addons in-process with mitmproxy's test helpers (no sockets), so it runs against any
checkout of the project (`--checkout DIR`, e.g. a `git worktree` of an older commit) to compare layouts.
Counted for a second identical request, from the first request hook to the last response hook;
setup (options, rules, cassette loading, the first request's one-time work) is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
from pathlib import Path

from mitmproxy.test import taddons, tflow, tutils

DLV_PATH = "/camara/location-verification/orange-lab/v0/verify"
CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "location-verification-success.yaml"


def dlv_flow(body: bytes, token: str):
    request = tutils.treq(
        method=b"POST",
        host="api.orange.com",
        port=443,
        scheme=b"https",
        path=DLV_PATH.encode(),
        headers=[(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")],
        content=body,
    )
    return tflow.tflow(req=request)


def recorded_request(cassette: Path) -> tuple[bytes, str]:
    """The first recorded location-verification request of the cassette: its body and its token."""
    import yaml

    for item in yaml.safe_load(cassette.read_text())["interactions"]:
        if item["request"]["uri"].endswith(DLV_PATH):
            headers = {k.lower(): v for k, v in item["request"]["headers"].items()}
            return item["request"]["body"].encode(), headers["authorization"][0].partition(" ")[2]
    raise SystemExit(f"{cassette}: no location-verification request")


async def run(hook_calls: list[tuple[str, str, bool]], mode: str) -> int:
    from proxy_addons.addons import default_addons

    addons = default_addons()
    with taddons.context(*addons) as tctx:
        if mode == "replay":
            tctx.configure(addons[0], orange_mode="replay", orange_cassette=str(CASSETTE))
            body, token = recorded_request(CASSETTE)
        else:
            body = json.dumps(
                {
                    "device": {"phoneNumber": "+33699901031"},
                    "area": {
                        "areaType": "CIRCLE",
                        "center": {"latitude": 48.8, "longitude": 2.3},
                        "radius": 2000,
                    },
                    "maxAge": 3600,
                }
            ).encode()
            token = None
            for addon in addons:  # issue a token the synthesiser knows
                state = getattr(addon, "state", None)
                if state is not None and hasattr(state, "tokens"):
                    token = state.tokens.issue("hops", "oauth-v3", "client_credentials", (), 3600).value
                    break
            assert token is not None
        root = str(Path(sys.modules["proxy_addons"].__file__).parent)

        async def handle(flow) -> None:
            for hook in ("request", "response"):
                for addon in addons:
                    handler = getattr(addon, hook, None)
                    if handler is None or (hook == "response" and flow.response is None):
                        continue
                    result = handler(flow)
                    if inspect.isawaitable(result):
                        await result

        # A first request builds what is built once (schemas compiled, the synthesiser); count the next.
        await handle(dlv_flow(body, token))
        flow = dlv_flow(body, token)

        def tracer(frame, event, arg):
            if event == "call" and frame.f_code.co_filename.startswith(root):
                name = (
                    frame.f_code.co_qualname if hasattr(frame.f_code, "co_qualname") else frame.f_code.co_name
                )
                if not name.startswith("<"):  # comprehensions and lambdas are not hops
                    module = frame.f_code.co_filename[len(root) + 1 :]
                    caller = frame.f_back.f_code.co_filename if frame.f_back else ""
                    hook_calls.append((module, name, caller != frame.f_code.co_filename))

        sys.setprofile(tracer)
        try:
            await handle(flow)
        finally:
            sys.setprofile(None)
        return flow.response.status_code if flow.response else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", choices=("synth", "replay"), default="synth")
    parser.add_argument("--list", action="store_true", help="print every hop, in order")
    parser.add_argument("--checkout", type=Path, help="import proxy_addons from this checkout instead")
    args = parser.parse_args()
    if args.checkout:
        # An editable install's finder would win over sys.path: take it out for this run.
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
        sys.path.insert(0, str(args.checkout.resolve()))
    calls: list[tuple[str, str, bool]] = []
    status = asyncio.run(run(calls, args.mode))
    modules = {module for module, _, _ in calls}
    functions = list(dict.fromkeys((module, name) for module, name, _ in calls))
    crossings = sum(1 for _, _, crossing in calls if crossing)
    print(
        f"{args.mode}: status {status}; {len(calls)} calls into our code ({crossings} from another module), "
        f"{len(functions)} distinct functions in {len(modules)} modules"
    )
    if args.list:
        for module, name in functions:
            print(f"  {module}:{name}")


if __name__ == "__main__":
    main()
