"""What a batch reads before it is decided: the stored events of the students it touches."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.attendance import CATEGORY, AttendanceEvent
from gateway.core.batch_attendance import StoredEvent
from gateway.core.labels import Labels
from gateway.storage.tables import AttendanceEventRow

_CHUNK = 900  # bound parameters per IN list: well under SQLite's and PostgreSQL's limits


def stored_events(session: Session, student_ids: Iterable[str]) -> dict[str, list[StoredEvent]]:
    """Every stored attendance event of ``student_ids`` as the derivation reads it (no documents)."""
    ids = sorted(set(student_ids))
    table = AttendanceEventRow.__table__
    columns = (
        table.c.element_id,
        table.c.student_id,
        table.c.source_org,
        table.c.school,
        table.c.event_date,
        table.c.category,
        table.c.record_digest,
        table.c.regime,
        table.c.sensitivity,
    )
    labels: dict[tuple[str, str], Labels] = {}
    found: dict[str, list[StoredEvent]] = defaultdict(list)
    for start in range(0, len(ids), _CHUNK):
        query = select(*columns).where(table.c.student_id.in_(ids[start : start + _CHUNK]))
        for (
            element_id,
            student_id,
            source_org,
            school,
            day,
            category,
            digest,
            regime,
            sensitivity,
        ) in session.execute(query):
            label = labels.get((regime, sensitivity))
            if label is None:
                label = labels[(regime, sensitivity)] = Labels(
                    regime=regime, sensitivity=sensitivity, category=CATEGORY
                )
            event = AttendanceEvent(
                source_org=source_org,
                school=school,
                date=dt.date.fromisoformat(day),
                category=category,
                record_digest=digest,
                labels=label,
            )
            found[student_id].append(StoredEvent(element_id=element_id, student_id=student_id, event=event))
    return found
