"""Device Location Verification through the real proxy: every outcome, 400s, 401/403/405/404."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime

import pytest
from flows import CLIENT, DLV, V3_TOKEN, bearer, dlv_body, lab_token, three_legged_token

LAB = (48.800176, 2.29)
EARTH = 6_371_008.8
RULES = """
numbers:
  "+33600000001":   # seen two hours ago
    location: {latitude: 48.800176, longitude: 2.29, accuracy_m: 500, age_seconds: 7200}
  "+33600000002":   # the network cannot locate it
    location: {latitude: 48.800176, longitude: 2.29, available: false}
  "+33600000003":   # located coarsely: a 5 km circle
    location: {latitude: 48.800176, longitude: 2.29, accuracy_m: 5000, age_seconds: 10}
"""


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "lab.yaml"
    path.write_text(RULES)
    return str(path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, schemas, rules_file):
    from conftest import start_proxy

    proxy = start_proxy(tmp_path_factory.mktemp("proxy"), schemas, "--rules", rules_file)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def camara_lab(tmp_path_factory, schemas, rules_file):
    from conftest import start_proxy

    proxy = start_proxy(
        tmp_path_factory.mktemp("proxy"), schemas, "--rules", rules_file, "--profile", "camara"
    )
    yield proxy
    proxy.stop()


def verify(proxy, body, token=None, **headers):
    session = proxy.session()
    token = token or lab_token(session)
    return session.post(DLV, headers={**bearer(token), **headers}, json=body)


def offset(lat: float, lon: float, east_m: float) -> tuple[float, float]:
    """The point `east_m` metres due east (small distances; spherical)."""
    return lat, lon + math.degrees(east_m / (EARTH * math.cos(math.radians(lat))))


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH * math.asin(math.sqrt(h))


def numeric_match_rate(n_centre, n_radius, r_centre, r_radius, rings=300, spokes=720) -> float:
    """|R ∩ N| / |N| × 100 by integrating over a polar grid on N (area element sin(ρ) dρ dθ on the
    sphere), each cell tested with the haversine distance to R's centre. Independent of proxy code."""
    lat0, lon0 = map(math.radians, n_centre)
    inside = total = 0.0
    angular = n_radius / EARTH
    for i in range(rings):
        rho = (i + 0.5) * angular / rings
        weight = math.sin(rho)
        for j in range(spokes):
            theta = (j + 0.5) * 2 * math.pi / spokes
            lat = math.asin(math.sin(lat0) * math.cos(rho) + math.cos(lat0) * math.sin(rho) * math.cos(theta))
            lon = lon0 + math.atan2(
                math.sin(theta) * math.sin(rho) * math.cos(lat0),
                math.cos(rho) - math.sin(lat0) * math.sin(lat),
            )
            total += weight
            if haversine((math.degrees(lat), math.degrees(lon)), r_centre) <= r_radius:
                inside += weight
    return 100 * inside / total


def test_orange_documented_example_is_true(proxy):
    before = datetime.now(UTC)
    answer = verify(proxy, dlv_body())  # Orange's own example body: number without '+'
    assert answer.status_code == 200
    assert answer.reason == "Location verification successful"
    body = answer.json()
    assert list(body) == ["lastLocationTime", "verificationResult"]
    assert body["verificationResult"] == "TRUE"
    seen = datetime.fromisoformat(body["lastLocationTime"].replace("Z", "+00:00"))
    # Default rules: last fix 30 s before the request.
    assert 25 <= (before - seen).total_seconds() <= 35


def test_true_with_plus_prefix_and_httpx(proxy):
    with proxy.httpx_client() as client:
        token = client.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials"}).json()[
            "access_token"
        ]
        answer = client.post(DLV, headers=bearer(token), json=dlv_body("+33699901040", *LAB, radius=2000))
    assert answer.json()["verificationResult"] == "TRUE"


def test_false_far_away(proxy):
    answer = verify(proxy, dlv_body(lat=45.764, lon=4.8357, radius=200000))  # Lyon, 390 km away
    assert answer.json()["verificationResult"] == "FALSE"
    assert "matchRate" not in answer.json()


@pytest.mark.parametrize("east_m", [1600, 1900, 2200, 2400])
def test_partial_match_rate_is_the_real_overlap(proxy, east_m):
    centre = offset(*LAB, east_m)
    answer = verify(proxy, dlv_body(lat=centre[0], lon=centre[1], radius=2000))
    body = answer.json()
    assert body["verificationResult"] == "PARTIAL"
    expected = numeric_match_rate(LAB, 500, centre, 2000)
    assert abs(body["matchRate"] - expected) <= 1, (body, expected)


def test_partial_when_the_network_area_contains_the_request(lab):
    # N is a 5 km circle, R a 2 km one at its centre: |R ∩ N| / |N| = 2²/5² = 16 %.
    answer = verify(lab, dlv_body("33600000003", *LAB, radius=2000))
    assert answer.json()["verificationResult"] == "PARTIAL"
    assert answer.json()["matchRate"] == 16


def test_partial_with_curl(proxy):
    session = proxy.session()
    token = lab_token(session)
    centre = offset(*LAB, 2000)
    status, _headers, body = proxy.curl(
        "-X",
        "POST",
        DLV,
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(dlv_body(lat=centre[0], lon=centre[1], radius=2000)),
    )
    assert status == 200
    result = json.loads(body)
    assert result["verificationResult"] == "PARTIAL"
    assert abs(result["matchRate"] - numeric_match_rate(LAB, 500, centre, 2000)) <= 1


def test_outdated_location_is_404_under_orange(lab):
    # maxAge is in minutes on Orange's page: 60 minutes < 2 hours.
    answer = verify(lab, dlv_body("33600000001", *LAB, max_age=60))
    assert answer.status_code == 404
    assert answer.reason == "Not found"
    assert answer.json() == {"status": 404, "code": "NOT_FOUND", "message": "Location outdated"}
    fresh_enough = verify(lab, dlv_body("33600000001", *LAB, max_age=180))
    assert fresh_enough.json()["verificationResult"] == "TRUE"


def test_unlocatable_device_is_404_under_orange(lab):
    answer = verify(lab, dlv_body("33600000002", *LAB))
    assert answer.status_code == 404
    assert answer.json()["message"] == "Location outdated"


def test_outdated_location_is_unknown_under_camara(camara_lab):
    # maxAge is in seconds under CAMARA 0.2.0-rc2: 3600 s < 2 hours.
    answer = verify(camara_lab, dlv_body("+33600000001", *LAB, max_age=3600))
    assert answer.status_code == 200
    body = answer.json()
    assert body["verificationResult"] == "UNKNOWN"
    seen = datetime.fromisoformat(body["lastLocationTime"].replace("Z", "+00:00"))
    assert 7190 <= (datetime.now(UTC) - seen).total_seconds() <= 7210
    # Without maxAge any age is accepted.
    assert (
        verify(camara_lab, dlv_body("+33600000001", *LAB, max_age=None)).json()["verificationResult"]
        == "TRUE"
    )


def test_unlocatable_device_is_unknown_without_time_under_camara(camara_lab):
    answer = verify(camara_lab, dlv_body("+33600000002", *LAB))
    assert answer.json() == {"verificationResult": "UNKNOWN"}


def test_unknown_device(proxy, camara_proxy):
    # Orange's lab: other numbers "will not work"; invalid input for the device is its 400.
    answer = verify(proxy, dlv_body("33612345678"))
    assert answer.status_code == 400
    assert answer.json() == {"status": 400, "message": "Invalid input"}
    assert answer.headers["x-orange-proxy-reason"] == "+33612345678 is not a device of the lab"
    camara = verify(camara_proxy, dlv_body("33612345678"))
    assert camara.status_code == 404
    assert camara.json() == {"status": 404, "code": "NOT_FOUND", "message": "Device not found"}


def broken(**changes):
    body = dlv_body()
    for path, value in changes.items():
        node = body
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return body


INVALID_BODIES = [
    broken(device=...),
    broken(area=...),
    broken(device={}),
    broken(device__phoneNumber="33-6999-01031"),
    broken(device__phoneNumber=33699901031),
    broken(device__ipv4Address={"publicAddress": "999.1.1.1", "publicPort": 1}),
    broken(area__areaType="POLYGON"),
    broken(area__center=...),
    broken(area__center__latitude=90.5),
    broken(area__center__longitude=-180.01),
    broken(area__center__latitude="48.8"),
    broken(area__radius=1999),
    broken(area__radius=200001),
    broken(area__radius=...),
    broken(maxAge=-1),
    broken(maxAge="60"),
    {
        "ueId": {"msisdn": "33699901031"},
        "latitude": 48.8,
        "longitude": 2.29,
        "accuracy": 2,
    },  # the old v0.1 body
]


@pytest.mark.parametrize("body", INVALID_BODIES)
def test_400_orange(proxy, body):
    answer = verify(proxy, body)
    assert answer.status_code == 400
    assert answer.reason == "Invalid input"
    assert answer.json() == {"status": 400, "message": "Invalid input"}
    assert answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize("body", [*INVALID_BODIES, broken(maxAge=59), broken(area__radius=2000.5)])
def test_400_camara(camara_proxy, body):
    answer = verify(camara_proxy, body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "INVALID_ARGUMENT"
    assert answer.json()["status"] == 400


def test_orange_profile_needs_max_age_and_takes_fractional_radius(proxy, camara_proxy):
    assert verify(proxy, broken(maxAge=...)).status_code == 400
    assert verify(proxy, broken(area__radius=2000.5)).status_code == 200
    assert verify(camara_proxy, broken(maxAge=...)).status_code == 200


def test_only_phone_numbers_are_operational_in_the_lab(proxy, camara_proxy):
    body = broken(device={"networkAccessIdentifier": "123@domain.com"})
    assert verify(proxy, body).status_code == 400
    assert verify(camara_proxy, body).status_code == 404


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (json.dumps(dlv_body()).encode(), "text/plain"),
        (b"", "application/json"),
    ],
)
def test_400_for_bad_json_and_content_type(proxy, data, content_type):
    session = proxy.session()
    answer = session.post(
        DLV, headers={**bearer(lab_token(session)), "Content-Type": content_type}, data=data
    )
    assert answer.status_code == 400
    assert answer.json() == {"status": 400, "message": "Invalid input"}


def test_401_shapes(proxy, camara_proxy, proxy_factory):
    missing = proxy.session().post(DLV, json=dlv_body())
    assert missing.status_code == 401
    assert missing.json() == {"status": 401, "message": "Authorization failed: missing Authorization header"}
    assert (
        verify(proxy, dlv_body(), token="made-up").json()["message"]
        == "Authorization failed: invalid access token"
    )
    camara = camara_proxy.session().post(DLV, json=dlv_body())
    assert camara.json()["code"] == "UNAUTHENTICATED"

    short = proxy_factory("--token-lifetime", "2")
    session = short.session()
    token = lab_token(session)
    assert verify(short, dlv_body(), token=token).status_code == 200
    time.sleep(2.2)
    expired = verify(short, dlv_body(), token=token)
    assert expired.status_code == 401
    assert expired.json() == {"status": 401, "message": "Authorization failed: access token expired"}
    assert verify(short, dlv_body()).status_code == 200  # a new token works


def test_403_token_from_the_wrong_endpoint_or_scope(proxy):
    session = proxy.session()
    playground = three_legged_token(session, "+990123456789")
    answer = verify(proxy, dlv_body(), token=playground)
    assert answer.status_code == 403
    assert answer.json()["status"] == 403
    assert answer.json()["message"].startswith("Operation not allowed: ")
    scoped = session.post(V3_TOKEN, auth=CLIENT, data={"grant_type": "client_credentials", "scope": "openid"})
    assert verify(proxy, dlv_body(), token=scoped.json()["access_token"]).status_code == 403
    granted = session.post(
        V3_TOKEN,
        auth=CLIENT,
        data={"grant_type": "client_credentials", "scope": "location-verification:verify"},
    )
    assert verify(proxy, dlv_body(), token=granted.json()["access_token"]).status_code == 200


def test_403_without_subscription(proxy_factory, tmp_path):
    rules = tmp_path / "subs.yaml"
    rules.write_text(
        "clients:\n  - {client_id: my-app, client_secret: my-secret, apis: [number-verification]}\n"
    )
    proxy = proxy_factory("--rules", str(rules))
    answer = verify(proxy, dlv_body())
    assert answer.status_code == 403
    assert "no subscription" in answer.json()["message"]


def test_405_and_404(proxy):
    session = proxy.session()
    token = lab_token(session)
    get = session.get(DLV, headers=bearer(token))
    assert get.status_code == 405
    assert get.headers["Allow"] == "POST"
    assert get.json()["status"] == 405
    unknown = session.post(DLV.replace("/verify", "/retrieve"), headers=bearer(token), json={})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"


def test_x_correlator_is_echoed(proxy):
    answer = verify(proxy, dlv_body(), **{"x-correlator": "trace-7"})
    assert answer.headers["x-correlator"] == "trace-7"
