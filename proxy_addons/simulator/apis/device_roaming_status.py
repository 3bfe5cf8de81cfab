"""Device Roaming Status, Orange Network APIs Playground /v0.6 (CAMARA 0.6.0, DeviceStatus r1.2).

The answer is `{lastStatusTime?, roaming, countryCode?, countryName?}`, from the subscriber's
`roaming` part (the Admin API's: `roaming`, `countryCode?`, `countryName?`, `lastStatusTime?`):

| subscriber data (`roaming`)             | answer                                         |
|-----------------------------------------|------------------------------------------------|
| `roaming`                               | `roaming`                                      |
| `lastStatusTime`                        | `lastStatusTime`, as is; absent if absent      |
| `countryCode`, `countryName`, roaming   | both, as the data holds them                   |
| `countryCode`, `countryName`, at home   | neither                                        |
| no part, or no `roaming`                | 422 UNABLE_TO_PROVIDE_ROAMING_STATUS           |

- The spec gives the country "if the device is in roaming situation": a country left in the data of
  a device at home (an Admin UPDATE that only flipped `roaming`) is not the visited country.
- `countryName` goes out as the data holds it. The spec describes ISO 3166 alpha-2 codes, while the
  playground's own data holds names (`["Spain"]` for +990100000002, read on the live playground):
  the tester's data is what the app must see. A country the data does not give is left out, not
  guessed (both are optional).
- `lastStatusTime` as in Device Reachability Status: optional in 0.6, absent when the data has none.
The device, identifier and media-type rules are Device Status 0.6's (see `device_status`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from proxy_addons.simulator.apis.base import Operation
from proxy_addons.simulator.apis.device_status import DeviceStatusApi
from proxy_addons.simulator.apis.playground import BASE as PLAYGROUND_BASE

BASE = PLAYGROUND_BASE + "/device-roaming-status/v0.6"
SCOPE = "device-roaming-status:read"


class DeviceRoamingStatus(DeviceStatusApi):
    name = "device-roaming-status"
    prefixes = (BASE + "/",)
    operations = (Operation("retrieve", "POST", BASE + "/retrieve"),)
    scopes = frozenset({SCOPE})
    required_scopes: ClassVar = {"retrieve": frozenset({SCOPE})}
    part = "roaming"
    status_field = "roaming"
    unavailable_code = "UNABLE_TO_PROVIDE_ROAMING_STATUS"
    unavailable_message = "Network issue - Unable to provide roaming status"

    def answer(self, part: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if "lastStatusTime" in part:
            body["lastStatusTime"] = part["lastStatusTime"]
        roaming = bool(part["roaming"])
        body["roaming"] = roaming
        if roaming:
            if "countryCode" in part:
                body["countryCode"] = part["countryCode"]
            if "countryName" in part:
                body["countryName"] = list(part["countryName"])
        return body
