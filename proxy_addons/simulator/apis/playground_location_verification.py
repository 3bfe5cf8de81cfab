"""Location Verification on Orange's Network APIs Playground (CAMARA Device Location Verification 1.0.0).

`POST /location-verification/v1/verify`: is the device inside the requested circle? The network's
circle N (the subscriber's location: centre, radius) against the requested circle R, with the same
spherical geometry as the lab API (proxy_addons.simulator.geo): TRUE (N inside R), FALSE (no
overlap), PARTIAL with matchRate = |R ∩ N| / |N| × 100, UNKNOWN when the network cannot locate the
device. A fix older than `maxAge` seconds is 422 LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE.
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.model import ApiRequest, ApiResponse
from proxy_addons.simulator import geo
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.device_location import DeviceLocationApi
from proxy_addons.simulator.apis.playground import BASE
from proxy_addons.simulator.context import ApiContext
from proxy_addons.state import Token

PATH = BASE + "/location-verification/v1"
SCOPE = "location-verification:verify"


class PlaygroundLocationVerification(DeviceLocationApi):
    name = "playground-location-verification"
    prefixes = (PATH + "/",)
    operations = (Operation("verify", "POST", PATH + "/verify"),)
    scopes = frozenset({SCOPE})
    required_scopes: ClassVar = {"verify": frozenset({SCOPE})}
    code_prefix = "LOCATION_VERIFICATION"

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        data = body.require()
        self.validate("VerifyLocationRequest", data, ctx)
        subscriber = self.subscriber(token, data, ctx)
        location = self.fix(subscriber, data.get("maxAge"))
        if location is None:
            # "UNKNOWN will be returned without lastLocationTime" when there is no location at all.
            return self.response(operation, {"verificationResult": "UNKNOWN"}, ctx)
        area = data["area"]
        network = geo.Circle(location.latitude, location.longitude, location.accuracy_m)
        requested = geo.Circle(area["center"]["latitude"], area["center"]["longitude"], float(area["radius"]))
        result, match_rate = geo.verify(network, requested)
        answer: dict[str, Any] = {
            "lastLocationTime": self.fix_time(subscriber, location, ctx),
            "verificationResult": result,
        }
        if match_rate is not None:
            answer["matchRate"] = match_rate
        return self.response(operation, answer, ctx)
