"""mitmdump's console output for `orange-proxy`: mitmproxy's own dumper (so `flow_detail`,
`dumper_filter` and the request lines are as mitmdump users know them), with what the proxy did
appended to each answer line of ours:

    127.0.0.1:50112: POST https://api.orange.com/oauth/v3/token
                  << 200 OK 1.2k [orange-proxy: synthesised]
    127.0.0.1:50112: POST https://api.orange.com/camara/location-verification/orange-lab/v0/verify
                  << 403 Forbidden 87b [orange-proxy: replayed; PERMISSION_DENIED: Client does not have …]

`mitmdump -s` users have mitmdump's own dumper; this one is only added by `orange-proxy` (runner).
"""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import http
from mitmproxy.addons.dumper import Dumper

from proxy_addons.addons.stages import ACTION, CONTROL_HOST, FAULT, MISS, ROUTE

REASON_CHARS = 200  # an error reason longer than this is cut: the line stays a line


class OrangeDumper(Dumper):
    """Dumper whose first answer line (`<< 200 OK 57b` or `<< <error>`) of a flow of ours carries a mark."""

    def __init__(self, outfile: Any = None) -> None:
        super().__init__(outfile)
        self._mark = ""  # put after the next answer line echoed

    def match(self, f) -> bool:
        # The control page polls its API every few seconds: its own traffic would drown the app's.
        if isinstance(f, http.HTTPFlow) and f.request.pretty_host.lower().rstrip(".") == CONTROL_HOST:
            return False
        return super().match(f)

    def echo_flow(self, f: http.HTTPFlow) -> None:
        self._mark = mark(f)
        try:
            super().echo_flow(f)
        finally:
            self._mark = ""

    def echo(self, text: str, ident=None, **style) -> None:
        if self._mark and "<<" in text:
            text, self._mark = f"{text} {self.style(self._mark, fg='cyan')}", ""
        super().echo(text, ident, **style)


def mark(flow: http.HTTPFlow) -> str:
    """`[orange-proxy: <action>; <why>]` for a flow the proxy classified; empty for others."""
    if ROUTE not in flow.metadata:
        return ""
    action = str(flow.metadata.get(ACTION, "none"))
    words = [action]
    faults = flow.metadata.get(FAULT) or []
    names = [str(f.get("fault", "")) for f in faults if isinstance(f, dict)]
    if names:
        words.append("fault " + ", ".join(n for n in names if n))
    why = flow.metadata.get(MISS) if action == "replay-miss" else None
    if why is not None:  # "POST https://…: no recorded interaction matches; …": the line names the request
        why = str(why).removeprefix(f"{flow.request.method} ").partition(": ")[2] or str(why)
    if why is None and flow.response is not None and flow.response.status_code >= 400:
        why = error_reason(flow.response)
    if why:
        words.append(why if len(why) <= REASON_CHARS else why[: REASON_CHARS - 1] + "…")
    return f"[orange-proxy: {'; '.join(words)}]"


def error_reason(response: http.Response) -> str | None:
    """The reason an error answer gives, in whichever dialect it speaks: CAMARA/Orange `code` and
    `message`, OAuth's `error` and `error_description`."""
    try:
        body = json.loads(response.get_content(strict=False) or b"")
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("code") or body.get("error")
    message = body.get("message") or body.get("error_description") or body.get("description")
    parts = [str(p) for p in (code, message) if p not in (None, "")]
    return ": ".join(parts) if parts else None
