"""The population model behind Population Density Data: cities, coverage outlines and the figures
of one geohash cell in one hour, deterministic and seeded (see `Atlas.figures`).

The cities and coverage are data, `proxy_addons/data/cities.yaml`, validated once at load.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pygeohash

from proxy_addons.config import yamlfile
from proxy_addons.config.schemas import SchemaStore, default_store
from proxy_addons.resources import PACKAGE
from proxy_addons.simulator.geo import EARTH_RADIUS_M
from proxy_addons.simulator.polygons import Polygon, point_in_polygon, wrap_longitude

INTERVAL_S = 3600  # Population Density Data: "The intervals are 1 hour long."


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
            if abs(wrap_longitude(city.longitude - centre)) <= half_width + reach_lon:
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
                wrap_longitude(lon - city.longitude)
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
    yamlfile.validate(file, store, "population-density-data#CitiesFile")
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
