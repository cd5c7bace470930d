"""Check before you send: what an exchange would do, without storing anything.

A payload walks the pipeline's own steps (parse and validate, map, decide, identify, merge, the
Gravity referral rules, the schema check) inside one database transaction that is always rolled
back, so a check and a real ingest cannot drift apart: "held, no student is linked" is computed
by the same lookups, a policy denial by the same decision, a refused referral status by the same
state machine. Batches run in savepoints, as ingest runs them in transactions: a batch that raises
is halved until the failing record is isolated, and later batches see what earlier ones would
have written (a student created by record 1 is known to record 900).

Nothing is kept: no message, no payload copy, no plan, link, served FHIR resource or audit entry
of the records (the pipeline is told not to audit: entries of a rolled-back transaction vanish
anyway, and holding the audit head's lock for a whole file would stall other writers). What
ingest does after its transactions is left out: the derived attendance summary and a OneRoster
manifest's retractions (a check reports records, not those side effects).

A partner's check over the API is audited with one entry (``exchange.check``: format, payload
digest, size and counts, no student): the gateway read records about students for that partner
and answered which would land and which would be held, which tells the partner whether a student
is known here; the accounting should show that the question was asked, and the digest proves
which file it was asked about without keeping it.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gateway.core.canonical import digest_bytes
from gateway.core.policy import PolicySet
from gateway.errors import GatewayError
from gateway.formats import stream_payload
from gateway.formats.records import SourceRecord
from gateway.service.compliance import audit
from gateway.service.exchange.batch import Exchange, run_batch
from gateway.service.exchange.exchanges import ONEROSTER_BUNDLES

# The very outcomes ingest gives (one definition each, so the two cannot drift apart).
from gateway.service.exchange.ingest import (
    _exchange,
    _failed,
    _log_failure,
    _refusal,
    _unreadable_rest,
    record_batches,
)
from gateway.service.exchange.oneroster import FORMAT as ONEROSTER_FORMAT
from gateway.service.exchange.oneroster import bundle_bytes
from gateway.service.exchange.outcomes import ACCEPTED, FAILED, HELD, IGNORED, REJECTED, RecordOutcome
from gateway.service.policy.policies import policy_set
from gateway.service.runtime import Runtime
from gateway.storage.db import Session
from gateway.storage.tables import Message

CHECK_KIND = "exchange.check"
MAX_REASONS = 5  # distinct reasons listed per outcome; counts stay exact
OUTCOMES = (ACCEPTED, HELD, IGNORED, REJECTED, FAILED)


@dataclass
class _Reason:
    count: int
    first_location: str


@dataclass
class _Tally:
    """Counts per outcome and the distinct reasons, in the order they first appeared."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, dict[str, _Reason]] = field(default_factory=dict)
    students: set[str] = field(default_factory=set)

    def add(self, outcome: RecordOutcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.status == ACCEPTED:
            if outcome.student_id:
                self.students.add(outcome.student_id)
            return
        key, where = _reason_of(outcome)
        seen = self.reasons.setdefault(outcome.status, {})
        if key in seen:
            seen[key].count += 1
        else:
            seen[key] = _Reason(count=1, first_location=where)


def _reason_of(outcome: RecordOutcome) -> tuple[str, str]:
    """A reason with its first issue's message, which says what to fix; the issue's path differs
    per record, so it goes to the location instead of splitting one reason into many."""
    if not outcome.issues:
        return outcome.reason, outcome.location
    issue = outcome.issues[0]
    where = issue.path if issue.path.startswith(outcome.location) else f"{outcome.location}: {issue.path}"
    return f"{outcome.reason}: {issue.message}", where


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """One file's answer: what would land, be held, be ignored or be rejected, and why."""

    name: str
    format: str
    payload_digest: str
    size: int
    counts: dict[str, int]
    students: int
    reasons: dict[str, list[dict[str, Any]]]
    error: dict[str, Any] | None = None

    @property
    def would_reject(self) -> bool:
        return self.error is not None or bool(self.counts[REJECTED] or self.counts[FAILED])

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "dryRun": True,
            "file": self.name,
            "format": self.format,
            "payloadDigest": self.payload_digest,
            "size": self.size,
            "records": sum(self.counts.values()),
            **self.counts,
            "students": self.students,
            "wouldReject": self.would_reject,
            "reasons": self.reasons,
        }
        if self.error is not None:
            body["error"] = self.error
        return body


def check_payload(
    rt: Runtime,
    *,
    source_org: str,
    format_name: str,
    payload: bytes,
    entity: str | None = None,
    name: str = "body",
) -> CheckReport:
    """A payload received whole (the API's body): the HTTP limits, bulk only for a OneRoster bundle."""
    bulk = format_name in ONEROSTER_BUNDLES
    stream = io.BytesIO(payload)
    return _check(
        rt, source_org, format_name, stream, len(payload), digest_bytes(payload), entity, name, bulk
    )


def check_file(
    rt: Runtime, *, source_org: str, format_name: str, path: Path, entity: str | None = None
) -> CheckReport:
    """A file (the CLI's): bulk limits and batches, streamed as ingest streams it; a OneRoster folder
    is zipped the way ingest zips it."""
    if format_name in ONEROSTER_BUNDLES:
        payload = bundle_bytes(path)
        stream: BinaryIO = io.BytesIO(payload)
        size, digest = len(payload), digest_bytes(payload)
    else:
        size, digest = path.stat().st_size, _file_digest(path)
        stream = path.open("rb")
    with stream:
        return _check(rt, source_org, format_name, stream, size, digest, entity, path.name, True)


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _check(
    rt: Runtime,
    source_org: str,
    format_name: str,
    stream: BinaryIO,
    size: int,
    digest: str,
    entity: str | None,
    name: str,
    bulk: bool,
) -> CheckReport:
    wire = ONEROSTER_FORMAT if format_name in ONEROSTER_BUNDLES else format_name
    tally = _Tally()
    error = None
    try:
        error = _run(rt, _message(rt, source_org, wire, entity, size, digest, bulk), stream, tally, bulk)
    except GatewayError as exc:  # refused before a record was read: as ingest refuses it
        error = exc
    if error is not None:  # ingest counts a payload refused whole as one rejected record at "$"
        tally.add(RecordOutcome(location="$", status=REJECTED, reason=error.message, issues=error.issues))
    return CheckReport(
        name=name,
        format=wire,
        payload_digest=digest,
        size=size,
        counts={status: tally.counts[status] for status in OUTCOMES},
        students=len(tally.students),
        reasons={
            status: [
                {"reason": reason, "count": r.count, "firstLocation": r.first_location}
                for reason, r in list(found.items())[:MAX_REASONS]
            ]
            for status, found in tally.reasons.items()
        },
        error=None if error is None else error.to_dict()["error"],
    )


def _message(
    rt: Runtime, source_org: str, wire: str, entity: str | None, size: int, digest: str, bulk: bool
) -> Message:
    """An unsaved message row, so ingest's own checks (limits, partner) judge the check too."""
    now = rt.now()
    return Message(
        id=str(uuid.uuid4()),  # never stored, but shaped like a message id (columns that keep one)
        organization_id=source_org,
        format=wire,
        entity=entity,
        resource_id=None,
        payload=b"-",
        payload_file="check" if bulk else None,
        payload_digest=digest,
        size=size,
        outcome={},
        received_at=now,
        updated_at=now,
    )


def _run(rt: Runtime, message: Message, stream: BinaryIO, tally: _Tally, bulk: bool) -> GatewayError | None:
    refusal = _refusal(rt, message)
    if refusal is not None:
        return refusal
    exchange = _exchange(rt, message)
    size = rt.settings.bulk_batch_size if bulk else rt.settings.batch_size
    with rt.sessions() as session:
        transaction = session.begin()
        try:
            return _run_stream(session, rt, exchange, stream, message.entity, tally, size)
        finally:
            transaction.rollback()  # always: a check stores nothing


def _run_stream(
    session: Session,
    rt: Runtime,
    exchange: Exchange,
    stream: BinaryIO,
    entity: str | None,
    tally: _Tally,
    size: int,
) -> GatewayError | None:
    policy = policy_set(session, rt)
    try:
        for batch in record_batches(stream_payload(exchange.format, stream, entity), tally.add, size):
            for outcome in _run_batch(session, rt, exchange, batch, policy):
                tally.add(outcome)
            session.expunge_all()  # the transaction holds the rows; the session need not hold objects
            del batch  # not held while the next batch is read
    except GatewayError as exc:
        if not tally.counts:
            return exc
        tally.add(_unreadable_rest(exc))
    return None


def _run_batch(
    session: Session, rt: Runtime, exchange: Exchange, batch: list[SourceRecord], policy: PolicySet
) -> list[RecordOutcome]:
    try:
        with session.begin_nested():
            return run_batch(session, rt, exchange, batch, policy, audited=False)
    except Exception as exc:
        if len(batch) == 1:
            _log_failure(exc, exchange, batch[0])
            return [_failed(batch[0], exc)]
    half = (len(batch) + 1) // 2
    return _run_batch(session, rt, exchange, batch[:half], policy) + _run_batch(
        session, rt, exchange, batch[half:], policy
    )


def audit_check(rt: Runtime, source_org: str, report: CheckReport) -> None:
    """One entry that a partner ran a check: what was checked (digest), never what it said."""
    draft = audit.AuditDraft(
        kind=CHECK_KIND,
        actor=source_org,
        subject="",
        details={
            "format": report.format,
            "payloadDigest": report.payload_digest,
            "size": report.size,
            **report.counts,
            "wouldReject": report.would_reject,
        },
    )
    with rt.sessions.begin() as session:
        audit.record(session, rt, [draft])
    audit.checkpoint(rt)
