"""Geometry of circles on the Earth, for CAMARA Device Location Verification.

The network locates a device in a circle N (centre, radius in metres) and the API client asks
whether the device is inside a circle R.  The answer is ``TRUE`` when N lies entirely inside R,
``FALSE`` when the two circles do not meet, and otherwise ``PARTIAL`` with a ``matchRate``: the
percentage of N's area that lies inside R.

Model: the Earth is a sphere of mean radius ``EARTH_RADIUS_M`` (6 371 008.8 m, the IUGG mean
radius).  A "circle" is a spherical cap: the set of points whose great-circle distance from the
centre is at most the radius, so radii are surface (curved) distances and the angular radius is
``radius_m / EARTH_RADIUS_M``.  For the radii CAMARA deals with (2 to 200 km) the flattening of
the WGS 84 ellipsoid changes the *shape* of the circles so little that a percentage moves by far
less than one unit, so the sphere is good enough for an integer ``matchRate`` and keeps everything
in closed form.  One caveat: the distance between two centres given in latitude/longitude differs
from the WGS 84 geodesic by up to about 0.5 % (the sphere is too long north-south near the equator
and too short near the poles).  That is irrelevant for TRUE/FALSE/PARTIAL unless the boundaries
nearly touch, but a small N straddling the edge of a large R (say rN = 2 km, rR = 200 km, centres
200 km apart: 0.5 % is 1 km) can then see its ``matchRate`` shift by many units.  Real network
location is far less accurate than that, so the sphere is still the right trade-off here.

Longitudes wrap (circles may straddle the antimeridian) and latitudes up to +/-90 degrees work.
Caps up to a whole hemisphere and beyond are handled too, although CAMARA never needs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "EARTH_RADIUS_M",
    "Circle",
    "cap_area_m2",
    "distance_m",
    "intersection_area_m2",
    "verify",
]

EARTH_RADIUS_M: float = 6_371_008.8
"""Mean Earth radius (IUGG R1) in metres."""

CONTAINMENT_TOLERANCE_M: float = 1e-3
"""Slack (1 mm) when deciding TRUE/FALSE.

Distances are computed to about 1e-9 relative precision, i.e. well under a millimetre for any
distance on Earth; without slack, identical or internally tangent circles could flip between TRUE
and PARTIAL on rounding noise.  A millimetre is far below any network location accuracy.
"""

MATCH_RATE_MIN: int = 1
MATCH_RATE_MAX: int = 99
"""CAMARA defines ``matchRate`` as an integer in 1..99 (0 would be FALSE, 100 would be TRUE)."""


@dataclass(frozen=True)
class Circle:
    """A circle on the Earth: centre in degrees, radius as a surface distance in metres."""

    latitude: float
    longitude: float
    radius_m: float

    def __post_init__(self) -> None:
        # Reject nonsense early: NaN would silently poison every comparison further down.
        for name in ("latitude", "longitude", "radius_m"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(f"latitude must be within [-90, 90], got {self.latitude!r}")
        if self.radius_m < 0.0:
            raise ValueError(f"radius_m must not be negative, got {self.radius_m!r}")


def _central_angle(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Angle in radians subtended at the Earth's centre by two points (haversine form)."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    # sin^2 of half the longitude difference is periodic, so longitudes need no normalising
    # and circles straddling the antimeridian just work.
    sin_dphi = math.sin((phi2 - phi1) / 2.0)
    sin_dlam = math.sin(math.radians(lon2 - lon1) / 2.0)
    h = sin_dphi * sin_dphi + math.cos(phi1) * math.cos(phi2) * sin_dlam * sin_dlam
    h = min(max(h, 0.0), 1.0)  # rounding can push h a hair outside [0, 1]
    # atan2 instead of asin(sqrt(h)): equally exact for short distances, and it does not lose
    # precision as h approaches 1 (near-antipodal points).
    return 2.0 * math.atan2(math.sqrt(h), math.sqrt(1.0 - h))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine form, numerically stable for short distances)."""
    return EARTH_RADIUS_M * _central_angle(lat1, lon1, lat2, lon2)


def _angular_radius(radius_m: float) -> float:
    # A cap of angular radius pi already is the whole sphere; clamping keeps the trigonometry valid.
    return min(max(radius_m / EARTH_RADIUS_M, 0.0), math.pi)


def _unit_cap_area(theta: float) -> float:
    """Area of a cap of angular radius ``theta`` on the unit sphere."""
    # 2*pi*(1 - cos t) written as 4*pi*sin^2(t/2): no cancellation for small t.
    s = math.sin(theta / 2.0)
    return 4.0 * math.pi * s * s


def cap_area_m2(radius_m: float) -> float:
    """Area of a spherical cap of that (surface) radius."""
    return EARTH_RADIUS_M**2 * _unit_cap_area(_angular_radius(radius_m))


def _unit_lens_area(d: float, r1: float, r2: float) -> float:
    """Area of the intersection of two caps on the unit sphere in the proper lens configuration.

    Requires |r1 - r2| < d < r1 + r2 and d + r1 + r2 < 2*pi, i.e. the two boundary circles cross
    in two points P and Q and (C1, C2, P) is a proper spherical triangle with sides d, r1, r2.

    Gauss-Bonnet on the lens: area = 2*pi - (exterior angles at P and Q) - (geodesic curvature
    integrated along both arcs).  With a1, a2, p the angles of the triangle at C1, C2, P:
    the arc of circle i inside the other cap spans 2*a_i around C_i, has length 2*a_i*sin(r_i) and
    geodesic curvature cot(r_i); the lens's interior angle at P and Q is pi - p.  So

        area = 2*(pi - p) - 2*a1*cos(r1) - 2*a2*cos(r2)
             = 4*a1*sin^2(r1/2) + 4*a2*sin^2(r2/2) - 2*E,      E = a1 + a2 + p - pi,

    E being the triangle's spherical excess.  The second form is the spherical analogue of the
    plane lens formula (a1*r1^2 + a2*r2^2 - 2*triangle area) and avoids subtracting numbers close
    to 2*pi.  All angles come from half-angle formulas (tangent form, via atan2) and E from
    L'Huilier's theorem, which stay accurate for triangles a few kilometres across, where the
    cosine rule would lose about half of the significant digits.
    """
    # Differences s - side are formed directly from the sides (not as s - side) for accuracy in
    # thin triangles; rounding near tangency may make them a hair negative, hence the clamp.
    s = (d + r1 + r2) / 2.0
    s_d = max((r1 + r2 - d) / 2.0, 0.0)
    s_r1 = max((d + r2 - r1) / 2.0, 0.0)
    s_r2 = max((d + r1 - r2) / 2.0, 0.0)

    sin_s = math.sin(s)
    sin_s_d = math.sin(s_d)
    sin_s_r1 = math.sin(s_r1)
    sin_s_r2 = math.sin(s_r2)
    # tan(A/2) = sqrt(sin(s-b) sin(s-c) / (sin s sin(s-a))) with a the side opposite angle A.
    # a1 is at C1, opposite side r2; a2 is at C2, opposite side r1.
    a1 = 2.0 * math.atan2(math.sqrt(sin_s_d * sin_s_r1), math.sqrt(sin_s * sin_s_r2))
    a2 = 2.0 * math.atan2(math.sqrt(sin_s_d * sin_s_r2), math.sqrt(sin_s * sin_s_r1))

    # L'Huilier: tan(E/4) = sqrt(tan(s/2) tan((s-a)/2) tan((s-b)/2) tan((s-c)/2)).
    # All half-arguments are below pi/2 here (s < pi), so the tangents are finite and >= 0.
    t = math.tan(s / 2.0) * math.tan(s_d / 2.0) * math.tan(s_r1 / 2.0) * math.tan(s_r2 / 2.0)
    excess = 4.0 * math.atan(math.sqrt(max(t, 0.0)))

    h1 = math.sin(r1 / 2.0)
    h2 = math.sin(r2 / 2.0)
    return 4.0 * a1 * h1 * h1 + 4.0 * a2 * h2 * h2 - 2.0 * excess


def intersection_area_m2(a: Circle, b: Circle) -> float:
    """Exact area of the intersection of two spherical caps, in square metres.

    Closed form (Gauss-Bonnet, see ``_unit_lens_area``), handling disjoint and tangent caps (0),
    one cap inside the other (area of the smaller, which covers identical caps), two large caps
    that together cover the sphere, and the general lens.
    """
    r1 = _angular_radius(a.radius_m)
    r2 = _angular_radius(b.radius_m)
    d = _central_angle(a.latitude, a.longitude, b.latitude, b.longitude)
    area1 = _unit_cap_area(r1)
    area2 = _unit_cap_area(r2)

    if d >= r1 + r2:
        unit_area = 0.0  # disjoint or externally tangent
    elif d <= abs(r1 - r2):
        unit_area = min(area1, area2)  # nested, identical or internally tangent
    elif d + r1 + r2 >= 2.0 * math.pi:
        # Only possible when the caps are huge: their complements (caps of radius pi - r around
        # the antipodes, also d apart) are disjoint, so the union is the whole sphere.
        unit_area = area1 + area2 - 4.0 * math.pi
    else:
        unit_area = _unit_lens_area(d, r1, r2)

    # The closed forms are exact in theory; clamp so rounding can never produce a negative area
    # or more than the smaller cap.
    unit_area = min(max(unit_area, 0.0), area1, area2)
    return EARTH_RADIUS_M**2 * unit_area


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even (round(12.5) == 12); CAMARA users expect 13.
    return math.floor(x + 0.5)


def verify(network: Circle, requested: Circle) -> tuple[str, int | None]:
    """CAMARA verification result for network circle N and requested circle R.

    ``("TRUE", None)`` when N lies entirely inside R (d + rN <= rR, with a 1 mm tolerance);
    ``("FALSE", None)`` when they do not meet (d >= rR + rN, same tolerance); otherwise
    ``("PARTIAL", matchRate)`` with matchRate = area(R n N) / area(N) * 100 rounded half-up and
    clamped to 1..99 (this includes the case where N contains R).
    """
    d = distance_m(network.latitude, network.longitude, requested.latitude, requested.longitude)
    r_n = network.radius_m
    r_r = requested.radius_m

    # TRUE is tested first so that a zero-radius N on R's boundary counts as inside.
    if d + r_n <= r_r + CONTAINMENT_TOLERANCE_M:
        return "TRUE", None
    if d >= r_r + r_n - CONTAINMENT_TOLERANCE_M:
        return "FALSE", None

    # Reaching here needs r_n > tolerance (otherwise one of the tests above holds), so area(N) > 0.
    percent = intersection_area_m2(network, requested) / cap_area_m2(r_n) * 100.0
    # An overlap that is real but tiny must not report 0 (that would mean FALSE), and N sticking
    # out of R by a hair must not report 100 (that would mean TRUE).
    match_rate = min(max(_round_half_up(percent), MATCH_RATE_MIN), MATCH_RATE_MAX)
    return "PARTIAL", match_rate
