"""Device Reachability Status, Orange Network APIs Playground /v0.6 (CAMARA 0.6.0, DeviceStatus r1.2).

0.6 answers the older shape, `{lastStatusTime?, reachabilityStatus}` with one status out of
CONNECTED_DATA | CONNECTED_SMS | NOT_CONNECTED (the `reachable` + `connectivity` list came with 1.0).
The Admin API's `reachability` part has exactly these fields, so the answer is that part:

| subscriber data (`reachability`)        | answer                                  |
|-----------------------------------------|-----------------------------------------|
| `reachabilityStatus`                    | `reachabilityStatus`, as is             |
| `lastStatusTime` (absolute RFC 3339)    | `lastStatusTime`, as is                 |
| no `lastStatusTime`                     | no `lastStatusTime`                     |
| no part, or no `reachabilityStatus`     | 422 UNABLE_TO_PROVIDE_REACHABILITY_STATUS |

`lastStatusTime` is optional in 0.6, and the spec says its absence means the freshness is unknown:
the time of the request would claim a freshness the data does not have, so none is invented.
The device, identifier and media-type rules are Device Status 0.6's (see `device_status`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.simulator.apis.base import Operation
from proxy_addons.simulator.apis.device_status import DeviceStatusApi
from proxy_addons.simulator.apis.playground import BASE as PLAYGROUND_BASE

BASE = PLAYGROUND_BASE + "/device-reachability-status/v0.6"
SCOPE = "device-reachability-status:read"


class DeviceReachabilityStatus(DeviceStatusApi):
    name = "device-reachability-status"
    prefixes = (BASE + "/",)
    operations = (Operation("retrieve", "POST", BASE + "/retrieve"),)
    scopes = frozenset({SCOPE})
    required_scopes: ClassVar = {"retrieve": frozenset({SCOPE})}
    part = "reachability"
    status_field = "reachabilityStatus"
    unavailable_code = "UNABLE_TO_PROVIDE_REACHABILITY_STATUS"
    unavailable_message = "Network issue - Unable to provide reachability status"

    def answer(self, part: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if "lastStatusTime" in part:
            body["lastStatusTime"] = part["lastStatusTime"]
        body["reachabilityStatus"] = part["reachabilityStatus"]
        return body
