"""Device Reachability Status 0.6 and Device Roaming Status 0.6 on the playground, through the real
proxy: answers computed from each kind of subscriber (Admin-defined, rules, predefined +990), the
device identification rules of the 0.6 specs, their validation, media-type and token errors, and
faults scoped to one of the two APIs."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from flows import ORANGE, PLAYGROUND_API, bearer, lab_token, playground_token, three_legged_token

from proxy_addons.model import parse_datetime

REACHABILITY = PLAYGROUND_API + "/device-reachability-status/v0.6/retrieve"
ROAMING = PLAYGROUND_API + "/device-roaming-status/v0.6/retrieve"
BOTH = pytest.mark.parametrize("url", [REACHABILITY, ROAMING], ids=["reachability", "roaming"])
ADMIN = ORANGE + "/camara/playground/admin/v1.0/action"
OWN_SCOPE = {REACHABILITY: "device-reachability-status:read", ROAMING: "device-roaming-status:read"}
SCOPES = "openid " + " ".join(OWN_SCOPE.values())
SPAIN = "+990100000002"
DARK = "+990100000003"
NUMBER = "+33611223344"
STRANGER = "+33699999999"  # known to nobody

UNSUPPORTED = (
    "The server refuses to accept the request because the payload format is in an unsupported format."
)

_clients = itertools.count()


@pytest.fixture
def client():
    """A fresh application per test: user-defined numbers belong to one application."""
    return (f"status-app-{next(_clients)}-{time.monotonic_ns()}", "secret")


def device(number: str) -> dict:
    return {"device": {"phoneNumber": number}}


def retrieve(session, url, token, body=None, **headers):
    return session.post(
        url, headers={**bearer(token), **headers}, json=device(SPAIN) if body is None else body
    )


def error_of(answer) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body["code"], body["message"]


def seconds_ago(text: str) -> float:
    return time.time() - parse_datetime(text).timestamp()


def admin(session, client, body):
    answer = session.post(ADMIN, headers=bearer(lab_token(session, client)), json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer


# Answers from the subscriber's data ------------------------------------------------------------


def test_predefined_numbers_roaming_in_spain_and_not_connected(proxy):
    session = proxy.session()
    token = playground_token(session)
    spain = retrieve(session, ROAMING, token, device(SPAIN))
    assert spain.status_code == 200, spain.text
    body = spain.json()
    assert list(body) == ["lastStatusTime", "roaming", "countryCode", "countryName"]  # the spec's order
    assert (body["roaming"], body["countryCode"], body["countryName"]) == (True, 214, ["Spain"])
    assert 290 <= seconds_ago(body["lastStatusTime"]) <= 330  # the profile's now-5m, read now
    assert (
        retrieve(session, REACHABILITY, token, device(SPAIN)).json()["reachabilityStatus"] == "CONNECTED_DATA"
    )

    dark = retrieve(session, REACHABILITY, token, device(DARK)).json()
    assert list(dark) == ["lastStatusTime", "reachabilityStatus"]
    assert dark["reachabilityStatus"] == "NOT_CONNECTED"
    assert 2 * 86400 - 30 <= seconds_ago(dark["lastStatusTime"]) <= 2 * 86400 + 30
    home = retrieve(session, ROAMING, token, device(DARK)).json()
    assert home == {"roaming": False}  # the template's roaming part has no lastStatusTime


def test_every_reachability_status_from_an_admin_number_the_next_call_sees(proxy, client):
    session = proxy.session()
    admin(session, client, {"action": "CREATE", "phoneNumber": NUMBER})
    token = playground_token(session, client)
    created = retrieve(session, REACHABILITY, token, device(NUMBER)).json()
    assert created["reachabilityStatus"] == "CONNECTED_DATA"  # the template CREATE fills in
    for status, last in (
        ("CONNECTED_SMS", "2024-02-20T10:41:38.657Z"),
        ("NOT_CONNECTED", "2025-06-01T08:00:00+02:00"),
        ("CONNECTED_DATA", None),
    ):
        part = {"reachabilityStatus": status, **({"lastStatusTime": last} if last else {})}
        admin(session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"reachability": part}})
        answer = retrieve(session, REACHABILITY, token, device(NUMBER))
        assert answer.status_code == 200, answer.text
        # The time as the data holds it; none in the data, none in the answer (freshness unknown).
        assert answer.json() == ({"lastStatusTime": last} if last else {}) | {"reachabilityStatus": status}


def test_roaming_on_and_off_from_an_admin_number(proxy, client):
    session = proxy.session()
    admin(session, client, {"action": "CREATE", "phoneNumber": NUMBER})
    token = playground_token(session, client)
    assert retrieve(session, ROAMING, token, device(NUMBER)).json() == {"roaming": False}

    abroad = {"roaming": True, "countryCode": 340, "countryName": ["BL", "GF", "GP", "MF", "MQ"]}
    stamped = {**abroad, "lastStatusTime": "2024-02-20T10:41:38.657Z"}
    admin(session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"roaming": stamped}})
    answer = retrieve(session, ROAMING, token, device(NUMBER))
    assert answer.json() == {"lastStatusTime": "2024-02-20T10:41:38.657Z", **abroad}

    # An MCC that maps to no country: the empty list as the data holds it.
    no_name = {"roaming": True, "countryCode": 901, "countryName": []}
    admin(session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"roaming": no_name}})
    assert retrieve(session, ROAMING, token, device(NUMBER)).json() == no_name

    # Roaming with no country in the data: none is made up.
    admin(
        session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"roaming": {"roaming": True}}}
    )
    assert retrieve(session, ROAMING, token, device(NUMBER)).json() == {"roaming": True}

    # Back home, with the old country left in the data: it is not the visited country any more.
    home = {
        "roaming": False,
        "countryCode": 340,
        "countryName": ["GP"],
        "lastStatusTime": "2024-03-01T00:00:00Z",
    }
    admin(session, client, {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"roaming": home}})
    answer = retrieve(session, ROAMING, token, device(NUMBER))
    assert answer.json() == {"lastStatusTime": "2024-03-01T00:00:00Z", "roaming": False}
    # Reachability kept its own part through all of this.
    assert (
        retrieve(session, REACHABILITY, token, device(NUMBER)).json()["reachabilityStatus"]
        == "CONNECTED_DATA"
    )


RULES = """
numbers:
  "+33622222222":
    reachability: {reachabilityStatus: CONNECTED_SMS, lastStatusTime: now-90s}
    roaming: {roaming: true, countryCode: 262, countryName: [DE], lastStatusTime: now-2h}
  "+33633333333":
    simSwap: {latestSimChange: now-3d}
"""


def test_rules_numbers_with_relative_times_and_template_parts(proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    proxy = proxy_factory("--rules", str(rules))
    session = proxy.session()
    token = playground_token(session)
    sms = retrieve(session, REACHABILITY, token, device("+33622222222")).json()
    assert sms["reachabilityStatus"] == "CONNECTED_SMS"
    assert 85 <= seconds_ago(sms["lastStatusTime"]) <= 120
    germany = retrieve(session, ROAMING, token, device("+33622222222")).json()
    assert (germany["roaming"], germany["countryCode"], germany["countryName"]) == (True, 262, ["DE"])
    assert 7190 <= seconds_ago(germany["lastStatusTime"]) <= 7230
    # A rules number that gives neither part reads the nominal template's: connected, at home.
    other = "+33633333333"
    assert (
        retrieve(session, REACHABILITY, token, device(other)).json()["reachabilityStatus"] == "CONNECTED_DATA"
    )
    assert retrieve(session, ROAMING, token, device(other)).json() == {"roaming": False}


def test_httpx_client_and_correlator_on_answers_and_errors(proxy):
    with proxy.httpx_client() as http:
        token = http.post(
            ORANGE + "/openidconnect/playground/v1.0/token",
            auth=("httpx-app", "s"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        ok = http.post(ROAMING, headers={**bearer(token), "x-correlator": "corr-42"}, json=device(SPAIN))
        assert ok.status_code == 200 and ok.json()["countryName"] == ["Spain"]
        assert ok.headers["x-correlator"] == "corr-42"
        bad = http.post(
            REACHABILITY, headers={**bearer(token), "x-correlator": "corr-43"}, json={"device": {}}
        )
        assert bad.status_code == 400
        assert bad.headers["x-correlator"] == "corr-43"


# The device: token, body, identifiers ----------------------------------------------------------


@BOTH
def test_two_legged_token_without_device_is_unidentifiable(proxy, camara_proxy, url):
    for running in (proxy, camara_proxy):
        session = running.session()
        answer = retrieve(session, url, playground_token(session), {})
        assert error_of(answer) == (422, "UNIDENTIFIABLE_DEVICE", "The device cannot be identified.")
        assert answer.json()["status"] == 422


def test_three_legged_token_names_the_device(proxy):
    session = proxy.session()
    token = three_legged_token(session, SPAIN, SCOPES)
    # No device: the token's; the same device named again: fine too.
    for body in ({}, device(SPAIN)):
        answer = retrieve(session, ROAMING, token, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["countryName"] == ["Spain"]
    dark = three_legged_token(session, DARK, SCOPES)
    assert retrieve(session, REACHABILITY, dark, {}).json()["reachabilityStatus"] == "NOT_CONNECTED"


@BOTH
def test_three_legged_token_and_another_device_in_the_body(proxy, camara_proxy, url):
    session = proxy.session()
    token = three_legged_token(session, SPAIN, SCOPES)
    orange = retrieve(session, url, token, device(DARK))
    assert orange.status_code == 403
    assert orange.json() == {
        "code": "FORBIDDEN",
        "message": "Operation not allowed: "
        "the device in the body is not the one the access token was issued for",
    }
    session = camara_proxy.session()
    token = three_legged_token(session, SPAIN, SCOPES)
    camara = retrieve(session, url, token, device(DARK))
    assert error_of(camara) == (403, "INVALID_TOKEN_CONTEXT", "device is not consistent with access token.")


@BOTH
@pytest.mark.parametrize(
    "identifiers",
    [
        {"networkAccessIdentifier": "123456789@domain.com"},
        {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": 59765}},
        {"ipv4Address": {"publicAddress": "84.125.93.10", "privateAddress": "10.0.0.1"}},
        {"ipv6Address": "2001:db8:85a3:8d3:1319:8a2e:370:7344"},
    ],
    ids=["nai", "ipv4-port", "ipv4-private", "ipv6"],
)
def test_identifiers_the_playground_cannot_resolve(proxy, url, identifiers):
    session = proxy.session()
    for token in (playground_token(session), three_legged_token(session, SPAIN, SCOPES)):
        answer = retrieve(session, url, token, {"device": identifiers})
        assert error_of(answer) == (
            422,
            "UNSUPPORTED_DEVICE_IDENTIFIERS",
            "None of the provided device identifiers is supported by the implementation",
        )
    # Next to a phone number they do no harm: the number identifies the device.
    answer = retrieve(
        session, url, playground_token(session), {"device": {"phoneNumber": SPAIN, **identifiers}}
    )
    assert answer.status_code == 200, answer.text


@BOTH
def test_unknown_number_in_both_profiles(proxy, camara_proxy, url, client):
    session = proxy.session()
    orange = retrieve(session, url, playground_token(session, client), device(STRANGER))
    assert orange.status_code == 403
    assert orange.json() == {"code": "FORBIDDEN", "message": f"{STRANGER} does not exist for {client[0]}"}
    session = camara_proxy.session()
    camara = retrieve(session, url, playground_token(session, client), device(STRANGER))
    assert error_of(camara) == (404, "DEVICE_NOT_FOUND", "Some identifier cannot be matched to a device")


def test_admin_numbers_belong_to_their_application(proxy, client):
    session = proxy.session()
    admin(session, client, {"action": "CREATE", "phoneNumber": NUMBER})
    assert retrieve(session, ROAMING, playground_token(session, client), device(NUMBER)).status_code == 200
    other = (client[0] + "-other", "s")
    assert retrieve(session, ROAMING, playground_token(session, other), device(NUMBER)).status_code == 403


# Validation and media types ------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"device": {}}, "device"),  # at least one identifier
        ({"device": None}, "device"),
        ({"device": "+990100000002"}, "device"),
        ({"device": {"phoneNumber": "990100000002"}}, "phoneNumber"),  # no '+'
        ({"device": {"phoneNumber": "+0990100000"}}, "phoneNumber"),  # leading 0
        ({"device": {"phoneNumber": "+1234"}}, "phoneNumber"),  # too short
        ({"device": {"phoneNumber": 990100000002}}, "phoneNumber"),
        ({"device": {"phoneNumber": "+990100000002\n"}}, "phoneNumber"),
        ({"device": {"ipv4Address": {"publicAddress": "84.125.93.10"}}}, "ipv4Address"),  # no port/private
        ({"device": {"ipv4Address": {"publicAddress": "84.125.93.300", "publicPort": 1}}}, "publicAddress"),
        ({"device": {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": 70000}}}, "publicPort"),
        ({"device": {"ipv6Address": "2001:db8::g"}}, "ipv6Address"),
        ({"device": {"networkAccessIdentifier": 12}}, "networkAccessIdentifier"),
    ],
)
def test_invalid_device_gets_400_naming_the_field(proxy, url, body, field):
    session = proxy.session()
    answer = retrieve(session, url, playground_token(session), body)
    assert error_of(answer)[:2] == (400, "INVALID_ARGUMENT")
    assert answer.json()["status"] == 400
    assert field in answer.headers["x-orange-proxy-reason"]


@BOTH
@pytest.mark.parametrize(
    ("body", "unknown"),
    [
        ({"phoneNumber": SPAIN}, "phoneNumber"),  # the playground's own example (observed)
        ({"device": {"phoneNumber": SPAIN, "imsi": "208011234567890"}}, "device.imsi"),
        ({"device": {"phoneNumber": SPAIN}, "maxAge": 60}, "maxAge"),
    ],
)
def test_unknown_fields_are_not_allowed(proxy, camara_proxy, url, body, unknown):
    session = proxy.session()
    orange = retrieve(session, url, playground_token(session), body)
    assert error_of(orange) == (400, "INVALID_ARGUMENT", f"{unknown} is not allowed")
    session = camara_proxy.session()
    camara = retrieve(session, url, playground_token(session), body)
    assert error_of(camara) == (
        400,
        "INVALID_ARGUMENT",
        "Client specified an invalid argument, request body or query param.",
    )
    assert unknown.rpartition(".")[2] in camara.headers["x-orange-proxy-reason"]


@BOTH
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"device": {"phoneNumber": "+990100000002"}', "not valid JSON"),
        (b'[{"device": {"phoneNumber": "+990100000002"}}]', "JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (b"", "not valid JSON"),
    ],
    ids=["broken", "array", "not-utf8", "empty"],
)
def test_body_that_is_not_a_json_object_gets_400(proxy, url, data, reason):
    session = proxy.session()
    headers = {**bearer(playground_token(session)), "Content-Type": "application/json"}
    answer = session.post(url, headers=headers, data=data)
    assert error_of(answer)[:2] == (400, "INVALID_ARGUMENT")
    assert reason in answer.headers["x-orange-proxy-reason"]


@BOTH
def test_media_types_get_the_specs_415_and_406(proxy, url):
    session = proxy.session()
    auth = bearer(playground_token(session))
    payload = json.dumps(device(SPAIN)).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json"):
        answer = session.post(url, headers={**auth, "Content-Type": content_type}, data=payload)
        assert error_of(answer) == (415, "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED)
        assert content_type in answer.headers["x-orange-proxy-reason"]
    # A JSON body without any Content-Type is of no declared type either.
    assert session.post(url, headers=auth, data=payload).status_code == 415
    # Nothing sent at all: the body is missing.
    missing = session.post(url, headers=auth)
    assert error_of(missing)[:2] == (400, "INVALID_ARGUMENT")
    # Content-Type parameters are fine.
    with_charset = {**auth, "Content-Type": "application/json; charset=utf-8"}
    assert session.post(url, headers=with_charset, data=payload).status_code == 200

    for accept in ("text/xml", "application/xml, text/html;q=0.9", "application/json;q=0", "*/*; q=0.0"):
        answer = retrieve(session, url, playground_token(session), device(SPAIN), Accept=accept)
        assert error_of(answer)[:2] == (406, "NOT_ACCEPTABLE"), accept
    for accept in ("application/json", "application/*", "text/html, */*;q=0.1", "APPLICATION/JSON; q=0.5"):
        answer = retrieve(session, url, playground_token(session), device(SPAIN), Accept=accept)
        assert answer.status_code == 200, (accept, answer.text)


@BOTH
def test_method_and_path_errors(proxy, url):
    session = proxy.session()
    auth = bearer(playground_token(session))
    wrong_method = session.get(url, headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    nowhere = session.post(url + "-all", headers=auth, json=device(SPAIN))
    assert error_of(nowhere)[:2] == (404, "NOT_FOUND")


# Tokens ----------------------------------------------------------------------------------------


@BOTH
def test_401_in_both_profiles(proxy, camara_proxy, url):
    missing = proxy.session().post(url, json=device(SPAIN))
    assert missing.json() == {
        "code": "UNAUTHORIZED",
        "message": "Authorization failed: missing Authorization header",
    }
    invalid = retrieve(proxy.session(), url, "not-a-token-we-issued")
    assert invalid.json() == {"code": "UNAUTHORIZED", "message": "Authorization failed: invalid access token"}
    assert invalid.status_code == 401
    camara = camara_proxy.session().post(url, json=device(SPAIN))
    assert error_of(camara) == (
        401,
        "UNAUTHENTICATED",
        "Request not authenticated due to missing, invalid, or expired credentials.",
    )


@BOTH
def test_403_lab_token_and_wrong_scope(proxy, camara_proxy, url):
    session = proxy.session()
    lab = retrieve(session, url, lab_token(session))
    assert lab.json() == {"code": "FORBIDDEN", "message": "Request must be authorized"}
    # Each API's scope is its own: the other API's does not do.
    own_scope, other_scope = OWN_SCOPE[url], OWN_SCOPE[ROAMING if url == REACHABILITY else REACHABILITY]
    wrong = retrieve(session, url, playground_token(session, scope=other_scope))
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "FORBIDDEN" and own_scope in wrong.json()["message"]
    assert retrieve(session, url, playground_token(session, scope=own_scope)).status_code == 200
    three_legged = three_legged_token(session, SPAIN, "openid " + other_scope)
    assert retrieve(session, url, three_legged, {}).status_code == 403
    session = camara_proxy.session()
    camara = retrieve(session, url, playground_token(session, scope=other_scope))
    assert error_of(camara)[:2] == (403, "PERMISSION_DENIED")
    assert error_of(retrieve(session, url, lab_token(session)))[:2] == (403, "PERMISSION_DENIED")


# Faults --------------------------------------------------------------------------------------


def test_a_fault_scoped_to_roaming_leaves_reachability_alone(proxy_factory, tmp_path):
    events = tmp_path / "events.jsonl"
    proxy = proxy_factory(
        "--fault", "service_unavailable:api=device-roaming-status,times=2", "--event-log", str(events)
    )
    session = proxy.session()
    token = playground_token(session)
    assert retrieve(session, REACHABILITY, token).status_code == 200
    for _ in range(2):
        answer = retrieve(session, ROAMING, token)
        assert error_of(answer)[:2] == (503, "UNAVAILABLE")
        assert retrieve(session, REACHABILITY, token).status_code == 200
    assert retrieve(session, ROAMING, token).json()["countryName"] == ["Spain"]  # times=2 is spent
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    faulted = [e for e in logged if e["type"] == "exchange" and e.get("fault")]
    assert len(faulted) == 2
    assert all(e["fault"][0]["fault"] == "service_unavailable" and e["status"] == 503 for e in faulted)


def test_a_fault_answer_echoes_the_correlator(proxy_factory):
    proxy = proxy_factory("--fault", "service_unavailable:api=device-roaming-status")
    session = proxy.session()
    answer = retrieve(session, ROAMING, playground_token(session), **{"x-correlator": "f-1"})
    assert answer.status_code == 503
    assert answer.headers.get("x-correlator") == "f-1"  # the 0.6 spec puts it on every response


def test_a_rate_limit_fault_on_reachability_in_the_camara_profile(proxy_factory):
    proxy = proxy_factory(
        "--profile", "camara", "--fault", "rate_limited:api=device-reachability-status,retry_after=9"
    )
    session = proxy.session()
    token = playground_token(session)
    limited = retrieve(session, REACHABILITY, token)
    assert error_of(limited)[:2] == (429, "TOO_MANY_REQUESTS")
    assert limited.headers["Retry-After"] == "9"
    assert retrieve(session, ROAMING, token).status_code == 200


# Units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "acceptable"),
    [
        ([], True),
        ([""], True),
        (["application/json"], True),
        (["text/html", "application/json"], True),  # repeated header lines
        (["text/html;level=1, application/*;q=0.2"], True),
        (["*/*"], True),
        (["application/json;q=nonsense"], True),  # the range is named: the default q=1
        (["application/json;q=0.001"], True),
        (["application/json;q=0"], False),
        (["application/json; q=0.000, text/plain"], False),
        (["text/*"], False),
        (["application/problem+json"], False),
    ],
)
def test_accepts_json(values, acceptable):
    from proxy_addons.simulator.apis.device_status import accepts_json

    assert accepts_json(values) is acceptable


@pytest.mark.parametrize("api_name", ["reachability", "roaming"])
def test_a_subscriber_without_the_part_gets_the_specs_422(api_name):
    """Without the playground's template (a bare directory), a rules number may lack the part."""
    from proxy_addons.config.rules import NumberRule, load_rules
    from proxy_addons.config.schemas import default_store
    from proxy_addons.model import ApiRequest, Headers
    from proxy_addons.simulator.engine import Engine
    from proxy_addons.state import PLAYGROUND, Directory

    engine = Engine(load_rules([], default_store()))
    state = engine.state
    state.directory = Directory({NUMBER: NumberRule(NUMBER, None)}, playground=None)
    token = state.tokens.issue("unit-app", PLAYGROUND, "client_credentials", [], 3600)
    url = REACHABILITY if api_name == "reachability" else ROAMING
    path = url.removeprefix(ORANGE)
    request = ApiRequest(
        "POST",
        "api.orange.com",
        path,
        headers=Headers([("Authorization", f"Bearer {token.value}"), ("Content-Type", "application/json")]),
        body=json.dumps(device(NUMBER)).encode(),
    )
    answer = engine.handle(engine.classify("POST", path), request)
    assert answer.status == 422
    assert answer.data == {
        "status": 422,
        "code": f"UNABLE_TO_PROVIDE_{api_name.upper()}_STATUS",
        "message": f"Network issue - Unable to provide {api_name} status",
    }
    assert default_store().check_response(answer.schema, 422, answer.data) == []
