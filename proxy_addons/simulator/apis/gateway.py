"""Orange's API gateway, for paths of an intercept host that none of our APIs owns.

Orange's gateway answers such requests itself, before any API, in its own envelope
`{code: <int>, message, description}` (ORANGE-AND-CAMARA.md §3.6: 404 is code 60).
"""

from __future__ import annotations

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import Api, Operation
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import REASON_HEADER, header_safe


class Gateway(Api):
    name = "gateway"
    prefixes = ()
    operations = ()

    def handle(self, operation: Operation | None, request: ApiRequest, ctx: ApiContext) -> ApiResponse:
        return ApiResponse(
            status=404,
            data={
                "code": 60,
                "message": "Resource not found",
                "description": "The requested URI or the requested resource does not exist.",
            },
            headers={REASON_HEADER: header_safe(f"no API of orange-proxy at {request.path}")},
            schema="gateway#error.404",
        )
