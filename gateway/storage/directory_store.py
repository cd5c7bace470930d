"""Directory rows over a caller's session: set-based writes (one INSERT per 1,000 rows, DELETEs
by id lists), the stored digests of a directory, and reads by grid cell. Nothing here commits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Text, cast, delete, func, insert, select, text
from sqlalchemy.orm import Session

from gateway.core.directory import ScheduleRule, ServiceAtLocation, Term
from gateway.core.geo import Point, cell_key
from gateway.storage.directory_tables import DirectoryServiceRow, DirectorySourceRow

_CHUNK = 1000  # rows per INSERT and ids per IN list: bounded on every database


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredService:
    sal: ServiceAtLocation
    modified: str


def row_values(sal: ServiceAtLocation, modified: str, digest: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": sal.id,
        "source": sal.source,
        "service_id": sal.service_id,
        "location_id": sal.location_id,
        "name": sal.name,
        "organization": sal.organization,
        "description": sal.description,
        "address": sal.address,
        "status": sal.status,
        "age_min": sal.age_min,
        "age_max": sal.age_max,
        "capacity": sal.capacity,
        "lat": sal.point.lat if sal.point else None,
        "lon": sal.point.lon if sal.point else None,
        "cell": cell_key(sal.point) if sal.point else None,
        "languages": list(sal.languages),
        "service_area": list(sal.service_area),
        "terms": [dataclasses.asdict(t) for t in sal.terms],
        "schedules": [dataclasses.asdict(r) for r in sal.schedules],
        "modified": modified,
        "digest": digest,
        "imported_at": now,
    }


def service_of(row: Any) -> ServiceAtLocation:
    """A stored row (an ORM row or a Row with the same names) as the value it was made from."""
    return _service(row, row.terms, row.languages, row.service_area, row.schedules)


RowTest = Callable[[tuple[Term, ...], str, str], bool]  # a test on a row's terms, name, description


def service_of_text(
    row: Any,
    keep: Callable[[ServiceAtLocation], bool],
    first: RowTest | None = None,
    decoded: dict[str, tuple[Term, ...]] | None = None,
) -> ServiceAtLocation | None:
    """A row of ``in_cells_text`` as its value when ``first`` (if given, on the row's terms, name
    and description, before any value is made) and ``keep`` accept it, else None. ``keep`` sees
    the value without its schedules, the largest document, decoded only for a kept row.
    ``decoded`` remembers terms by their text across the rows of one read (services share them)."""
    terms = decoded.get(row.terms) if decoded is not None else None
    if terms is None:
        terms = tuple(Term(**t) for t in orjson.loads(row.terms))
        if decoded is not None:
            decoded[row.terms] = terms
    if first is not None and not first(terms, row.name, row.description):
        return None
    languages, areas = orjson.loads(row.languages), orjson.loads(row.service_area)
    if not keep(_service(row, terms, languages, areas, [])):
        return None
    return _service(row, terms, languages, areas, orjson.loads(row.schedules))


def text_service_of(row: Any) -> ServiceAtLocation:
    """A row of ``in_cells_text`` or ``by_ids_text`` as the value it was made from."""
    documents = (
        orjson.loads(getattr(row, name)) for name in ("terms", "languages", "service_area", "schedules")
    )
    return _service(row, *documents)


def _service(
    row: Any, terms: Iterable[Any], languages: list[str], areas: list[str], schedules: list[Any]
) -> ServiceAtLocation:
    located = row.lat is not None and row.lon is not None
    return ServiceAtLocation(
        id=row.id,
        source=row.source,
        service_id=row.service_id,
        location_id=row.location_id,
        name=row.name,
        organization=row.organization,
        description=row.description,
        terms=tuple(t if isinstance(t, Term) else Term(**t) for t in terms),
        languages=tuple(languages),
        age_min=row.age_min,
        age_max=row.age_max,
        service_area=tuple(areas),
        point=Point(lat=row.lat, lon=row.lon) if located else None,
        address=row.address,
        schedules=tuple(ScheduleRule(**r) for r in schedules),
        capacity=row.capacity,
        status=row.status,
    )


def stored_digests(session: Session, source: str) -> dict[str, tuple[str, str]]:
    """id -> (service id, digest) of everything held from ``source``: one query."""
    statement = select(DirectoryServiceRow.id, DirectoryServiceRow.service_id, DirectoryServiceRow.digest)
    rows = session.execute(statement.where(DirectoryServiceRow.source == source))
    return {row_id: (service_id, digest) for row_id, service_id, digest in rows}


def insert_rows(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Rows in INSERTs of ``_CHUNK``, made as they go (a generator keeps one chunk in memory)."""
    found = iter(rows)
    while chunk := list(itertools.islice(found, _CHUNK)):
        session.execute(insert(DirectoryServiceRow), chunk)


def delete_ids(session: Session, ids: Iterable[str]) -> None:
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        session.execute(
            delete(DirectoryServiceRow).where(DirectoryServiceRow.id.in_(wanted[start : start + _CHUNK]))
        )


def in_cells(
    session: Session, cells: Sequence[str], box: tuple[float, float, float, float] | None = None
) -> list[Any]:
    """Every row in these grid cells (the indexed lookup a search near a place starts with),
    inside the (south, west, north, east) box when one is given, as plain rows (no ORM objects:
    a match reads hundreds)."""
    columns = [c for c in DirectoryServiceRow.__table__.c if c.name not in ("digest", "imported_at")]
    return _cell_rows(session, columns, cells, box)


_DOCUMENTS = ("languages", "service_area", "terms", "schedules")


def in_cells_text(
    session: Session, cells: Sequence[str], box: tuple[float, float, float, float] | None = None
) -> list[Any]:
    """As ``in_cells``, the JSON documents as their text: a search decodes them only for the rows
    inside its circle that it keeps (decoding every row read cost a third of a match)."""
    columns = [
        cast(c, Text).label(c.name) if c.name in _DOCUMENTS else c
        for c in DirectoryServiceRow.__table__.c
        if c.name not in ("digest", "imported_at")
    ]
    return _cell_rows(session, columns, cells, box)


def _cell_rows(
    session: Session, columns: list[Any], cells: Sequence[str], box: tuple[float, float, float, float] | None
) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(cells), _CHUNK):
        statement = select(*columns).where(DirectoryServiceRow.cell.in_(cells[start : start + _CHUNK]))
        if box is not None:
            south, west, north, east = box
            statement = statement.where(
                DirectoryServiceRow.lat.between(south, north), DirectoryServiceRow.lon.between(west, east)
            )
        # Core execution: plain rows straight from the cursor (the ORM's row adaptation cost as
        # much as the read for a search's thousand rows).
        found.extend(session.connection().execute(statement).all())
    return found


# What the filters of a search read (``matching.admissible``): everything but the schedules,
# the address and the ids of the source's records. The rest is read for the few ranked.
_LIGHT = ("id", "lat", "lon", "status", "capacity", "age_min", "age_max", "name", "description")
_LIGHT_DOCUMENTS = ("languages", "service_area", "terms")


def in_box_light(
    session: Session, cells: Sequence[str], box: tuple[float, float, float, float] | None
) -> list[Any]:
    """As ``in_cells_text``, only the columns the filters read (``light_service_of``). The cell
    and box test is answered by the ``(cell, lat, lon, id)`` index: only rows in the box are read."""
    table = DirectoryServiceRow.__table__.c
    columns = [table[name] for name in _LIGHT] + [cast(table[n], Text).label(n) for n in _LIGHT_DOCUMENTS]
    return _cell_rows(session, columns, cells, box)


def by_ids_text(session: Session, ids: Sequence[str]) -> dict[str, Any]:
    """Rows of ``in_cells_text``'s shape by id (the candidates a search ranks in full)."""
    columns = [
        cast(c, Text).label(c.name) if c.name in _DOCUMENTS else c
        for c in DirectoryServiceRow.__table__.c
        if c.name not in ("digest", "imported_at")
    ]
    found: dict[str, Any] = {}
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        chosen = DirectoryServiceRow.id.in_(wanted[start : start + _CHUNK])
        found.update((row.id, row) for row in session.connection().execute(select(*columns).where(chosen)))
    return found


def light_service_of(
    row: Any, first: RowTest | None = None, decoded: dict[str, tuple[Term, ...]] | None = None
) -> ServiceAtLocation | None:
    """A row of ``in_box_light`` as a value without its schedules, address and source ids (what
    the filters of a search read), when ``first`` accepts its terms, name and description."""
    terms = decoded.get(row.terms) if decoded is not None else None
    if terms is None:
        terms = tuple(Term(**t) for t in orjson.loads(row.terms))
        if decoded is not None:
            decoded[row.terms] = terms
    if first is not None and not first(terms, row.name, row.description):
        return None
    return ServiceAtLocation(
        id=row.id,
        source="",
        service_id="",
        location_id="",
        name=row.name,
        organization="",
        description=row.description,
        terms=terms,
        languages=tuple(orjson.loads(row.languages)),
        age_min=row.age_min,
        age_max=row.age_max,
        service_area=tuple(orjson.loads(row.service_area)),
        point=Point(lat=row.lat, lon=row.lon) if row.lat is not None and row.lon is not None else None,
        capacity=row.capacity,
        status=row.status,
    )


def analyze(session: Session) -> None:
    """Fresh planner statistics after a bulk load, on PostgreSQL (see transit_store.analyze)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {DirectoryServiceRow.__tablename__}"))


def listing(session: Session, source: str | None, limit: int) -> list[DirectoryServiceRow]:
    statement = select(DirectoryServiceRow).order_by(DirectoryServiceRow.source, DirectoryServiceRow.id)
    if source is not None:
        statement = statement.where(DirectoryServiceRow.source == source)
    return list(session.scalars(statement.limit(limit)))


def of_source(session: Session, source: str) -> list[StoredService]:
    statement = select(DirectoryServiceRow).where(DirectoryServiceRow.source == source)
    return [StoredService(sal=service_of(r), modified=r.modified) for r in session.scalars(statement)]


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DirectoryServiceRow)) or 0)


def source_row(session: Session, source: str) -> DirectorySourceRow | None:
    return session.get(DirectorySourceRow, source)


def save_source(
    session: Session, source: str, origin: str, watermark: str, digest: str, now: dt.datetime
) -> None:
    row = session.get(DirectorySourceRow, source)
    if row is None:
        session.add(
            DirectorySourceRow(
                source=source, origin=origin, watermark=watermark, digest=digest, imported_at=now
            )
        )
        return
    row.origin, row.watermark, row.digest, row.imported_at = origin, watermark, digest, now
