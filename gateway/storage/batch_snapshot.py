"""What a batch reads before it is decided: the stored events of the students it touches."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.core.attendance import CATEGORY, GROUP_SEPARATOR, AttendanceEvent, EventGroup
from gateway.core.batch_attendance import StoredAttendance, StoredEvent
from gateway.core.labels import Labels
from gateway.storage.dialect import one_of
from gateway.storage.tables import AttendanceEventRow

_CHUNK = 900  # bound parameters per IN list: well under SQLite's and PostgreSQL's limits
_GroupKey = tuple[str, str, str, int, str, str, str]  # student, source, school, year, category, labels


def stored_events(session: Session, student_ids: Iterable[str]) -> dict[str, list[StoredEvent]]:
    """Every stored attendance event of ``student_ids`` as the derivation reads it (no documents)."""
    found: dict[str, list[StoredEvent]] = defaultdict(list)
    for _, stored in _events(session, AttendanceEventRow.__table__.c.student_id, student_ids):
        found[stored.student_id].append(stored)
    return found


def _events(session: Session, column: Any, values: Iterable[str]) -> Iterator[tuple[_GroupKey, StoredEvent]]:
    """The events whose ``column`` is one of ``values``, each with the aggregate it belongs to."""
    ids = sorted(set(values))
    table = AttendanceEventRow.__table__
    columns = (
        table.c.element_id,
        table.c.student_id,
        table.c.source_org,
        table.c.school,
        table.c.school_year,
        table.c.event_date,
        table.c.category,
        table.c.record_digest,
        table.c.regime,
        table.c.sensitivity,
    )
    for start in range(0, len(ids), _CHUNK):
        query = select(*columns).where(one_of(session, column, ids[start : start + _CHUNK]))
        for (
            element_id,
            student_id,
            source_org,
            school,
            year,
            day,
            category,
            digest,
            regime,
            sensitivity,
        ) in session.execute(query):
            event = AttendanceEvent(
                source_org=source_org,
                school=school,
                date=dt.date.fromisoformat(day),
                category=category,
                record_digest=digest,
                labels=_labels(regime, sensitivity),
            )
            key = (student_id, source_org, school, year, category, regime, sensitivity)
            yield key, StoredEvent(element_id=element_id, student_id=student_id, event=event)


@functools.lru_cache(maxsize=64)
def _labels(regime: str, sensitivity: str) -> Labels:
    return Labels(regime=regime, sensitivity=sensitivity, category=CATEGORY)


def stored_attendance(
    session: Session, student_ids: Iterable[str], event_ids: Iterable[str]
) -> dict[str, StoredAttendance]:
    """The stored attendance events of ``student_ids`` as a batch's summaries read them: those
    with one of ``event_ids`` (the events the batch carries, which it may replace) one by one,
    and the rest as one aggregate per source, school, school year, category and labels (read
    with a GROUP BY: a few strings per student, however long the year)."""
    ids = sorted(set(student_ids))
    if not ids:
        return {}
    wanted = set(ids)
    one_by_one: dict[str, list[StoredEvent]] = defaultdict(list)
    taken: dict[_GroupKey, list[StoredEvent]] = defaultdict(list)
    for its_key, stored in _events(session, AttendanceEventRow.__table__.c.element_id, event_ids):
        if stored.student_id in wanted:
            one_by_one[stored.student_id].append(stored)
            taken[its_key].append(stored)
    groups: dict[str, list[EventGroup]] = defaultdict(list)
    unreadable: set[str] = set()
    table = AttendanceEventRow.__table__
    keys = (
        table.c.student_id,
        table.c.source_org,
        table.c.school,
        table.c.school_year,
        table.c.category,
        table.c.regime,
        table.c.sensitivity,
    )
    # Every column read is in one index (migration 0017): the groups come off it side by side, no
    # event row fetched and no sort (SQLite takes the GROUP BY terms in the index's order).
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(
                *keys,
                func.count(),
                func.aggregate_strings(table.c.event_date, GROUP_SEPARATOR),
                func.aggregate_strings(table.c.record_digest, GROUP_SEPARATOR),
            )
            .where(one_of(session, table.c.student_id, ids[start : start + _CHUNK]))
            .group_by(*keys)
        )
        for (
            student_id,
            source_org,
            school,
            year,
            category,
            regime,
            sensitivity,
            count,
            days,
            digests,
        ) in session.execute(query):
            if not days.count(GROUP_SEPARATOR) + 1 == digests.count(GROUP_SEPARATOR) + 1 == count:
                unreadable.add(student_id)  # checked: a separator inside a value would shift the pieces
                continue
            taken_here = taken.get((student_id, source_org, school, year, category, regime, sensitivity))
            if taken_here:  # read one by one: not in the aggregate as well
                dates, record_digests = days.split(GROUP_SEPARATOR), digests.split(GROUP_SEPARATOR)
                for stored in taken_here:
                    dates.remove(stored.event.date.isoformat())
                    record_digests.remove(stored.event.record_digest)
                if not dates:
                    continue
                days, digests = GROUP_SEPARATOR.join(dates), GROUP_SEPARATOR.join(record_digests)
            groups[student_id].append(
                EventGroup(
                    source_org=source_org,
                    school=school,
                    school_year=year,
                    category=category,
                    labels=_labels(regime, sensitivity),
                    dates=days,
                    digests=digests,
                )
            )
    found = {
        s: StoredAttendance(one_by_one.get(s, ()), groups.get(s, ())) for s in set(one_by_one) | set(groups)
    }
    if unreadable:  # a value holding the separator: those students' events one by one
        found.update((s, StoredAttendance(e, ())) for s, e in stored_events(session, unreadable).items())
    return found
