"""The retention purge of stored payload copies (R14), and what is past retention.

``run_retention`` purges each copy ``core.retention`` says is past retention and done with: a
message's bytes become ``b""`` (its file is deleted once no unpurged message reads it), a
delivery's body ``b""`` and payload ``{}``; ``purged_at`` is set; digest, size, status and the
other metadata stay. Each batch of purges writes one audit entry (kind ``retention.purged``:
ids, digests and agreements, never content) in the same transaction as the purge, so a purge
is never unaudited. Audit entries are never purged. Running it again purges nothing new; two
runners never purge one row twice (rows are locked, skipping those another runner holds).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.artifacts import agreement_from_doc
from gateway.core.policy_model import Agreement
from gateway.core.retention import (
    DELIVERY,
    MESSAGE,
    PENDING,
    PURGE,
    PURGED,
    Copy,
    Verdict,
    retain_until_dates,
    verdict,
)
from gateway.service.compliance import audit
from gateway.service.exchange import payloads
from gateway.service.runtime import Runtime
from gateway.storage import retention_store as store
from gateway.storage.db import Session

log = logging.getLogger(__name__)

BATCH = 500  # copies per transaction (and per audit entry)
PURGED_KIND = "retention.purged"


@dataclass(frozen=True, kw_only=True)
class RetentionSummary:
    at: str
    purged_messages: tuple[str, ...] = ()
    purged_deliveries: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()  # kind:id past retention but still awaiting a replay/attempt
    audit_entries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "purgedMessages": list(self.purged_messages),
            "purgedDeliveries": list(self.purged_deliveries),
            "pending": list(self.pending),
            "auditEntries": self.audit_entries,
        }


def agreements(session: Session) -> tuple[Agreement, ...]:
    seen: dict[str, Agreement] = {}
    for doc in store.agreement_documents(session):
        agreement = agreement_from_doc(doc)
        seen.setdefault(f"{agreement.id}@{agreement.version}", agreement)
    return tuple(seen.values())


def _message_copy(row: Any) -> Copy:
    return Copy(
        kind=MESSAGE,
        id=row.id,
        status=row.status,
        created=row.received_at.date(),
        source=row.organization_id,
        purged=row.purged_at is not None,
    )


def _delivery_copy(row: Any) -> Copy:
    obligations = (row.payload or {}).get("obligations", []) if row.purged_at is None else []
    return Copy(
        kind=DELIVERY,
        id=row.id,
        status=row.status,
        created=row.created_at.date(),
        source=row.source_org,
        recipient=row.recipient_org,
        retain_until=retain_until_dates(o for o in obligations if isinstance(o, dict)),
        purged=row.purged_at is not None,
    )


def verdicts(session: Session, today: dt.date, *, include_purged: bool = False) -> list[Verdict]:
    """Every stored copy's standing on ``today`` (purged ones too when asked, for the report)."""
    known = agreements(session)
    copies = [_message_copy(r) for r in store.message_copies(session, include_purged=include_purged)]
    copies += [_delivery_copy(r) for r in store.delivery_copies(session, include_purged=include_purged)]
    return [verdict(c, known, today) for c in copies]


def run_retention(rt: Runtime, *, now: dt.datetime | None = None) -> RetentionSummary:
    now = now or rt.now()
    with rt.sessions() as session:
        found = verdicts(session, now.date())
    due = [v for v in found if v.action == PURGE]
    pending = tuple(f"{v.copy.kind}:{v.copy.id}" for v in found if v.action == PENDING)
    messages: list[str] = []
    deliveries: list[str] = []
    entries = 0
    for start in range(0, len(due), BATCH):
        done_m, done_d = _purge_batch(rt, due[start : start + BATCH], now)
        messages += done_m
        deliveries += done_d
        entries += 1 if done_m or done_d else 0
    if entries:
        audit.checkpoint(rt)
    return RetentionSummary(
        at=now.isoformat(),
        purged_messages=tuple(messages),
        purged_deliveries=tuple(deliveries),
        pending=pending,
        audit_entries=entries,
    )


def run_if_due(rt: Runtime, *, now: dt.datetime | None = None) -> RetentionSummary | None:
    """The purge, when ``retention_interval_seconds`` have passed since it last ran (kept in the
    database, so ``spgw deliver --once`` from cron and a long-running worker share one cadence)."""
    now = now or rt.now()
    with rt.sessions() as session:
        last = store.last_run(session)
    if last is not None and (now - last).total_seconds() < rt.settings.retention_interval_seconds:
        return None
    summary = run_retention(rt, now=now)
    with rt.sessions.begin() as session:
        store.mark_run(session, now)
    return summary


def _purge_batch(rt: Runtime, batch: Sequence[Verdict], now: dt.datetime) -> tuple[list[str], list[str]]:
    by_id = {(v.copy.kind, v.copy.id): v for v in batch}
    files: list[str] = []
    with rt.sessions.begin() as session:
        purged: list[dict[str, Any]] = []
        for message in store.lock_messages(session, [i for k, i in by_id if k == MESSAGE]):
            message.payload, message.purged_at = b"", now
            if message.payload_file is not None:
                files.append(message.payload_file)
            purged.append(_item(by_id[(MESSAGE, message.id)], message.payload_digest))
        for delivery in store.lock_deliveries(session, [i for k, i in by_id if k == DELIVERY]):
            delivery.body, delivery.payload, delivery.purged_at = b"", {}, now
            purged.append(_item(by_id[(DELIVERY, delivery.id)], delivery.body_digest))
        if not purged:
            return [], []
        session.flush()
        unneeded = sorted({f for f in files if not store.file_still_needed(session, f)})
        audit.record(session, rt, [_entry(purged, now)])
    _delete_files(rt, unneeded)  # after the commit: a failed commit leaves the bytes in place
    return _ids(purged, MESSAGE), _ids(purged, DELIVERY)


def _item(v: Verdict, digest: str) -> dict[str, Any]:
    return {
        "kind": v.copy.kind,
        "id": v.copy.id,
        "digest": digest,
        "retentionEnded": v.ends.isoformat() if v.ends else None,
        "agreements": list(v.agreements),
    }


def _entry(purged: list[dict[str, Any]], now: dt.datetime) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind=PURGED_KIND,
        actor="gateway/retention",
        subject="",
        details={"purgedAt": now.isoformat(), "count": len(purged), "copies": purged},
    )


def _ids(purged: Iterable[dict[str, Any]], kind: str) -> list[str]:
    return [p["id"] for p in purged if p["kind"] == kind]


def _delete_files(rt: Runtime, names: Iterable[str]) -> None:
    for name in names:
        try:
            payloads.file_for(rt, name).unlink(missing_ok=True)
        except OSError as exc:  # the row is purged; a file left behind is named for the operator
            log.warning("retention: could not delete payload file %s: %s", name, type(exc).__name__)


def standing(rt: Runtime, today: dt.date) -> dict[str, Any]:
    """What is past retention (to purge, or pending a replay/attempt) and what was purged."""
    with rt.sessions() as session:
        found = verdicts(session, today, include_purged=True)
    rows = [_row(v) for v in found if v.action in (PURGE, PENDING, PURGED)]
    counts = {a: sum(1 for v in found if v.action == a) for a in (PURGE, PENDING, PURGED)}
    return {"date": today.isoformat(), "counts": counts, "copies": rows}


def _row(v: Verdict) -> dict[str, Any]:
    return {
        "kind": v.copy.kind,
        "id": v.copy.id,
        "status": v.copy.status,
        "source": v.copy.source,
        "recipient": v.copy.recipient or None,
        "standing": {PURGE: "past-retention", PENDING: "past-retention-pending", PURGED: "purged"}[v.action],
        "retentionEnds": v.ends.isoformat() if v.ends else None,
        "agreements": list(v.agreements),
    }
