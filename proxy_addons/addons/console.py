"""mitmdump's console output for `orange-proxy`: mitmproxy's own dumper (so `flow_detail`,
`dumper_filter` and the request lines are as mitmdump users know them), with what the proxy did
appended to each answer line of ours:

    127.0.0.1:50112: POST https://api.orange.com/oauth/v3/token
                  << 200 OK 1.2k [orange-proxy: synthesised]
    127.0.0.1:50112: POST https://api.orange.com/camara/location-verification/orange-lab/v0/verify
                  << 403 Forbidden 87b [orange-proxy: replayed; PERMISSION_DENIED: Client does not have …]

`mitmdump -s` users have mitmdump's own dumper; this one is only added by `orange-proxy` (runner).

The same words go on the flow for mitmproxy's other tools (`Marks`): `flow.comment` (mitmweb's
Comment tab, mitmproxy's console, flow files and HAR) and `flow.marked` (the marker mitmweb and the
console show in the flow list, an emoji shortcode both render). A tester's own comment and marker
are kept: our comment is one line starting `orange-proxy: `, put after theirs (and replaced, not
repeated, when the flow passes again, e.g. mitmproxy's replay); our marker is only set on a flow with
no marker or with one of ours.
"""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import http
from mitmproxy.addons.dumper import Dumper

from proxy_addons.addons.stages import ACTION, CONTROL_HOST, FAULT, MISS, OVERRIDE, PASSED_THROUGH, ROUTE

REASON_CHARS = 200  # an error reason longer than this is cut: the line stays a line
COMMENT_PREFIX = "orange-proxy: "
FAULTED = ":zap:"  # ⚡ any flow a fault touched, whatever then answered it
# Action (without a body fault's "+kind") → marker. mitmweb's own default marker is a red circle
# (`:default:`), so none of ours is red.
MARKERS = {
    "synthesised": ":orange_circle:",  # 🟠 answered by the synthesiser
    "replayed": ":vhs:",  # 📼 answered from the cassette
    "recorded": ":movie_camera:",  # 🎥 forwarded, and now on the cassette
    "forwarded": ":globe_with_meridians:",  # 🌐 answered by the real host, not recorded
    "passed-through": ":globe_with_meridians:",
    "replay-miss": ":question:",  # ❓ the cassette had no answer
    "upstream-failed": ":warning:",  # ⚠ forwarded, and the upstream did not answer (refused, TLS, timeout)
    "faulted": FAULTED,
}
OURS = frozenset(MARKERS.values())


def marker(flow: http.HTTPFlow) -> str:
    """Our marker for a flow the proxy acted on ("" for an action without one)."""
    action = str(flow.metadata.get(ACTION, "")).partition("+")
    if flow.metadata.get(FAULT) or action[1]:  # a fault, or a body fault's "+truncate"
        return FAULTED
    return MARKERS.get(action[0], "")


def comment(flow: http.HTTPFlow) -> str:
    """Our comment line: the words of the console line, with the route (api/operation), and the
    whole reason (a comment has room for a replay miss's field-by-field difference)."""
    words = account(flow, with_route=True, cut=None)
    return COMMENT_PREFIX + "; ".join(words).replace("\n", " ")  # one line: ours, told from the tester's


class Marks:
    """Comments and marks every flow of ours once it is answered or has failed. After every other
    stage (the body faults, the event log), so it says what they did; `orange-proxy` runs it before
    mitmproxy's `save_stream_file` writer, as `mitmdump -s` does, so flow files carry it."""

    name = "orange_marks"

    def response(self, flow: http.HTTPFlow) -> None:
        self._mark(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._mark(flow)

    @staticmethod
    def _mark(flow: http.HTTPFlow) -> None:
        action = flow.metadata.get(ACTION)
        if action == "control" or (ROUTE not in flow.metadata and action != PASSED_THROUGH):
            return  # our control API's own traffic, or a flow the proxy never classified
        theirs = [line for line in flow.comment.splitlines() if not line.startswith(COMMENT_PREFIX)]
        flow.comment = "\n".join([*theirs, comment(flow)])
        ours = marker(flow)
        if ours and (not flow.marked or flow.marked in OURS):
            flow.marked = ours


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
    words = account(flow)
    return f"[orange-proxy: {'; '.join(words)}]" if words else ""


def account(flow: http.HTTPFlow, with_route: bool = False, cut: int | None = REASON_CHARS) -> list[str]:
    """What the proxy did with a flow it classified, in words: its action (with the route, e.g.
    `synthesised location-verification/verify`, when `with_route`), the faults injected, the rules
    override that answered, and why it missed or the reason its error answer gives (cut to `cut`
    characters; None: whole). Empty for a flow that is not ours. The console line and the flow's
    comment (`Marks`) both say this."""
    if ROUTE not in flow.metadata:
        # Another host's plain HTTP, forwarded untouched: said, so it is not mistaken for an answer of ours.
        return [PASSED_THROUGH] if flow.metadata.get(ACTION) == PASSED_THROUGH else []
    action = str(flow.metadata.get(ACTION, "none"))
    words = [f"{action} {flow.metadata[ROUTE]}" if with_route else action]
    faults = flow.metadata.get(FAULT) or []
    names = [str(f.get("fault", "")) for f in faults if isinstance(f, dict)]
    if names:
        words.append("fault " + ", ".join(n for n in names if n))
    if rule := flow.metadata.get(OVERRIDE):
        words.append(f"override {rule}")
    why = flow.metadata.get(MISS) if action == "replay-miss" else None
    if why is not None:  # "POST https://…: no recorded interaction matches; …": the line names the request
        why = str(why).removeprefix(f"{flow.request.method} ").partition(": ")[2] or str(why)
    if why is None and flow.response is not None and flow.response.status_code >= 400:
        why = error_reason(flow.response)
    if why:
        words.append(why if cut is None or len(why) <= cut else why[: cut - 1] + "…")
    return words


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
