"""Directory import: an HSDS file, package or API into ``directory_services``, in one transaction
with its audit entry.

- A file or package is a **full** import, a snapshot of its source: records it no longer carries
  are removed. An API import is full the first time (no watermark) and incremental after:
  ``/services?modified_after=<watermark>``; a service whose status is inactive or defunct is
  removed, the rest replaces what it changed.
- Each record has a digest: the same record again is ``unchanged`` (no write), a changed one
  replaces the stored row. Writes are set-based (INSERT of many rows, DELETE by id lists).
- A record that breaks the schema is ``rejected`` with its file and row and does not land; what
  the gateway held of that service stays (a broken row does not remove a good old one).
- Directory data is public information, not about a student: the import writes one audit entry
  (``directory.imported``: source, counts, digest), reads are not audited."""

from __future__ import annotations

import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.clients.hsds_api import HsdsClient
from gateway.core.canonical import digest_bytes
from gateway.errors import Conflict, InputInvalid, Issue, NotFound
from gateway.formats.hsds_common import REJECTED, DirectoryRecord, Problem, ReadResult, text
from gateway.formats.hsds_json import add_service, read_json
from gateway.formats.hsds_tabular import read_tabular
from gateway.service.compliance import audit
from gateway.service.exchange import payloads
from gateway.service.exchange.message_state import Finished, claim, finish_failed, finish_superseded
from gateway.service.exchange.outcomes import ACCEPTED, RecordOutcome, Tally
from gateway.service.exchange.outcomes import REJECTED as REJECTED_RECORD
from gateway.service.runtime import Runtime
from gateway.storage import directory_store as store
from gateway.storage import message_store
from gateway.storage.db import Session
from gateway.storage.tables import Message

MAX_SOURCE = 64
SHOWN_PROBLEMS = 20


@dataclass(frozen=True, kw_only=True)
class ImportReport:
    source: str
    origin: str
    version: str
    full: bool
    added: int
    changed: int
    unchanged: int
    removed: int
    rejected: int
    problems: tuple[Problem, ...]
    digest: str
    watermark: str
    message_id: str = ""  # the import kept in the message store when rows were rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "origin": self.origin,
            "version": self.version,
            "full": self.full,
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "rejected": self.rejected,
            "warnings": sum(1 for p in self.problems if p.severity != REJECTED),
            "problems": [p.to_dict() for p in self.problems[:SHOWN_PROBLEMS]],
            "digest": self.digest,
            "watermark": self.watermark,
            "messageId": self.message_id or None,
        }


@dataclass(frozen=True, kw_only=True)
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def default_source(origin: str) -> str:
    """A file's stem, or a URL's host, when no ``--source`` is given."""
    if "://" in origin:
        return urlsplit(origin).hostname or "hsds-api"
    return Path(origin).name.split(".")[0] or "directory"


def import_path(rt: Runtime, path: Path, source: str | None = None, actor: str = "cli") -> ImportReport:
    source = _checked_source(source or default_source(str(path)))
    if not path.exists():
        raise InputInvalid(
            f"{path.name} does not exist", [Issue(path=str(path), message="give a file or folder")]
        )
    if path.suffix.lower() == ".csv" and path.is_file():
        path = path.parent  # one CSV file of a package: read its folder
    tabular = path.is_dir() or zipfile.is_zipfile(path)
    result = read_tabular(path, source) if tabular else read_json(path.read_bytes(), path.name, source)
    kept = None
    if _rejects(result):
        name, size = _copy_of(rt, path)
        kept = Kept(source=source, origin=path.name, kind=TABULAR if tabular else JSON, file=name, size=size)
    return apply(rt, source, path.name, result, full=True, watermark="", actor=actor, kept=kept)


def import_url(
    rt: Runtime, url: str, source: str | None = None, actor: str = "cli", client: HsdsClient | None = None
) -> ImportReport:
    """Full the first time, then the services modified after the last import's newest one."""
    source = _checked_source(source or default_source(url))
    client = client or HsdsClient(url)
    with rt.sessions() as session:
        known = store.source_row(session, source)
    watermark = known.watermark if known is not None and known.origin == url else ""
    result, newest, refused = ReadResult(version="3.x"), watermark, []
    for page in client.services(modified_after=watermark):
        for index, service in enumerate(page.services):
            before = len(result.problems)
            add_service(
                result, service, source, f"{client.base_url}/services?page={page.number} $.contents[{index}]"
            )
            if any(p.severity == REJECTED for p in result.problems[before:]):
                refused.append(service)  # kept for a replay, as the API sent it
            modified = text(service.get("last_modified")) if isinstance(service, dict) else ""
            newest = max(newest, modified)
    kept = None
    if _rejects(result):
        payload = orjson.dumps(refused)
        kept = Kept(
            source=source, origin=url, kind=JSON, file=payloads.store_bytes(rt, payload), size=len(payload)
        )
    return apply(rt, source, url, result, full=not watermark, watermark=newest, actor=actor, kept=kept)


def _checked_source(source: str) -> str:
    if not source.strip() or len(source) > MAX_SOURCE or ":" in source:
        raise InputInvalid(
            "the directory's source name is not usable",
            [Issue(path="--source", message=f"1-{MAX_SOURCE} characters without ':', e.g. 211-ri")],
        )
    return source.strip()


def _digest(record: DirectoryRecord) -> str:
    body = {"sal": record.sal, "modified": record.modified}
    return digest_bytes(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


def plan_changes(
    incoming: dict[str, tuple[str, str]],
    stored: dict[str, tuple[str, str]],
    gone: set[str],
    *,
    full: bool,
    held: frozenset[str] | set[str] = frozenset(),
) -> Changes:
    """What an import does, from id -> (service id, digest) of both sides: pure."""
    changes = Changes()
    republished = {service_id for service_id, _ in incoming.values()}
    for sal_id, (_, digest) in incoming.items():
        known = stored.get(sal_id)
        bucket = (
            changes.added if known is None else changes.unchanged if known[1] == digest else changes.changed
        )
        bucket.append(sal_id)
    for sal_id, (service_id, _) in stored.items():
        absent = full and sal_id not in incoming and service_id not in held
        # An incremental import republishes a service whole: a place it no longer lists is gone.
        replaced = not full and service_id in republished and sal_id not in incoming
        if absent or service_id in gone or replaced:
            changes.removed.append(sal_id)
    return changes


def apply(
    rt: Runtime,
    source: str,
    origin: str,
    result: ReadResult,
    *,
    full: bool,
    watermark: str,
    actor: str,
    kept: Kept | None = None,
) -> ImportReport:
    """Write the import, and with ``kept`` (its rejected rows' copy) keep it as a message, in
    one transaction with its audit entry."""
    with rt.sessions.begin() as session:
        report = write(
            session, rt, Kept(source=source, origin=origin), result, full=full, watermark=watermark
        )
        if kept is not None:
            report = replace(report, message_id=_add_message(session, rt, report, result, kept))
        audit.record(session, rt, [_audit_draft(report, actor)])
    _after_write(rt, report)
    return report


def write(
    session: Session, rt: Runtime, kept: Kept, result: ReadResult, *, full: bool, watermark: str | None
) -> ImportReport:
    """The import's writes in the caller's transaction; ``watermark`` None (a replay) leaves the
    source's watermark, digest and time as they are."""
    source, origin = kept.source, kept.origin
    records = {r.sal.id: (r, _digest(r)) for r in result.records}  # the last of an id wins
    incoming = {i: (r.sal.service_id, d) for i, (r, d) in records.items()}
    digest = digest_bytes(orjson.dumps(sorted((i, d) for i, (_, d) in incoming.items())))
    now = rt.now()
    stored = store.stored_digests(session, source)
    changes = plan_changes(incoming, stored, result.gone, full=full, held=result.held)
    store.delete_ids(session, [*changes.removed, *changes.changed])
    written = (records[i] for i in (*changes.added, *changes.changed))
    store.insert_rows(session, (store.row_values(r.sal, r.modified, d, now) for r, d in written))
    if watermark is not None:
        store.save_source(session, source, origin, watermark, digest, now)
    return _report(source, origin, result, full, changes, digest, watermark or "")


def _after_write(rt: Runtime, report: ImportReport) -> None:
    if report.added or report.changed or report.removed:
        with rt.sessions.begin() as session:  # after the commit: statistics of the rows now visible
            store.analyze(session)
    audit.checkpoint(rt)


def _report(
    source: str, origin: str, result: ReadResult, full: bool, changes: Changes, digest: str, watermark: str
) -> ImportReport:
    return ImportReport(
        source=source,
        origin=origin,
        version=result.version,
        full=full,
        added=len(changes.added),
        changed=len(changes.changed),
        unchanged=len(changes.unchanged),
        removed=len(changes.removed),
        rejected=sum(1 for p in result.problems if p.severity == REJECTED),
        problems=tuple(sorted(result.problems, key=lambda p: p.severity != REJECTED)),
        digest=digest,
        watermark=watermark,
    )


def _audit_draft(report: ImportReport, actor: str, replay_of: str = "") -> audit.AuditDraft:
    counts = {k: v for k, v in report.to_dict().items() if k not in ("problems", "origin", "messageId")}
    if report.message_id:
        counts["replayOf" if replay_of else "messageId"] = report.message_id
    return audit.AuditDraft(kind="directory.imported", actor=actor, subject="", details=counts)


# An import whose rows were rejected is kept in the message store, as any rejected exchange:
# a copy of what was read (the file, the folder zipped, or the API's rejected services), the
# per-row reasons and the services those rows kept out. ``spgw messages list`` shows it, and a
# replay (``replay`` here; ``spgw messages replay`` through ``rerun``) reads the copy again
# after a fix to the gateway and lands those services: only them, never the rest of an older
# snapshot, and not at all once a later import of the directory replaced it.

FORMAT = "hsds-directory"  # the message format of a kept directory import
TABULAR, JSON = "tabular", "json"  # its entity: how the copy is read again


@dataclass(frozen=True, kw_only=True)
class Kept:
    """What a replay needs besides the bytes (kept as the message's ``outcome.directory``)."""

    source: str
    origin: str
    kind: str = JSON
    file: str = ""  # the payload store's name of the copy
    size: int = 0
    held: tuple[str, ...] = ()  # the services rejected rows kept out

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "origin": self.origin, "held": list(self.held)}


def _rejects(result: ReadResult) -> bool:
    return any(p.severity == REJECTED for p in result.problems)


def _copy_of(rt: Runtime, path: Path) -> tuple[str, int]:
    """A content-addressed copy of a file, or of a folder as a zip (the replay reads either)."""
    if path.is_file():
        return payloads.store_file(rt, path)
    with tempfile.TemporaryDirectory(prefix="spgw-hsds-") as tmp:
        target = Path(tmp) / "package.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(p for p in path.rglob("*") if p.is_file()):
                archive.write(member, member.relative_to(path).as_posix())
        return payloads.store_file(rt, target)


def _add_message(session: Session, rt: Runtime, report: ImportReport, result: ReadResult, kept: Kept) -> str:
    now = rt.now()
    kept = replace(kept, held=tuple(sorted(result.held)))
    landed = report.added + report.changed + report.unchanged
    status, reason, outcome = _outcome(report, landed, kept)
    message = Message(
        id=str(uuid.uuid4()),
        organization_id=kept.source,
        format=FORMAT,
        entity=kept.kind,
        payload=b"",
        payload_file=kept.file,
        payload_digest="sha256:" + kept.file,
        size=kept.size,
        status=status,
        reason=reason,
        outcome=outcome,
        attempts=1,
        received_at=now,
        updated_at=now,
    )
    message_store.add_message(session, message)
    return message.id


def _outcome(report: ImportReport, landed: int, kept: Kept) -> tuple[str, str, dict[str, Any]]:
    """Status, reason and outcome in the message store's shape (``messages show`` lists the rows)."""
    tally = Tally()
    for problem in report.problems:
        if problem.severity == REJECTED:
            tally.add(RecordOutcome(location=problem.where, status=REJECTED_RECORD, reason=problem.message))
    tally.counts[ACCEPTED] += landed
    return tally.status(), tally.reason(), {**tally.to_outcome(), "directory": kept.to_dict()}


def replay(rt: Runtime, message_id: str, actor: str = "cli") -> ImportReport:
    """Read a kept import again and land the services its rejected rows kept out (those still
    rejected stay listed on the message); what else the directory holds is left as it is.
    Refused (409) once a later import replaced it; the message then ends ``superseded``."""
    with rt.sessions() as session:
        superseded = _superseded(session, message_store.get_message(session, message_id), message_id)
    if superseded:
        finish_superseded(rt, message_id, superseded)
        raise Conflict(f"message {message_id}: {superseded}")
    return _rerun(rt, claim(rt, message_id), actor)[0]


def rerun(rt: Runtime, message: Message) -> Finished:
    """``replay`` of a message ``ingest.process`` has claimed: the hook for ``spgw messages replay``.
    A replaced import ends ``superseded`` (final: a replay of statuses leaves it alone)."""
    with rt.sessions() as session:
        superseded = _superseded(session, message, message.id)
    if superseded:
        return finish_superseded(rt, message.id, superseded)
    return _rerun(rt, message, "replay")[1]


def _superseded(session: Session, message: Message | None, message_id: str) -> str:
    """Why a later import replaced the kept one ("" when none did): only a snapshot as new as
    the directory's last import may land, or it would bring back what that import changed."""
    if message is None or message.format != FORMAT:
        raise NotFound(f"message {message_id} is not a kept directory import")
    known = store.source_row(session, message.organization_id)
    if known is None or known.imported_at <= message.received_at:
        return ""
    return (
        f"superseded by a later import of {message.organization_id} "
        f"({known.imported_at.isoformat(timespec='seconds')}); import the directory again instead"
    )


def _rerun(rt: Runtime, message: Message, actor: str) -> tuple[ImportReport, Finished]:
    try:
        info = (message.outcome or {}).get("directory") or {}
        kept = Kept(
            source=message.organization_id, origin=str(info.get("origin", "")), kind=message.entity or JSON
        )
        retry = _only(_read_again(rt, message, kept), frozenset(info.get("held", [])))
        with rt.sessions.begin() as session:
            report = replace(
                write(session, rt, kept, retry, full=False, watermark=None), message_id=message.id
            )
            landed = int((message.outcome or {}).get("accepted", 0)) + report.added + report.changed
            status, reason, outcome = _outcome(report, landed, replace(kept, held=tuple(sorted(retry.held))))
            row = message_store.get_message(session, message.id)
            assert row is not None
            row.status, row.reason, row.outcome, row.updated_at = status, reason, outcome, rt.now()
            audit.record(session, rt, [_audit_draft(report, actor, replay_of=message.id)])
    except Exception as exc:  # ends failed (its type as the code), replayable again
        finish_failed(rt, message.id, exc, Tally())
        raise
    _after_write(rt, report)
    return report, Finished(status=status, reason=reason, outcome=outcome)


def _read_again(rt: Runtime, message: Message, kept: Kept) -> ReadResult:
    with payloads.open_payload(rt, message.payload, message.payload_file, message.payload_digest) as stream:
        if kept.kind != TABULAR:
            return read_json(stream.read(), kept.origin, kept.source)
    return read_tabular(payloads.file_for(rt, message.payload_file or ""), kept.source)


def _only(result: ReadResult, held: frozenset[str]) -> ReadResult:
    """The records of the services rejected rows kept out, and the rows still rejected."""
    return ReadResult(
        version=result.version,
        records=[r for r in result.records if r.sal.service_id in held],
        problems=[p for p in result.problems if p.severity == REJECTED],
        held=result.held & held,
    )
