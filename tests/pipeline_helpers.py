"""Driving the addons in-process with mitmproxy's test helpers: one flow through every hook, in order."""

from __future__ import annotations

import inspect
import json
from typing import Any

from mitmproxy import http
from mitmproxy.test import tflow, tutils

DLV_PATH = "/camara/location-verification/orange-lab/v0/verify"
DLV_BODY = {
    "device": {"phoneNumber": "+33699901031"},
    "area": {"areaType": "CIRCLE", "center": {"latitude": 48.8, "longitude": 2.3}, "radius": 2000},
    "maxAge": 3600,
}


def api_flow(
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    host: str = "api.orange.com",
    headers: dict[str, str] | None = None,
) -> http.HTTPFlow:
    all_headers = {"content-type": "application/json", **(headers or {})}
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    content = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body or b""
    request = tutils.treq(
        method=method.encode(),
        host=host,
        port=443,
        scheme=b"https",
        path=path.encode(),
        headers=[(k.encode(), v.encode()) for k, v in all_headers.items()],
        content=content,
    )
    return tflow.tflow(req=request)


async def run_flow(
    addons: list[object], flow: http.HTTPFlow, upstream: http.Response | None = None
) -> http.HTTPFlow:
    """Every addon's request hook, then (when answered) every response hook, as mitmproxy calls them.
    A flow the addons left unanswered (forwarded) gets `upstream` as the server's answer, if given."""
    for addon in addons:
        if flow.response or flow.error:
            break
        await _call(addon, "request", flow)
    if flow.response is None and flow.error is None and upstream is not None:
        flow.response = upstream
    if flow.error is not None:
        for addon in addons:
            await _call(addon, "error", flow)
        return flow
    if flow.response is not None:
        for addon in addons:
            await _call(addon, "response", flow)
    return flow


async def _call(addon: object, hook: str, flow: http.HTTPFlow) -> None:
    handler = getattr(addon, hook, None)
    if handler is None:
        return
    result = handler(flow)
    if inspect.isawaitable(result):
        await result


def addon(addons: list[object], name: str) -> Any:
    return next(a for a in addons if getattr(a, "name", None) == name)


def lab_token(addons: list[object], client: str = "stage-test") -> str:
    """A lab token the synthesiser knows, issued straight from the state."""
    core = addon(addons, "orange_core")
    return core.state.tokens.issue(client, "oauth-v3", "client_credentials", (), 3600).value


def recorded_dlv(cassette) -> tuple[Any, str]:
    """The first recorded location-verification request of a cassette: its JSON body and its token."""
    import yaml

    for item in yaml.safe_load(cassette.read_text())["interactions"]:
        if item["request"]["uri"].endswith(DLV_PATH):
            headers = {k.lower(): v for k, v in item["request"]["headers"].items()}
            return json.loads(item["request"]["body"]), headers["authorization"][0].partition(" ")[2]
    raise AssertionError(f"{cassette}: no location-verification request")
