"""The flow metadata the pipeline stages share, and the helper that reads the plan."""

from __future__ import annotations

from mitmproxy import http

CONTROL_HOST = "orange-proxy.test"  # the control API's reserved host (.test never resolves)
ROUTE = "orange.route"  # the Route of a classified flow (absent: not ours, pass through)
PLAN = "orange.plan"  # answer sources still to try, e.g. ("cassette", "upstream")
ACTION = "orange.action"  # what answered: synthesised, replayed, replay-miss, forwarded, recorded,
# passed-through, faulted, control; a body fault appends "+<kind>"
ORIGINAL_URL = "orange.original_url"  # the URL the app asked for, before any --upstream rewrite
MISS = "orange.miss"  # why the cassette could not answer
FAULT = "orange.fault"  # the faults injected into a flow: [{"id", "fault"}, ...]


def next_source(flow: http.HTTPFlow) -> str | None:
    """The source that should answer now, or None if the flow is not ours or already answered."""
    if flow.response or flow.error or ROUTE not in flow.metadata:
        return None
    plan = flow.metadata.get(PLAN) or ()
    return plan[0] if plan else None
