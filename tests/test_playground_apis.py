"""What the playground's CAMARA APIs share, across modules, through the real proxy: faults that speak
each API's version, every API reachable with one 2-legged playground token, and refused with a lab one."""

from __future__ import annotations

import subprocess

import pytest
from conftest import PLAYGROUND_APIS
from flows import DLV, ORANGE, PLAYGROUND_API, bearer, dlv_body, lab_token, playground_token

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


DEVICE_APIS = [api for api, body in BODIES.items() if body and "device" in body]


@pytest.mark.parametrize("api", DEVICE_APIS)
def test_a_bare_phone_number_where_a_device_belongs_is_not_allowed(proxy, api):
    """Orange's words (observed, ORANGE-AND-CAMARA.md §6.1), for every API that takes a device."""
    session = proxy.session()
    base, (operation, *_) = PLAYGROUND_APIS[api]
    body = {**{k: v for k, v in BODIES[api].items() if k != "device"}, "phoneNumber": NUMBER}
    answer = session.post(
        f"{PLAYGROUND_API}/{base}/{operation}", headers=bearer(playground_token(session)), json=body
    )
    assert answer.status_code == 400
    assert answer.json()["message"] == "phoneNumber is not allowed"


def test_a_negative_max_age_of_retrieval_has_the_specs_words(proxy):
    session = proxy.session()
    answer = session.post(
        f"{PLAYGROUND_API}/location-retrieval/v0.3/retrieve",
        headers=bearer(playground_token(session)),
        json={"device": {"phoneNumber": NUMBER}, "maxAge": -5},
    )
    assert answer.json() == {
        "status": 400,
        "code": "LOCATION_RETRIEVAL.MAXAGE_INVALID_ARGUMENT",
        "message": "maxAge threshold cannot be satisfied",
    }
    assert "maxAge" in answer.headers["x-orange-proxy-reason"]


def test_a_rules_number_takes_the_parts_it_does_not_give_from_the_template(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text('numbers:\n  "+33687654321":\n    simSwap: {latestSimChange: now-3d}\n')
    proxy = proxy_factory("--rules", str(rules))
    session = proxy.session()
    token = bearer(playground_token(session))
    device = {"device": {"phoneNumber": "+33687654321"}}
    where = session.post(f"{PLAYGROUND_API}/location-retrieval/v0.3/retrieve", headers=token, json=device)
    assert where.status_code == 200, where.text
    assert where.json()["area"]["center"] == {"latitude": 48.8566, "longitude": 2.3522}  # the template's
    reach = session.post(
        f"{PLAYGROUND_API}/device-reachability-status/v0.6/retrieve", headers=token, json=device
    )
    assert reach.json()["reachabilityStatus"] == "CONNECTED_DATA"
    swapped = session.post(
        f"{PLAYGROUND_API}/sim-swap/v1/check",
        headers=token,
        json={"phoneNumber": "+33687654321", "maxAge": 96},
    )
    assert swapped.json() == {"swapped": True}


def test_status_lines_and_reason_headers_say_it_plainly(proxy_factory):
    proxy = proxy_factory("--fault", "rate_limited:api=sim-swap")
    session = proxy.session()
    token = bearer(playground_token(session))
    limited = session.post(f"{PLAYGROUND_API}/sim-swap/v1/check", headers=token, json={"phoneNumber": NUMBER})
    assert (limited.status_code, limited.reason) == (429, "Too Many Requests")
    # A fullwidth digit is shown escaped in the reason header, not as an anonymous "?".
    odd = session.post(
        f"{PLAYGROUND_API}/device-swap/v0.2/check", headers=token, json={"phoneNumber": "+99010000000１"}
    )
    assert odd.status_code == 400
    assert "\\uff11" in odd.headers["x-orange-proxy-reason"]


def test_an_admin_number_whose_operator_cannot_give_the_sim_swap_date(proxy):
    """SIM Swap 1.0 reserves null for a date the operator cannot give; the Admin API can say so."""
    session = proxy.session()
    client = (f"null-swap-{id(session)}", "secret")
    admin = bearer(lab_token(session, client))
    action = ORANGE + "/camara/playground/admin/v1.0/action"
    number = "+33622446688"
    assert session.post(action, headers=admin, json={"action": "CREATE", "phoneNumber": number}).ok
    update = {"action": "UPDATE", "phoneNumber": number, "data": {"simSwap": {"latestSimChange": None}}}
    assert session.post(action, headers=admin, json=update).status_code == 200
    token = bearer(playground_token(session, client))
    date = session.post(
        f"{PLAYGROUND_API}/sim-swap/v1/retrieve-date", headers=token, json={"phoneNumber": number}
    )
    assert (date.status_code, date.json()) == (200, {"latestSimChange": None})
    check = session.post(f"{PLAYGROUND_API}/sim-swap/v1/check", headers=token, json={"phoneNumber": number})
    assert (check.status_code, check.json()["code"]) == (422, "NOT_SUPPORTED")


def test_synthesised_and_faulted_answers_speak_the_requests_http_version(proxy_factory):
    """An HTTP/2 client gets HTTP/2 answers, from the synthesiser and from a fault alike."""
    proxy = proxy_factory("--fault", "service_unavailable:api=sim-swap")
    url = f"{PLAYGROUND_API}/device-swap/v0.2/check"
    for target, expected in ((url, 401), (f"{PLAYGROUND_API}/sim-swap/v1/check", 503)):
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "--http2",
                "--proxy",
                proxy.url,
                "--noproxy",
                "",
                "--cacert",
                str(proxy.ca),
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                "--json",
                "{}",
                target,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.stdout == f"2 {expected}", (target, result.stdout, result.stderr)
    # The request lines say so too (a response in HTTP/1.1 to an HTTP/2 request would read wrong).
    lines = [line for line in proxy.output().splitlines() if "<<" in line]
    assert any("HTTP/2.0 401" in line for line in lines), lines
    assert any("HTTP/2.0 503" in line and "faulted" in line for line in lines), lines
    # Header names go out in lower case, as HTTP/2 wants: mitmproxy has nothing to warn about.
    assert "Lowercased" not in proxy.output()
