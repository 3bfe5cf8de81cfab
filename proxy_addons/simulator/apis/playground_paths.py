"""The playground's answer for a path under `/camara/playground/api/` that none of its APIs serves.

Orange's playground answers such paths itself: `400 "unhandled path"` (observed, ORANGE-AND-CAMARA.md
§6.1), not the API gateway's `404 {code: 60}`. Under profile camara it is CAMARA's 404 NOT_FOUND.
A path below one of its APIs' own prefixes is that API's 404; this only takes the rest.
"""

from __future__ import annotations

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import Api, Operation
from proxy_addons.simulator.apis.playground import BASE, PLAYGROUND_DIALECT
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError


class PlaygroundPaths(Api):
    name = "playground-paths"
    prefixes = (BASE + "/",)
    operations = ()
    dialect = PLAYGROUND_DIALECT

    def handle(self, operation: Operation | None, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        detail = f"no playground API at {request.path}"
        if ctx.profile == "orange":
            return self.error(ApiError(400, "INVALID_ARGUMENT", detail, message="unhandled path"), ctx)
        return self.error(ApiError(404, "NOT_FOUND", detail), ctx)
