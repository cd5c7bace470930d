"""The audit log: its chain of entries and head, the signed tree heads (checkpoints) and their witness
outbox. Nothing here commits."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.core.audit import AuditEntry, Checkpoint
from gateway.core.merkle import Frontier, TreeBuilder, leaf_hash, leaf_of
from gateway.core.tree_head import TreeHead
from gateway.storage.audit_writes import audit_refusal
from gateway.storage.dialect import execute_many
from gateway.storage.tables import AuditCheckpoint, AuditEntryRow, AuditHead, CheckpointWitness


def frontier_of(session: Session, head: AuditHead | None) -> Frontier:
    """The head's frontier; rebuilt once from the hashes for a log written before the tree."""
    if head is None:
        return Frontier()
    if head.frontier is not None:
        return Frontier.from_hex(head.seq, head.frontier)
    tree = TreeBuilder()
    for chain_hash in session.scalars(select(AuditEntryRow.hash).order_by(AuditEntryRow.seq)):
        tree.add(leaf_of(chain_hash))
    return tree.frontier()


# An entry's columns in AuditEntry order, for reads as plain rows.
ENTRY_COLUMNS = (
    AuditEntryRow.seq,
    AuditEntryRow.recorded_at,
    AuditEntryRow.kind,
    AuditEntryRow.actor,
    AuditEntryRow.subject,
    AuditEntryRow.details,
    AuditEntryRow.prev_hash,
    AuditEntryRow.hash,
)


def stream_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    """Every entry in seq order, read as plain rows (no ORM identity map: one pass over millions)."""
    columns = ENTRY_COLUMNS
    # Core rows, not ORM ones: the ORM's per-row loading is most of the cost of a plain read.
    connection = session.connection().execution_options(yield_per=batch)
    result = connection.execute(select(*columns).order_by(AuditEntryRow.seq))
    for row in result:
        yield entry_of(row)


def entry_of(row: Sequence[Any]) -> AuditEntry:
    """The entry a plain row of ENTRY_COLUMNS holds."""
    seq, recorded_at, kind, actor, subject, details, prev_hash, chain_hash = row
    return AuditEntry(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        actor=actor,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        hash=chain_hash,
    )


def leaf_hashes(session: Session, size: int) -> list[bytes]:
    """The RFC 6962 leaf hashes of entries 1..size, for proofs."""
    query = select(AuditEntryRow.hash).where(AuditEntryRow.seq <= size).order_by(AuditEntryRow.seq)
    return [leaf_hash(leaf_of(h)) for h in session.scalars(query)]


def latest_head(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()


def head_at(session: Session, size: int) -> AuditCheckpoint | None:
    return session.get(AuditCheckpoint, size)


def add_head(session: Session, head: TreeHead) -> bool:
    """Store a signed head; False when one of that size is already stored (two signers raced)."""
    if session.get(AuditCheckpoint, head.size) is not None:
        return False
    session.add(
        AuditCheckpoint(
            seq=head.size,
            hash=head.hash,
            signed_at=head.time,
            key_id=head.key_id,
            signature=head.signature,
            root=head.root,
            reason=head.reason,
        )
    )
    session.flush()
    return True


def head_of(row: AuditCheckpoint) -> TreeHead:
    return TreeHead(
        size=row.seq,
        root=row.root or "",
        hash=row.hash,
        time=row.signed_at,
        key_id=row.key_id,
        signature=row.signature,
        reason=row.reason,
    )


# -- the chain: append, read, checkpoints ----------------------------------------------


def lock_audit_head(session: Session) -> AuditHead | None:
    return session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()


@functools.cache
def _entry_insert() -> Any:
    return insert(AuditEntryRow)


def append_audit(session: Session, head: AuditHead | None, entries: list[AuditEntry]) -> None:
    """The entries written now, at once (by COPY on PostgreSQL; a refusal raises AuditUnavailable,
    the COPY's statement naming the table as the INSERT's does); the head moves in the session,
    for the caller's flush."""
    rows = [
        {
            "seq": e.seq,
            "recorded_at": e.recorded_at,
            "kind": e.kind,
            "actor": e.actor,
            "subject": e.subject,
            "details": dict(e.details),
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in entries
    ]
    with audit_refusal():
        execute_many(session, _entry_insert(), rows, copy=True)
    last = entries[-1]
    if head is None:
        session.add(AuditHead(id=1, seq=last.seq, hash=last.hash))
    else:
        head.seq, head.hash = last.seq, last.hash


def iter_audit(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq).execution_options(yield_per=batch)
    for row in session.scalars(query):
        yield AuditEntry(
            seq=row.seq,
            recorded_at=row.recorded_at,
            kind=row.kind,
            actor=row.actor,
            subject=row.subject,
            details=row.details,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


def audit_entries(session: Session, kind: str | None, limit: int, offset: int) -> list[AuditEntryRow]:
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq).limit(limit).offset(offset)
    if kind is not None:
        query = query.where(AuditEntryRow.kind == kind)
    return list(session.scalars(query))


def audit_head(session: Session) -> AuditHead | None:
    return session.get(AuditHead, 1)


def add_checkpoint(session: Session, point: Checkpoint, key_id: str, signature: str) -> None:
    if session.get(AuditCheckpoint, point.seq) is None:
        session.add(
            AuditCheckpoint(
                seq=point.seq,
                hash=point.hash,
                signed_at=point.signed_at,
                key_id=key_id,
                signature=signature,
            )
        )


def checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))


# -- the witness outbox -----------------------------------------------------------------


def queue_witness(session: Session, row: CheckpointWitness) -> None:
    session.add(row)


def due_witness_rows(session: Session, now: dt.datetime, limit: int = 50) -> list[CheckpointWitness]:
    query = (
        select(CheckpointWitness)
        .where(CheckpointWitness.status == "queued", CheckpointWitness.next_attempt_at <= now)
        .order_by(CheckpointWitness.checkpoint_seq, CheckpointWitness.witness)
        .limit(limit)
    )
    return list(session.scalars(query))


def acknowledged_size(session: Session, witness: str) -> int:
    """The largest head this witness acknowledged (0: none yet)."""
    query = (
        select(CheckpointWitness.checkpoint_seq)
        .where(CheckpointWitness.witness == witness, CheckpointWitness.status == "sent")
        .order_by(CheckpointWitness.checkpoint_seq.desc())
        .limit(1)
    )
    return int(session.scalar(query) or 0)


def witness_rows(session: Session) -> list[CheckpointWitness]:
    query = select(CheckpointWitness).order_by(CheckpointWitness.checkpoint_seq, CheckpointWitness.witness)
    return list(session.scalars(query))
