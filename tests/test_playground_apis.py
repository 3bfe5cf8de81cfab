"""What the playground's CAMARA APIs share, across modules, through the real proxy: faults that speak
each API's version, every API reachable with one 2-legged playground token, and refused with a lab one."""

from __future__ import annotations

import pytest
from conftest import PLAYGROUND_APIS
from flows import DLV, PLAYGROUND_API, bearer, dlv_body, lab_token, playground_token

NUMBER = "+990100000000"
BODIES = {
    "playground-location-verification": {
        "device": {"phoneNumber": NUMBER},
        "area": {"areaType": "CIRCLE", "center": {"latitude": 48.8566, "longitude": 2.3522}, "radius": 2000},
    },
    "location-retrieval": {"device": {"phoneNumber": NUMBER}},
    "device-reachability-status": {"device": {"phoneNumber": NUMBER}},
    "device-roaming-status": {"device": {"phoneNumber": NUMBER}},
    "sim-swap": {"phoneNumber": NUMBER},
    "device-swap": {"phoneNumber": NUMBER},
    "kyc-match": {"phoneNumber": NUMBER, "givenName": "Camille"},
    "population-density-data": None,  # about an area, not a device: its own tests
}


def calls():
    for api, (base, operations) in PLAYGROUND_APIS.items():
        if BODIES[api] is not None:
            for operation in operations:
                yield api, f"{PLAYGROUND_API}/{base}/{operation}", BODIES[api]


@pytest.mark.parametrize(("api", "url", "body"), list(calls()), ids=lambda v: v if isinstance(v, str) else "")
def test_one_scopeless_playground_token_reaches_every_api_and_a_lab_token_none(proxy, api, url, body):
    session = proxy.session()
    answer = session.post(url, headers=bearer(playground_token(session)), json=body)
    assert answer.status_code == 200, answer.text
    refused = session.post(url, headers=bearer(lab_token(session)), json=body)
    assert refused.status_code == 403
    assert refused.json() == {"code": "FORBIDDEN", "message": "Request must be authorized"}


@pytest.mark.parametrize("api", ["playground-location-verification", "location-retrieval"])
def test_location_outdated_speaks_each_location_apis_version(proxy_factory, api):
    proxy = proxy_factory("--fault", f"location_outdated:api={api}")
    session = proxy.session()
    base, (operation,) = PLAYGROUND_APIS[api]
    answer = session.post(
        f"{PLAYGROUND_API}/{base}/{operation}", headers=bearer(playground_token(session)), json=BODIES[api]
    )
    assert answer.status_code == 422
    assert answer.json()["code"].endswith(".UNABLE_TO_FULFILL_MAX_AGE")
    # The lab API is untouched by a fault scoped to another API.
    lab = session.post(DLV, headers=bearer(lab_token(session)), json=dlv_body())
    assert lab.status_code == 200


def test_an_injected_422_is_a_valid_error_body(proxy_factory):
    proxy = proxy_factory("--fault", "status:code=422,api=device-roaming-status")
    session = proxy.session()
    answer = session.post(
        f"{PLAYGROUND_API}/device-roaming-status/v0.6/retrieve",
        headers=bearer(playground_token(session)),
        json=BODIES["device-roaming-status"],
    )
    assert answer.status_code == 422
    # Roaming 0.6 has no UNPROCESSABLE_ENTITY: the fault takes the first 422 code it defines.
    assert answer.json()["code"] == "DEVICE_IDENTIFIERS_MISMATCH"


def test_an_unknown_playground_path_is_the_playgrounds_400(proxy, camara_proxy):
    session = proxy.session()
    token = bearer(playground_token(session))
    unknown = session.post(PLAYGROUND_API + "/qos-on-demand/v0/sessions", headers=token, json={})
    assert unknown.status_code == 400
    assert unknown.json() == {"status": 400, "code": "INVALID_ARGUMENT", "message": "unhandled path"}
    # Below an API's own prefix it is that API's 404; outside the playground, the gateway's.
    assert session.post(PLAYGROUND_API + "/sim-swap/v1/nowhere", headers=token, json={}).status_code == 404
    assert session.get("https://api.orange.com/nowhere").json()["code"] == 60
    camara = camara_proxy.session().post(PLAYGROUND_API + "/qos-on-demand/v0/sessions", json={})
    assert (camara.status_code, camara.json()["code"]) == (404, "NOT_FOUND")
