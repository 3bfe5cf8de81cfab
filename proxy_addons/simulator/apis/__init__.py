"""What the proxy knows of each API: routes, validation, synthesis and error shapes, one module each."""

from proxy_addons.simulator.apis.base import Api
from proxy_addons.simulator.apis.gateway import Gateway
from proxy_addons.simulator.apis.location_verification import LocationVerification
from proxy_addons.simulator.apis.number_verification import NumberVerification
from proxy_addons.simulator.apis.oauth import OAuth
from proxy_addons.simulator.apis.playground_admin import PlaygroundAdmin

ALL_APIS: tuple[Api, ...] = (OAuth(), NumberVerification(), LocationVerification(), PlaygroundAdmin())
GATEWAY = Gateway()  # owns every other path of an intercept host

__all__ = ["ALL_APIS", "GATEWAY", "Api"]
