"""Location Retrieval on Orange's Network APIs Playground (CAMARA Device Location Retrieval 0.3.0).

`POST /location-retrieval/v0.3/retrieve`: where the network locates the device, as the circle it
holds (the subscriber's location: centre and radius) and when it took that fix. A device the network
cannot locate is 404 LOCATION_RETRIEVAL.DEVICE_NOT_FOUND; a fix older than `maxAge` seconds is
422 LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_AGE; a negative maxAge is 400
LOCATION_RETRIEVAL.MAXAGE_INVALID_ARGUMENT. (0.3.0 has no `maxSurface`: that came with 0.4.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.device_location import DeviceLocationApi
from proxy_addons.simulator.apis.playground import BASE
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.state import Token

PATH = BASE + "/location-retrieval/v0.3"
SCOPE = "location-retrieval:read"
# The spec's Circle radius has a minimum of 1 m; a finer network fix is reported as 1 m (still covers it).
MIN_RADIUS_M = 1.0


def json_number(value: float) -> int | float:
    """1000.0 as 1000: the data's radius as written (the Admin API's example radius is an integer)."""
    return int(value) if value.is_integer() else value


class LocationRetrieval(DeviceLocationApi):
    name = "location-retrieval"
    prefixes = (PATH + "/",)
    operations = (Operation("retrieve", "POST", PATH + "/retrieve"),)
    scopes = frozenset({SCOPE})
    required_scopes: ClassVar = {"retrieve": frozenset({SCOPE})}
    code_prefix = "LOCATION_RETRIEVAL"

    def out_of_range_code(self, path: tuple[Any, ...]) -> tuple[str, str | None]:
        # 0.3.0's own code and words for a maxAge it cannot take.
        if path == ("maxAge",):
            return "LOCATION_RETRIEVAL.MAXAGE_INVALID_ARGUMENT", "maxAge threshold cannot be satisfied"
        return "OUT_OF_RANGE", None

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        data = body.require()
        self.validate("RetrievalLocationRequest", data, ctx)
        subscriber = self.subscriber(token, data, ctx)
        location = self.fix(subscriber, data.get("maxAge"))
        if location is None:
            raise ApiError(
                404,
                "LOCATION_RETRIEVAL.DEVICE_NOT_FOUND",
                f"the network cannot locate {subscriber.number}",
                message="The location server is not able to locate the mobile",
            )
        area = {
            "areaType": "CIRCLE",
            "center": {"latitude": location.latitude, "longitude": location.longitude},
            "radius": json_number(max(location.accuracy_m, MIN_RADIUS_M)),
        }
        return self.response(
            operation, {"lastLocationTime": self.fix_time(subscriber, location, ctx), "area": area}, ctx
        )
