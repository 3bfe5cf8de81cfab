"""SIM Swap 1.0 on the playground, through the real proxy: retrieve-date and check computed from the
subscriber's simSwap record (Admin numbers, rules numbers, predefined +990 numbers), the 1.0.0
identifier rules, validation, tokens and scopes, both profiles, and faults scoped to the API."""

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
from proxy_addons.simulator.apis.sim_swap import SimSwap
from proxy_addons.simulator.apis.swap import LatestChange, changed_within, latest_change

SIM_SWAP = PLAYGROUND_API + "/sim-swap/v1"
RETRIEVE = SIM_SWAP + "/retrieve-date"
CHECK = SIM_SWAP + "/check"
DEVICE_SWAP_CHECK = PLAYGROUND_API + "/device-swap/v0.2/check"
CONTROL = "http://orange-proxy.test/api"
NOMINAL = "+990100000000"  # the template: SIM unchanged since 2020-01-01
SWAPPED = "+990100000001"  # SIM swapped 3 days ago
SPAIN = "+990100000002"  # SIM changed 2020-03-15T10:00:00.000Z
NUMBER = "+33611223344"
UNKNOWN = "+33600000009"
OPENID = "openid sim-swap"


@pytest.fixture
def client():
    return fresh_client("sim-swap-app")


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
    # A new number has the template's record: unchanged for years.
    first = retrieve(session, token, {"phoneNumber": NUMBER})
    assert first.status_code == 200
    assert first.json() == {"latestSimChange": "2020-01-01T00:00:00.000Z"}
    assert swapped(session, token, NUMBER) is False

    five_hours_ago = ago(5 * HOUR)
    update(session, client, NUMBER, simSwap={"latestSimChange": five_hours_ago})
    # retrieve-date answers the record exactly as set; check flips between maxAge values around it.
    assert retrieve(session, token, {"phoneNumber": NUMBER}).json() == {"latestSimChange": five_hours_ago}
    assert [swapped(session, token, NUMBER, hours) for hours in (1, 4, 6, 240, 2400)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert swapped(session, token, NUMBER) is True

    # Another offset and format: the answer keeps the record's own form.
    record = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 300 * HOUR))
    update(session, client, NUMBER, simSwap={"latestSimChange": record})
    assert retrieve(session, token, {"phoneNumber": NUMBER}).json() == {"latestSimChange": record}
    assert [swapped(session, token, NUMBER, hours) for hours in (299, 301)] == [False, True]
    assert swapped(session, token, NUMBER) is False


def test_max_age_defaults_to_240_hours(proxy, client):
    session = proxy.session()
    token = playground_token(session, client)
    create(session, client, NUMBER, simSwap={"latestSimChange": ago(239.5 * HOUR)})
    assert (swapped(session, token, NUMBER), swapped(session, token, NUMBER, 239)) == (True, False)
    update(session, client, NUMBER, simSwap={"latestSimChange": ago(240.5 * HOUR)})
    assert (swapped(session, token, NUMBER), swapped(session, token, NUMBER, 241)) == (False, True)


def test_predefined_numbers(proxy):
    session = proxy.session()
    token = playground_token(session)
    recent = retrieve(session, token, {"phoneNumber": SWAPPED}).json()["latestSimChange"]
    assert abs(age_of(recent) - 3 * DAY) < 60
    assert [swapped(session, token, SWAPPED, hours) for hours in (71, 73)] == [False, True]
    assert swapped(session, token, SWAPPED) is True

    assert retrieve(session, token, {"phoneNumber": NOMINAL}).json() == {
        "latestSimChange": "2020-01-01T00:00:00.000Z"
    }
    assert swapped(session, token, NOMINAL) is False
    assert swapped(session, token, NOMINAL, 2400) is False
    assert retrieve(session, token, {"phoneNumber": SPAIN}).json() == {
        "latestSimChange": "2020-03-15T10:00:00.000Z"
    }


RULES = """
numbers:
  "+33612000001":
    simSwap: {latestSimChange: now-3d}
  "+33612000002":
    location: {latitude: 45.0, longitude: 4.0}
  "+33612000003": null
overrides:
  - name: no-history
    match: {api: sim-swap, operation: retrieve-date, phone_number: "+33612000009"}
    response: {status: 200, body: {latestSimChange: null}}
"""


def test_rules_numbers_relative_times_and_an_override(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    proxy = proxy_factory("--rules", str(rules))
    session = proxy.session()
    token = playground_token(session)
    # now-3d is resolved at each request: three days before it.
    for _ in range(2):
        recent = retrieve(session, token, {"phoneNumber": "+33612000001"}).json()["latestSimChange"]
        assert abs(age_of(recent) - 3 * DAY) < 60
    assert [swapped(session, token, "+33612000001", hours) for hours in (71, 73)] == [False, True]
    assert swapped(session, token, "+33612000001") is True
    # Rules numbers that give no simSwap take the template's record.
    for number in ("+33612000002", "+33612000003"):
        answer = retrieve(session, token, {"phoneNumber": number})
        assert answer.json() == {"latestSimChange": "2020-01-01T00:00:00.000Z"}, number
        assert swapped(session, token, number) is False
    # What an operator with a limited history answers, through an override (the schema allows null).
    limited = retrieve(session, token, {"phoneNumber": "+33612000009"})
    assert (limited.status_code, limited.json()) == (200, {"latestSimChange": None})


def test_with_httpx_and_x_correlator(proxy):
    session = proxy.session()
    token = playground_token(session)
    with proxy.httpx_client() as client:
        answer = client.post(
            CHECK, headers={**bearer(token), "x-correlator": "corr-42"}, json={"phoneNumber": SWAPPED}
        )
        assert answer.status_code == 200
        assert answer.headers["x-correlator"] == "corr-42"
        assert answer.json() == {"swapped": True}
        refused = client.post(RETRIEVE, headers={"x-correlator": "c_1 x"}, json={"phoneNumber": SWAPPED})
        assert refused.status_code == 401
        assert refused.headers["x-correlator"] == "c_1 x"


# The line: 3-legged token or body ------------------------------------------------------------


def test_three_legged_token_names_the_line(proxy):
    session = proxy.session()
    token = three_legged_token(session, SWAPPED, OPENID)
    implicit = retrieve(session, token, {})
    assert implicit.status_code == 200
    assert abs(age_of(implicit.json()["latestSimChange"]) - 3 * DAY) < 60
    assert check(session, token, {"maxAge": 73}).json() == {"swapped": True}
    assert check(session, token, {"maxAge": 71}).json() == {"swapped": False}
    # The same number in the body is allowed in 1.0 (and checked).
    same = check(session, token, {"phoneNumber": SWAPPED})
    assert (same.status_code, same.json()) == (200, {"swapped": True})
    # Another number: 403; Orange's FORBIDDEN body under profile orange.
    other = retrieve(session, token, {"phoneNumber": NOMINAL})
    assert error_of(other)[:2] == (403, "FORBIDDEN")
    assert other.json()["message"] == (
        "Operation not allowed: the phoneNumber in the body is not the one the access token was issued for"
    )


def test_three_legged_mismatch_and_missing_number_camara(camara_proxy):
    session = camara_proxy.session()
    token = three_legged_token(session, SWAPPED, "openid sim-swap:check")
    other = check(session, token, {"phoneNumber": NOMINAL, "maxAge": 24})
    assert other.json() == {
        "status": 403,
        "code": "INVALID_TOKEN_CONTEXT",
        "message": "phoneNumber is not consistent with access token",
    }
    two_legged = playground_token(session)
    for url in (RETRIEVE, CHECK):
        missing = session.post(url, headers=bearer(two_legged), json={})
        assert missing.json() == {
            "status": 422,
            "code": "UNIDENTIFIABLE_PHONE_NUMBER",
            "message": "The phone number cannot be identified",
        }


def test_two_legged_token_without_phone_number_orange(proxy):
    session = proxy.session()
    token = playground_token(session)
    for url, body in ((RETRIEVE, {}), (CHECK, {"maxAge": 24})):
        missing = session.post(url, headers=bearer(token), json=body)
        assert error_of(missing) == (
            422,
            "UNIDENTIFIABLE_PHONE_NUMBER",
            "The phone number cannot be identified",
        )
        assert missing.json()["status"] == 422
        assert "client_credentials" in missing.headers["x-orange-proxy-reason"]


def test_unknown_numbers(proxy, camara_proxy, client):
    session = proxy.session()
    token = playground_token(session, client)
    for url in (RETRIEVE, CHECK):
        answer = session.post(url, headers=bearer(token), json={"phoneNumber": UNKNOWN})
        assert answer.json() == {"code": "FORBIDDEN", "message": f"{UNKNOWN} does not exist for {client[0]}"}
        assert answer.status_code == 403
    # A number another application defined is unknown to this one.
    other = fresh_client("sim-swap-other")
    create(session, other, NUMBER)
    assert error_of(retrieve(session, token, {"phoneNumber": NUMBER}))[:2] == (403, "FORBIDDEN")
    assert retrieve(session, playground_token(session, other), {"phoneNumber": NUMBER}).status_code == 200

    camara = camara_proxy.session()
    camara_token = playground_token(camara, client)
    for url in (RETRIEVE, CHECK):
        answer = camara.post(url, headers=bearer(camara_token), json={"phoneNumber": UNKNOWN})
        assert answer.json() == {
            "status": 404,
            "code": "NOT_FOUND",
            "message": "The specified resource is not found.",
        }


def test_a_three_legged_token_for_a_deleted_number(proxy, client):
    session = proxy.session()
    create(session, client, NUMBER, simSwap={"latestSimChange": ago(HOUR)})
    token = three_legged_token(session, NUMBER, OPENID, client=client)
    assert check(session, token, {"maxAge": 2}).json() == {"swapped": True}
    admin(session, client, {"action": "DELETE", "phoneNumber": NUMBER})
    gone = check(session, token, {"maxAge": 2})
    assert error_of(gone) == (403, "FORBIDDEN", f"{NUMBER} does not exist for {client[0]}")


# Validation ----------------------------------------------------------------------------------

BAD_BODIES = [
    ({"phoneNumber": SWAPPED, "maxAge": 0}, "maxAge"),
    ({"phoneNumber": SWAPPED, "maxAge": 2401}, "maxAge"),
    ({"phoneNumber": SWAPPED, "maxAge": -24}, "maxAge"),
    ({"phoneNumber": SWAPPED, "maxAge": "240"}, "maxAge"),
    ({"phoneNumber": SWAPPED, "maxAge": 24.5}, "maxAge"),
    ({"phoneNumber": SWAPPED, "maxAge": True}, "maxAge"),
    ({"phoneNumber": SWAPPED, "maxAge": None}, "maxAge"),
    ({"phoneNumber": SWAPPED, "msisdn": SWAPPED}, "msisdn"),
    ({"device": {"phoneNumber": SWAPPED}}, "device"),
    ({"phoneNumber": "990100000001"}, "phoneNumber"),
    ({"phoneNumber": "+0990100000001"}, "phoneNumber"),
    ({"phoneNumber": "+1234"}, "phoneNumber"),
    ({"phoneNumber": "+33 6 11 22 33"}, "phoneNumber"),
    ({"phoneNumber": "+9901000000011234"}, "phoneNumber"),
    ({"phoneNumber": 990100000001}, "phoneNumber"),
    ({"phoneNumber": None}, "phoneNumber"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_check_400(proxy, body, field):
    session = proxy.session()
    answer = check(session, playground_token(session), body)
    assert answer.status_code == 400
    assert answer.json()["status"] == 400
    assert answer.json()["code"] == "INVALID_ARGUMENT"  # 1.0.0 has no OUT_OF_RANGE
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [(b, f) for b, f in BAD_BODIES if f != "maxAge"] + [({"phoneNumber": SWAPPED, "maxAge": 24}, "maxAge")],
)
def test_retrieve_date_400(proxy, body, field):
    session = proxy.session()
    answer = retrieve(session, playground_token(session), body)
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"phoneNumber": "+990100000001"', "application/json"),  # broken JSON
        (b'["+990100000001"]', "application/json"),  # not an object
        (b"\xff\xfe", "application/json"),  # not UTF-8
        (b"", "application/json"),  # no body
        (b'{"phoneNumber": "+990100000001"}', "text/plain"),
        (b"phoneNumber=%2B990100000001", "application/x-www-form-urlencoded"),
    ],
)
def test_non_json_bodies_400(proxy, camara_proxy, data, content_type):
    for running in (proxy, camara_proxy):
        session = running.session()
        token = playground_token(session)
        for url in (RETRIEVE, CHECK):
            answer = session.post(url, headers={**bearer(token), "Content-Type": content_type}, data=data)
            assert answer.status_code == 400
            assert answer.json()["code"] == "INVALID_ARGUMENT"
            assert answer.headers["x-orange-proxy-reason"]


def test_routes_methods_and_paths(proxy):
    session = proxy.session()
    token = playground_token(session)
    wrong_method = session.get(CHECK, headers=bearer(token))
    assert (wrong_method.status_code, wrong_method.headers["Allow"]) == (405, "POST")
    nowhere = session.post(SIM_SWAP + "/retrieve", headers=bearer(token), json={"phoneNumber": SWAPPED})
    assert (nowhere.status_code, nowhere.json()["code"]) == (404, "NOT_FOUND")


# Tokens and scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token-we-issued"}, {"Authorization": "Basic Zm9vOmJhcg=="}],
)
def test_401(proxy, camara_proxy, headers):
    answer = proxy.session().post(CHECK, headers=headers, json={"phoneNumber": SWAPPED})
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"
    assert answer.json()["message"].startswith("Authorization failed: ")
    camara = camara_proxy.session().post(RETRIEVE, headers=headers, json={"phoneNumber": SWAPPED})
    assert camara.json() == {
        "status": 401,
        "code": "UNAUTHENTICATED",
        "message": "Request not authenticated due to missing, invalid, or expired credentials.",
    }


def test_403_lab_token(proxy, camara_proxy):
    session = proxy.session()
    answer = check(session, lab_token(session), {"phoneNumber": SWAPPED})
    assert error_of(answer) == (403, "FORBIDDEN", "Request must be authorized")
    camara = camara_proxy.session()
    refused = retrieve(camara, lab_token(camara), {"phoneNumber": SWAPPED})
    assert (refused.status_code, refused.json()["code"]) == (403, "PERMISSION_DENIED")
    assert "/openidconnect/playground/v1.0/token" in refused.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("scope", "retrieve_status", "check_status"),
    [
        ("sim-swap", 200, 200),
        ("sim-swap:retrieve-date", 200, 403),
        ("sim-swap:check", 403, 200),
        ("sim-swap:retrieve-date sim-swap:check", 200, 200),
        ("device-swap", 403, 403),
        ("device-swap:check number-verification:verify", 403, 403),
        (None, 200, 200),  # a client_credentials token asked for with no scope
    ],
)
def test_scopes(proxy, scope, retrieve_status, check_status):
    session = proxy.session()
    token = playground_token(session, scope=scope)
    got = retrieve(session, token, {"phoneNumber": SWAPPED})
    assert got.status_code == retrieve_status
    checked = check(session, token, {"phoneNumber": SWAPPED})
    assert checked.status_code == check_status
    for refused in (a for a in (got, checked) if a.status_code == 403):
        assert refused.json()["code"] == "FORBIDDEN"
        assert "lacks the scope" in refused.json()["message"]


@pytest.mark.parametrize("scope", ["openid sim-swap", "openid sim-swap:retrieve-date"])
def test_three_legged_scopes(camara_proxy, scope):
    session = camara_proxy.session()
    token = three_legged_token(session, SWAPPED, scope)
    assert retrieve(session, token, {}).status_code == 200
    checked = check(session, token, {})
    if scope.endswith("retrieve-date"):
        assert (checked.status_code, checked.json()["code"]) == (403, "PERMISSION_DENIED")
    else:
        assert checked.json() == {"swapped": True}


# Faults --------------------------------------------------------------------------------------


def test_a_fault_scoped_to_sim_swap_leaves_device_swap_alone(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    token = playground_token(session)
    added = session.post(CONTROL + "/faults", json={"fault": "service_unavailable:api=sim-swap,times=2"})
    assert added.status_code == 201
    assert added.json()["api"] == "sim-swap"
    down = check(session, token, {"phoneNumber": SWAPPED})
    assert down.status_code == 503
    assert down.json() == {"status": 503, "code": "UNAVAILABLE", "message": "Service unavailable"}
    other = session.post(DEVICE_SWAP_CHECK, headers=bearer(token), json={"phoneNumber": SWAPPED})
    assert other.status_code == 200 and set(other.json()) == {"swapped"}
    assert retrieve(session, token, {"phoneNumber": SWAPPED}).status_code == 503
    # Fired twice, so spent: the API answers again.
    assert retrieve(session, token, {"phoneNumber": SWAPPED}).status_code == 200
    listed = session.get(CONTROL + "/faults").json()["faults"]
    assert [(f["api"], f["fired"]) for f in listed] == [("sim-swap", 2)]


def test_a_fault_scoped_to_one_operation(proxy_factory):
    proxy = proxy_factory("--fault", "rate_limited:api=sim-swap,operation=check,retry_after=9")
    session = proxy.session()
    token = playground_token(session)
    limited = check(session, token, {"phoneNumber": SWAPPED})
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "9")
    assert limited.json()["code"] == "TOO_MANY_REQUESTS"
    assert retrieve(session, token, {"phoneNumber": SWAPPED}).status_code == 200


# Units: the logic the answers rest on -------------------------------------------------------


def test_registered_with_the_spec_routes_and_scopes():
    api = next(a for a in ALL_APIS if a.name == "sim-swap")
    assert isinstance(api, SimSwap)
    assert [(o.name, o.method, o.path) for o in api.operations] == [
        ("retrieve-date", "POST", "/camara/playground/api/sim-swap/v1/retrieve-date"),
        ("check", "POST", "/camara/playground/api/sim-swap/v1/check"),
    ]
    assert api.required_scopes == {
        "retrieve-date": {"sim-swap:retrieve-date", "sim-swap"},
        "check": {"sim-swap:check", "sim-swap"},
    }


def test_latest_change_reads_the_record():
    assert latest_change({"latestSimChange": "2024-01-05T14:28:46.699+01:00"}, "latestSimChange") == (
        LatestChange("2024-01-05T14:28:46.699+01:00", 1704461326.699)
    )
    assert latest_change({}, "latestSimChange") is None
    assert latest_change({"latestSimChange": None}, "latestSimChange") is None
    assert latest_change({"latestSimChange": "yesterday"}, "latestSimChange") is None


@pytest.mark.parametrize(
    ("age_hours", "max_age", "expected"),
    [(5, 6, True), (5, 5, True), (5.0003, 5, False), (5, 4, False), (-1, 1, True), (0, 1, True)],
)
def test_changed_within(age_hours, max_age, expected):
    now = 1_800_000_000.0
    change = LatestChange("", now - age_hours * 3600)
    assert changed_within(change, max_age, now) is expected


def test_a_line_without_a_record(schemas):
    """The operator holds no date: retrieve-date is null (1.0.0), check is 422 NOT_SUPPORTED."""
    answers = answers_without_a_record(schemas, "sim-swap/v1", {"phoneNumber": NUMBER})
    assert answers["retrieve-date"] == (200, {"latestSimChange": None})
    assert answers["check"] == (
        422,
        {"status": 422, "code": "NOT_SUPPORTED", "message": "Service not supported for this phoneNumber"},
    )
