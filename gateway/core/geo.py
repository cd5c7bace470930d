"""Distances and a coarse grid over the earth: enough spatial indexing for a state-wide directory
without PostGIS. A point's cell is (floor(lat / CELL_DEG), floor(lon / CELL_DEG)); a search within
``km`` reads the cells its bounding box touches (an indexed equality/IN lookup on both databases),
then keeps the points whose great-circle distance is within ``km``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
CELL_DEG = 0.05  # about 5.5 km north-south; a 2 km search touches at most 4 cells


@dataclass(frozen=True, kw_only=True, slots=True)
class Point:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError("latitude must be within ±90 and longitude within ±180")


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_from(origin: Point) -> Callable[[float, float], float]:
    """``haversine_km(origin, (lat, lon))`` as a function of the other point's coordinates, the
    origin's terms computed once (a search measures a thousand rows from one place); the same
    operations in the same order, so the same result to the last bit."""
    phi1, cos_phi1 = math.radians(origin.lat), math.cos(math.radians(origin.lat))

    def km(lat: float, lon: float) -> float:
        phi2 = math.radians(lat)
        dphi, dlmb = phi2 - phi1, math.radians(lon - origin.lon)
        h = math.sin(dphi / 2) ** 2 + cos_phi1 * math.cos(phi2) * math.sin(dlmb / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))

    return km


def cell_of(p: Point) -> tuple[int, int]:
    return math.floor(p.lat / CELL_DEG), math.floor(p.lon / CELL_DEG)


def cell_key(p: Point) -> str:
    """The cell as one indexable text value, e.g. ``"839:-1604"``."""
    row, col = cell_of(p)
    return f"{row}:{col}"


def box_around(point: Point, km: float) -> tuple[float, float, float, float] | None:
    """(south, west, north, east) around the circle of ``km``: a cheap filter inside the cells;
    None where it would wrap (the antimeridian) or degenerate (near a pole), where the cells and
    the distance suffice."""
    dlat = km / 111.32 * 1.01  # a 1% margin: the box must never cut into the circle
    dlon = km / max(1e-6, 111.32 * math.cos(math.radians(min(89.0, abs(point.lat) + dlat)))) * 1.01
    south, north, west, east = point.lat - dlat, point.lat + dlat, point.lon - dlon, point.lon + dlon
    if south < -89.0 or north > 89.0 or west < -180.0 or east > 180.0:
        return None
    return south, west, north, east


def cells_within(p: Point, km: float) -> list[str]:
    """Every cell key the box of ``km`` around ``p`` touches (a superset of the circle)."""
    dlat = km / 111.32
    dlon = km / max(1e-6, 111.32 * math.cos(math.radians(p.lat)))
    south, west = cell_of(Point(lat=max(-90.0, p.lat - dlat), lon=max(-180.0, p.lon - dlon)))
    north, east = cell_of(Point(lat=min(90.0, p.lat + dlat), lon=min(180.0, p.lon + dlon)))
    return [f"{r}:{c}" for r in range(south, north + 1) for c in range(west, east + 1)]


def cells_around(p: Point, km: float) -> list[str]:
    """``cells_within`` plus, when the circle crosses the antimeridian (the grid does not wrap),
    the cells on the other side: a place in Fiji finds its neighbours on both sides. Sorted."""
    cells = cells_within(p, km)
    dlon = km / max(1e-6, 111.32 * math.cos(math.radians(p.lat)))
    rows = sorted({key.split(":")[0] for key in cells})
    overflow_east, overflow_west = p.lon + dlon - 180.0, -180.0 - (p.lon - dlon)
    if overflow_east > 0:  # the circle crosses +180: add the columns from -180 eastwards
        columns = range(math.floor(-180.0 / CELL_DEG), math.floor((-180.0 + overflow_east) / CELL_DEG) + 1)
        cells += [f"{r}:{c}" for r in rows for c in columns]
    if overflow_west > 0:
        columns = range(math.floor((180.0 - overflow_west) / CELL_DEG), math.floor(180.0 / CELL_DEG) + 1)
        cells += [f"{r}:{c}" for r in rows for c in columns]
    return sorted(set(cells))
