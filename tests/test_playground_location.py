"""The playground's Location Verification 1.0 and Location Retrieval 0.3 through the real proxy: answers
computed from the subscriber's location (Admin-defined, rules-defined, predefined +990), maxAge, every
400, the identity cases of 2- and 3-legged tokens, both profiles, faults and x-correlator."""

from __future__ import annotations

import itertools
import json
import math
import time
from datetime import UTC, datetime

import pytest
from flows import PLAYGROUND_API, bearer, lab_token, playground_token, three_legged_token

VERIFY = PLAYGROUND_API + "/location-verification/v1/verify"
RETRIEVE = PLAYGROUND_API + "/location-retrieval/v0.3/retrieve"
ADMIN = "https://api.orange.com/camara/playground/admin/v1.0/action"
CONTROL = "http://orange-proxy.test/api"
VERIFY_SCOPE = "location-verification:verify"
RETRIEVE_SCOPE = "location-retrieval:read"

EARTH = 6_371_008.8
PARIS = (48.8566, 2.3522)  # the predefined numbers' (playground-numbers.yaml)
MADRID = (40.4168, -3.7038)  # +990100000002's
LYON = (45.7578, 4.8320)
NUMBER = "+33611223344"
UNKNOWN = "+33799999999"  # neither +990, nor user-defined, nor in the rules
RULES = """
numbers:
  "+33700000001":   # located in Lyon, 90 s ago, within 800 m
    location: {latitude: 45.7578, longitude: 4.832, accuracy_m: 800, age_seconds: 90}
  "+33700000002":   # the network cannot locate it
    location: {latitude: 45.7578, longitude: 4.832, available: false}
  "+33700000003":   # a fix taken right now
    location: {latitude: 45.7578, longitude: 4.832, accuracy_m: 0.25, age_seconds: 0}
  "+33700000004": null   # known, but without any location
overrides:
  - name: polygon
    match: {api: location-retrieval, operation: retrieve, phone_number: "+990100000001"}
    response:
      status: 200
      body:
        lastLocationTime: "2024-10-17T13:18:23.682Z"
        area:
          areaType: POLYGON
          boundary: [{latitude: 45.754, longitude: 4.860}, {latitude: 45.753, longitude: 4.863},
                     {latitude: 45.752, longitude: 4.861}]
"""

_clients = itertools.count()


@pytest.fixture
def client():
    """A fresh application per test: user-defined numbers belong to one application."""
    return (f"location-app-{next(_clients)}-{time.monotonic_ns()}", "secret")


@pytest.fixture(scope="module")
def rules_proxy(tmp_path_factory, schemas):
    from conftest import start_proxy

    rules = tmp_path_factory.mktemp("rules") / "numbers.yaml"
    rules.write_text(RULES)
    proxy = start_proxy(tmp_path_factory.mktemp("proxy"), schemas, "--rules", str(rules))
    yield proxy
    proxy.stop()


# Requests ------------------------------------------------------------------------------------


def area(lat: float, lon: float, radius=2000) -> dict:
    return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius}


def verify_body(number: str | None, lat: float, lon: float, radius=2000, max_age=None) -> dict:
    body: dict = {"area": area(lat, lon, radius)}
    if number is not None:
        body["device"] = {"phoneNumber": number}
    if max_age is not None:
        body["maxAge"] = max_age
    return body


def retrieve_body(number: str | None, max_age=None) -> dict:
    body: dict = {}
    if number is not None:
        body["device"] = {"phoneNumber": number}
    if max_age is not None:
        body["maxAge"] = max_age
    return body


def post(session, url, body, token=None, **headers):
    token = token or playground_token(session)
    return session.post(url, headers={**bearer(token), **headers}, json=body)


def admin(session, client, body):
    return session.post(ADMIN, headers=bearer(lab_token(session, client)), json=body)


def fix(lat: float, lon: float, radius: float, last: str, available: bool = True) -> dict:
    return {
        "available": available,
        "lastLocationTime": last,
        "latitude": lat,
        "longitude": lon,
        "radius": radius,
    }


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def seconds_ago(text: str) -> float:
    return time.time() - datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def error_of(answer) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body["code"], body["message"]


# Independent geometry (plane; the circles here are a few km, where the sphere changes < 0.01 %) ----------


def offset(lat: float, lon: float, east_m: float) -> tuple[float, float]:
    return lat, lon + math.degrees(east_m / (EARTH * math.cos(math.radians(lat))))


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH * math.asin(math.sqrt(h))


def lens_percent(d: float, r: float, big_r: float) -> float:
    """|R ∩ N| / |N| × 100 for plane circles N (radius r) and R (radius big_r), d apart, crossing."""
    part_n = r * r * math.acos((d * d + r * r - big_r * big_r) / (2 * d * r))
    part_r = big_r * big_r * math.acos((d * d + big_r * big_r - r * r) / (2 * d * big_r))
    kite = 0.5 * math.sqrt((-d + r + big_r) * (d + r - big_r) * (d - r + big_r) * (d + r + big_r))
    return (part_n + part_r - kite) / (math.pi * r * r) * 100


# Outcomes from the subscriber's data -------------------------------------------------------------


def test_admin_number_true_false_partial_and_a_move_seen_by_the_next_call(proxy, client):
    session = proxy.session()
    token = playground_token(session, client)
    last = iso(time.time() - 20)
    created = admin(
        session,
        client,
        {"action": "CREATE", "phoneNumber": NUMBER, "data": {"location": fix(*LYON, 1000, last)}},
    )
    assert created.status_code == 201, created.text

    inside = post(session, VERIFY, verify_body(NUMBER, *LYON), token)
    assert inside.status_code == 200, inside.text
    # The stored instant, to the millisecond, and the key order of Orange's examples.
    assert inside.json() == {"lastLocationTime": last, "verificationResult": "TRUE"}
    assert list(inside.json()) == ["lastLocationTime", "verificationResult"]
    assert post(session, VERIFY, verify_body(NUMBER, *PARIS), token).json()["verificationResult"] == "FALSE"

    # N (1 km) straddles R's edge: the share of N inside R, computed here independently.
    centre = offset(*LYON, 2500)
    partial = post(session, VERIFY, verify_body(NUMBER, *centre), token).json()
    expected = round(lens_percent(haversine(LYON, centre), 1000, 2000))
    assert expected == 17
    assert partial == {"lastLocationTime": last, "verificationResult": "PARTIAL", "matchRate": expected}

    retrieved = post(session, RETRIEVE, retrieve_body(NUMBER), token)
    assert retrieved.status_code == 200, retrieved.text
    assert retrieved.json() == {
        "lastLocationTime": last,
        "area": {"areaType": "CIRCLE", "center": {"latitude": LYON[0], "longitude": LYON[1]}, "radius": 1000},
    }

    # The device moves to Paris, located coarsely (10 km): the very next calls see it.
    moved = iso(time.time() - 5)
    update = {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"location": fix(*PARIS, 10000, moved)}}
    assert admin(session, client, update).status_code == 200
    assert post(session, VERIFY, verify_body(NUMBER, *LYON), token).json()["verificationResult"] == "FALSE"
    # N (10 km) contains R (2 km): PARTIAL with R's share of N, (2/10)² = 4 %.
    contains = post(session, VERIFY, verify_body(NUMBER, *PARIS), token).json()
    assert contains == {"lastLocationTime": moved, "verificationResult": "PARTIAL", "matchRate": 4}
    wide = post(session, VERIFY, verify_body(NUMBER, *PARIS, radius=200000), token).json()
    assert wide["verificationResult"] == "TRUE"
    assert post(session, RETRIEVE, retrieve_body(NUMBER), token).json() == {
        "lastLocationTime": moved,
        "area": {
            "areaType": "CIRCLE",
            "center": {"latitude": PARIS[0], "longitude": PARIS[1]},
            "radius": 10000,
        },
    }

    # Now it cannot be located: UNKNOWN without lastLocationTime; retrieval's 404.
    dark = {"action": "UPDATE", "phoneNumber": NUMBER, "data": {"location": fix(*PARIS, 1000, moved, False)}}
    assert admin(session, client, dark).status_code == 200
    assert post(session, VERIFY, verify_body(NUMBER, *PARIS), token).json() == {
        "verificationResult": "UNKNOWN"
    }
    assert error_of(post(session, RETRIEVE, retrieve_body(NUMBER), token)) == (
        404,
        "LOCATION_RETRIEVAL.DEVICE_NOT_FOUND",
        "The location server is not able to locate the mobile",
    )
    # Another application does not see this number at all.
    stranger = playground_token(session, (client[0] + "-other", "secret"))
    assert post(session, VERIFY, verify_body(NUMBER, *PARIS), stranger).status_code == 403


def test_rules_numbers(rules_proxy):
    session = rules_proxy.session()
    token = playground_token(session)
    answer = post(session, VERIFY, verify_body("+33700000001", *LYON), token).json()
    assert answer["verificationResult"] == "TRUE"
    assert 88 <= seconds_ago(answer["lastLocationTime"]) <= 95  # age_seconds: 90
    # 800 m around Lyon against 2 km around a point 2.5 km east: the lens, computed here.
    centre = offset(*LYON, 2500)
    partial = post(session, VERIFY, verify_body("+33700000001", *centre), token).json()
    assert partial["matchRate"] == round(lens_percent(haversine(LYON, centre), 800, 2000))

    retrieved = post(session, RETRIEVE, retrieve_body("+33700000001"), token).json()
    assert retrieved["area"] == {
        "areaType": "CIRCLE",
        "center": {"latitude": 45.7578, "longitude": 4.832},
        "radius": 800,
    }
    assert 88 <= seconds_ago(retrieved["lastLocationTime"]) <= 95
    # A 25 cm fix is reported as the spec's smallest circle, 1 m (it still covers the device).
    assert post(session, RETRIEVE, retrieve_body("+33700000003"), token).json()["area"]["radius"] == 1

    for number in ("+33700000002", "+33700000004"):  # unavailable; no location at all
        unknown = post(session, VERIFY, verify_body(number, *LYON, max_age=60), token)
        assert unknown.json() == {"verificationResult": "UNKNOWN"}, number
        assert error_of(post(session, RETRIEVE, retrieve_body(number), token))[:2] == (
            404,
            "LOCATION_RETRIEVAL.DEVICE_NOT_FOUND",
        )


def test_a_rules_override_answers_for_one_number_of_one_api(rules_proxy):
    session = rules_proxy.session()
    token = playground_token(session)
    polygon = post(session, RETRIEVE, retrieve_body("+990100000001"), token).json()
    assert polygon["area"]["areaType"] == "POLYGON" and len(polygon["area"]["boundary"]) == 3
    # Other numbers, and the other API for that number, are computed as ever.
    assert (
        post(session, RETRIEVE, retrieve_body("+990100000000"), token).json()["area"]["areaType"] == "CIRCLE"
    )
    assert (
        post(session, VERIFY, verify_body("+990100000001", *PARIS), token).json()["verificationResult"]
        == "TRUE"
    )


def test_predefined_numbers(proxy):
    session = proxy.session()
    token = playground_token(session)
    paris = post(session, VERIFY, verify_body("+990100000000", *PARIS), token).json()
    assert paris["verificationResult"] == "TRUE"
    assert 58 <= seconds_ago(paris["lastLocationTime"]) <= 65  # now-1m
    assert (
        post(session, VERIFY, verify_body("+990100000002", *PARIS), token).json()["verificationResult"]
        == "FALSE"
    )
    assert (
        post(session, VERIFY, verify_body("+990100000002", *MADRID), token).json()["verificationResult"]
        == "TRUE"
    )
    retrieved = post(session, RETRIEVE, retrieve_body("+990100000000"), token).json()
    assert retrieved["area"] == {
        "areaType": "CIRCLE",
        "center": {"latitude": 48.8566, "longitude": 2.3522},
        "radius": 1000,
    }
    assert 58 <= seconds_ago(retrieved["lastLocationTime"]) <= 65
    # +990100000003 is not connected: it cannot be located, with any maxAge or none...
    for max_age in (None, 10**9):
        dark = post(session, VERIFY, verify_body("+990100000003", *PARIS, max_age=max_age), token)
        assert (dark.status_code, dark.json()) == (200, {"verificationResult": "UNKNOWN"})
        lost = post(session, RETRIEVE, retrieve_body("+990100000003", max_age), token)
        assert error_of(lost)[:2] == (404, "LOCATION_RETRIEVAL.DEVICE_NOT_FOUND")
    # ...but maxAge=0 asks for a fresh calculation, which it cannot make: both specs' 422.
    fresh = post(session, VERIFY, verify_body("+990100000003", *PARIS, max_age=0), token)
    assert error_of(fresh)[:2] == (422, "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE")
    fresh = post(session, RETRIEVE, retrieve_body("+990100000003", 0), token)
    assert error_of(fresh)[:2] == (422, "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_AGE")


# maxAge ---------------------------------------------------------------------------------------


def test_max_age_of_verification(proxy):
    session = proxy.session()
    token = playground_token(session)
    # +990100000000's fix is a minute old at every request: maxAge 60 meets it, 59 does not, every time.
    for _ in range(5):
        fresh_enough = post(session, VERIFY, verify_body("+990100000000", *PARIS, max_age=60), token)
        assert fresh_enough.json()["verificationResult"] == "TRUE"
        too_old = post(session, VERIFY, verify_body("+990100000000", *PARIS, max_age=59), token)
        assert error_of(too_old) == (
            422,
            "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE",
            "Unable to provide expected freshness for location",
        )
    assert "60 s old" in too_old.headers["x-orange-proxy-reason"]
    assert error_of(post(session, VERIFY, verify_body("+990100000000", *PARIS, max_age=0), token))[1] == (
        "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE"
    )
    # No maxAge: any age.
    assert post(session, VERIFY, verify_body("+990100000000", *PARIS), token).status_code == 200


def test_max_age_of_retrieval(proxy):
    session = proxy.session()
    token = playground_token(session)
    for _ in range(5):
        assert post(session, RETRIEVE, retrieve_body("+990100000000", 60), token).status_code == 200
        too_old = post(session, RETRIEVE, retrieve_body("+990100000000", 59), token)
        assert error_of(too_old) == (
            422,
            "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_AGE",
            "Unable to provide expected freshness for location",
        )
    assert error_of(post(session, RETRIEVE, retrieve_body("+990100000000", 0), token))[:2] == (
        422,
        "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_AGE",
    )
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), token).status_code == 200


def test_max_age_zero_needs_a_fix_taken_now(rules_proxy, client):
    session = rules_proxy.session()
    token = playground_token(session, client)
    # A rules fix of age 0 meets maxAge 0, one of 90 s does not.
    assert post(session, VERIFY, verify_body("+33700000003", *LYON, max_age=0), token).status_code == 200
    assert post(session, RETRIEVE, retrieve_body("+33700000003", 0), token).status_code == 200
    assert post(session, VERIFY, verify_body("+33700000001", *LYON, max_age=0), token).status_code == 422
    assert post(session, VERIFY, verify_body("+33700000001", *LYON, max_age=90), token).status_code == 200
    # An Admin fix stamped in the future counts as taken now: fresh, and reported as now, not later.
    future = fix(*LYON, 500, "2999-01-01T00:00:00.000Z")
    assert admin(
        session, client, {"action": "CREATE", "phoneNumber": NUMBER, "data": {"location": future}}
    ).ok
    answer = post(session, VERIFY, verify_body(NUMBER, *LYON, max_age=0), token)
    assert answer.json()["verificationResult"] == "TRUE"
    assert -1 <= seconds_ago(answer.json()["lastLocationTime"]) <= 2
    retrieved = post(session, RETRIEVE, retrieve_body(NUMBER, 0), token).json()
    assert -1 <= seconds_ago(retrieved["lastLocationTime"]) <= 2
    # And one stamped long ago is that old.
    old = {
        "action": "UPDATE",
        "phoneNumber": NUMBER,
        "data": {"location": fix(*LYON, 500, "2020-01-01T00:00:00Z")},
    }
    assert admin(session, client, old).ok
    assert post(session, VERIFY, verify_body(NUMBER, *LYON, max_age=86400), token).status_code == 422
    stale = post(session, RETRIEVE, retrieve_body(NUMBER), token).json()
    assert stale["lastLocationTime"] == "2020-01-01T00:00:00.000Z"


# 400s -----------------------------------------------------------------------------------------

GOOD_AREA = area(*PARIS)
DEVICE = {"phoneNumber": "+990100000000"}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"device": DEVICE}, "INVALID_ARGUMENT", "area"),
        ({"device": DEVICE, "area": {**GOOD_AREA, "areaType": "POLYGON"}}, "INVALID_ARGUMENT", "areaType"),
        (
            {"device": DEVICE, "area": {"center": GOOD_AREA["center"], "radius": 2000}},
            "INVALID_ARGUMENT",
            "areaType",
        ),
        ({"device": DEVICE, "area": {"areaType": "CIRCLE", "radius": 2000}}, "INVALID_ARGUMENT", "center"),
        (
            {"device": DEVICE, "area": {"areaType": "CIRCLE", "center": GOOD_AREA["center"]}},
            "INVALID_ARGUMENT",
            "radius",
        ),
        (
            {"device": DEVICE, "area": area(48.0, 2.0) | {"center": {"latitude": 48.0}}},
            "INVALID_ARGUMENT",
            "longitude",
        ),
        ({"device": DEVICE, "area": area(*PARIS, 1999)}, "OUT_OF_RANGE", "radius"),
        ({"device": DEVICE, "area": area(*PARIS, 200001)}, "OUT_OF_RANGE", "radius"),
        ({"device": DEVICE, "area": area(*PARIS, 2000.5)}, "INVALID_ARGUMENT", "radius"),
        ({"device": DEVICE, "area": area(*PARIS, "2000")}, "INVALID_ARGUMENT", "radius"),
        ({"device": DEVICE, "area": area(90.0001, 2.0)}, "OUT_OF_RANGE", "latitude"),
        ({"device": DEVICE, "area": area(-90.5, 2.0)}, "OUT_OF_RANGE", "latitude"),
        ({"device": DEVICE, "area": area(48.0, 180.01)}, "OUT_OF_RANGE", "longitude"),
        ({"device": DEVICE, "area": area(48.0, -181)}, "OUT_OF_RANGE", "longitude"),
        ({"device": DEVICE, "area": area("48.8", 2.0)}, "INVALID_ARGUMENT", "latitude"),
        ({"device": DEVICE, "area": area(True, 2.0)}, "INVALID_ARGUMENT", "latitude"),
        ({"device": DEVICE, "area": GOOD_AREA, "maxAge": -1}, "OUT_OF_RANGE", "maxAge"),
        ({"device": DEVICE, "area": GOOD_AREA, "maxAge": 1.5}, "INVALID_ARGUMENT", "maxAge"),
        ({"device": DEVICE, "area": GOOD_AREA, "maxAge": "60"}, "INVALID_ARGUMENT", "maxAge"),
        ({"device": DEVICE, "area": GOOD_AREA, "accuracy": 2}, "INVALID_ARGUMENT", "accuracy"),
        ({"device": DEVICE, "area": {**GOOD_AREA, "shape": "round"}}, "INVALID_ARGUMENT", "shape"),
        ({"device": {**DEVICE, "imsi": "208011234567890"}, "area": GOOD_AREA}, "INVALID_ARGUMENT", "imsi"),
        ({"phoneNumber": "+990100000000", "area": GOOD_AREA}, "INVALID_ARGUMENT", "phoneNumber"),
        ({"device": {}, "area": GOOD_AREA}, "INVALID_ARGUMENT", "device"),
        ({"device": {"phoneNumber": "990100000000"}, "area": GOOD_AREA}, "INVALID_ARGUMENT", "phoneNumber"),
        (
            {"device": {"ipv4Address": {"publicAddress": "84.125.93.10"}}, "area": GOOD_AREA},
            "INVALID_ARGUMENT",
            "ipv4",
        ),
        (
            {
                "device": {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": 70000}},
                "area": GOOD_AREA,
            },
            "OUT_OF_RANGE",
            "publicPort",
        ),
        ({"device": {"ipv6Address": "not-an-address"}, "area": GOOD_AREA}, "INVALID_ARGUMENT", "ipv6Address"),
    ],
)
def test_verify_400(proxy, body, code, field):
    answer = post(proxy.session(), VERIFY, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"] == 400
    assert answer.json()["code"] == code
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"device": DEVICE, "maxAge": -1}, "LOCATION_RETRIEVAL.MAXAGE_INVALID_ARGUMENT", "maxAge"),
        ({"device": DEVICE, "maxAge": 60.5}, "INVALID_ARGUMENT", "maxAge"),
        ({"device": DEVICE, "maxAge": None}, "INVALID_ARGUMENT", "maxAge"),
        ({"device": DEVICE, "maxSurface": 1000000}, "INVALID_ARGUMENT", "maxSurface"),  # 0.4's, not 0.3's
        ({"device": DEVICE, "area": GOOD_AREA}, "INVALID_ARGUMENT", "area"),
        ({"device": "+990100000000"}, "INVALID_ARGUMENT", "device"),
        ({"device": {"phoneNumber": "+0990100000000"}}, "INVALID_ARGUMENT", "phoneNumber"),
        ({"phoneNumber": "+990100000000"}, "INVALID_ARGUMENT", "phoneNumber"),
        (
            {"device": {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": -1}}},
            "OUT_OF_RANGE",
            "publicPort",
        ),
        (
            {"device": {"ipv4Address": {"publicAddress": "999.1.1.1", "publicPort": 1}}},
            "INVALID_ARGUMENT",
            "ipv4",
        ),
    ],
)
def test_retrieve_400(proxy, body, code, field):
    answer = post(proxy.session(), RETRIEVE, body)
    assert answer.status_code == 400, answer.text
    assert (answer.json()["status"], answer.json()["code"]) == (400, code)
    assert field in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize("url", [VERIFY, RETRIEVE])
@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        (b'{"device": {"phoneNumber": "+990100000000"}', "application/json", "not valid JSON"),
        (b"", "application/json", "not valid JSON"),
        (b'[{"device": {}}]', "application/json", "JSON object"),
        (b"\xff\xfe", "application/json", "UTF-8"),
        (b'{"device": {"phoneNumber": "+990100000000"}}', "text/plain", "Content-Type"),
    ],
)
def test_bodies_that_are_not_json_objects(proxy, url, data, content_type, reason):
    session = proxy.session()
    answer = session.post(
        url, headers={**bearer(playground_token(session)), "Content-Type": content_type}, data=data
    )
    assert error_of(answer)[:2] == (400, "INVALID_ARGUMENT")
    assert reason in answer.headers["x-orange-proxy-reason"]


# 401 and 403 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [VERIFY, RETRIEVE])
def test_401_in_both_profiles(proxy, camara_proxy, url):
    missing = proxy.session().post(url, json=retrieve_body("+990100000000"))
    assert missing.status_code == 401
    assert missing.json() == {
        "code": "UNAUTHORIZED",
        "message": "Authorization failed: missing Authorization header",
    }
    invalid = proxy.session().post(url, headers=bearer("forged"), json=retrieve_body("+990100000000"))
    assert invalid.json() == {"code": "UNAUTHORIZED", "message": "Authorization failed: invalid access token"}
    camara = camara_proxy.session().post(url, headers=bearer("forged"), json=retrieve_body("+990100000000"))
    assert (camara.status_code, camara.json()["code"]) == (401, "UNAUTHENTICATED")


def test_403_for_a_lab_token_and_for_a_token_without_the_scope(proxy, camara_proxy):
    session = proxy.session()
    lab = lab_token(session)
    for url, body in (
        (VERIFY, verify_body("+990100000000", *PARIS)),
        (RETRIEVE, retrieve_body("+990100000000")),
    ):
        refused = post(session, url, body, lab)
        assert refused.status_code == 403
        assert refused.json() == {"code": "FORBIDDEN", "message": "Request must be authorized"}
    camara_session = camara_proxy.session()
    refused = post(camara_session, VERIFY, verify_body("+990100000000", *PARIS), lab_token(camara_session))
    assert error_of(refused)[:2] == (403, "PERMISSION_DENIED")

    # A token asked for with scopes must hold the operation's; one asked for with none is accepted.
    retrieval_only = playground_token(session, scope=RETRIEVE_SCOPE)
    wrong = post(session, VERIFY, verify_body("+990100000000", *PARIS), retrieval_only)
    assert wrong.status_code == 403
    assert (
        wrong.json()["message"] == f"Operation not allowed: the access token lacks the scope {VERIFY_SCOPE}"
    )
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), retrieval_only).status_code == 200
    verification_only = playground_token(session, scope=VERIFY_SCOPE)
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), verification_only).status_code == 403
    assert post(session, VERIFY, verify_body("+990100000000", *PARIS), verification_only).status_code == 200
    both = playground_token(session, scope=f"{VERIFY_SCOPE} {RETRIEVE_SCOPE}")
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), both).status_code == 200


# Which device: 3-legged and 2-legged tokens -----------------------------------------------------------


def test_three_legged_token_names_the_device(proxy, client):
    session = proxy.session()
    scope = f"openid {VERIFY_SCOPE} {RETRIEVE_SCOPE}"
    madrid = three_legged_token(session, "+990100000002", scope, client=client)
    # No device: the token's (Madrid), not some default.
    own = post(session, VERIFY, {"area": area(*MADRID)}, madrid)
    assert own.json()["verificationResult"] == "TRUE"
    assert post(session, VERIFY, {"area": area(*PARIS)}, madrid).json()["verificationResult"] == "FALSE"
    retrieved = post(session, RETRIEVE, {}, madrid).json()
    assert retrieved["area"]["center"] == {"latitude": MADRID[0], "longitude": MADRID[1]}
    # The same device named again is fine.
    assert post(session, VERIFY, verify_body("+990100000002", *MADRID), madrid).status_code == 200
    # Another device: the body contradicts the token (orange: the playground's FORBIDDEN body).
    other = post(session, VERIFY, verify_body("+990100000000", *PARIS), madrid)
    assert other.json() == {
        "code": "FORBIDDEN",
        "message": "Operation not allowed: "
        "the device in the body is not the one the access token was issued for",
    }
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), madrid).status_code == 403
    # A device the playground cannot resolve.
    ip_only = {"device": {"ipv6Address": "2001:db8::1"}, "area": area(*MADRID)}
    assert error_of(post(session, VERIFY, ip_only, madrid))[:2] == (422, "UNSUPPORTED_DEVICE_IDENTIFIERS")


def test_three_legged_token_context_in_the_camara_profile(camara_proxy, client):
    session = camara_proxy.session()
    token = three_legged_token(session, "+990100000002", f"openid {RETRIEVE_SCOPE}", client=client)
    assert error_of(post(session, RETRIEVE, retrieve_body("+990100000001"), token)) == (
        403,
        "INVALID_TOKEN_CONTEXT",
        "device is not consistent with access token.",
    )
    assert post(session, RETRIEVE, {}, token).status_code == 200


@pytest.mark.parametrize("url", [VERIFY, RETRIEVE])
def test_two_legged_token_needs_a_device(proxy, url):
    body = {"area": area(*PARIS)} if url == VERIFY else {"maxAge": 60}
    assert error_of(post(proxy.session(), url, body)) == (
        422,
        "UNIDENTIFIABLE_DEVICE",
        "A device must be provided",
    )


@pytest.mark.parametrize("url", [VERIFY, RETRIEVE])
@pytest.mark.parametrize(
    "device",
    [
        {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": 59765}},
        {"ipv4Address": {"publicAddress": "84.125.93.10", "privateAddress": "10.0.0.1"}},
        {"ipv6Address": "2001:db8:85a3:8d3:1319:8a2e:370:7344"},
        {"networkAccessIdentifier": "123456789@domain.com"},
    ],
)
def test_identifiers_other_than_a_phone_number(proxy, url, device):
    body = {"device": device, **({"area": area(*PARIS)} if url == VERIFY else {})}
    assert error_of(post(proxy.session(), url, body)) == (
        422,
        "UNSUPPORTED_DEVICE_IDENTIFIERS",
        "Supported device identifiers are: phoneNumber",
    )


def test_a_phone_number_beside_other_identifiers_is_the_one_used(proxy):
    device = {"phoneNumber": "+990100000002", "ipv6Address": "2001:db8::1"}
    answer = post(proxy.session(), VERIFY, {"device": device, "area": area(*MADRID)})
    assert answer.json()["verificationResult"] == "TRUE"


def test_unknown_number_in_both_profiles(proxy, camara_proxy, client):
    session = proxy.session()
    token = playground_token(session, client)
    for url, body in ((VERIFY, verify_body(UNKNOWN, *PARIS)), (RETRIEVE, retrieve_body(UNKNOWN))):
        answer = post(session, url, body, token)
        assert answer.status_code == 403
        assert answer.json() == {"code": "FORBIDDEN", "message": f"{UNKNOWN} does not exist for {client[0]}"}
        camara = post(camara_proxy.session(), url, body)
        assert error_of(camara) == (404, "DEVICE_NOT_FOUND", "No device found for a provided identifier")


# Routes, faults, x-correlator, httpx ----------------------------------------------------------------


def test_other_methods_and_paths(proxy):
    session = proxy.session()
    token = playground_token(session)
    wrong = session.get(VERIFY, headers=bearer(token))
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")
    nowhere = session.post(PLAYGROUND_API + "/location-retrieval/v0.3/locate", headers=bearer(token), json={})
    assert error_of(nowhere)[:2] == (404, "NOT_FOUND")


def test_a_fault_scoped_to_location_retrieval_leaves_verification_alone(proxy_factory):
    proxy = proxy_factory()
    session = proxy.session()
    token = playground_token(session)
    added = session.post(CONTROL + "/faults", json={"fault": "service_unavailable:api=location-retrieval"})
    assert added.status_code == 201, added.text
    for _ in range(2):
        assert error_of(post(session, RETRIEVE, retrieve_body("+990100000000"), token))[:2] == (
            503,
            "UNAVAILABLE",
        )
        assert post(session, VERIFY, verify_body("+990100000000", *PARIS), token).status_code == 200
    assert session.delete(CONTROL + "/faults").json() == {"removed": 1}
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), token).status_code == 200

    # Faults speak each API's version: a 429 of Location Verification 1.0, with Retry-After.
    limited = session.post(
        CONTROL + "/faults", json={"fault": "rate_limited:api=playground-location-verification,retry_after=9"}
    )
    assert limited.status_code == 201, limited.text
    refused = post(session, VERIFY, verify_body("+990100000000", *PARIS), token)
    assert error_of(refused)[:2] == (429, "TOO_MANY_REQUESTS")
    assert refused.headers["Retry-After"] == "9"
    assert post(session, RETRIEVE, retrieve_body("+990100000000"), token).status_code == 200


def test_x_correlator_is_echoed_on_answers_and_errors(proxy):
    session = proxy.session()
    token = playground_token(session)
    ok = post(session, VERIFY, verify_body("+990100000000", *PARIS), token, **{"x-correlator": "lv-1"})
    assert ok.headers["x-correlator"] == "lv-1"
    failed = post(session, RETRIEVE, {"maxAge": -1}, token, **{"x-correlator": "lr-2"})
    assert (failed.status_code, failed.headers["x-correlator"]) == (400, "lr-2")


def test_with_httpx(proxy):
    with proxy.httpx_client() as http:
        token = http.post(
            "https://api.orange.com/openidconnect/playground/v1.0/token",
            auth=("httpx-app", "secret"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        answer = http.post(
            RETRIEVE,
            headers={**bearer(token), "Content-Type": "application/json"},
            content=json.dumps(retrieve_body("+990100000002", 3600)),
        )
    assert answer.status_code == 200
    assert answer.json()["area"]["center"] == {"latitude": MADRID[0], "longitude": MADRID[1]}


# Units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "whole"),
    [(0.0, 0), (0.49, 0), (0.5, 1), (59.9996, 60), (60.0004, 60), (60.6, 61)],
)
def test_ages_are_whole_seconds_rounded(age, whole):
    from proxy_addons.simulator.apis.device_location import whole_seconds

    assert whole_seconds(age) == whole
