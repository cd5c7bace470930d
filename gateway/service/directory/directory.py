"""Reading the directory: services near a place (for matching), listings and the HSDS export.
Directory data is public information, not about a student: reads are not audited.

``services_near`` reads the grid cells the circle touches (one indexed query) and keeps the
services whose great-circle distance is within ``km``, nearest first. The grid does not wrap at
±180°: the cells across the antimeridian are added here, so a place in Fiji finds its neighbours
on both sides. Near a pole a circle touches many columns; the lookup stays correct, only wider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.core.directory import ServiceAtLocation, Term
from gateway.core.geo import Point, box_around, cells_around, haversine_km
from gateway.formats.hsds_common import DirectoryRecord
from gateway.formats.hsds_export import service_documents
from gateway.service.runtime import Runtime
from gateway.storage import directory_store as store


def services_near(
    rt: Runtime,
    point: Point,
    km: float,
    keep: Callable[[ServiceAtLocation], bool] | None = None,
    first: store.RowTest | None = None,
) -> list[ServiceAtLocation]:
    """Every stored service at a location within ``km`` of ``point``, nearest first; with
    ``keep``, only those it accepts (it is shown each service without its schedules: a search
    drops most of the circle by category and eligibility before paying for the rest), and with
    ``first``, only those whose terms, name and description it accepts (tested before any value
    is made)."""
    with rt.sessions() as session:
        rows = store.in_cells_text(session, cells_around(point, km), _box(point, km))
    found = []
    for row in rows:
        distance = haversine_km(point, Point(lat=row.lat, lon=row.lon))
        if distance <= km:  # only the rows inside the circle become values
            found.append((distance, row.id, row))
    found.sort(key=lambda f: (f[0], f[1]))
    decoded: dict[str, tuple[Term, ...]] = {}
    values = (store.service_of_text(row, keep or _everything, first, decoded) for _, _, row in found)
    return [value for value in values if value is not None]


def _everything(_: ServiceAtLocation) -> bool:
    return True


def _box(point: Point, km: float) -> tuple[float, float, float, float] | None:
    return box_around(point, km)


def service_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return store.count(session)


def list_services(
    rt: Runtime, *, source: str | None = None, near: Point | None = None, km: float = 5.0, limit: int = 100
) -> list[dict[str, Any]]:
    """What ``spgw directory list`` shows: near a place (with the distance), or by source."""
    if near is not None:
        found = [s for s in services_near(rt, near, km) if source is None or s.source == source][:limit]
        return [_listed(s, near) for s in found]
    with rt.sessions() as session:
        return [_listed(store.service_of(row), None) for row in store.listing(session, source, limit)]


def _listed(sal: ServiceAtLocation, near: Point | None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": sal.id,
        "source": sal.source,
        "name": sal.name,
        "organization": sal.organization,
        "address": sal.address,
        "status": sal.status,
        "languages": list(sal.languages),
        "terms": [f"{t.taxonomy}:{t.code}" for t in sal.terms],
        "point": {"lat": sal.point.lat, "lon": sal.point.lon} if sal.point else None,
    }
    if near is not None and sal.point is not None:
        shown["distanceKm"] = round(haversine_km(near, sal.point), 3)
    return shown


def export_source(rt: Runtime, source: str) -> list[dict[str, Any]]:
    """HSDS 3.x JSON (a list of services) of what the gateway holds from ``source``."""
    with rt.sessions() as session:
        held = store.of_source(session, source)
    return service_documents(DirectoryRecord(sal=s.sal, modified=s.modified) for s in held)
