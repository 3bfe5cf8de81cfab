"""Polygons on the geohash grid: validation (simple, bounded) and the cells that cover one.

Planar in latitude/longitude, as geohash cells are: an edge is a straight line on the grid, and takes
the short way round in longitude (a polygon may straddle the antimeridian; one round a pole is refused).
The grid itself is pygeohash's; the point-in-polygon and segment tests are ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import pygeohash

from proxy_addons.simulator.geo import EARTH_RADIUS_M

MAX_VERTICES = 15  # Population Density Data: "may not contain more than 15 vertexes"
MAX_AREA_KM2 = 10_000.0
MIN_AREA_KM2 = 1e-6  # one square metre


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


def wrap_longitude(delta: float) -> float:
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
