"""What the proxy knows of each API: routes, validation, synthesis and error shapes, one module each."""

from proxy_addons.simulator.apis.base import Api
from proxy_addons.simulator.apis.device_reachability_status import DeviceReachabilityStatus
from proxy_addons.simulator.apis.device_roaming_status import DeviceRoamingStatus
from proxy_addons.simulator.apis.device_swap import DeviceSwap
from proxy_addons.simulator.apis.gateway import Gateway
from proxy_addons.simulator.apis.kyc_match import KycMatch
from proxy_addons.simulator.apis.location_retrieval import LocationRetrieval
from proxy_addons.simulator.apis.location_verification import LocationVerification
from proxy_addons.simulator.apis.number_verification import NumberVerification
from proxy_addons.simulator.apis.oauth import OAuth
from proxy_addons.simulator.apis.playground_admin import PlaygroundAdmin
from proxy_addons.simulator.apis.playground_location_verification import PlaygroundLocationVerification
from proxy_addons.simulator.apis.playground_paths import PlaygroundPaths
from proxy_addons.simulator.apis.population_density_data import PopulationDensityData
from proxy_addons.simulator.apis.sim_swap import SimSwap

ALL_APIS: tuple[Api, ...] = (
    OAuth(),
    NumberVerification(),
    LocationVerification(),
    PlaygroundAdmin(),
    DeviceReachabilityStatus(),
    DeviceRoamingStatus(),
    PlaygroundLocationVerification(),
    LocationRetrieval(),
    SimSwap(),
    DeviceSwap(),
    KycMatch(),
    PopulationDensityData(),
    PlaygroundPaths(),  # the rest of /camara/playground/api/
)
GATEWAY = Gateway()  # owns every other path of an intercept host

__all__ = ["ALL_APIS", "GATEWAY", "Api"]
