"""Client-side OAuth steps, as an app would do them (used by the tests)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

ORANGE = "https://api.orange.com"
AUTHORIZE = ORANGE + "/openidconnect/playground/v1.0/authorize"
PLAYGROUND_TOKEN = ORANGE + "/openidconnect/playground/v1.0/token"
V3_TOKEN = ORANGE + "/oauth/v3/token"
NV = ORANGE + "/camara/playground/api/number-verification/v1"
DLV = ORANGE + "/camara/location-verification/orange-lab/v0/verify"
REDIRECT = "https://app.example/callback"
NV_SCOPE = "openid dpv:FraudPreventionAndDetection number-verification:verify"
CLIENT = ("my-app", "my-secret")


def authorize(
    session: requests.Session, number: str, scope: str = NV_SCOPE, **extra: str
) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-123",
        "login_hint": f"tel:{number}",
        **extra,
    }
    return session.get(
        AUTHORIZE, params=params, headers={"Accept": "application/json"}, allow_redirects=False
    )


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    session: requests.Session, code: str, client=CLIENT, redirect_uri: str = REDIRECT
) -> requests.Response:
    return session.post(
        PLAYGROUND_TOKEN,
        auth=client,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers={"Accept": "application/json"},
    )


def three_legged_token(session: requests.Session, number: str, scope: str = NV_SCOPE, client=CLIENT) -> str:
    code = redirect_params(authorize(session, number, scope, client_id=client[0]))["code"]
    response = exchange(session, code, client)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def lab_token(session, client=CLIENT) -> str:
    response = session.post(V3_TOKEN, auth=client, data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


PLAYGROUND_API = ORANGE + "/camara/playground/api"


def playground_token(session, client=CLIENT, scope: str | None = None) -> str:
    """A 2-legged playground token, as Orange's playground clients get one for every API but NV."""
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    response = session.post(PLAYGROUND_TOKEN, auth=client, data=data, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dlv_body(
    number: str = "33699901031", lat: float = 48.80, lon: float = 2.26999, radius=2000, max_age=3600
):
    body = {
        "device": {"phoneNumber": number},
        "area": {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius},
    }
    if max_age is not None:
        body["maxAge"] = max_age
    return body
