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
- Figures: see `simulator.population.Atlas.figures`. Sink delivery: see `simulator.sinks.Deliveries`.
  Polygon geometry and the covering cells: `simulator.polygons`.
"""

from __future__ import annotations

import calendar
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from proxy_addons.messages import logger
from proxy_addons.model import ApiRequest, ApiResponse, parse_datetime
from proxy_addons.simulator.apis.base import JsonBody, Operation
from proxy_addons.simulator.apis.playground import BASE, PlaygroundApi
from proxy_addons.simulator.context import ApiContext
from proxy_addons.simulator.errors import ApiError
from proxy_addons.simulator.polygons import MAX_VERTICES, AreaError, Polygon
from proxy_addons.simulator.population import INTERVAL_S, Atlas, default_atlas
from proxy_addons.simulator.sinks import Deliveries, Delivery, Sink
from proxy_addons.state import Token
from proxy_addons.timestamps import rfc3339

log = logger(__name__)

NAME = "population-density-data"
PATH = BASE + "/population-density-data/v0.2"
SCOPE = "population-density-data:read"
CODE = "POPULATION_DENSITY_DATA."

DEFAULT_PRECISION = 7  # the spec's default
SUPPORTED_PRECISIONS = range(4, 9)
MAX_PERIOD_S = 7 * 86400  # the spec: no more than 7 days between startTime and endTime
HORIZON_MONTHS = 3  # the spec: startTime back to 3 months before the request, endTime up to 3 after
# Cells × intervals. The engine checks every synthesised body against its schema, at about 70 µs a
# cell: 10,000 keep a synchronous answer under a second; a sink takes five times more.
SYNC_LIMIT = 10_000
ASYNC_LIMIT = 50_000
CELL_INTERVALS = "cells x intervals"  # ASCII: it goes into the reason header

INVALID_AREA = "The area is not a polygon shape or exceeds supported complexity"


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


_VISIBLE = re.compile(r"[!-~]+")


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
            self._deliveries = Deliveries(NAME, lambda body: schemas.errors(f"{NAME}#Notification", body))
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
