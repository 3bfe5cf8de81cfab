"""Answer source "cassette": recorded answers, matched through the tape's index."""

from __future__ import annotations

import json
import logging
import re

from mitmproxy import http

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.convert import from_recorded, to_cassette_request
from proxy_addons.addons.stages import ACTION, MISS, PLAN, next_source
from proxy_addons.errors import header_safe
from proxy_addons.tape import Hit

log = logging.getLogger(__name__)

MISS_HEADER = "x-orange-proxy-replay-miss"
_STATE = re.compile(r"(?<=[?&#])state=[^&#]*")


def echo_state(flow: http.HTTPFlow) -> None:
    """Apps make up a new OAuth `state` each run and check that the redirect brings it back; a
    replayed redirect carries the recorded one, so put the app's own in its place."""
    assert flow.response is not None
    location = flow.response.headers.get("Location")
    sent = _raw_query_param(flow.request.path, "state")
    if location and sent is not None and _STATE.search(location):
        flow.response.headers["Location"] = _STATE.sub(lambda _: f"state={sent}", location, count=1)


def _raw_query_param(path: str, name: str) -> str | None:
    for pair in path.partition("?")[2].split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None


class Replayer:
    name = "orange_replayer"

    def __init__(self, cassettes: Cassettes) -> None:
        self.cassettes = cassettes

    def request(self, flow: http.HTTPFlow) -> None:
        if next_source(flow) != "cassette" or self.cassettes.tape is None:
            return
        plan = flow.metadata[PLAN]
        explain = len(plan) > 1 and plan[1] == "miss"  # the explanation is only shown by a miss answer
        found = self.cassettes.tape.find(to_cassette_request(flow), explain)
        if isinstance(found, Hit):
            flow.response = from_recorded(found.interaction.response, flow.request.method)
            echo_state(flow)
            flow.metadata[ACTION] = "replayed"
            return
        flow.metadata[MISS] = found.reason
        flow.metadata[PLAN] = flow.metadata[PLAN][1:]  # on to the miss policy
        if next_source(flow) == "miss":
            body = {
                "status": 502,
                "code": "REPLAY_MISS",
                "message": f"orange-proxy replay miss: {found.reason}",
            }
            flow.response = http.Response.make(
                502,
                json.dumps(body).encode(),
                {"Content-Type": "application/json", MISS_HEADER: header_safe(found.reason, 1000)},
            )
            flow.metadata[ACTION] = "replay-miss"
            log.warning("orange-proxy: replay miss: %s", found.reason)
