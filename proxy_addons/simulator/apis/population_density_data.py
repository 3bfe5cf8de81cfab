"""Population Density Data v0.2 on Orange's Network APIs Playground (CAMARA 0.2.0).

No device: the request names an area (a polygon), a time window and a geohash precision. The answer
gives, for each hour of the window, every geohash cell covering the polygon, with the people per km²
the model below expects there. With a `sink`, the answer is 202 and the result is POSTed to the sink.

Where the spec leaves a choice to the provider, this module decides:

- Cells: every cell of the requested precision whose overlap with the polygon has a positive area
  (the spec: "equally-sized objects covering the input polygon area"). A cell that only touches the
  polygon along an edge or at a corner is left out. Geometry is planar in latitude/longitude: edges
  are straight lines on the geohash grid, as the cells' own edges are. An edge takes the short way
  round in longitude, so a polygon may straddle the antimeridian. One that goes round a pole is refused.
- Polygon: 3 to 15 distinct vertices. A last vertex equal to the first (a closed ring) is not counted,
  and repeated consecutive vertices are dropped. It must be simple: no edge meets another except its
  neighbours at their shared vertex. Its area is at most MAX_AREA_KM2. Otherwise 400 INVALID_AREA.
- Precision: 7 by default. SUPPORTED_PRECISIONS are 4 to 8. A level 3 cell (156 km) is larger than the
  largest area accepted. Level 8 (38 m × 19 m) is already finer than network data resolves. Any other
  level gets 422 UNSUPPORTED_PRECISION.
- Time: one interval per hour, aligned on UTC hours, covering [startTime, endTime] (one interval
  when the two are equal, as in the spec's example). startTime may be from 3 calendar months before
  the request to 3 after it, and endTime no later than 3 months after. The window is at most 7 days,
  and wholly in the past or wholly in the future.
- Size: cells × intervals up to SYNC_LIMIT is answered at once, and up to ASYNC_LIMIT through a sink.
  Beyond that the answer is 422 UNSUPPORTED_SYNC_RESPONSE, then UNSUPPORTED_REQUEST. A lower bound
  of the count, from the polygon's area and extent, is checked before any cell is listed, and the
  listing stops at the limit, so a huge request is refused at once and never computed.
- Coverage: a cell whose centre lies outside every coverage outline of proxy_addons/data/cities.yaml
  is NO_DATA. The status is PART_OF_AREA_NOT_SUPPORTED when some cells are, and AREA_NOT_SUPPORTED
  (no data at all) when all are.
- Figures: see `Atlas.figures`. Sink delivery: see `Deliveries`.
"""

from __future__ import annotations

import calendar
import hashlib
import ipaddress
import json
import math
import queue
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pygeohash

from proxy_addons.config import yamlfile
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.messages import logger
from proxy_addons.model import ApiRequest, ApiResponse, parse_datetime
from proxy_addons.resources import PACKAGE
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.playground import BASE, PlaygroundApi
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.simulator.geo import EARTH_RADIUS_M
from proxy_addons.state import Token
from proxy_addons.timestamps import rfc3339

log = logger(__name__)

NAME = "population-density-data"
PATH = BASE + "/population-density-data/v0.2"
SCOPE = "population-density-data:read"
CODE = "POPULATION_DENSITY_DATA."

MAX_VERTICES = 15  # the spec: "may not contain more than 15 vertexes"
MAX_AREA_KM2 = 10_000.0
MIN_AREA_KM2 = 1e-6  # one square metre
DEFAULT_PRECISION = 7  # the spec's default
SUPPORTED_PRECISIONS = range(4, 9)
INTERVAL_S = 3600  # the spec: "The intervals are 1 hour long."
MAX_PERIOD_S = 7 * 86400  # the spec: no more than 7 days between startTime and endTime
HORIZON_MONTHS = 3  # the spec: startTime back to 3 months before the request, endTime up to 3 after
# Cells × intervals. The engine checks every synthesised body against its schema, at about 70 µs a
# cell: 10,000 keep a synchronous answer under a second; a sink takes five times more.
SYNC_LIMIT = 10_000
ASYNC_LIMIT = 50_000
CELL_INTERVALS = "cells x intervals"  # ASCII: it goes into the reason header

INVALID_AREA = "The area is not a polygon shape or exceeds supported complexity"


# Geometry --------------------------------------------------------------------------------------


class AreaError(ValueError):
    """Why a boundary is not a polygon this API takes."""


def point_in_polygon(x: float, y: float, xs: Sequence[float], ys: Sequence[float]) -> bool:
    """Is (x, y) inside the polygon of vertices (xs[i], ys[i])? Even-odd ray casting along +x, each edge
    half-open in y, so a ray through a vertex counts it once. Points exactly on the boundary may fall
    either side."""
    inside = False
    j = len(xs) - 1
    for i in range(len(xs)):
        if (ys[i] > y) != (ys[j] > y):
            crossing = xs[i] + (y - ys[i]) * (xs[j] - xs[i]) / (ys[j] - ys[i])
            if x < crossing:
                inside = not inside
        j = i
    return inside


def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """Positive when a→b→c turns left, negative when it turns right, 0 when collinear."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _within(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> bool:
    """Is p, known to be collinear with a and b, on the segment ab?"""
    return min(ax, bx) <= px <= max(ax, bx) and min(ay, by) <= py <= max(ay, by)


def segments_meet(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]
) -> bool:
    """Do the closed segments ab and cd have a point in common (crossing, touching or overlapping)?"""
    o1, o2 = _orient(*a, *b, *c), _orient(*a, *b, *d)
    o3, o4 = _orient(*c, *d, *a), _orient(*c, *d, *b)
    if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
        return True
    return (
        (o1 == 0 and _within(*a, *b, *c))
        or (o2 == 0 and _within(*a, *b, *d))
        or (o3 == 0 and _within(*c, *d, *a))
        or (o4 == 0 and _within(*c, *d, *b))
    )


def _wrap(delta: float) -> float:
    """A longitude difference brought into [-180, 180)."""
    return (delta + 180.0) % 360.0 - 180.0


def _sin_mean(a: float, b: float) -> float:
    """The mean of sin over [a, b] (radians): (cos a - cos b) / (b - a), without cancellation."""
    half = (b - a) / 2
    factor = math.sin(half) / half if half else 1.0
    return math.sin((a + b) / 2) * factor


@dataclass(frozen=True)
class Polygon:
    """A simple polygon in degrees, x = longitude, y = latitude. Longitudes are unwrapped (each edge
    spans less than 180°, the first x in [-180, 180)), so x may exceed 180 east of the antimeridian."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]]) -> Polygon:
        """The polygon of (latitude, longitude) points, or AreaError saying what is wrong with it."""
        ring: list[tuple[float, float]] = []
        for lat, lon in points:
            if not ring or ring[-1] != (lat, lon):
                ring.append((lat, lon))
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring.pop()  # a closed ring: the last point repeats the first
        if len(ring) < 3:
            raise AreaError(f"a polygon needs at least 3 distinct vertices, the boundary has {len(ring)}")
        if len(ring) > MAX_VERTICES:
            raise AreaError(f"the polygon has {len(ring)} vertices, more than {MAX_VERTICES}")
        # Unwrapped by whole turns only, so longitudes stay exactly as given when no edge crosses the
        # antimeridian (a polygon drawn on cell boundaries keeps to them).
        lons = [lon for _, lon in ring]
        turns = [0]
        for a, b in pairwise([*lons, lons[0]]):
            if abs(b - a) == 180.0:
                raise AreaError(
                    "an edge spans exactly 180 degrees of longitude: which way round is ambiguous"
                )
            turns.append(turns[-1] + (-1 if b - a > 180.0 else 1 if b - a < -180.0 else 0))
        if turns.pop() != 0:
            raise AreaError("the polygon goes round a pole")
        xs = [lon + 360.0 * turn for lon, turn in zip(lons, turns, strict=True)]
        shift = 360.0 * math.floor((min(xs) + 180.0) / 360.0)
        xs = [x - shift for x in xs]
        if max(xs) - min(xs) >= 360.0:
            raise AreaError("the polygon spans 360 degrees of longitude")
        polygon = cls(tuple(xs), tuple(lat for lat, _ in ring))
        polygon._check_simple()
        area = polygon.area_km2()
        if area < MIN_AREA_KM2:
            # Only a sliver gets here (a simple polygon has an area): too thin for any cell to be in it.
            raise AreaError(
                f"the polygon has almost no area ({area * 1e6:.2g} m2): its vertices are nearly collinear"
            )
        if area > MAX_AREA_KM2:
            raise AreaError(f"the polygon's area is {area:,.0f} km2, more than {MAX_AREA_KM2:,.0f} km2")
        return polygon

    def vertices(self) -> list[tuple[float, float]]:
        return list(zip(self.xs, self.ys, strict=True))

    def edges(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        points = self.vertices()
        return list(zip(points, points[1:] + points[:1], strict=True))

    def _check_simple(self) -> None:
        edges = self.edges()
        n = len(edges)
        for i in range(n):
            (ax, ay), (vx, vy) = edges[i]
            _, (cx, cy) = edges[(i + 1) % n]
            # Neighbours share a vertex; they overlap when the second goes back along the first.
            if _orient(ax, ay, vx, vy, cx, cy) == 0 and (ax - vx) * (cx - vx) + (ay - vy) * (cy - vy) > 0:
                raise AreaError(f"edges {i + 1} and {(i + 1) % n + 1} overlap: the boundary folds back")
            for j in range(i + 2, n):
                if i == 0 and j == n - 1:
                    continue  # the last edge is the first one's other neighbour
                if segments_meet(*edges[i], *edges[j]):
                    raise AreaError(f"edges {i + 1} and {j + 1} meet: the polygon intersects itself")

    def planar_area(self) -> float:
        """Area in square degrees (shoelace), the unit of the geohash grid."""
        twice = sum(ax * by - bx * ay for (ax, ay), (bx, by) in self.edges())
        return abs(twice) / 2

    def area_km2(self) -> float:
        """Area on the sphere of the region the polygon bounds in latitude/longitude: R² ∮ -sin φ dλ
        (Green's theorem on R² cos φ dφ dλ), exact for straight edges in that plane."""
        total = sum(
            math.radians(bx - ax) * _sin_mean(math.radians(ay), math.radians(by))
            for (ax, ay), (bx, by) in self.edges()
        )
        return abs(total) * (EARTH_RADIUS_M / 1000) ** 2

    def bounds(self) -> tuple[float, float, float, float]:
        return min(self.xs), min(self.ys), max(self.xs), max(self.ys)

    def spans(self, y0: float, y1: float) -> list[tuple[float, float]]:
        """The longitudes (open intervals, merged) where the polygon's interior meets the band
        y0 < y < y1. The band is cut at every vertex inside it; in each slice no vertex remains, so
        the edges crossing it pair up (even-odd, left to right) into trapezoids."""
        cuts = sorted({y0, y1, *(y for y in self.ys if y0 < y < y1)})
        edges = [(a, b) for a, b in self.edges() if a[1] != b[1]]
        found: list[tuple[float, float]] = []
        for s0, s1 in pairwise(cuts):
            crossing = []
            for (ax, ay), (bx, by) in edges:
                if min(ay, by) <= s0 and max(ay, by) >= s1:
                    x0 = ax + (bx - ax) * (s0 - ay) / (by - ay)
                    x1 = ax + (bx - ax) * (s1 - ay) / (by - ay)
                    crossing.append(((x0 + x1) / 2, min(x0, x1), max(x0, x1)))
            crossing.sort()
            for left, right in zip(crossing[0::2], crossing[1::2], strict=False):
                if right[2] > left[1]:
                    found.append((left[1], right[2]))
        found.sort()
        merged: list[tuple[float, float]] = []
        for a, b in found:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged

    def cell_size(self, precision: int) -> tuple[float, float]:
        """(height, width) in degrees of a cell at `precision` (the grid is uniform)."""
        _, _, lat_err, lon_err = pygeohash.decode_exactly(
            pygeohash.encode(self.ys[0], _normal(self.xs[0]), precision)
        )
        return 2 * lat_err, 2 * lon_err

    def fewest_cells(self, precision: int) -> int:
        """A lower bound of how many cells cover the polygon, without listing them: the cells tile the
        plane, so they add up to at least its area; and a connected polygon passes through every row
        and every column between its extremes."""
        height, width = self.cell_size(precision)
        xmin, ymin, xmax, ymax = self.bounds()
        return max(
            math.ceil(self.planar_area() / (height * width)),
            math.ceil((ymax - ymin) / height),
            math.ceil((xmax - xmin) / width),
        )

    def cells(self, precision: int, limit: int) -> list[str] | None:
        """The geohashes of the cells covering the polygon, sorted; None once there are more than
        `limit`. Rows are walked with pygeohash (each row band's spans, then the cells of each span)."""
        _, ymin, _, ymax = self.bounds()
        found: dict[str, None] = {}
        row = pygeohash.encode(ymin, _normal(self.xs[self.ys.index(ymin)]), precision)
        while True:
            box = pygeohash.get_bounding_box(row)
            if box.min_lat >= ymax:
                break
            middle = (box.min_lat + box.max_lat) / 2
            for a, b in self.spans(max(box.min_lat, ymin), min(box.max_lat, ymax)):
                for low, high in _antimeridian_pieces(a, b):
                    # Shrunk by a hair, so that a cell only touching the span's ends stays out.
                    margin = 1e-9
                    if high - low <= 2 * margin:
                        continue
                    box_of_span = pygeohash.BoundingBox(middle, low + margin, middle, high - margin)
                    for cell in pygeohash.geohashes_in_box(box_of_span, precision):
                        found[cell] = None
                    if len(found) > limit:
                        return None
            if box.max_lat >= 90.0:
                break
            row = pygeohash.get_adjacent(row, "top")
        return sorted(found)

    def lon_ranges(self) -> list[tuple[float, float]]:
        """The polygon's longitude extent in [-180, 180], as one range or two (across the antimeridian)."""
        xmin, _, xmax, _ = self.bounds()
        return _antimeridian_pieces(xmin, xmax)


def _normal(lon: float) -> float:
    """An unwrapped longitude brought back into [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def _antimeridian_pieces(a: float, b: float) -> list[tuple[float, float]]:
    """An unwrapped longitude interval (a in [-180, 180)) as intervals within [-180, 180]."""
    if b <= 180.0:
        return [(a, b)]
    pieces = [(a, 180.0)] if a < 180.0 else []
    return [*pieces, (max(a, 180.0) - 360.0, b - 360.0)]


# The atlas: cities, coverage, figures --------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    peak: float  # people per km² at the centre
    radius_km: float  # where the city's share has fallen to half its peak

    @property
    def reach_km(self) -> float:
        """Beyond this the city adds well under one person per km² (the taper sees to it), so cells
        farther away need not look at it."""
        return REACH_RADII * self.radius_km


@dataclass(frozen=True)
class Region:
    """A coverage outline (none crosses the antimeridian) and its bounding box."""

    name: str
    lats: tuple[float, ...]
    lons: tuple[float, ...]
    box: tuple[float, float, float, float]  # min lat, min lon, max lat, max lon

    @classmethod
    def of(cls, name: str, points: Sequence[Sequence[float]]) -> Region:
        lats, lons = tuple(float(p[0]) for p in points), tuple(float(p[1]) for p in points)
        return cls(name, lats, lons, (min(lats), min(lons), max(lats), max(lons)))

    def contains(self, lat: float, lon: float) -> bool:
        south, west, north, east = self.box
        return (
            south <= lat <= north and west <= lon <= east and point_in_polygon(lon, lat, self.lons, self.lats)
        )


KM_PER_DEGREE = math.radians(1) * EARTH_RADIUS_M / 1000
RURAL_DENSITY = 40.0  # people per km² in covered open country
TAPER_RADII = 8.0  # a city's share also falls as exp(-(d / (TAPER_RADII × radius))²)
REACH_RADII = 20.0  # where that leaves under 2e-5 of its peak
K_ANONYMITY = 10  # fewer people expected in a cell and hour: LOW_DENSITY, no figures
HASH_PERSON = b"orange-pdd-0.2"  # the seed of every figure (blake2b personalisation)


def _uniforms(text: str, count: int) -> list[float]:
    """`count` numbers in [0, 1), fixed by `text` alone (a keyed hash, so the same on every machine)."""
    digest = hashlib.blake2b(text.encode(), digest_size=2 * count, person=HASH_PERSON).digest()
    return [int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 65536 for i in range(count)]


@dataclass(frozen=True)
class CellModel:
    """What a cell's figures start from, whatever the hour: where it is, its size, the urban part of
    its density (above RURAL_DENSITY), and its own character (parks, offices, housing: 0.75 to 1.25)."""

    geohash: str
    latitude: float
    longitude: float
    area_km2: float
    covered: bool
    urban: float
    character: float


@dataclass(frozen=True)
class Atlas:
    cities: tuple[City, ...]
    coverage: tuple[Region, ...]

    def covers_box(self, lon_ranges: list[tuple[float, float]], ymin: float, ymax: float) -> bool:
        """Could any point of this box be covered (bounding boxes only)?"""
        return any(
            r.box[0] <= ymax
            and r.box[2] >= ymin
            and any(r.box[1] <= high and r.box[3] >= low for low, high in lon_ranges)
            for r in self.coverage
        )

    def covered(self, lat: float, lon: float) -> bool:
        return any(region.contains(lat, lon) for region in self.coverage)

    def near(self, polygon: Polygon) -> list[City]:
        """The cities within reach of some point of the polygon's bounding box (a shortcut: `cell`
        ignores a city beyond its reach anyway, so the figures do not depend on the polygon)."""
        xmin, ymin, xmax, ymax = polygon.bounds()
        centre, half_width = (xmin + xmax) / 2, (xmax - xmin) / 2
        chosen = []
        for city in self.cities:
            reach_lat = city.reach_km / KM_PER_DEGREE
            if not ymin - reach_lat <= city.latitude <= ymax + reach_lat:
                continue
            # A degree of longitude is shortest at the highest latitude a cell or the city can be at.
            highest = min(max(abs(ymin), abs(ymax), abs(city.latitude)) + reach_lat, 89.0)
            reach_lon = reach_lat / math.cos(math.radians(highest))
            if abs(_wrap(city.longitude - centre)) <= half_width + reach_lon:
                chosen.append(city)
        return chosen

    def cell(self, geohash: str, cities: Sequence[City]) -> CellModel:
        lat, lon, lat_err, lon_err = pygeohash.decode_exactly(geohash)
        area = (
            math.radians(2 * lon_err)
            * (math.sin(math.radians(lat + lat_err)) - math.sin(math.radians(lat - lat_err)))
            * (EARTH_RADIUS_M / 1000) ** 2
        )
        urban = 0.0
        for city in cities:
            # Equirectangular distance: within a city's reach (a few dozen km) it is exact enough.
            dy = (lat - city.latitude) * KM_PER_DEGREE
            dx = (
                _wrap(lon - city.longitude)
                * KM_PER_DEGREE
                * math.cos(math.radians((lat + city.latitude) / 2))
            )
            d = math.hypot(dx, dy)
            if d >= city.reach_km:
                continue
            share = (
                city.peak
                / (1 + (d / city.radius_km) ** 2)
                * math.exp(-((d / (TAPER_RADII * city.radius_km)) ** 2))
            )
            urban = max(urban, share)
        (u,) = _uniforms(geohash, 1)
        return CellModel(geohash, lat, lon, area, self.covered(lat, lon), urban, 0.75 + 0.5 * u)

    @staticmethod
    def figures(cell: CellModel, start: float) -> dict[str, Any]:
        """One cell's entry for the hour starting at `start` (epoch seconds).

        - The daily cycle follows local solar time h (UTC plus longitude / 15 h): c = cos(2π(h − 15)/24),
          highest at 15:00, lowest at 03:00. The rural part moves by ±10 %, the urban part by ±40 %; the
          urban part is 20 % lower on Saturdays and Sundays.
        - A jitter of ±5 % and the estimation range [min, max] come from a hash of the geohash and the
          hour: the same cell and hour give the same figures in every request and every process.
        - A cell expected to hold fewer than K_ANONYMITY people is LOW_DENSITY (the spec's k-anonymity).
        """
        if not cell.covered:
            return {"geohash": cell.geohash, "dataType": "NO_DATA"}
        local = datetime.fromtimestamp(start + INTERVAL_S / 2 + cell.longitude * 240, UTC)
        hour = local.hour + local.minute / 60
        cycle = math.cos(2 * math.pi * (hour - 15) / 24)
        weekend = 0.8 if local.weekday() >= 5 else 1.0
        jitter, low, high = _uniforms(f"{cell.geohash}@{int(start)}", 3)
        density = (
            (RURAL_DENSITY * (1 + 0.10 * cycle) + cell.urban * (1 + 0.40 * cycle) * weekend)
            * cell.character
            * (0.95 + 0.10 * jitter)
        )
        if density * cell.area_km2 < K_ANONYMITY:
            return {"geohash": cell.geohash, "dataType": "LOW_DENSITY"}
        return {
            "geohash": cell.geohash,
            "dataType": "DENSITY_ESTIMATION",
            "maxPplDensity": math.ceil(density * (1.15 + 0.25 * high)),
            "minPplDensity": math.floor(density * (0.70 + 0.15 * low)),
            "pplDensity": round(density),
        }


def load_atlas(path: str, store: SchemaStore) -> Atlas:
    """The cities file, validated against its schema (DataFileError with file:line:col otherwise)."""
    file = yamlfile.load(path)
    yamlfile.validate(file, store, f"{NAME}#CitiesFile")
    cities = tuple(
        City(
            c["name"],
            float(c["latitude"]),
            float(c["longitude"]),
            float(c["peakDensity"]),
            float(c["radiusKm"]),
        )
        for c in file.data["cities"]
    )
    coverage = tuple(Region.of(r["name"], r["boundary"]) for r in file.data["coverage"])
    return Atlas(cities, coverage)


CITIES_PATH = PACKAGE / "data" / "cities.yaml"


@cache
def default_atlas() -> Atlas:
    """The bundled table, loaded once per process."""
    return load_atlas(str(CITIES_PATH), default_store())


# The request's other parts ---------------------------------------------------------------------------


def months_later(moment: datetime, months: int) -> datetime:
    """The same time `months` calendar months later (earlier if negative), the day clamped to the
    month's length (three months after 30 November is 28 or 29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Window:
    """The hourly intervals a request covers: `count` of them from `start` (epoch seconds)."""

    start: int
    count: int

    def starts(self) -> list[int]:
        return [self.start + i * INTERVAL_S for i in range(self.count)]


def time_window(start_text: str, end_text: str, now: float) -> Window:
    """The intervals of [startTime, endTime], or the spec's error for the first rule it breaks."""
    start, end = parse_datetime(start_text).timestamp(), parse_datetime(end_text).timestamp()
    if end < start:
        raise ApiError(
            400,
            CODE + "INVALID_END_TIME",
            f"endTime {end_text} is earlier than startTime {start_text}",
            message="Indicated endTime is earlier than the startTime",
        )
    if end - start > MAX_PERIOD_S:
        raise ApiError(
            400,
            CODE + "MAX_TIME_PERIOD_EXCEEDED",
            f"{(end - start) / 3600:g} hours between startTime and endTime, more than {MAX_PERIOD_S // 3600}",
            message="Indicated time period is greater than the maximum allowed "
            "(More than maximum hours between startTime and endTime)",
        )
    moment = datetime.fromtimestamp(now, UTC)
    earliest = months_later(moment, -HORIZON_MONTHS)
    latest = months_later(moment, HORIZON_MONTHS)
    if start < earliest.timestamp():
        raise ApiError(
            400,
            CODE + "MIN_STARTTIME_EXCEEDED",
            f"startTime is before {rfc3339(earliest.timestamp())}, {HORIZON_MONTHS} months before now",
            message="Indicated startTime is earlier than the minimum allowed",
        )
    if start > latest.timestamp():
        raise ApiError(
            400,
            CODE + "MAX_STARTTIME_EXCEEDED",
            f"startTime is after {rfc3339(latest.timestamp())}, {HORIZON_MONTHS} months from now",
            message="Indicated startTime is greater than the maximum allowed",
        )
    if end > latest.timestamp():
        # The spec gives endTime's limit no code of its own.
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            f"endTime is after {rfc3339(latest.timestamp())}: the maximum endTime allowed is "
            f"{HORIZON_MONTHS} months from the time of the request",
        )
    if start < now < end:
        raise ApiError(
            400,
            CODE + "INVALID_TIME_PERIOD",
            f"now ({rfc3339(now)}) is between startTime and endTime",
            message="Indicated time period is partially in the past and partially in the future",
        )
    first = math.floor(start / INTERVAL_S) * INTERVAL_S
    last = max(math.ceil(end / INTERVAL_S) * INTERVAL_S, first + INTERVAL_S)
    return Window(first, (last - first) // INTERVAL_S)


@dataclass(frozen=True)
class Sink:
    url: str
    token: str | None  # sent as Authorization: Bearer (sinkCredential ACCESSTOKEN)


_VISIBLE = re.compile(r"[!-~]+")
CORRELATOR = re.compile(r"[a-zA-Z0-9-]{0,55}")  # the spec's x-correlator pattern, for the callback


def sink_of(data: dict[str, Any], now: float) -> Sink | None:
    """The sink and its credential, checked as the spec says (INVALID_CREDENTIAL, INVALID_TOKEN)."""
    url, credential = data.get("sink"), data.get("sinkCredential")
    if url is None:
        if credential is not None:
            raise ApiError(400, "INVALID_ARGUMENT", "sinkCredential is only used with a sink")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ApiError(400, "INVALID_ARGUMENT", f"sink is not a URL: {exc}") from None
    if not _VISIBLE.fullmatch(url) or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiError(400, "INVALID_ARGUMENT", "sink must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise ApiError(400, "INVALID_ARGUMENT", "sink must not hold credentials: use sinkCredential")
    if credential is None:
        return Sink(url, None)
    kind = credential["credentialType"]
    if kind != "ACCESSTOKEN":
        raise ApiError(
            400,
            "INVALID_CREDENTIAL",
            f"sinkCredential.credentialType {kind} is not supported: it must be ACCESSTOKEN",
            message="Only Access token is supported",
        )
    # RFC 6749 §5.1: token types are case-insensitive (the spec's enum says "bearer", its text "Bearer").
    if credential["accessTokenType"].lower() != "bearer":
        raise ApiError(
            400,
            "INVALID_TOKEN",
            f"sinkCredential.accessTokenType {credential['accessTokenType']} is not supported: use bearer",
            message="Only bearer token is supported",
        )
    if parse_datetime(credential["accessTokenExpiresUtc"]).timestamp() <= now:
        raise ApiError(
            400,
            "INVALID_CREDENTIAL",
            "sinkCredential.accessTokenExpiresUtc is in the past: the sink would refuse the token",
            message="The access token of the sink credential has expired",
        )
    return Sink(url, credential["accessToken"])


# Delivery to a sink ------------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A sink that redirects gets no second POST: the credential would go to another address."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(host: str) -> ssl.SSLContext:
    """How an https sink's certificate is checked. On a loopback address (a test server on this
    machine, where nobody stands in between) it is not checked, so self-signed test servers work.
    Elsewhere it must chain to the system's trust store; OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR
    add a private CA."""
    if _is_loopback(host):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context()


@dataclass(frozen=True)
class Delivery:
    operation_id: str
    sink: Sink
    correlator: str | None
    produce: Callable[[], dict[str, Any]]  # the notification body, computed by the worker


class Deliveries:
    """Results POSTed to sinks by WORKERS daemon threads, never on the proxy's event loop. At most
    `capacity` operations wait (more get 429). Each POST has TIMEOUT_S; a connection failure, 429 or
    5xx is tried again after each of RETRY_DELAYS_S, any other answer is final. Redirects are not
    followed. Outcomes are logged, never raised."""

    WORKERS = 2
    TIMEOUT_S = 10.0
    RETRY_DELAYS_S = (1.0, 3.0)

    def __init__(self, check: Callable[[dict[str, Any]], list[str]], capacity: int = 16) -> None:
        self._check = check
        self._queue: queue.Queue[Delivery] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._started = False

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery; False when too many wait already."""
        with self._lock:
            if not self._started:
                for n in range(self.WORKERS):
                    threading.Thread(target=self._work, name=f"{NAME}-sink-{n}", daemon=True).start()
                self._started = True
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            return False
        return True

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(delivery)
            except Exception:  # a bug of ours must not end the worker
                log.exception("%s: delivery of operation %s failed", NAME, delivery.operation_id)

    def body(self, delivery: Delivery) -> dict[str, Any]:
        try:
            result = {**delivery.produce(), "operationId": delivery.operation_id}
        except Exception as exc:
            # The spec: an error during asynchronous processing is reported in the callback.
            log.exception("%s: operation %s could not be computed", NAME, delivery.operation_id)
            result = {
                "status": "OPERATION_NOT_COMPLETED",
                "timedPopulationDensityData": [],
                "statusInfo": f"internal error in orange-proxy: {type(exc).__name__}",
                "operationId": delivery.operation_id,
            }
        problems = self._check(result)
        if problems:
            log.error(
                "synthesised %s callback breaks %s#Notification: %s", NAME, NAME, "; ".join(problems[:5])
            )
        return result

    def _deliver(self, delivery: Delivery) -> None:
        data = json.dumps(self.body(delivery)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "orange-camara-proxy"}
        if delivery.sink.token is not None:
            headers["Authorization"] = f"Bearer {delivery.sink.token}"
        if delivery.correlator is not None and CORRELATOR.fullmatch(delivery.correlator):
            headers["x-correlator"] = delivery.correlator
        what = f"{NAME}: operation {delivery.operation_id} to {delivery.sink.url}"
        delays = [*self.RETRY_DELAYS_S, None]
        for attempt, delay in enumerate(delays, start=1):
            status, reason = self._post(delivery.sink.url, data, headers)
            if status is not None and 200 <= status < 300:
                log.info("%s: delivered (%d)", what, status)
                return
            retry = status is None or status == 429 or status >= 500
            if not retry or delay is None:
                log.warning("%s: not delivered after %d attempt(s): %s", what, attempt, reason)
                return
            log.warning("%s: attempt %d failed (%s); again in %g s", what, attempt, reason, delay)
            time.sleep(delay)

    def _post(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
        """(status, what happened); status None when no HTTP answer came."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # straight to the sink: it is the app's own server
            urllib.request.HTTPSHandler(context=tls_context(urlsplit(url).hostname or "")),
            _NoRedirects(),
        )
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=self.TIMEOUT_S) as response:
                response.read(65536)  # the spec's answer is a 204; nothing more is needed
                return response.status, f"the sink answered {response.status}"
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, f"the sink answered {exc.code}"
        except (OSError, ValueError) as exc:  # URLError, timeouts, TLS and connection errors
            return None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


# The API ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A valid request, all it takes to compute the answer (on the event loop or in a worker)."""

    polygon: Polygon
    window: Window
    cells: tuple[str, ...]  # sorted geohashes


def answer(query: Query, atlas: Atlas) -> dict[str, Any]:
    """The PopulationDensityResponse of a request."""
    cities = atlas.near(query.polygon)
    models = [atlas.cell(geohash, cities) for geohash in query.cells]
    covered = sum(model.covered for model in models)
    if not covered:
        return {"status": "AREA_NOT_SUPPORTED", "timedPopulationDensityData": []}
    return {
        "status": "SUPPORTED_AREA" if covered == len(models) else "PART_OF_AREA_NOT_SUPPORTED",
        "timedPopulationDensityData": [
            {
                "startTime": rfc3339(start),
                "endTime": rfc3339(start + INTERVAL_S),
                "cellPopulationDensityData": [Atlas.figures(model, start) for model in models],
            }
            for start in query.window.starts()
        ],
    }


def _too_big(count: int, window: Window, sink: Sink | None) -> ApiError | None:
    """The 422 for `count` cells over the window, if it is one."""
    total = count * window.count
    if total > ASYNC_LIMIT:
        return ApiError(
            422,
            CODE + "UNSUPPORTED_REQUEST",
            f"at least {total:,} {CELL_INTERVALS}, more than {ASYNC_LIMIT:,} even through a sink",
            message="Indicated combination of area, time interval and precision is too big",
        )
    if sink is None and total > SYNC_LIMIT:
        return ApiError(
            422,
            CODE + "UNSUPPORTED_SYNC_RESPONSE",
            f"at least {total:,} {CELL_INTERVALS}, more than {SYNC_LIMIT:,} in a synchronous answer: "
            "give a sink",
            message="Indicated combination of area, time interval and precision is too big "
            "for a sync response",
        )
    return None


class PopulationDensityData(PlaygroundApi):
    name = NAME
    prefixes = (PATH + "/",)
    operations = (Operation("retrieve", "POST", PATH + "/retrieve"),)
    scopes = frozenset({SCOPE})
    required_scopes: ClassVar = {"retrieve": frozenset({SCOPE})}

    def __init__(self) -> None:
        self._deliveries: Deliveries | None = None

    def subject(self, token: Token, body: Any) -> str | None:
        return None  # an area, not a device

    def run(
        self, operation: Operation, request: ApiRequest, token: Token, body: JsonBody, ctx: ApiContext
    ) -> ApiResponse:
        data = body.require()
        self._check_area_kind(data)
        self.validate("RetrieveRequest", data, ctx)
        now = ctx.now()
        try:
            points = [(p["latitude"], p["longitude"]) for p in data["area"]["boundary"]]
            polygon = Polygon.from_points(points)
        except AreaError as exc:
            raise ApiError(400, CODE + "INVALID_AREA", str(exc), message=INVALID_AREA) from None
        window = time_window(data["startTime"], data["endTime"], now)
        sink = sink_of(data, now)
        precision = int(data.get("precision", DEFAULT_PRECISION))
        if precision not in SUPPORTED_PRECISIONS:
            raise ApiError(
                422,
                CODE + "UNSUPPORTED_PRECISION",
                f"precision {precision} is not supported: use {SUPPORTED_PRECISIONS.start} to "
                f"{SUPPORTED_PRECISIONS.stop - 1}",
                message="Indicated cell precision (Geohash length) is not supported",
            )
        atlas = default_atlas()
        _, ymin, _, ymax = polygon.bounds()
        if not atlas.covers_box(polygon.lon_ranges(), ymin, ymax):
            cells: tuple[str, ...] = ()  # nowhere near the network: nothing to list or compute
        else:
            refusal = _too_big(polygon.fewest_cells(precision), window, sink)
            if refusal is not None:
                raise refusal
            listed = polygon.cells(precision, ASYNC_LIMIT // window.count)
            # None: the listing stopped at the limit, so the request is too big even for a sink.
            refusal = _too_big(ASYNC_LIMIT + 1 if listed is None else len(listed), window, sink)
            if refusal is not None or listed is None:
                raise refusal or AssertionError("a listing stopped at the limit is refused")
            cells = tuple(listed)
        query = Query(polygon, window, cells)
        if sink is None:
            return self.response(operation, answer(query, atlas), ctx)
        operation_id = str(uuid.uuid4())
        delivery = Delivery(
            operation_id, sink, request.headers.get("x-correlator"), lambda: answer(query, atlas)
        )
        if not self.deliveries(ctx).submit(delivery):
            raise ApiError(
                429,
                "TOO_MANY_REQUESTS",
                "too many asynchronous operations wait for delivery already",
            )
        return self.response(operation, {"operationId": operation_id}, ctx, status=202)

    def deliveries(self, ctx: ApiContext) -> Deliveries:
        if self._deliveries is None:
            schemas = ctx.schemas
            self._deliveries = Deliveries(lambda body: schemas.errors(f"{NAME}#Notification", body))
        return self._deliveries

    @staticmethod
    def _check_area_kind(data: dict[str, Any]) -> None:
        """INVALID_AREA, not a schema error, for another kind of area or a boundary far too long
        (checked first, so a huge boundary is not validated point by point)."""
        area = data.get("area")
        if not isinstance(area, dict):
            return
        kind = area.get("areaType")
        if isinstance(kind, str) and kind != "POLYGON":
            raise ApiError(
                400, CODE + "INVALID_AREA", f"areaType {kind} is not POLYGON", message=INVALID_AREA
            )
        boundary = area.get("boundary")
        if isinstance(boundary, list) and len(boundary) > MAX_VERTICES + 1:
            raise ApiError(
                400,
                CODE + "INVALID_AREA",
                f"the boundary has {len(boundary)} points, more than {MAX_VERTICES} vertices",
                message=INVALID_AREA,
            )
