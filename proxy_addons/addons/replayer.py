"""Answer source "cassette": recorded answers, matched through the tape's index."""

from __future__ import annotations

import json
import logging

from mitmproxy import http

from proxy_addons.addons.cassettes import Cassettes
from proxy_addons.addons.convert import from_recorded, to_cassette_request
from proxy_addons.addons.stages import ACTION, MISS, PLAN, next_source
from proxy_addons.errors import header_safe
from proxy_addons.tape import Hit

log = logging.getLogger(__name__)

MISS_HEADER = "x-orange-proxy-replay-miss"


class Replayer:
    name = "orange_replayer"

    def __init__(self, cassettes: Cassettes) -> None:
        self.cassettes = cassettes

    def request(self, flow: http.HTTPFlow) -> None:
        if next_source(flow) != "cassette" or self.cassettes.tape is None:
            return
        found = self.cassettes.tape.find(to_cassette_request(flow))
        if isinstance(found, Hit):
            flow.response = from_recorded(found.interaction.response, flow.request.method)
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
