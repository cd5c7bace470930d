"""The FHIR resource store: current versions, their history and the search index.

A write replaces the resource's search tokens with the ones ``core.fhir_search`` computed, in
the caller's transaction. A search is one indexed lookup per parameter (the ids of each
parameter's values, intersected in SQL), then the current rows in ``_lastUpdated`` order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from gateway.core.fhir_query import Criterion
from gateway.storage.tables import FhirResourceRow, FhirResourceVersionRow, FhirSearchTokenRow


@dataclass(frozen=True, kw_only=True)
class ResourceLabels:
    """Who sent it, whom it is addressed to, whose record it is, and what a read is decided on."""

    source_org: str
    category: str
    regime: str
    sensitivity: str
    owner_org: str | None = None
    student_id: str | None = None
    delivery_id: str | None = None
    message_id: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class SearchQuery:
    resource_type: str
    filters: tuple[Criterion, ...] = ()
    # (op, instant) pairs on _lastUpdated, op one of gt lt ge le eq
    last_updated: tuple[tuple[str, dt.datetime], ...] = ()
    ids: tuple[str, ...] | None = None  # _id
    offset: int = 0
    limit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_LABEL_COLUMNS = (
    "source_org",
    "owner_org",
    "student_id",
    "category",
    "regime",
    "sensitivity",
    "delivery_id",
    "message_id",
    "client_id",
)


def current(
    session: Session, resource_type: str, resource_id: str, *, lock: bool = False
) -> FhirResourceRow | None:
    query = select(FhirResourceRow).where(
        FhirResourceRow.resource_type == resource_type, FhirResourceRow.id == resource_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


@dataclass(frozen=True, kw_only=True)
class StoredVersion:
    """One version as ``_history/{vid}`` shows it (a deletion's document is empty)."""

    version_id: int
    document: dict[str, Any]
    last_updated: dt.datetime
    deleted: bool


def version(session: Session, resource_type: str, resource_id: str, version_id: int) -> StoredVersion | None:
    kept = session.get(FhirResourceVersionRow, (resource_type, resource_id, version_id))
    return None if kept is None else next(iter(_with_documents(session, [kept])), None)


def versions(session: Session, resource_type: str, resource_id: str) -> list[StoredVersion]:
    """Every version of the resource, oldest first."""
    query = (
        select(FhirResourceVersionRow)
        .where(
            FhirResourceVersionRow.resource_type == resource_type, FhirResourceVersionRow.id == resource_id
        )
        .order_by(FhirResourceVersionRow.version_id)
    )
    return _with_documents(session, list(session.scalars(query)))


def _with_documents(session: Session, rows: Sequence[FhirResourceVersionRow]) -> list[StoredVersion]:
    """The current version's document is the current row's; a NULL one that is not current (which
    no writer leaves) is no version to show."""
    current_row = None
    if any(row.document is None for row in rows):
        current_row = current(session, rows[0].resource_type, rows[0].id)
    shown = []
    for row in rows:
        document = row.document
        if document is None and current_row is not None and current_row.version_id == row.version_id:
            document = current_row.document
        if document is not None:
            shown.append(
                StoredVersion(
                    version_id=row.version_id,
                    document=document,
                    last_updated=row.last_updated,
                    deleted=bool(row.deleted),
                )
            )
    return shown


def keep_superseded(session: Session, superseded: Sequence[Mapping[str, Any]]) -> None:
    """Current versions about to be superseded (``k_type``, ``k_id``, ``k_version``, ``document``):
    each history row takes the document it shared with the current row (a row written before
    migration 0020, or a deletion, has its own and is left as it is)."""
    if superseded:
        session.execute(_SUPERSEDED, list(superseded))


_VERSIONS = cast(Table, FhirResourceVersionRow.__table__)
_SUPERSEDED = (
    update(_VERSIONS)
    .where(
        _VERSIONS.c.resource_type == bindparam("k_type"),
        _VERSIONS.c.id == bindparam("k_id"),
        _VERSIONS.c.version_id == bindparam("k_version"),
        _VERSIONS.c.document.is_(None),
    )
    .values(document=bindparam("document"))
)


def _superseded(row: FhirResourceRow) -> dict[str, Any]:
    return {
        "k_type": row.resource_type,
        "k_id": row.id,
        "k_version": row.version_id,
        "document": row.document,
    }


def put(
    session: Session,
    resource_type: str,
    resource_id: str,
    document: dict[str, Any],
    labels: ResourceLabels,
    tokens: Iterable[tuple[str, str]],
    now: dt.datetime,
) -> FhirResourceRow:
    """Write a new version (1 for a new resource); ``document.meta`` is set to it."""
    row = current(session, resource_type, resource_id, lock=True)
    version_id = 1 if row is None else row.version_id + 1
    document = {**document, "id": resource_id, "meta": meta_of(document, version_id, now)}
    if row is None:
        row = FhirResourceRow(resource_type=resource_type, id=resource_id)
        session.add(row)
    else:
        keep_superseded(session, [_superseded(row)])
    row.version_id, row.document, row.last_updated, row.deleted_at = version_id, document, now, None
    relabel(row, labels)
    session.add(
        FhirResourceVersionRow(
            resource_type=resource_type,
            id=resource_id,
            version_id=version_id,
            document=None,  # the current row's
            last_updated=now,
            deleted=0,
        )
    )
    _replace_tokens(session, resource_type, resource_id, tokens)
    session.flush()
    return row


def label_values(labels: ResourceLabels) -> dict[str, str | None]:
    return {name: getattr(labels, name) for name in _LABEL_COLUMNS}


def relabel(row: FhirResourceRow, labels: ResourceLabels) -> None:
    """New labels on the current version (its content unchanged: no new version)."""
    for name in _LABEL_COLUMNS:
        setattr(row, name, getattr(labels, name))


def mark_deleted(session: Session, row: FhirResourceRow, now: dt.datetime) -> None:
    """A delete is a new, empty version: reads answer 410, history keeps what was."""
    keep_superseded(session, [_superseded(row)])
    row.version_id += 1
    row.deleted_at = row.last_updated = now
    session.add(
        FhirResourceVersionRow(
            resource_type=row.resource_type,
            id=row.id,
            version_id=row.version_id,
            document={},
            last_updated=now,
            deleted=1,
        )
    )
    _replace_tokens(session, row.resource_type, row.id, ())
    session.flush()


def meta_of(document: Mapping[str, Any], version_id: int, now: dt.datetime) -> dict[str, Any]:
    return stored_meta(document.get("meta"), version_id, now)


def stored_meta(sent: Mapping[str, Any] | None, version_id: int, now: dt.datetime) -> dict[str, Any]:
    """A resource's ``meta`` as sent, with the version and time the server gives it."""
    meta = dict(sent or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = now.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return meta


def _replace_tokens(
    session: Session, resource_type: str, resource_id: str, tokens: Iterable[tuple[str, str]]
) -> None:
    session.execute(
        delete(FhirSearchTokenRow).where(
            FhirSearchTokenRow.resource_type == resource_type, FhirSearchTokenRow.id == resource_id
        )
    )
    rows = [
        {"resource_type": resource_type, "param": param, "value": value, "id": resource_id}
        for param, value in sorted({(p, v[:300]) for p, v in tokens})
    ]
    if rows:
        session.execute(insert(FhirSearchTokenRow), rows)


def search(session: Session, query: SearchQuery) -> list[FhirResourceRow]:
    """Current, undeleted rows matching every filter, oldest change first (then id), paged."""
    statement = _matching(query).order_by(FhirResourceRow.last_updated, FhirResourceRow.id)
    if query.offset:
        statement = statement.offset(query.offset)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    return list(session.scalars(statement))


@dataclass(frozen=True, kw_only=True)
class RowLabels:
    """What a read of one row is decided on, without its document."""

    resource_type: str
    id: str
    source_org: str
    owner_org: str | None
    student_id: str | None
    category: str
    regime: str
    sensitivity: str
    delivery_id: str | None


_LABELS_SELECTED = (
    FhirResourceRow.resource_type,
    FhirResourceRow.id,
    FhirResourceRow.source_org,
    FhirResourceRow.owner_org,
    FhirResourceRow.student_id,
    FhirResourceRow.category,
    FhirResourceRow.regime,
    FhirResourceRow.sensitivity,
    FhirResourceRow.delivery_id,
)


def matching_labels(session: Session, query: SearchQuery) -> Iterator[RowLabels]:
    """Every matching row's labels, oldest change first: the caller decides each one, so paging
    and ``total`` count only what that caller may see."""
    statement = _matching(query).with_only_columns(*_LABELS_SELECTED)
    statement = statement.order_by(FhirResourceRow.last_updated, FhirResourceRow.id)
    for row in session.execute(statement.execution_options(yield_per=2000)):
        yield RowLabels(**row._asdict())


def labels_of(row: FhirResourceRow) -> RowLabels:
    return RowLabels(**{c.key: getattr(row, c.key) for c in _LABELS_SELECTED})


def documents(session: Session, resource_type: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The current documents of ``ids``, in that order."""
    if not ids:
        return []
    statement = select(FhirResourceRow.id, FhirResourceRow.document).where(
        FhirResourceRow.resource_type == resource_type, FhirResourceRow.id.in_(ids)
    )
    found: dict[str, dict[str, Any]] = {str(r[0]): r[1] for r in session.execute(statement)}
    return [found[i] for i in ids if i in found]


def count(session: Session, query: SearchQuery) -> int:
    inner = _matching(query).with_only_columns(FhirResourceRow.id).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


def _matching(query: SearchQuery) -> Select[FhirResourceRow]:
    statement = select(FhirResourceRow).where(
        FhirResourceRow.resource_type == query.resource_type, FhirResourceRow.deleted_at.is_(None)
    )
    if query.ids is not None:
        statement = statement.where(FhirResourceRow.id.in_(query.ids))
    for op, instant in query.last_updated:
        statement = statement.where(_compare(FhirResourceRow.last_updated, op, instant))
    for token in query.filters:
        statement = statement.where(FhirResourceRow.id.in_(_ids_with(query.resource_type, token)))
    return statement


def _ids_with(resource_type: str, token: Criterion) -> Select[str]:
    where = [FhirSearchTokenRow.resource_type == resource_type, FhirSearchTokenRow.param == token.param]
    if token.op == "eq":
        where.append(FhirSearchTokenRow.value.in_(token.values))
    else:
        where.append(or_(*(_compare(FhirSearchTokenRow.value, token.op, v) for v in token.values)))
    return select(FhirSearchTokenRow.id).where(and_(*where))


def _compare(column: Any, op: str, value: Any) -> Any:
    return {
        "gt": column > value,
        "lt": column < value,
        "ge": column >= value,
        "le": column <= value,
        "eq": column == value,
        "ne": column != value,
        "sw": column.startswith(value, autoescape=True),
    }[op]


def rows_by_reference(session: Session, references: Iterable[tuple[str, str]]) -> list[FhirResourceRow]:
    """Current rows for (type, id) pairs, for ``_include``."""
    pairs = sorted(set(references))
    if not pairs:
        return []
    clauses = [and_(FhirResourceRow.resource_type == t, FhirResourceRow.id == i) for t, i in pairs]
    statement = select(FhirResourceRow).where(or_(*clauses), FhirResourceRow.deleted_at.is_(None))
    return list(session.scalars(statement))


def rows_for_delivery(session: Session, delivery_id: str) -> list[FhirResourceRow]:
    return list(session.scalars(select(FhirResourceRow).where(FhirResourceRow.delivery_id == delivery_id)))
