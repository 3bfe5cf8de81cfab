"""The control page and API, served by the proxy itself on the reserved host `orange-proxy.test` (`.test`
never resolves on the internet), as mitmproxy serves mitm.it.

    GET    /                   the control page (static; it reads and changes everything through the API)

The API is JSON in and out:

    GET    /api/state          mode, profile, live tokens, known numbers, counters
    GET    /api/faults         the faults, with their counters
    POST   /api/faults         {"fault": "<spec>"} or a structured fault as in a scenario file → 201
    DELETE /api/faults/{id}    remove one → 204
    DELETE /api/faults         remove all
    GET    /api/events?since=N the event log, newest last

Only loopback clients are answered, unless `orange_control_token` is set: then every client must send
`Authorization: Bearer <token>`, and the address no longer matters. A browser's cross-site request (an
`Origin` other than the control host's) may not change anything, so a web page the tester visits
through the proxy cannot switch faults.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from typing import Any

from mitmproxy import ctx, http

from proxy_addons.addons.core import Core
from proxy_addons.addons.eventlog import EventLog
from proxy_addons.addons.faulting import Faults
from proxy_addons.addons.stages import ACTION, CONTROL_HOST
from proxy_addons.config.faults import FaultError
from proxy_addons.model import json_object
from proxy_addons.resources import control_page_path

PAGE_PATHS = ("", "/index.html")
# The page's script and style are inline; it talks to its own origin only.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _json(status: int, data: Any, **headers: str) -> http.Response:
    body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode("utf-8")
    return http.Response.make(
        status, body, {"Content-Type": "application/json", "Cache-Control": "no-store", **headers}
    )


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack listener
    return (mapped or ip).is_loopback


class Control:
    name = "orange_control"

    def __init__(self, core: Core, faults: Faults, events: EventLog) -> None:
        self.core = core
        self.faults = faults
        self.events = events
        self.page = control_page_path().read_bytes()  # read once; served as is
        # Tells the page that the proxy restarted (its event numbering starts again).
        self.instance = secrets.token_hex(8)

    def load(self, loader) -> None:
        loader.add_option(
            "orange_control_token",
            str,
            "",
            f"Require 'Authorization: Bearer <token>' on the control API (http://{CONTROL_HOST}/api/) from "
            "every client. Empty: only loopback clients are answered.",
        )

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or flow.request.pretty_host.lower().rstrip(".") != CONTROL_HOST:
            return
        flow.metadata[ACTION] = "control"
        path = flow.request.path.partition("?")[0].rstrip("/")
        if path in PAGE_PATHS and flow.request.method in ("GET", "HEAD"):
            # The page holds no data, so anyone may load it; its API calls are checked as any other.
            response = http.Response.make(200, self.page, PAGE_HEADERS)
        else:
            response = self._refusal(flow) or self._route(flow)
        if flow.request.method == "HEAD":
            # No body after a HEAD answer (it would be read as the next answer on the connection);
            # Content-Length still says what GET would send.
            length = response.headers.get("content-length", "0")
            response.content = b""
            response.headers["content-length"] = length
        flow.response = response

    def _refusal(self, flow: http.HTTPFlow) -> http.Response | None:
        origin = flow.request.headers.get("origin")
        if flow.request.method not in ("GET", "HEAD") and origin is not None:
            host = origin.partition("://")[2].partition(":")[0].lower()
            if host != CONTROL_HOST:
                return _json(403, {"error": f"changes from a page of {origin} are refused"})
        token = ctx.options.orange_control_token
        if token:
            scheme, _, given = flow.request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                given.strip().encode(), token.encode()
            ):
                return _json(
                    401,
                    {"error": "the control API needs Authorization: Bearer <control token>"},
                    **{"WWW-Authenticate": 'Bearer realm="orange-proxy"'},
                )
            return None
        peer = flow.client_conn.peername
        if not peer or not _loopback(peer[0]):
            return _json(
                403, {"error": "the control API answers loopback clients only (start with --control-token)"}
            )
        return None

    def _route(self, flow: http.HTTPFlow) -> http.Response:
        path = flow.request.path.partition("?")[0].rstrip("/")
        method = flow.request.method
        routes = {
            "/api/state": {"GET": self._state},
            "/api/events": {"GET": self._events},
            "/api/faults": {"GET": self._list, "POST": self._add, "DELETE": self._clear},
        }
        if path.startswith("/api/faults/") and path.count("/") == 3:
            handlers = {"DELETE": lambda f: self._remove(path.rsplit("/", 1)[1])}
        else:
            handlers = routes.get(path)
        if handlers is None:
            return _json(404, {"error": f"no control resource at {path or '/'}", "resources": sorted(routes)})
        handler = handlers.get("GET" if method == "HEAD" else method)
        if handler is None:
            return _json(405, {"error": f"{method} is not allowed here"}, Allow=", ".join(sorted(handlers)))
        return handler(flow)

    def _state(self, flow: http.HTTPFlow) -> http.Response:
        state = self.core.state
        assert state is not None
        now = time.time()
        tokens = [
            {
                "client_id": t.client_id,
                "issuer": t.issuer,
                "scopes": sorted(t.scopes),
                "phone_number": t.phone_number,
                "expires_in": round(t.expires_at - now),
            }
            for t in state.tokens.live()
        ]
        return _json(
            200,
            {
                "instance": self.instance,
                "mode": ctx.options.orange_mode,
                "profile": self.core.settings.profile,
                "cassette": ctx.options.orange_cassette or None,
                "live_tokens": tokens,
                "known_numbers": sorted(state.directory.locations),
                "playground_numbers": "+990…",
                "user_defined_numbers": state.playground.users.snapshot(),
                "faults": [f.describe() for f in self.faults.faults],
                "counters": {"events": self.events.counter, "faults": len(self.faults.faults)},
            },
        )

    def _events(self, flow: http.HTTPFlow) -> http.Response:
        since = flow.request.query.get("since", "0")
        if not (since.isascii() and since.isdigit()):  # "²".isdigit() is True, int("²") fails
            return _json(400, {"error": "since must be an event sequence number"})
        return _json(200, {"events": self.events.since(int(since))})

    def _list(self, flow: http.HTTPFlow) -> http.Response:
        return _json(200, {"faults": [f.describe() for f in self.faults.faults]})

    def _add(self, flow: http.HTTPFlow) -> http.Response:
        try:
            body = json_object(flow.request.get_content(strict=False) or b"")
        except ValueError as exc:
            return _json(400, {"error": f"expected a JSON object: {exc}"})
        if not isinstance(body.get("fault"), str):
            return _json(400, {"error": 'expected {"fault": "<spec>"} or a structured fault'})
        try:
            # {"fault": "latency:ms=200"} is a spec; any other key makes it a structured fault.
            fault = self.faults.add(body["fault"] if len(body) == 1 else body)
        except FaultError as exc:
            return _json(400, {"error": str(exc)})
        return _json(201, fault.describe(), Location=f"/api/faults/{fault.id}")

    def _remove(self, fault_id: str) -> http.Response:
        if self.faults.remove(fault_id):
            return _json(204, None)
        return _json(404, {"error": f"no fault {fault_id}"})

    def _clear(self, flow: http.HTTPFlow) -> http.Response:
        return _json(200, {"removed": self.faults.clear()})
