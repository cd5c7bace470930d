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

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.clients.hsds_api import HsdsClient
from gateway.core.canonical import digest_bytes
from gateway.errors import InputInvalid, Issue
from gateway.formats.hsds_common import REJECTED, DirectoryRecord, Problem, ReadResult, text
from gateway.formats.hsds_json import add_service, read_json
from gateway.formats.hsds_tabular import read_tabular
from gateway.service import audit
from gateway.service.runtime import Runtime
from gateway.storage import directory_store as store

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
    if path.is_dir() or zipfile.is_zipfile(path):
        result = read_tabular(path, source)
    elif path.suffix.lower() == ".csv":
        result = read_tabular(path.parent, source)  # one CSV file of a package: read its folder
    else:
        result = read_json(path.read_bytes(), path.name, source)
    return apply(rt, source, path.name, result, full=True, watermark="", actor=actor)


def import_url(
    rt: Runtime, url: str, source: str | None = None, actor: str = "cli", client: HsdsClient | None = None
) -> ImportReport:
    """Full the first time, then the services modified after the last import's newest one."""
    source = _checked_source(source or default_source(url))
    client = client or HsdsClient(url)
    with rt.sessions() as session:
        known = store.source_row(session, source)
    watermark = known.watermark if known is not None and known.origin == url else ""
    result, newest = ReadResult(version="3.x"), watermark
    for page in client.services(modified_after=watermark):
        for index, service in enumerate(page.services):
            add_service(
                result, service, source, f"{client.base_url}/services?page={page.number} $.contents[{index}]"
            )
            modified = text(service.get("last_modified")) if isinstance(service, dict) else ""
            newest = max(newest, modified)
    return apply(rt, source, url, result, full=not watermark, watermark=newest, actor=actor)


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
    rt: Runtime, source: str, origin: str, result: ReadResult, *, full: bool, watermark: str, actor: str
) -> ImportReport:
    records = {r.sal.id: (r, _digest(r)) for r in result.records}  # the last of an id wins
    incoming = {i: (r.sal.service_id, d) for i, (r, d) in records.items()}
    digest = digest_bytes(orjson.dumps(sorted((i, d) for i, (_, d) in incoming.items())))
    now = rt.now()
    with rt.sessions.begin() as session:
        stored = store.stored_digests(session, source)
        changes = plan_changes(incoming, stored, result.gone, full=full, held=result.held)
        store.delete_ids(session, [*changes.removed, *changes.changed])
        written = [records[i] for i in (*changes.added, *changes.changed)]
        store.insert_rows(session, [store.row_values(r.sal, r.modified, d, now) for r, d in written])
        store.save_source(session, source, origin, watermark, digest, now)
        report = _report(source, origin, result, full, changes, digest, watermark)
        audit.record(session, rt, [_audit_draft(report, actor)])
    if changes.added or changes.changed or changes.removed:
        with rt.sessions.begin() as session:  # after the commit: statistics of the rows now visible
            store.analyze(session)
    audit.checkpoint(rt)
    return report


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


def _audit_draft(report: ImportReport, actor: str) -> audit.AuditDraft:
    counts = {k: v for k, v in report.to_dict().items() if k not in ("problems", "origin")}
    return audit.AuditDraft(kind="directory.imported", actor=actor, subject="", details=counts)
