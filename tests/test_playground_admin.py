"""The playground Admin API through the real proxy: user-defined numbers, their data, and what Number
Verification and location verification make of them at once."""

from __future__ import annotations

import itertools
import time

import pytest
from flows import (
    DLV,
    NV,
    ORANGE,
    authorize,
    bearer,
    dlv_body,
    lab_token,
    redirect_params,
    three_legged_token,
)

ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
NUMBER = "+33611223344"
# Somewhere well away from the lab: Lyon, Place Bellecour.
LYON = (45.7578, 4.8320)

_clients = itertools.count()


@pytest.fixture
def client():
    """A fresh application per test: user-defined numbers belong to one application."""
    return (f"admin-app-{next(_clients)}-{time.monotonic_ns()}", "secret")


def admin(session, client, body, token=None):
    token = token or lab_token(session, client)
    return session.post(ADMIN, headers=bearer(token), json=body)


def location(lat, lon, radius=200, available=True, last=None):
    last = last or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "available": available,
        "lastLocationTime": last,
        "latitude": lat,
        "longitude": lon,
        "radius": radius,
    }


def error_of(answer):
    return answer.status_code, answer.json()["code"], answer.json()["message"]


def test_created_number_is_usable_by_both_apis_until_deleted(proxy, client):
    session = proxy.session()
    token = lab_token(session, client)
    lyon = location(*LYON)
    create = {"action": "CREATE", "phoneNumber": NUMBER, "data": {"location": lyon}}
    created = admin(session, client, create, token)
    assert created.status_code == 201, created.text
    assert set(created.json()["data"]) == {
        "reachability",
        "roaming",
        "simSwap",
        "deviceSwap",
        "location",
        "kyc",
    }
    assert created.json()["data"]["location"] == lyon
    assert admin(session, client, {"action": "LIST"}, token).json() == {"phoneNumbers": [NUMBER]}

    # Location verification computes from the circle just set: Lyon is TRUE, the lab is FALSE.
    here = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER[1:], *LYON, radius=2000))
    assert here.status_code == 200, here.text
    assert here.json()["verificationResult"] == "TRUE"
    lab = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER, 48.80, 2.27, radius=2000))
    assert lab.json()["verificationResult"] == "FALSE"

    # Number Verification: the 3-legged flow with login_hint=tel:NUMBER works and verifies it.
    nv_token = three_legged_token(session, NUMBER, client=client)
    verified = session.post(NV + "/verify", headers=bearer(nv_token), json={"phoneNumber": NUMBER})
    assert verified.json() == {"devicePhoneNumberVerified": True}
    other = session.post(NV + "/verify", headers=bearer(nv_token), json={"phoneNumber": "+33699999999"})
    assert other.json() == {"devicePhoneNumberVerified": False}

    deleted = admin(session, client, {"action": "DELETE", "phoneNumber": NUMBER}, token)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert admin(session, client, {"action": "LIST"}, token).json() == {"phoneNumbers": []}

    # Both APIs now refuse it: the lab as an unknown device, the playground for a token issued
    # before the deletion and at /authorize for a new one.
    gone = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER, *LYON, radius=2000))
    assert gone.status_code == 400
    assert gone.headers["x-orange-proxy-reason"] == f"{NUMBER} is not a device of the lab"
    stale = session.post(NV + "/verify", headers=bearer(nv_token), json={"phoneNumber": NUMBER})
    assert stale.status_code == 403
    assert stale.json()["message"] == f"{NUMBER} does not exist for {client[0]}"
    refused = redirect_params(authorize(session, NUMBER, client_id=client[0]))
    assert refused["error"] == "access_denied"


def test_numbers_belong_to_the_application_that_created_them(proxy, client):
    session = proxy.session()
    assert admin(session, client, {"action": "CREATE", "phoneNumber": NUMBER}).status_code == 201
    stranger = (client[0] + "-other", "secret")
    assert error_of(admin(session, stranger, {"action": "READ", "phoneNumber": NUMBER})) == (
        400,
        "BAD_REQUEST",
        "PhoneNumber Not Found",
    )
    refused = redirect_params(authorize(session, NUMBER, client_id=stranger[0]))
    assert refused["error"] == "access_denied"
    # The stranger may define the same number for itself, independently.
    assert admin(session, stranger, {"action": "CREATE", "phoneNumber": NUMBER}).status_code == 201


def test_update_replaces_each_part_whole_and_read_returns_it(proxy, client):
    session = proxy.session()
    token = lab_token(session, client)
    body = {
        "action": "CREATE",
        "phoneNumber": NUMBER,
        "data": {"kyc": {"givenName": "Ada", "familyName": "Lovelace"}},
    }
    created = admin(session, client, body, token).json()["data"]
    assert created["kyc"] == {"givenName": "Ada", "familyName": "Lovelace"}
    update = {"kyc": {"givenName": "Grace"}, "roaming": {"roaming": True, "countryCode": 214}}
    echo = admin(session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": update}, token)
    assert echo.json() == {"data": update}
    read = admin(session, client, {"action": "READ", "phoneNumber": NUMBER}, token).json()["data"]
    assert read["kyc"] == {"givenName": "Grace"}  # replaced, not merged: familyName is gone
    assert read["roaming"] == {"roaming": True, "countryCode": 214}
    assert read["location"] == created["location"]  # parts not sent are kept
    assert read["simSwap"] == created["simSwap"]


def test_location_data_drives_outdated_and_unavailable_answers(proxy, client):
    session = proxy.session()
    token = lab_token(session, client)
    old = "2020-01-01T00:00:00.000Z"
    admin(session, client, {"action": "CREATE", "phoneNumber": NUMBER}, token)
    admin(
        session,
        client,
        {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"location": location(*LYON, last=old)}},
        token,
    )
    outdated = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER, *LYON, max_age=60))
    assert (outdated.status_code, outdated.json()["message"]) == (404, "Location outdated")
    # Extreme but valid times still get an answer: year 1 (read as 1970), and the far future (fresh).
    for last, status in (("0001-01-01T00:00:00+23:59", 404), ("9999-12-31T23:59:59-23:59", 200)):
        data = {"location": location(*LYON, last=last)}
        admin(session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": data}, token)
        answer = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER, *LYON, max_age=10**6))
        assert answer.status_code == status, answer.text
    fresh = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER, *LYON, max_age=1))
    assert fresh.json()["verificationResult"] == "TRUE"
    admin(
        session,
        client,
        {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"location": location(*LYON, available=False)}},
        token,
    )
    unavailable = session.post(DLV, headers=bearer(token), json=dlv_body(NUMBER, *LYON))
    assert unavailable.status_code == 404


def test_predefined_numbers_are_read_only_and_not_listed(proxy, client):
    session = proxy.session()
    token = lab_token(session, client)
    spain = {"action": "READ", "phoneNumber": "+990100000002"}
    before = admin(session, client, spain, token)
    assert before.status_code == 200
    assert before.json()["data"]["roaming"]["countryName"] == ["Spain"]
    assert before.json()["data"]["simSwap"] == {"latestSimChange": "2020-03-15T10:00:00.000Z"}
    update = {"roaming": {"roaming": False}}
    echo = admin(session, client, {**spain, "action": "UPDATE", "data": update}, token)
    assert echo.json() == {"data": update}  # echoed, as Orange does ...
    after = admin(session, client, spain, token).json()["data"]
    # ... but not stored (its relative times move on, the rest stays).
    assert (after["roaming"]["roaming"], after["roaming"]["countryName"]) == (True, ["Spain"])
    assert admin(session, client, {"action": "LIST"}, token).json() == {"phoneNumbers": []}
    assert error_of(admin(session, client, {**spain, "action": "DELETE"}, token))[:2] == (400, "BAD_REQUEST")
    assert error_of(admin(session, client, {**spain, "action": "CREATE"}, token)) == (
        400,
        "BAD_REQUEST",
        "PhoneNumber Already Exists",
    )
    # Any +990 number is predefined; unlisted ones read as the nominal template.
    nominal = admin(session, client, {"action": "READ", "phoneNumber": "+99012345678"}, token)
    assert nominal.json()["data"]["reachability"]["reachabilityStatus"] == "CONNECTED_DATA"
    # A predefined number that is not connected cannot be located.
    dark = session.post(DLV, headers=bearer(token), json=dlv_body("+990100000003"))
    assert (dark.status_code, dark.json()["message"]) == (404, "Location outdated")


def test_limit_and_duplicates(proxy, client):
    session = proxy.session()
    token = lab_token(session, client)
    for index in range(10):
        created = admin(session, client, {"action": "CREATE", "phoneNumber": f"+336000000{index:02d}"}, token)
        assert created.status_code == 201, created.text
    duplicate = admin(session, client, {"action": "CREATE", "phoneNumber": "+33600000000"}, token)
    assert error_of(duplicate) == (400, "BAD_REQUEST", "PhoneNumber Already Exists")
    eleventh = admin(session, client, {"action": "CREATE", "phoneNumber": "+33600000099"}, token)
    assert error_of(eleventh) == (400, "BAD_REQUEST", "Maximum Number Of PhoneNumbers Reached")
    assert len(admin(session, client, {"action": "LIST"}, token).json()["phoneNumbers"]) == 10
    # Deleting one frees a place.
    assert (
        admin(session, client, {"action": "DELETE", "phoneNumber": "+33600000000"}, token).status_code == 204
    )
    assert (
        admin(session, client, {"action": "CREATE", "phoneNumber": "+33600000099"}, token).status_code == 201
    )


def test_tokens_the_admin_api_refuses(proxy, client):
    session = proxy.session()
    playground_token = three_legged_token(session, "+99012345678", client=client)
    refused = admin(session, client, {"action": "LIST"}, playground_token)
    assert error_of(refused)[:2] == (401, "UNAUTHENTICATED")
    missing = session.post(ADMIN, json={"action": "LIST"})
    assert error_of(missing)[:2] == (401, "UNAUTHENTICATED")
    # ... and the playground refuses the Admin (/oauth/v3) token.
    admin_token = lab_token(session, client)
    wrong = session.post(NV + "/verify", headers=bearer(admin_token), json={"phoneNumber": "+99012345678"})
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "RENAME", "phoneNumber": NUMBER}, "action"),
        ({"action": "READ"}, "phoneNumber"),
        ({"action": "UPDATE", "phoneNumber": NUMBER}, "data"),
        ({"action": "CREATE", "phoneNumber": "0611223344"}, "phoneNumber"),
        ({"action": "CREATE", "phoneNumber": NUMBER, "data": {"location": {"latitude": 1}}}, "location"),
        ({"action": "CREATE", "phoneNumber": NUMBER, "data": {"colour": "red"}}, "colour"),
        ({"action": "LIST", "extra": 1}, "extra"),
        ([], "object"),
    ],
)
def test_invalid_requests_get_400_naming_the_field(proxy, client, body, field):
    answer = admin(proxy.session(), client, body)
    status, code, _ = error_of(answer)
    assert (status, code) == (400, "INVALID_ARGUMENT")
    assert field in answer.headers["x-orange-proxy-reason"]


def test_method_and_path_errors_with_httpx(proxy, client):
    with proxy.httpx_client() as http:
        token = http.post(
            ORANGE + "/oauth/v3/token", auth=client, data={"grant_type": "client_credentials"}
        ).json()["access_token"]
        wrong_method = http.get(ADMIN, headers=bearer(token))
        assert wrong_method.status_code == 405
        assert wrong_method.headers["Allow"] == "POST"
        not_json = http.post(ADMIN, headers={**bearer(token), "Content-Type": "text/plain"}, content=b"LIST")
        assert not_json.status_code == 400
        nowhere = http.post(ORANGE + "/camara/playground/admin/v1.0/actions", headers=bearer(token))
        assert nowhere.status_code == 404


def test_control_state_shows_user_defined_numbers(proxy, client):
    session = proxy.session()
    admin(session, client, {"action": "CREATE", "phoneNumber": NUMBER})
    state = session.get("http://orange-proxy.test/api/state").json()
    assert state["user_defined_numbers"][client[0]] == [NUMBER]


def test_directory_precedence_unit():
    """A client's own definition of a lab number wins for that client only; others see the rules."""
    from proxy_addons.config.rules import Location, NumberRule
    from proxy_addons.state import Directory
    from proxy_addons.state.playground import Playground
    from proxy_addons.timestamps import resolve_times

    now = 1_800_000_000.0
    playground = Playground(clock=lambda: now)
    lab = Location(48.8, 2.29, 500, 30)
    directory = Directory({"+33699901031": NumberRule("+33699901031", lab)}, playground=playground)
    entry = playground.builtins.new_entry(now)
    entry["location"] = resolve_times(
        {"available": True, "lastLocationTime": "now-2h", "latitude": 45.0, "longitude": 4.0, "radius": 50},
        now,
    )
    playground.users.create("mine", "+33699901031", entry)
    mine = directory.location("+33699901031", "mine")
    assert (mine.latitude, mine.accuracy_m, mine.age_seconds) == (45.0, 50.0, 7200.0)
    assert directory.location("+33699901031", "theirs") == lab
    assert directory.known("+33611111111", "mine") is False
    assert directory.known("+990777", None) is True  # every +990 number is predefined
    assert directory.location("+990100000003", None).available is False


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2024-01-05T14:28:46.699Z", True),
        ("2024-01-05t14:28:46z", True),  # RFC 3339 §5.6 allows lower case
        ("2024-01-05T14:28:46.123456789+02:00", True),
        ("2016-12-31T23:59:60Z", True),  # a real leap second
        ("2017-01-01T00:59:60+01:00", True),  # the same one, in Paris
        ("2024-01-01T00:00:60Z", False),  # not a leap second
        ("2026-02-30T10:00:00Z", False),
        ("2026-01-01T25:61:00Z", False),
        ("2026-01-01T10:00:00", False),  # no offset
        ("2026-01-01 10:00:00Z", False),
        ("2026-01-01T10:00:00Z\n", False),
    ],
)
def test_date_time_format(text, valid):
    from proxy_addons.config.schemas import default_store
    from proxy_addons.model import parse_datetime

    problem = default_store().first_error("playground-admin#DateTime", text)
    assert (problem is None) is valid, problem
    if not valid:
        with pytest.raises(ValueError):
            parse_datetime(text)
