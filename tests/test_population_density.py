"""Population Density Data 0.2 on the playground, through the real proxy: the cells covering a polygon
(checked against an independent computation with pygeohash), hourly intervals, figures stable across
calls and processes, denser in city centres and lower at night, coverage, every validation error,
tokens and scopes, faults, and the sink: a 202, then the same data POSTed to a local server."""

from __future__ import annotations

import json
import math
import ssl
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pygeohash
import pytest
from flows import PLAYGROUND_API, bearer, lab_token, playground_token

from proxy_addons.config.schemas import default_store
from proxy_addons.config.yamlfile import DataFileError
from proxy_addons.simulator import polygons, population
from proxy_addons.simulator.apis import population_density_data as pdd
from proxy_addons.simulator.errors import ApiError

URL = PLAYGROUND_API + "/population-density-data/v0.2/retrieve"
CONTROL = "http://orange-proxy.test/api"
SCOPE_NAME = "population-density-data:read"
HOUR = 3600
DAY = 86400
# Central Paris, a convex pentagon from Porte Maillot to Bercy (about 100 km²), as (lat, lon).
PARIS = [(48.900, 2.250), (48.880, 2.420), (48.820, 2.420), (48.810, 2.300), (48.840, 2.240)]
PARIS_CENTRE = (48.8566, 2.3522)
# The Marais and the islands, about 7 km².
MARAIS = [(48.865, 2.335), (48.862, 2.370), (48.845, 2.372), (48.842, 2.345), (48.852, 2.330)]
# A U around the Lyon peninsula (concave: each row band meets it twice), as three rectangles.
U_PARTS = [
    [(45.74, 4.80), (45.74, 4.82), (45.78, 4.82), (45.78, 4.80)],
    [(45.74, 4.82), (45.74, 4.86), (45.75, 4.86), (45.75, 4.82)],
    [(45.74, 4.86), (45.74, 4.88), (45.78, 4.88), (45.78, 4.86)],
]
U_SHAPE = [
    (45.74, 4.80),
    (45.74, 4.88),
    (45.78, 4.88),
    (45.78, 4.86),
    (45.75, 4.86),
    (45.75, 4.82),
    (45.78, 4.82),
    (45.78, 4.80),
]
ATLANTIC = [(45.0, -20.0), (45.0, -19.5), (45.5, -19.5), (45.5, -20.0)]
BEAUCE = [(48.30, 1.60), (48.30, 1.64), (48.33, 1.64), (48.33, 1.60)]  # wheat fields, far from any city
# The Metropolitan France outline of cities.yaml runs straight from Basel to Geneva.
BASEL, GENEVA = (47.59, 7.59), (46.20, 6.10)


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def this_hour() -> int:
    return int(time.time() // HOUR * HOUR)


def past_hour(hours: int = 48) -> int:
    """The start of an hour `hours` ago: past for the whole test run."""
    return this_hour() - hours * HOUR


def boundary(points):
    return [{"latitude": lat, "longitude": lon} for lat, lon in points]


def body(points=PARIS, start=None, end=None, precision=6, **extra):
    start = past_hour() if start is None else start
    end = start if end is None else end
    data = {
        "area": {"areaType": "POLYGON", "boundary": boundary(points)},
        "startTime": start if isinstance(start, str) else stamp(start),
        "endTime": end if isinstance(end, str) else stamp(end),
        **extra,
    }
    if precision is not None:
        data["precision"] = precision
    return data


def retrieve(session, token, data, **headers):
    return session.post(URL, headers={**bearer(token), **headers}, json=data)


def error_of(answer):
    assert answer.headers["content-type"].startswith("application/json")
    return answer.status_code, answer.json()["code"]


@pytest.fixture(scope="module")
def token(proxy) -> str:
    return playground_token(proxy.session())


# The independent computation: positive-area overlap of two convex polygons by the separating axis theorem.


def _axes(corners):
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        yield (ay - by, bx - ax)


def convex_overlap(first, second) -> bool:
    """Do two convex polygons ((x, y) corners) share some area? Touching along a line does not count."""
    for nx, ny in [*_axes(first), *_axes(second)]:
        a = [nx * x + ny * y for x, y in first]
        b = [nx * x + ny * y for x, y in second]
        if max(a) <= min(b) or max(b) <= min(a):
            return False
    return True


def expected_cells(convex_parts, precision) -> list[str]:
    """Every cell sharing area with one of the convex parts (lat, lon points), from pygeohash's grid."""
    found = set()
    for part in convex_parts:
        lats, lons = [p[0] for p in part], [p[1] for p in part]
        box = pygeohash.BoundingBox(min(lats), min(lons), max(lats), max(lons))
        polygon = [(lon, lat) for lat, lon in part]
        for cell in pygeohash.geohashes_in_box(box, precision):
            b = pygeohash.get_bounding_box(cell)
            rectangle = [
                (b.min_lon, b.min_lat),
                (b.max_lon, b.min_lat),
                (b.max_lon, b.max_lat),
                (b.min_lon, b.max_lat),
            ]
            if convex_overlap(polygon, rectangle):
                found.add(cell)
    return sorted(found)


def distance_km(lat1, lon1, lat2, lon2) -> float:
    dy = (lat1 - lat2) * 111.195
    dx = (lon1 - lon2) * 111.195 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def cells_of(answer, interval=0):
    return answer["timedPopulationDensityData"][interval]["cellPopulationDensityData"]


# The cells, the intervals, the figures -------------------------------------------------------------


@pytest.mark.parametrize(("points", "precision", "at_least"), [(PARIS, 6, 100), (MARAIS, 7, 200)])
def test_a_paris_polygon_gives_exactly_the_covering_cells_for_each_hour(
    proxy, token, points, precision, at_least
):
    start = past_hour()
    # 11:25 to 12:45 gives two intervals, 11:00-12:00 and 12:00-13:00 (the spec's own example).
    answer = retrieve(
        proxy.session(),
        token,
        body(points, start=start + 25 * 60, end=start + HOUR + 45 * 60, precision=precision),
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["status"] == "SUPPORTED_AREA"
    expected = expected_cells([points], precision)
    assert len(expected) > at_least
    intervals = data["timedPopulationDensityData"]
    assert [(i["startTime"], i["endTime"]) for i in intervals] == [
        (stamp(start), stamp(start + HOUR)),
        (stamp(start + HOUR), stamp(start + 2 * HOUR)),
    ]
    for interval in intervals:
        cells = interval["cellPopulationDensityData"]
        assert [c["geohash"] for c in cells] == expected
        assert all(len(c["geohash"]) == precision for c in cells)
        for cell in cells:
            assert cell["dataType"] == "DENSITY_ESTIMATION"
            assert 0 <= cell["minPplDensity"] <= cell["pplDensity"] <= cell["maxPplDensity"]
    # Each hour has its own figures.
    assert [c["pplDensity"] for c in cells_of(data, 0)] != [c["pplDensity"] for c in cells_of(data, 1)]


def test_a_concave_polygon_leaves_out_the_cells_of_its_notch(proxy, token):
    answer = retrieve(proxy.session(), token, body(U_SHAPE, precision=7))
    assert answer.status_code == 200, answer.text
    cells = [c["geohash"] for c in cells_of(answer.json())]
    assert cells == expected_cells(U_PARTS, 7)
    notch = pygeohash.encode(45.77, 4.84, 7)  # between the arms
    assert notch not in cells
    assert pygeohash.encode(45.77, 4.81, 7) in cells and pygeohash.encode(45.77, 4.87, 7) in cells


def test_a_closed_ring_of_fifteen_vertices_is_taken(proxy, token):
    # 15 distinct vertices on a circle round the Louvre, and the first once more to close the ring.
    ring = [
        (48.8606 + 0.01 * math.sin(2 * math.pi * k / 15), 2.3376 + 0.015 * math.cos(2 * math.pi * k / 15))
        for k in range(15)
    ]
    closed = retrieve(proxy.session(), token, body([*ring, ring[0]]))
    unclosed = retrieve(proxy.session(), token, body(ring))
    assert closed.status_code == unclosed.status_code == 200, closed.text
    assert closed.json() == unclosed.json()


def test_figures_are_stable_across_calls_and_processes(proxy, token, proxy_factory):
    data = body(start=past_hour(30), end=past_hour(28))
    first = retrieve(proxy.session(), token, data)
    second = retrieve(proxy.session(), token, data)
    other = proxy_factory()
    third = retrieve(other.session(), playground_token(other.session()), data)
    assert first.status_code == 200, first.text
    assert first.json() == second.json() == third.json()
    assert len(first.json()["timedPopulationDensityData"]) == 2  # 30 to 28 hours ago
    # And they depend on the cell and the hour only: the same cell in a larger polygon has the same figures.
    wider = [(lat + (lat - 48.855) * 0.2, lon + (lon - 2.33) * 0.2) for lat, lon in PARIS]
    larger = retrieve(proxy.session(), token, body(wider, start=past_hour(30), end=past_hour(28)))
    by_cell = {c["geohash"]: c for c in cells_of(larger.json())}
    assert len(by_cell) > len(cells_of(first.json()))
    assert all(by_cell[c["geohash"]] == c for c in cells_of(first.json()))


def test_denser_in_the_centre_than_at_the_edge(proxy, token):
    cells = cells_of(retrieve(proxy.session(), token, body(precision=6)).json())
    centre, edge = [], []
    for cell in cells:
        lat, lon = pygeohash.decode(cell["geohash"])
        distance = distance_km(lat, lon, *PARIS_CENTRE)
        if distance < 1.5:
            centre.append(cell["pplDensity"])
        elif distance > 6:
            edge.append(cell["pplDensity"])
    assert len(centre) >= 3 and len(edge) >= 10
    assert min(centre) > max(edge)
    assert sum(centre) / len(centre) > 1.8 * sum(edge) / len(edge)
    assert sum(centre) / len(centre) > 10_000  # a city centre's order of magnitude


def test_lower_at_night_than_in_the_afternoon(proxy, token):
    midnight = this_hour() // DAY * DAY - 2 * DAY
    night = retrieve(proxy.session(), token, body(start=midnight + 2 * HOUR)).json()
    afternoon = retrieve(proxy.session(), token, body(start=midnight + 14 * HOUR)).json()
    pairs = list(zip(cells_of(night), cells_of(afternoon), strict=True))
    assert all(n["pplDensity"] < a["pplDensity"] for n, a in pairs)


def test_sparse_countryside_at_a_fine_precision_is_low_density(proxy, token):
    answer = retrieve(proxy.session(), token, body(BEAUCE, precision=7))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "SUPPORTED_AREA"
    cells = cells_of(answer.json())
    assert [c["geohash"] for c in cells] == expected_cells([BEAUCE], 7)
    # k-anonymity: under 10 people expected in a 150 m cell, so no figures at all.
    assert cells and all(c == {"geohash": c["geohash"], "dataType": "LOW_DENSITY"} for c in cells)
    coarse = cells_of(retrieve(proxy.session(), token, body(BEAUCE, precision=5)).json())
    assert all(c["dataType"] == "DENSITY_ESTIMATION" and 10 < c["pplDensity"] < 100 for c in coarse)


def test_outside_the_network_there_is_no_data(proxy, token):
    answer = retrieve(proxy.session(), token, body(ATLANTIC))
    assert answer.status_code == 200
    assert answer.json() == {"status": "AREA_NOT_SUPPORTED", "timedPopulationDensityData": []}
    # However fine and long: there is nothing to compute.
    week = body(ATLANTIC, start=past_hour(200), end=past_hour(200) + 7 * DAY - HOUR, precision=8)
    assert retrieve(proxy.session(), token, week).json()["status"] == "AREA_NOT_SUPPORTED"


def test_across_the_border_cells_outside_have_no_data(proxy, token):
    lat, lon = (BASEL[0] + GENEVA[0]) / 2, (BASEL[1] + GENEVA[1]) / 2
    square = [
        (lat - 0.03, lon - 0.04),
        (lat - 0.03, lon + 0.04),
        (lat + 0.03, lon + 0.04),
        (lat + 0.03, lon - 0.04),
    ]
    answer = retrieve(proxy.session(), token, body(square, precision=6))
    assert answer.json()["status"] == "PART_OF_AREA_NOT_SUPPORTED"
    for cell in cells_of(answer.json()):
        y, x, _, _ = pygeohash.decode_exactly(cell["geohash"])
        # Which side of the Basel-Geneva line the cell's centre is on (France is north-west of it).
        side = (BASEL[1] - GENEVA[1]) * (y - GENEVA[0]) - (BASEL[0] - GENEVA[0]) * (x - GENEVA[1])
        assert (cell["dataType"] == "NO_DATA") == (side < 0), cell
        assert cell["dataType"] != "NO_DATA" or set(cell) == {"geohash", "dataType"}


def test_precision_defaults_to_7(proxy, token):
    cells = cells_of(retrieve(proxy.session(), token, body(BEAUCE, precision=None)).json())
    assert {len(c["geohash"]) for c in cells} == {7}


def test_x_correlator_is_echoed(proxy, token):
    answer = retrieve(proxy.session(), token, body(), **{"x-correlator": "pdd-42"})
    assert answer.headers["x-correlator"] == "pdd-42"


def test_with_httpx(proxy, token):
    with proxy.httpx_client() as client:
        answer = client.post(URL, headers=bearer(token), json=body(BEAUCE))
    assert answer.status_code == 200
    assert answer.json()["status"] == "SUPPORTED_AREA"


# Validation ----------------------------------------------------------------------------------------

AREA = "POPULATION_DENSITY_DATA.INVALID_AREA"
SOME_CREDENTIAL = {
    "credentialType": "ACCESSTOKEN",
    "accessToken": "t",
    "accessTokenExpiresUtc": "2099-01-01T00:00:00Z",
    "accessTokenType": "bearer",
}
BOW_TIE = [(48.80, 2.30), (48.85, 2.40), (48.80, 2.40), (48.85, 2.30)]
SPIKE = [(48.80, 2.30), (48.90, 2.30), (48.90, 2.40), (48.90, 2.35)]
SIXTEEN = [(48.85 + 0.01 * math.sin(k / 2.6), 2.35 + 0.01 * math.cos(k / 2.6)) for k in range(16)]
HUGE = [(46.0, 2.0), (46.0, 4.0), (48.0, 4.0), (48.0, 2.0)]  # about 34,000 km²
POLE = [(80.0, 0.0), (80.0, 100.0), (80.0, -160.0), (80.0, -60.0)]


@pytest.mark.parametrize(
    ("area", "why"),
    [
        (
            {"areaType": "CIRCLE", "center": {"latitude": 48.8, "longitude": 2.3}, "radius": 1000},
            "not POLYGON",
        ),
        ({"areaType": "POLYGON", "boundary": boundary(PARIS[:2])}, "at least 3"),
        ({"areaType": "POLYGON", "boundary": boundary([*PARIS[:2], PARIS[0]])}, "at least 3"),
        ({"areaType": "POLYGON", "boundary": boundary(SIXTEEN)}, "more than 15"),
        ({"areaType": "POLYGON", "boundary": boundary(SIXTEEN * 5)}, "more than 15"),
        ({"areaType": "POLYGON", "boundary": boundary(BOW_TIE)}, "intersects itself"),
        ({"areaType": "POLYGON", "boundary": boundary(SPIKE)}, "folds back"),
        (
            {"areaType": "POLYGON", "boundary": boundary([(48.8, 2.3), (48.9, 2.4), (49.0, 2.5)])},
            "folds back",
        ),
        (
            {"areaType": "POLYGON", "boundary": boundary([(48.8, 2.3), (48.9, 2.4), (49.0, 2.50000000001)])},
            "no area",
        ),
        ({"areaType": "POLYGON", "boundary": boundary(HUGE)}, "more than 10,000 km2"),
        ({"areaType": "POLYGON", "boundary": boundary(POLE)}, "round a pole"),
    ],
)
def test_invalid_areas(proxy, camara_proxy, area, why):
    for running in (proxy, camara_proxy):
        session = running.session()
        data = {**body(), "area": area}
        answer = retrieve(session, playground_token(session), data)
        assert error_of(answer) == (400, AREA)
        assert answer.json()["message"] == pdd.INVALID_AREA
        assert why in answer.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"startTime": None}, "startTime"),
        ({"precision": 0}, "precision"),
        ({"precision": 13}, "precision"),
        ({"precision": "7"}, "precision"),
        ({"precision": True}, "precision"),
        ({"startTime": "2025-01-01T10:00:00"}, "startTime"),
        ({"endTime": "yesterday"}, "endTime"),
        ({"area": {"areaType": "POLYGON", "boundary": boundary([(91, 2), *PARIS[1:]])}}, "latitude"),
        ({"area": {"areaType": "POLYGON"}}, "boundary"),
        ({"colour": "blue"}, "colour"),
        ({"sink": "ftp://127.0.0.1/x"}, "http or https"),
        ({"sink": "http:///nohost"}, "http or https"),
        ({"sink": "http://user:pw@127.0.0.1/x"}, "credentials"),
        ({"sink": "http://127.0.0.1:99999/x"}, "not a URL"),
        ({"sinkCredential": SOME_CREDENTIAL}, "only used with a sink"),
        (
            {
                "sink": "http://127.0.0.1/x",
                "sinkCredential": {"credentialType": "ACCESSTOKEN", "accessToken": "t"},
            },
            "accessTokenExpiresUtc",
        ),
        ({"sink": "http://127.0.0.1/x", "sinkCredential": {"credentialType": "BASIC"}}, "credentialType"),
    ],
)
def test_invalid_arguments(proxy, token, change, where):
    data = body()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    answer = retrieve(proxy.session(), token, data)
    assert error_of(answer) == (400, "INVALID_ARGUMENT")
    assert where in answer.headers["x-orange-proxy-reason"]


def test_a_body_that_is_not_json(proxy, token):
    answer = proxy.session().post(
        URL, headers={**bearer(token), "Content-Type": "application/json"}, data="{"
    )
    assert error_of(answer) == (400, "INVALID_ARGUMENT")


def months_from_now(months: float) -> float:
    return time.time() + months * 30.44 * DAY


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (past_hour(10), past_hour(12), "INVALID_END_TIME"),
        (past_hour(24 * 9), past_hour(24 * 9) + 7 * DAY + 1, "MAX_TIME_PERIOD_EXCEEDED"),
        (months_from_now(-3.2), months_from_now(-3.2) + HOUR, "MIN_STARTTIME_EXCEEDED"),
        (months_from_now(3.2), months_from_now(3.2) + HOUR, "MAX_STARTTIME_EXCEEDED"),
        (time.time() - HOUR, time.time() + HOUR, "INVALID_TIME_PERIOD"),
    ],
)
def test_time_rules(proxy, token, start, end, code):
    answer = retrieve(proxy.session(), token, body(start=start, end=end))
    assert error_of(answer) == (400, "POPULATION_DENSITY_DATA." + code)


def test_time_limits_are_inclusive_and_a_week_is_allowed(proxy, token):
    # 7 days exactly, in the past, and a window wholly in the future: both fine.
    start = past_hour(24 * 8)
    week = retrieve(proxy.session(), token, body(BEAUCE, start=start, end=start + 7 * DAY, precision=5))
    assert week.status_code == 200, week.text
    assert len(week.json()["timedPopulationDensityData"]) == 7 * 24
    future = retrieve(
        proxy.session(), token, body(BEAUCE, start=this_hour() + 3 * HOUR, end=this_hour() + 5 * HOUR)
    )
    assert future.status_code == 200, future.text
    assert len(future.json()["timedPopulationDensityData"]) == 2
    # endTime more than 3 months ahead, with startTime within them: no code of its own in the spec.
    late = retrieve(proxy.session(), token, body(start=time.time() + 88 * DAY, end=time.time() + 94 * DAY))
    assert error_of(late) == (400, "INVALID_ARGUMENT")
    assert "endTime" in late.headers["x-orange-proxy-reason"]


@pytest.mark.parametrize("precision", [1, 3, 9, 12])
def test_unsupported_precisions(proxy, token, precision):
    answer = retrieve(proxy.session(), token, body(precision=precision))
    assert error_of(answer) == (422, "POPULATION_DENSITY_DATA.UNSUPPORTED_PRECISION")


def test_too_big_for_a_synchronous_answer_but_not_for_a_sink(proxy, token, sink_server):
    # Central Paris at precision 7 is about 7,000 cells: two hours are 14,000 cells × intervals.
    data = body(start=past_hour(), end=past_hour() + 90 * 60, precision=7)
    assert error_of(retrieve(proxy.session(), token, data)) == (
        422,
        "POPULATION_DENSITY_DATA.UNSUPPORTED_SYNC_RESPONSE",
    )
    accepted = retrieve(proxy.session(), token, {**data, "sink": sink_server.url})
    assert accepted.status_code == 202
    received = sink_server.wait(1)
    assert len(cells_of(received[0]["body"], 1)) == len(expected_cells([PARIS], 7))


def test_too_big_requests_are_refused_at_once(proxy, token):
    square = [(47.0, 2.0), (47.0, 3.0), (47.8, 3.0), (47.8, 2.0)]  # 6,700 km² at precision 8, a week
    strip = [(44.0, 0.0), (44.0, 0.0003), (50.0, 6.0003), (50.0, 6.0)]  # 660 km long, 20 m wide
    for points, precision, days in ((square, 8, 7), (square, 7, 1), (strip, 8, 7)):
        start = past_hour(24 * 8)
        data = body(points, start=start, end=start + days * DAY - HOUR, precision=precision)
        for extra in ({}, {"sink": "http://127.0.0.1:9/never"}):
            began = time.perf_counter()
            answer = retrieve(proxy.session(), token, {**data, **extra})
            assert error_of(answer) == (422, "POPULATION_DENSITY_DATA.UNSUPPORTED_REQUEST")
            assert time.perf_counter() - began < 1.0


# Tokens, scopes, faults, routes -----------------------------------------------------------------------


def test_401_in_each_profile(proxy, camara_proxy):
    for running, expected in (
        (proxy, {"code": "UNAUTHORIZED"}),
        (camara_proxy, {"status": 401, "code": "UNAUTHENTICATED"}),
    ):
        session = running.session()
        for headers in ({}, bearer("not-a-token")):
            answer = session.post(URL, headers=headers, json=body())
            assert answer.status_code == 401
            assert {k: answer.json()[k] for k in expected} == expected


def test_403_for_a_lab_token_and_for_a_token_without_the_scope(proxy, camara_proxy):
    session = proxy.session()
    lab = session.post(URL, headers=bearer(lab_token(session)), json=body())
    assert lab.status_code == 403
    assert lab.json() == {"code": "FORBIDDEN", "message": "Request must be authorized"}
    other_scope = retrieve(session, playground_token(session, scope="number-verification:verify"), body())
    assert other_scope.status_code == 403 and other_scope.json()["code"] == "FORBIDDEN"
    assert SCOPE_NAME in other_scope.json()["message"]
    assert retrieve(session, playground_token(session, scope=SCOPE_NAME), body()).status_code == 200
    camara = camara_proxy.session()
    refused = camara.post(URL, headers=bearer(lab_token(camara)), json=body())
    assert error_of(refused) == (403, "PERMISSION_DENIED")


def test_unknown_path_and_method(proxy, token):
    session = proxy.session()
    assert error_of(session.post(URL + "-all", headers=bearer(token), json=body())) == (404, "NOT_FOUND")
    wrong = session.get(URL, headers=bearer(token))
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"


def test_a_fault_scoped_to_the_api(proxy_factory):
    running = proxy_factory()
    session = running.session()
    access = playground_token(session)
    added = session.post(
        CONTROL + "/faults", json={"fault": "service_unavailable:api=population-density-data,times=1"}
    )
    assert added.status_code == 201
    assert error_of(retrieve(session, access, body())) == (503, "UNAVAILABLE")
    assert retrieve(session, access, body()).status_code == 200


# The sink ----------------------------------------------------------------------------------------------


class SinkServer:
    """A local HTTP(S) server standing in for the app's callback endpoint, recording what it receives."""

    def __init__(self, status: int = 204, tls: tuple | None = None, hold: threading.Event | None = None):
        self.received: list[dict] = []
        self.status = status
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with outer.arrived:
                    outer.received.append(
                        {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                    )
                    outer.arrived.notify_all()
                if hold is not None:
                    hold.wait(30)
                self.send_response(outer.status)
                if outer.status in (301, 302, 307, 308):
                    self.send_header("Location", outer.url + "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, tls))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"the sink received {len(self.received)} of {count} POSTs"
                self.arrived.wait(left)
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink_server():
    server = SinkServer()
    yield server
    server.close()


def credential(token="sink-token-1", expires_in=HOUR, kind="ACCESSTOKEN", token_type="bearer"):
    return {
        "credentialType": kind,
        "accessToken": token,
        "accessTokenExpiresUtc": stamp(time.time() + expires_in),
        "accessTokenType": token_type,
    }


def test_with_a_sink_the_answer_is_202_and_the_result_is_posted_there(proxy, token, sink_server):
    data = body(start=past_hour(6), end=past_hour(5))
    synchronous = retrieve(proxy.session(), token, data).json()
    accepted = retrieve(
        proxy.session(),
        token,
        {**data, "sink": sink_server.url, "sinkCredential": credential()},
        **{"x-correlator": "cb-7"},
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["x-correlator"] == "cb-7"
    operation = accepted.json()["operationId"]
    assert set(accepted.json()) == {"operationId"} and operation
    (posted,) = sink_server.wait(1)
    assert posted["path"] == "/callback"
    headers = {k.lower(): v for k, v in posted["headers"].items()}
    assert headers["authorization"] == "Bearer sink-token-1"
    assert headers["content-type"] == "application/json"
    assert headers["x-correlator"] == "cb-7"
    assert posted["body"] == {**synchronous, "operationId": operation}
    assert len(posted["body"]["timedPopulationDensityData"]) == 1


def test_a_sink_without_credential_and_one_outside_the_network(proxy, token, sink_server):
    # An x-correlator outside the spec's pattern is echoed, but not passed on to the sink.
    accepted = retrieve(
        proxy.session(), token, body(ATLANTIC, sink=sink_server.url), **{"x-correlator": "a.b"}
    )
    assert accepted.status_code == 202
    assert accepted.headers["x-correlator"] == "a.b"
    (posted,) = sink_server.wait(1)
    assert not {"authorization", "x-correlator"} & {k.lower() for k in posted["headers"]}
    assert posted["body"] == {
        "status": "AREA_NOT_SUPPORTED",
        "timedPopulationDensityData": [],
        "operationId": accepted.json()["operationId"],
    }


def test_an_https_sink_on_loopback_with_a_self_signed_certificate(proxy, token, tls_files):
    server = SinkServer(tls=tls_files)
    try:
        accepted = retrieve(
            proxy.session(), token, body(BEAUCE, sink=server.url, sinkCredential=credential("tls-t"))
        )
        assert accepted.status_code == 202
        (posted,) = server.wait(1)
        assert posted["headers"]["Authorization"] == "Bearer tls-t"
        assert posted["body"]["status"] == "SUPPORTED_AREA"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"credentialType": "PLAIN", "identifier": "me", "secret": "pw"},
            "INVALID_CREDENTIAL",
            "Only Access token is supported",
        ),
        ({"credentialType": "REFRESHTOKEN"}, "INVALID_CREDENTIAL", "Only Access token is supported"),
        ({"accessTokenType": "mac"}, "INVALID_TOKEN", "Only bearer token is supported"),
        ({"accessTokenExpiresUtc": stamp(time.time() - 60)}, "INVALID_CREDENTIAL", None),
    ],
)
def test_sink_credential_rules(proxy, token, change, code, message):
    data = body(sink="http://127.0.0.1:9/cb", sinkCredential={**credential(), **change})
    answer = retrieve(proxy.session(), token, data)
    assert error_of(answer) == (400, code)
    assert message is None or answer.json()["message"] == message


def test_bearer_is_case_insensitive(proxy, token, sink_server):
    data = body(BEAUCE, sink=sink_server.url, sinkCredential=credential("Tok", token_type="Bearer"))
    assert retrieve(proxy.session(), token, data).status_code == 202
    assert sink_server.wait(1)[0]["headers"]["Authorization"] == "Bearer Tok"


def wait_for_log(running, text: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = running.output()
        if text in output:
            return output
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the proxy's log:\n{running.output()[-3000:]}")


@pytest.mark.parametrize(("status", "attempts"), [(410, 1), (307, 1), (400, 1), (503, 3)])
def test_failed_deliveries_are_logged_and_retried_only_when_it_can_help(proxy_factory, status, attempts):
    running = proxy_factory()
    session = running.session()
    server = SinkServer(status=status)
    try:
        accepted = retrieve(session, playground_token(session), body(BEAUCE, sink=server.url))
        operation = accepted.json()["operationId"]
        outcome = f"not delivered after {attempts} attempt(s): the sink answered {status}"
        wait_for_log(running, f"operation {operation} to {server.url}: {outcome}")
        time.sleep(0.5)
        assert len(server.received) == attempts  # a redirect is not followed
    finally:
        server.close()


def test_an_unreachable_sink_is_logged_not_raised(proxy_factory):
    running = proxy_factory()
    session = running.session()
    server = SinkServer()
    url = server.url
    server.close()  # nobody listens there any more
    accepted = retrieve(session, playground_token(session), body(BEAUCE, sink=url))
    assert accepted.status_code == 202
    wait_for_log(
        running, f"operation {accepted.json()['operationId']} to {url}: not delivered after 3 attempt(s)"
    )
    # The proxy still answers.
    assert retrieve(session, playground_token(session), body(BEAUCE)).status_code == 200


def test_too_many_waiting_deliveries_get_429(proxy_factory):
    running = proxy_factory()
    session = running.session()
    access = playground_token(session)
    hold = threading.Event()
    server = SinkServer(hold=hold)
    try:
        data = body(BEAUCE, precision=5, sink=server.url)
        assert [retrieve(session, access, data).status_code for _ in range(2)] == [202, 202]
        server.wait(2)  # both workers are busy with a sink that does not answer yet
        answers = [retrieve(session, access, data).status_code for _ in range(17)]
        assert answers == [202] * 16 + [429]
        assert error_of(retrieve(session, access, data)) == (429, "TOO_MANY_REQUESTS")
        hold.set()
        assert len(server.wait(18, timeout=30)) == 18
    finally:
        hold.set()
        server.close()


# Units: the geometry, the time rules, the data file ------------------------------------------------------


def test_point_in_polygon():
    # A U: x 0..8, y 0..4, notch x 2..6 above y 1.
    xs = (0, 8, 8, 6, 6, 2, 2, 0)
    ys = (0, 0, 4, 4, 1, 1, 4, 4)
    inside = [(1, 3), (7, 3), (4, 0.5), (0.01, 0.01), (7.99, 3.99)]
    outside = [(4, 2), (4, 3.9), (-1, 2), (9, 2), (4, -0.1), (4, 4.5), (1, 4.01)]
    assert all(polygons.point_in_polygon(x, y, xs, ys) for x, y in inside)
    assert not any(polygons.point_in_polygon(x, y, xs, ys) for x, y in outside)
    # A ray through vertices (y = 1 passes the notch's corners, y = 4 the arms' tops) counts each once.
    assert polygons.point_in_polygon(1, 1, xs, ys) and polygons.point_in_polygon(7, 1, xs, ys)
    assert not polygons.point_in_polygon(-1, 1, xs, ys) and not polygons.point_in_polygon(4, 1.0001, xs, ys)
    triangle = ((0, 4, 0), (0, 0, 3))
    assert polygons.point_in_polygon(1, 1, *triangle) and not polygons.point_in_polygon(3, 2, *triangle)


def test_segments_meet():
    assert polygons.segments_meet((0, 0), (2, 2), (0, 2), (2, 0))  # crossing
    assert polygons.segments_meet((0, 0), (2, 0), (1, 0), (1, 5))  # touching
    assert polygons.segments_meet((0, 0), (2, 0), (1, 0), (3, 0))  # overlapping
    assert not polygons.segments_meet((0, 0), (2, 0), (3, 0), (4, 0))  # collinear, apart
    assert not polygons.segments_meet((0, 0), (2, 2), (0, 1), (1, 5))


def test_polygon_spans_and_cells_across_the_antimeridian():
    # Fiji: from 179.9 E to 179.9 W, the short way.
    polygon = polygons.Polygon.from_points([(-17.0, 179.9), (-17.0, -179.9), (-16.9, -179.9), (-16.9, 179.9)])
    assert polygon.xs == pytest.approx((179.9, 180.1, 180.1, 179.9))
    assert 200 < polygon.area_km2() < 250
    cells = polygon.cells(5, 1000)
    east = pygeohash.geohashes_in_box(
        pygeohash.BoundingBox(-17.0 + 1e-9, 179.9 + 1e-9, -16.9 - 1e-9, 180.0), 5
    )
    west = pygeohash.geohashes_in_box(
        pygeohash.BoundingBox(-17.0 + 1e-9, -180.0, -16.9 - 1e-9, -179.9 - 1e-9), 5
    )
    assert cells == sorted(set(east) | set(west))
    assert any(pygeohash.decode(c)[1] > 0 for c in cells) and any(pygeohash.decode(c)[1] < 0 for c in cells)
    assert polygon.cells(5, 3) is None  # over the limit: listing stops


def test_polygon_area_and_lower_bound():
    square = polygons.Polygon.from_points([(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 0.0)])
    # 0.5° × 0.5° from the equator: R² Δλ (sin φ2 − sin φ1).
    expected = math.radians(0.5) * math.sin(math.radians(0.5)) * (6_371_008.8 / 1000) ** 2
    assert square.area_km2() == pytest.approx(expected, rel=1e-9)
    for precision in (4, 5):
        assert square.fewest_cells(precision) <= len(square.cells(precision, 10**6))
    assert square.spans(0.2, 0.4) == [(0.0, 0.5)]
    xs, ys = (0, 0.8, 0.8, 0.6, 0.6, 0.2, 0.2, 0), (0, 0, 0.4, 0.4, 0.1, 0.1, 0.4, 0.4)
    u = polygons.Polygon.from_points(list(zip(ys, xs, strict=True)))
    assert u.spans(0.2, 0.3) == [(0, 0.2), (0.6, 0.8)]  # two arms
    assert u.spans(0.05, 0.2) == [(0, 0.8)]  # the base and the arms' feet


def test_time_window_and_months():
    now = datetime(2024, 5, 31, 12, tzinfo=UTC).timestamp()
    assert pdd.months_later(datetime(2023, 11, 30, tzinfo=UTC), 3) == datetime(2024, 2, 29, tzinfo=UTC)
    assert pdd.months_later(datetime(2024, 5, 31, tzinfo=UTC), -3) == datetime(2024, 2, 29, tzinfo=UTC)
    window = pdd.time_window("2024-04-03T11:25:00Z", "2024-04-03T12:45:00Z", now)
    assert (window.start, window.count) == (datetime(2024, 4, 3, 11, tzinfo=UTC).timestamp(), 2)
    assert pdd.time_window("2024-04-23T14:44:18.165Z", "2024-04-23T14:44:18.165Z", now).count == 1
    assert pdd.time_window("2024-04-23T14:00:00Z", "2024-04-23T16:00:00+00:00", now).count == 2
    assert pdd.time_window("2024-04-23T16:30:00+02:00", "2024-04-23T14:30:00Z", now).count == 1
    with pytest.raises(ApiError) as refused:
        pdd.time_window("2024-02-29T11:59:59Z", "2024-02-29T13:00:00Z", now)  # 3 months before now, less 1 s
    assert refused.value.code == "POPULATION_DENSITY_DATA.MIN_STARTTIME_EXCEEDED"
    assert pdd.time_window("2024-02-29T12:00:00Z", "2024-02-29T13:00:00Z", now).count == 1


def test_the_bundled_table_every_city_is_covered_and_figures_are_deterministic():
    atlas = population.default_atlas()
    assert atlas.cities[0].name == "Paris" and 20 <= len(atlas.cities) <= 40
    assert [c.name for c in atlas.cities if not atlas.covered(c.latitude, c.longitude)] == []
    assert not atlas.covered(45.0, -20.0) and not atlas.covered(46.9, 8.0)  # the Atlantic, Switzerland
    cell = atlas.cell(pygeohash.encode(*PARIS_CENTRE, 7), atlas.cities)
    start = datetime(2024, 1, 3, 15, tzinfo=UTC).timestamp()
    assert population.Atlas.figures(cell, start) == population.Atlas.figures(cell, start)
    assert population.Atlas.figures(cell, start) != population.Atlas.figures(cell, start + HOUR)


def test_a_broken_cities_file_is_refused_with_its_position(tmp_path):
    broken = tmp_path / "cities.yaml"
    broken.write_text(
        population.CITIES_PATH.read_text(encoding="utf-8").replace("peakDensity: 26000", "peakDensity: -1", 1)
    )
    with pytest.raises(DataFileError, match=r"cities\.yaml:\d+:\d+: field cities\[0\]\.peakDensity"):
        population.load_atlas(str(broken), default_store())
