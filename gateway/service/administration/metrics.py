"""What the database says about the gateway's work, read at scrape time for ``/metrics``.

Exchanges, decisions, the outbox and the audit log are counted in the database, not in a
process's memory: with several server processes (and ``spgw deliver`` workers, and CLI ingests)
each scrape of any one of them reports the same totals, and a restart loses nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from gateway.service.referrals.deliveries import QUEUED, SENDING
from gateway.service.runtime import Runtime
from gateway.storage import ops_queries as q
from gateway.storage.db import Session, StorageError

PENDING = (QUEUED, SENDING)


@dataclass(frozen=True, kw_only=True)
class WorkFigures:
    messages: tuple[tuple[str, str, int], ...]  # (format, status, count)
    decisions: tuple[tuple[str, int], ...]  # (effect, count), every decision ever audited
    deliveries: tuple[tuple[str, int], ...]  # (status, count)
    outbox_depth: int  # queued or being sent
    outbox_oldest_age_seconds: float  # 0 when the outbox is empty
    audit_entries: int
    audit_unsigned_entries: int  # appended since the newest signed tree head
    audit_unsigned_age_seconds: float  # how long the oldest of them has waited; 0 when none
    audit_head_age_seconds: float | None  # since the newest signed tree head; None before the first
    witness_copies_waiting: int


class DecisionTally:
    """Decisions by effect, counted once and then advanced: the audit log only grows, so each
    read counts just the entries appended since the previous one (a scrape stays cheap at
    millions of entries). One per app; the totals are the database's, whichever process reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._upto = 0
        self._counts: dict[str, int] = {}

    def read(self, session: Session, upto: int) -> tuple[tuple[str, int], ...]:
        with self._lock:
            if upto < self._upto:  # another database, or a restored one: count again
                self._upto, self._counts = 0, {}
            for effect, count in q.decisions_since(session, self._upto, upto):
                self._counts[effect] = self._counts.get(effect, 0) + count
            self._upto = upto
            return tuple(sorted(self._counts.items()))


def work_figures(rt: Runtime, tally: DecisionTally) -> WorkFigures | None:
    """The figures, or None when the database does not answer (the page then says so)."""
    try:
        return _read(rt, tally)
    except StorageError:
        return None


def _read(rt: Runtime, tally: DecisionTally) -> WorkFigures:
    now = rt.now()
    with rt.sessions() as session:
        size = q.audit_size(session)
        signed, head_age = _latest_head(session, now)
        oldest = q.oldest_delivery(session, PENDING)
        deliveries = tuple(sorted(q.deliveries_by_status(session)))
        return WorkFigures(
            messages=tuple(sorted(q.messages_by_format_and_status(session))),
            decisions=tally.read(session, size),
            deliveries=deliveries,
            outbox_depth=sum(n for status, n in deliveries if status in PENDING),
            outbox_oldest_age_seconds=_age(now, oldest),
            audit_entries=size,
            audit_unsigned_entries=max(size - signed, 0),
            audit_unsigned_age_seconds=_unsigned_age(session, now, signed, size),
            audit_head_age_seconds=head_age,
            witness_copies_waiting=q.witness_copies_waiting(session),
        )


def _latest_head(session: Session, now: dt.datetime) -> tuple[int, float | None]:
    latest = q.latest_checkpoint(session)
    if latest is None:
        return 0, None
    seq, signed_at = latest
    return seq, _age(now, dt.datetime.fromisoformat(signed_at))


def _unsigned_age(session: Session, now: dt.datetime, signed: int, size: int) -> float:
    if size <= signed:
        return 0.0
    first = q.entry_time(session, signed + 1)
    return _age(now, dt.datetime.fromisoformat(first)) if first else 0.0


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0
