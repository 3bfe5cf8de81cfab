"""Answer source "upstream": the real host, or the base URL given by `orange_upstream`.

Also the pipeline's last guard: a flow of ours that no source answered is refused here, never
forwarded by accident (it carries the app's credentials).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http

from proxy_addons.addons.stages import ACTION, ORIGINAL_URL, PLAN, next_source

log = logging.getLogger(__name__)


class Upstream:
    name = "orange_upstream"

    def __init__(self) -> None:
        self.base: tuple[str, str, int, str] | None = None  # scheme, host, port, path prefix

    def load(self, loader) -> None:
        loader.add_option(
            "orange_upstream",
            str,
            "",
            "Send forwarded requests to this base URL (a staging gateway, a local stand-in) instead of the "
            "intercepted host; cassettes keep the original https://api.orange.com/... URI. Trust its "
            "certificate with ssl_verify_upstream_trusted_ca or ssl_insecure.",
        )

    def configure(self, updated: set[str]) -> None:
        if "orange_upstream" not in updated:
            return
        url = ctx.options.orange_upstream
        if not url:
            self.base = None
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise exceptions.OptionsError(
                f"orange-proxy: orange_upstream must be an http(s) URL, not {url!r}"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = (parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def request(self, flow: http.HTTPFlow) -> None:
        source = next_source(flow)
        if source is None:
            return
        if source not in ("upstream", "passthrough"):
            # Defensive: every plan ends in a source that answers; if one did not, refuse.
            log.error(
                "orange-proxy: nothing answered %s (plan %s)",
                flow.request.pretty_url,
                flow.metadata.get(PLAN),
            )
            flow.response = http.Response.make(
                502,
                b'{"status": 502, "code": "BAD_GATEWAY", "message": "orange-proxy: no answer source"}',
                {"Content-Type": "application/json"},
            )
            return
        flow.metadata[ORIGINAL_URL] = flow.request.pretty_url
        # Only "upstream" answers are recorded; "passthrough" is a miss policy, never written down.
        flow.metadata[ACTION] = "forwarded" if source == "upstream" else "passed-through"
        if self.base is not None:
            scheme, host, port, prefix = self.base
            flow.request.scheme, flow.request.host, flow.request.port = scheme, host, port
            flow.request.path = prefix + flow.request.path
            # Keep the Host the app sent: gateways route on it, and stand-ins do not mind.
            flow.request.headers["Host"] = urlsplit(flow.metadata[ORIGINAL_URL]).netloc
