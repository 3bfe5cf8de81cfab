"""The app's own test, as docs/examples/replay.yml runs it: its tests/ folder, here an example.

The app talks to https://api.orange.com with requests, which finds HTTPS_PROXY and REQUESTS_CA_BUNDLE in
the environment, exactly as in production (where neither is set). In CI orange-proxy replays
cassettes/location-verification-success.yaml, recorded from the same calls.
"""

import os

import requests

ORANGE = "https://api.orange.com"
CLIENT = (
    os.environ.get("ORANGE_CLIENT_ID", "my-app"),
    os.environ.get("ORANGE_CLIENT_SECRET", "unused-in-ci"),
)


def verify(token: str, latitude: float, longitude: float, radius: int) -> dict:
    body = {
        "device": {"phoneNumber": "33699901031"},
        "area": {
            "areaType": "CIRCLE",
            "center": {"latitude": latitude, "longitude": longitude},
            "radius": radius,
        },
        "maxAge": 3600,
    }
    answer = requests.post(
        f"{ORANGE}/camara/location-verification/orange-lab/v0/verify",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def test_the_device_is_where_the_app_expects_it() -> None:
    token = requests.post(
        f"{ORANGE}/oauth/v3/token", auth=CLIENT, data={"grant_type": "client_credentials"}, timeout=10
    ).json()["access_token"]
    assert verify(token, 48.8, 2.26999, 2000)["verificationResult"] == "TRUE"
    partly = verify(token, 48.800176, 2.3145, 2000)
    assert partly["verificationResult"] == "PARTIAL" and 0 < partly["matchRate"] < 100
    assert verify(token, 45.764, 4.8357, 200000)["verificationResult"] == "FALSE"
