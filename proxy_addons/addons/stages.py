"""What the mitmproxy stages share: the flow metadata keys (plain strings and lists only, so flows
survive mitmproxy's serialisation: `-w`, mitmweb's Save), and the option checks."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from mitmproxy import ctx, exceptions, http

from proxy_addons.config.choices import parse
from proxy_addons.messages import say

CONTROL_HOST = "orange-proxy.test"  # the control API's reserved host (.test never resolves)
ROUTE = "orange.route"  # the route label of a classified flow, e.g. "oauth/v3-token" (absent: not ours)
PLAN = "orange.plan"  # the answer sources planned for it, e.g. ["cassette", "upstream"]
ACTION = "orange.action"  # what answered: synthesised, replayed, replay-miss, forwarded, recorded,
# passed-through, faulted, control; a body fault appends "+<kind>"
ORIGINAL_URL = "orange.original_url"  # the URL the app asked for, before any --upstream rewrite
MISS = "orange.miss"  # why the cassette could not answer
# The action of a flow to a host the proxy does not answer, forwarded untouched (no ROUTE: not ours).
PASSED_THROUGH = "passed-through"
FAULT = "orange.fault"  # the faults injected into a flow: [{"id", "fault"}, ...]
MANGLE = "orange.mangle"  # the body fault to apply to the answer: "truncate" or "malformed"
OVERRIDE = "orange.override"  # the name of the rules override that answered (config.rules.OVERRIDE_HEADER)
GAVE_UP = "orange.gave_up"  # "client gave up after N s": a waiting (hung, delayed) flow its client left


def ours(flow: http.HTTPFlow) -> bool:
    """A live, classified flow not answered yet (mitmproxy's own addons skip flows that are not live:
    a flow loaded from a file or replayed by mitmproxy is not ours to answer again)."""
    return flow.live and ROUTE in flow.metadata and not (flow.response or flow.error)


def check_choices(updated: set[str], options: Mapping[str, type[StrEnum]]) -> None:
    """The one check of enumerated options, wherever they are declared."""
    for name, choice in options.items():
        if name in updated:
            try:
                parse(choice, getattr(ctx.options, name), name)
            except ValueError as exc:
                raise exceptions.OptionsError(say(str(exc))) from None
