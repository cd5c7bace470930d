"""The audit service's writes that meet the database's own answers: the chain's first head, the
flush that must fail as the audit's own error, the race between two signers of one tree head,
and an entry's time by seq. Nothing here commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import AuditUnavailable
from gateway.storage.tables import AuditEntryRow, AuditHead


class HeadRaceLost(Exception):
    """Another writer stored a tree head of this very size first (a unique key refused ours)."""


def start_head(session: Session, genesis: str) -> AuditHead:
    """The chain's head before its first entry."""
    head = AuditHead(id=1, seq=0, hash=genesis, frontier=[])
    session.add(head)
    return head


def flush_entries(session: Session) -> None:
    """Write what the session holds now: a refused audit write raises AuditUnavailable (503, nothing
    stored, answered or sent) here instead of surfacing at commit as an unknown fault."""
    with audit_refusal():
        session.flush()


@contextmanager
def audit_refusal() -> Iterator[None]:
    """Around a write of the audit's tables: the database refusing it raises AuditUnavailable."""
    try:
        yield
    except DBAPIError as exc:
        if "audit_" not in str(exc.statement or ""):
            raise  # another table's write failed: not the audit's to explain
        raise AuditUnavailable(
            "the audit trail could not be written, so nothing was stored or sent; retry later"
        ) from exc


@contextmanager
def head_race() -> Iterator[None]:
    """Around a transaction that signs a head: a unique-key refusal becomes HeadRaceLost."""
    try:
        yield
    except IntegrityError as exc:
        raise HeadRaceLost() from exc


def recorded_at(session: Session, seq: int) -> str | None:
    """When entry ``seq`` was written (ISO text), None when there is none."""
    row = session.get(AuditEntryRow, seq)
    return row.recorded_at if row is not None else None
