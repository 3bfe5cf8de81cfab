"""Device Swap 0.2 on the playground, through the real proxy: retrieve-date and check computed from the
subscriber's deviceSwap record (Admin numbers, rules numbers, predefined +990 numbers), the 0.2.0
identifier rules (UNNECESSARY_IDENTIFIER, MISSING_IDENTIFIER), OUT_OF_RANGE, the x-correlator
pattern, tokens and scopes, both profiles."""

from __future__ import annotations

import time

import pytest
from flows import PLAYGROUND_API, bearer, lab_token, playground_token, three_legged_token
from swap_helpers import (
    DAY,
    HOUR,
    admin,
    age_of,
    ago,
    answers_without_a_record,
    create,
    error_of,
    fresh_client,
    update,
)

from proxy_addons.simulator.apis import ALL_APIS
from proxy_addons.simulator.apis.device_swap import DeviceSwap

DEVICE_SWAP = PLAYGROUND_API + "/device-swap/v0.2"
RETRIEVE = DEVICE_SWAP + "/retrieve-date"
CHECK = DEVICE_SWAP + "/check"
SIM_SWAP_CHECK = PLAYGROUND_API + "/sim-swap/v1/check"
CONTROL = "http://orange-proxy.test/api"
TEMPLATE_CHANGE = "2021-06-01T00:00:00.000Z"  # the template's deviceSwap record
NOMINAL = "+990100000000"
SWAPPED = "+990100000001"  # its SIM was swapped 3 days ago, not its device
NUMBER = "+33611223355"
UNKNOWN = "+33600000008"
OPENID = "openid device-swap"


@pytest.fixture
def client():
    return fresh_client("device-swap-app")


def retrieve(session, token, body=None, **headers):
    return session.post(RETRIEVE, headers={**bearer(token), **headers}, json=body)


def check(session, token, body=None, **headers):
    return session.post(CHECK, headers={**bearer(token), **headers}, json=body)


def swapped(session, token, number, max_age=None) -> bool:
    body = {"phoneNumber": number} if max_age is None else {"phoneNumber": number, "maxAge": max_age}
    answer = check(session, token, body)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"swapped"}
    return answer.json()["swapped"]


# The answers, from the subscriber's record ---------------------------------------------------


def test_an_admin_number_answers_from_its_record_and_follows_updates(proxy, client):
    session = proxy.session()
    create(session, client, NUMBER)
    token = playground_token(session, client)
    first = retrieve(session, token, {"phoneNumber": NUMBER})
    assert first.status_code == 200
    assert first.json() == {"latestDeviceChange": TEMPLATE_CHANGE}  # no monitoredPeriod: full history
    assert swapped(session, token, NUMBER) is False

    two_days_ago = ago(2 * DAY)
    update(session, client, NUMBER, deviceSwap={"latestDeviceChange": two_days_ago})
    assert retrieve(session, token, {"phoneNumber": NUMBER}).json() == {"latestDeviceChange": two_days_ago}
    assert [swapped(session, token, NUMBER, hours) for hours in (1, 47, 49, 2400)] == [
        False,
        False,
        True,
        True,
    ]
    assert swapped(session, token, NUMBER) is True

    # The SIM record is another one: changing it leaves the device's alone.
    update(session, client, NUMBER, simSwap={"latestSimChange": ago(HOUR)})
    assert swapped(session, token, NUMBER, 47) is False
    sim = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": NUMBER, "maxAge": 2})
    assert sim.json() == {"swapped": True}

    # 5 hours ago, written at UTC-05:00: its wall clock reads 5 hours behind UTC's.
    instant = time.time() - 5 * HOUR
    record = time.strftime("%Y-%m-%dT%H:%M:%S-05:00", time.gmtime(instant - 5 * HOUR))
    update(session, client, NUMBER, deviceSwap={"latestDeviceChange": record})
    assert retrieve(session, token, {"phoneNumber": NUMBER}).json() == {"latestDeviceChange": record}
    assert [swapped(session, token, NUMBER, hours) for hours in (4, 6)] == [False, True]


def test_max_age_defaults_to_240_hours(proxy, client):
    session = proxy.session()
    token = playground_token(session, client)
    create(session, client, NUMBER, deviceSwap={"latestDeviceChange": ago(239.5 * HOUR)})
    assert (swapped(session, token, NUMBER), swapped(session, token, NUMBER, 239)) == (True, False)
    update(session, client, NUMBER, deviceSwap={"latestDeviceChange": ago(240.5 * HOUR)})
    assert (swapped(session, token, NUMBER), swapped(session, token, NUMBER, 241)) == (False, True)


def test_predefined_numbers(proxy):
    session = proxy.session()
    token = playground_token(session)
    for number in (NOMINAL, SWAPPED, "+99012345678"):
        assert retrieve(session, token, {"phoneNumber": number}).json() == {
            "latestDeviceChange": TEMPLATE_CHANGE
        }
        assert swapped(session, token, number) is False
        assert swapped(session, token, number, 2400) is False


RULES = """
numbers:
  "+33612000011":
    deviceSwap: {latestDeviceChange: now-3d}
  "+33612000012":
    simSwap: {latestSimChange: now-2h}
overrides:
  - name: limited-history
    match: {api: device-swap, operation: retrieve-date, phone_number: "+33612000019"}
    response: {status: 200, body: {latestDeviceChange: null, monitoredPeriod: 120}}
"""


def test_rules_numbers_relative_times_and_an_override(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    proxy = proxy_factory("--rules", str(rules), "--profile", "camara")
    session = proxy.session()
    token = playground_token(session)
    recent = retrieve(session, token, {"phoneNumber": "+33612000011"}).json()["latestDeviceChange"]
    assert abs(age_of(recent) - 3 * DAY) < 60
    assert [swapped(session, token, "+33612000011", hours) for hours in (71, 73)] == [False, True]
    assert swapped(session, token, "+33612000011") is True
    # A rules number that gives only simSwap takes the template's device record.
    assert retrieve(session, token, {"phoneNumber": "+33612000012"}).json() == {
        "latestDeviceChange": TEMPLATE_CHANGE
    }
    assert swapped(session, token, "+33612000012", 3) is False
    # An operator with a limited monitoring window, through an override (the schema allows it).
    limited = retrieve(session, token, {"phoneNumber": "+33612000019"})
    assert (limited.status_code, limited.json()) == (
        200,
        {"latestDeviceChange": None, "monitoredPeriod": 120},
    )


def test_with_httpx_and_x_correlator(proxy):
    session = proxy.session()
    token = playground_token(session)
    correlator = "b4333c46-49c0-4f62-80d7-f0ef930f1c46"
    with proxy.httpx_client() as client:
        answer = client.post(
            RETRIEVE, headers={**bearer(token), "x-correlator": correlator}, json={"phoneNumber": NOMINAL}
        )
        assert answer.status_code == 200
        assert answer.headers["x-correlator"] == correlator
        assert answer.json() == {"latestDeviceChange": TEMPLATE_CHANGE}


@pytest.mark.parametrize("correlator", ["c_1", "corr 1", "a" * 56, "c.1"])
def test_x_correlator_outside_the_spec_pattern_is_400(proxy, correlator):
    session = proxy.session()
    answer = check(
        session, playground_token(session), {"phoneNumber": NOMINAL}, **{"x-correlator": correlator}
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert answer.headers["x-orange-proxy-reason"].startswith("x-correlator: ")
    assert answer.headers["x-correlator"] == correlator
    at_the_limit = check(
        session, playground_token(session), {"phoneNumber": NOMINAL}, **{"x-correlator": "a" * 55}
    )
    assert at_the_limit.status_code == 200


# The line: 3-legged token or body ------------------------------------------------------------


def test_three_legged_token_names_the_line(proxy, client):
    session = proxy.session()
    create(session, client, NUMBER, deviceSwap={"latestDeviceChange": ago(10 * HOUR)})
    token = three_legged_token(session, NUMBER, OPENID, client=client)
    implicit = retrieve(session, token, {})
    assert implicit.status_code == 200
    assert abs(age_of(implicit.json()["latestDeviceChange"]) - 10 * HOUR) < 60
    assert check(session, token, {"maxAge": 11}).json() == {"swapped": True}
    assert check(session, token, {"maxAge": 9}).json() == {"swapped": False}
    assert check(session, token, {}).json() == {"swapped": True}
    # 0.2.0: with a 3-legged token the body must not name the line, not even the same one.
    for number in (NUMBER, NOMINAL):
        for url in (RETRIEVE, CHECK):
            answer = session.post(url, headers=bearer(token), json={"phoneNumber": number})
            assert answer.json() == {
                "status": 422,
                "code": "UNNECESSARY_IDENTIFIER",
                "message": "The device is already identified by the access token.",
            }


def test_two_legged_token_without_phone_number(proxy, camara_proxy):
    for running in (proxy, camara_proxy):
        session = running.session()
        token = playground_token(session)
        for url, body in ((RETRIEVE, {}), (CHECK, {"maxAge": 24})):
            missing = session.post(url, headers=bearer(token), json=body)
            assert missing.json() == {
                "status": 422,
                "code": "MISSING_IDENTIFIER",
                "message": "The device cannot be identified.",
            }


def test_unknown_numbers(proxy, camara_proxy, client):
    session = proxy.session()
    token = playground_token(session, client)
    for url in (RETRIEVE, CHECK):
        answer = session.post(url, headers=bearer(token), json={"phoneNumber": UNKNOWN})
        assert error_of(answer) == (403, "FORBIDDEN", f"{UNKNOWN} does not exist for {client[0]}")
    camara = camara_proxy.session()
    camara_token = playground_token(camara, client)
    for url in (RETRIEVE, CHECK):
        answer = camara.post(url, headers=bearer(camara_token), json={"phoneNumber": UNKNOWN})
        assert answer.json() == {
            "status": 404,
            "code": "IDENTIFIER_NOT_FOUND",
            "message": "Device identifier not found.",
        }


def test_a_three_legged_token_for_a_deleted_number(camara_proxy, client):
    session = camara_proxy.session()
    create(session, client, NUMBER)
    token = three_legged_token(session, NUMBER, "openid device-swap:check", client=client)
    assert check(session, token, {}).json() == {"swapped": False}
    admin(session, client, {"action": "DELETE", "phoneNumber": NUMBER})
    gone = check(session, token, {})
    assert (gone.status_code, gone.json()["code"]) == (404, "IDENTIFIER_NOT_FOUND")


# Validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_age", [0, -1, 2401, 10**6])
def test_max_age_out_of_range(proxy, camara_proxy, max_age):
    for running in (proxy, camara_proxy):
        session = running.session()
        answer = check(session, playground_token(session), {"phoneNumber": NOMINAL, "maxAge": max_age})
        assert answer.json() == {
            "status": 400,
            "code": "OUT_OF_RANGE",
            "message": "Client specified an invalid range.",
        }
        assert answer.headers["x-orange-proxy-reason"].startswith("maxAge: ")


@pytest.mark.parametrize("max_age", [1, 2400])
def test_max_age_range_ends_are_accepted(proxy, max_age):
    session = proxy.session()
    assert swapped(session, playground_token(session), NOMINAL, max_age) is False


BAD_BODIES = [
    ({"phoneNumber": NOMINAL, "maxAge": "240"}, "maxAge"),
    ({"phoneNumber": NOMINAL, "maxAge": 24.5}, "maxAge"),
    ({"phoneNumber": NOMINAL, "maxAge": True}, "maxAge"),
    ({"phoneNumber": NOMINAL, "maxAge": None}, "maxAge"),
    ({"phoneNumber": NOMINAL, "maxAge": 0, "imei": "490154203237518"}, "imei"),  # not OUT_OF_RANGE first
    ({"phoneNumber": NOMINAL, "imei": "490154203237518"}, "imei"),
    ({"device": {"phoneNumber": NOMINAL}}, "device"),
    ({"phoneNumber": "990100000000"}, "phoneNumber"),
    ({"phoneNumber": "+0990100000000"}, "phoneNumber"),
    ({"phoneNumber": "+1234"}, "phoneNumber"),
    ({"phoneNumber": "+33 6 11 22 33"}, "phoneNumber"),
    ({"phoneNumber": 990100000000}, "phoneNumber"),
    ({"phoneNumber": None}, "phoneNumber"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_check_400(proxy, body, field):
    session = proxy.session()
    answer = check(session, playground_token(session), body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_ARGUMENT"
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [(b, f) for b, f in BAD_BODIES if f != "maxAge"] + [({"phoneNumber": NOMINAL, "maxAge": 24}, "maxAge")],
)
def test_retrieve_date_400(proxy, body, field):
    session = proxy.session()
    answer = retrieve(session, playground_token(session), body)
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"phoneNumber": "+990100000000"', "application/json"),
        (b'"+990100000000"', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"", "application/json"),
        (b'{"phoneNumber": "+990100000000"}', "text/plain"),
    ],
)
def test_non_json_bodies_400(proxy, data, content_type):
    session = proxy.session()
    token = playground_token(session)
    for url in (RETRIEVE, CHECK):
        answer = session.post(url, headers={**bearer(token), "Content-Type": content_type}, data=data)
        assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_ARGUMENT")


# Tokens and scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token-we-issued"}])
def test_401(proxy, camara_proxy, headers):
    answer = proxy.session().post(RETRIEVE, headers=headers, json={"phoneNumber": NOMINAL})
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"
    assert answer.json()["message"].startswith("Authorization failed: ")
    camara = camara_proxy.session().post(CHECK, headers=headers, json={"phoneNumber": NOMINAL})
    assert camara.json() == {
        "status": 401,
        "code": "UNAUTHENTICATED",
        "message": "Request not authenticated due to missing, invalid, or expired credentials.",
    }


def test_403_lab_token(proxy, camara_proxy):
    session = proxy.session()
    answer = retrieve(session, lab_token(session), {"phoneNumber": NOMINAL})
    assert error_of(answer) == (403, "FORBIDDEN", "Request must be authorized")
    camara = camara_proxy.session()
    refused = check(camara, lab_token(camara), {"phoneNumber": NOMINAL})
    assert (refused.status_code, refused.json()["code"]) == (403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("scope", "retrieve_status", "check_status"),
    [
        ("device-swap", 200, 200),
        ("device-swap:retrieve-date", 200, 403),
        ("device-swap:check", 403, 200),
        ("sim-swap", 403, 403),
        ("sim-swap:check sim-swap:retrieve-date", 403, 403),
        (None, 200, 200),
    ],
)
def test_scopes(camara_proxy, scope, retrieve_status, check_status):
    session = camara_proxy.session()
    token = playground_token(session, scope=scope)
    got = retrieve(session, token, {"phoneNumber": NOMINAL})
    checked = check(session, token, {"phoneNumber": NOMINAL})
    assert (got.status_code, checked.status_code) == (retrieve_status, check_status)
    for refused in (a for a in (got, checked) if a.status_code == 403):
        assert refused.json()["code"] == "PERMISSION_DENIED"
        assert "lacks the scope" in refused.headers["x-orange-proxy-reason"]


def test_a_fault_scoped_to_device_swap_leaves_sim_swap_alone(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    token = playground_token(session)
    added = session.post(CONTROL + "/faults", json={"fault": "invalid_input:api=device-swap,operation=check"})
    assert added.status_code == 201
    refused = check(session, token, {"phoneNumber": NOMINAL})
    assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert retrieve(session, token, {"phoneNumber": NOMINAL}).status_code == 200
    sim = session.post(SIM_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": NOMINAL})
    assert sim.status_code == 200
    assert session.delete(f"{CONTROL}/faults/{added.json()['id']}").status_code == 204
    assert check(session, token, {"phoneNumber": NOMINAL}).status_code == 200


# Units ---------------------------------------------------------------------------------------


def test_registered_with_the_spec_routes_and_scopes():
    api = next(a for a in ALL_APIS if a.name == "device-swap")
    assert isinstance(api, DeviceSwap)
    assert [(o.name, o.method, o.path) for o in api.operations] == [
        ("retrieve-date", "POST", "/camara/playground/api/device-swap/v0.2/retrieve-date"),
        ("check", "POST", "/camara/playground/api/device-swap/v0.2/check"),
    ]
    assert api.required_scopes == {
        "retrieve-date": {"device-swap", "device-swap:retrieve-date"},
        "check": {"device-swap", "device-swap:check"},
    }


def test_a_line_without_a_record(schemas):
    """No date in the operator's records: 422 SERVICE_NOT_APPLICABLE for both operations (0.2.0)."""
    answers = answers_without_a_record(schemas, "device-swap/v0.2", {"phoneNumber": NUMBER})
    expected = {
        "status": 422,
        "code": "SERVICE_NOT_APPLICABLE",
        "message": "The service is not available for the provided identifier.",
    }
    assert answers == {"retrieve-date": (422, expected), "check": (422, expected)}
