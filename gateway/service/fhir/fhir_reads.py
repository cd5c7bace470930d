"""Reading served FHIR resources: read, vread and search, each decided and audited.

A resource the caller may not see answers exactly as one that does not exist (404, same words);
a search leaves it out before anything is counted, so ``total`` counts only what this caller is
shown, and ``_include`` d resources are decided the same way. Every read and search writes its
decisions, one disclosure entry per student whose records another organization sent, and one
``fhir.read`` / ``fhir.search`` entry naming what was returned by type and id (ids, never
content), in the read's own transaction (fail closed: no audit, no answer).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.disclosure import FHIR_READ
from gateway.core.fhir_query import ParsedSearch
from gateway.core.fhir_search import parameters_of, tokens_of
from gateway.core.policy import Decision
from gateway.errors import Gone, Issue, NotFound
from gateway.service.compliance import audit, disclosures
from gateway.service.fhir.fhir_access import Judge, Reader
from gateway.service.runtime import Runtime
from gateway.storage import fhir_store
from gateway.storage.fhir_store import RowLabels, SearchQuery
from gateway.storage.tables import FhirResourceRow


@dataclass(frozen=True, kw_only=True)
class Found:
    """One resource as read: its document, version and when it changed."""

    document: dict[str, Any]
    version_id: int
    last_updated: str


@dataclass(frozen=True, kw_only=True)
class SearchPage:
    matches: tuple[dict[str, Any], ...]
    included: tuple[dict[str, Any], ...]
    total: int
    offset: int
    count: int

    @property
    def has_next(self) -> bool:
        return self.offset + self.count < self.total


def not_found(resource_type: str) -> NotFound:
    # One answer for an unknown id and one the caller may not see: it names nothing it was sent.
    return NotFound(
        f"no such {resource_type}",
        [Issue(path="id", message="unknown, or not visible to this credential's role and purpose")],
    )


def read(
    rt: Runtime, reader: Reader, resource_type: str, resource_id: str, version: int | None = None
) -> Found:
    with rt.sessions.begin() as session:
        row = fhir_store.current(session, resource_type, resource_id)
        judge = Judge(session=session, rt=rt, reader=reader)
        labels = fhir_store.labels_of(row) if row is not None else None
        visible = labels is not None and judge.sees(labels)
        shown = [labels] if visible and labels is not None else []
        audit.record(session, rt, _drafts(judge, "fhir.read", resource_type, shown, {"id": resource_id}))
        if row is None or not visible:
            raise not_found(resource_type)
        found = _version(session, row, version)
    audit.checkpoint(rt)
    return found


def _version(session: Any, row: FhirResourceRow, version: int | None) -> Found:
    if version is None:
        if row.deleted_at is not None:
            raise Gone(f"{row.resource_type}/{row.id} was deleted", [Issue(path="id", message="deleted")])
        return Found(
            document=row.document, version_id=row.version_id, last_updated=_instant(row.last_updated)
        )
    kept = fhir_store.version(session, row.resource_type, row.id, version)
    if kept is None:
        raise NotFound(
            f"{row.resource_type}/{row.id} has no version {version}", [Issue(path="vid", message="")]
        )
    if kept.deleted:
        raise Gone(f"version {version} of {row.resource_type}/{row.id} is a deletion", [])
    return Found(document=kept.document, version_id=kept.version_id, last_updated=_instant(kept.last_updated))


def _instant(value: Any) -> str:
    return str(value.isoformat())


def search(rt: Runtime, reader: Reader, parsed: ParsedSearch) -> SearchPage:
    query = SearchQuery(
        resource_type=parsed.resource_type,
        filters=parsed.criteria,
        last_updated=parsed.last_updated,
        ids=parsed.ids,
    )
    with rt.sessions.begin() as session:
        judge = Judge(session=session, rt=rt, reader=reader)
        matching = list(fhir_store.matching_labels(session, query))
        judge.prefetch(matching)
        visible = [row for row in matching if judge.sees(row)]
        page = [] if parsed.summary == "count" else visible[parsed.offset : parsed.offset + parsed.count]
        matches = fhir_store.documents(session, parsed.resource_type, [r.id for r in page])
        included, included_rows = _included(session, judge, parsed, matches)
        details = {
            "parameters": sorted({name for name, _ in parsed.used}),
            "total": len(visible),
            # Every match is decided to count it; only the decisions behind what was shown are
            # entries of their own (a poll must not write one per match).
            "decided": len(judge.decisions),
        }
        drafts = _drafts(judge, "fhir.search", parsed.resource_type, [*page, *included_rows], details)
        audit.record(session, rt, drafts)
    audit.checkpoint(rt)
    return SearchPage(
        matches=tuple(matches),
        included=tuple(included),
        total=len(visible),
        offset=parsed.offset,
        count=parsed.count,
    )


def _included(
    session: Any, judge: Judge, parsed: ParsedSearch, matches: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[RowLabels]]:
    wanted: set[tuple[str, str]] = set()
    for include in parsed.includes:
        for document in matches:
            for name, value in tokens_of(document):
                if name != include.param or value.startswith("identifier:") or "/" not in value:
                    continue
                target, _, ident = value.partition("/")
                parameter = parameters_of(include.source_type)[include.param]
                if include.target_type in (None, target) and (parameter.target or target):
                    wanted.add((target, ident))
    shown_ids = {(parsed.resource_type, str(d.get("id"))) for d in matches}
    rows = [r for r in fhir_store.rows_by_reference(session, wanted - shown_ids)]
    visible = [r for r in rows if judge.sees(fhir_store.labels_of(r))]
    return [r.document for r in visible], [fhir_store.labels_of(r) for r in visible]


def _drafts(
    judge: Judge, kind: str, resource_type: str, shown: list[RowLabels], details: dict[str, Any]
) -> list[audit.AuditDraft]:
    reader = judge.reader
    returned = sorted(f"{r.resource_type}/{r.id}" for r in shown)
    summary = audit.AuditDraft(
        kind=kind,
        actor=reader.actor,
        subject=resource_type,
        details={
            **details,
            "recipient": reader.organization_id,
            "role": reader.role,
            "purpose": reader.purpose,
            "returned": len(returned),
            "returnedDigest": digest(returned),
            "decisions": judge.decision_ids(shown if kind == "fhir.search" else None),
        },
    )
    decisions = judge.decision_drafts(shown if kind == "fhir.search" else None)
    return [*decisions, *_disclosures(judge, shown), summary]


def _disclosures(judge: Judge, shown: list[RowLabels]) -> list[audit.AuditDraft]:
    """One disclosure entry per student whose records another organization sent."""
    by_student: dict[str, list[RowLabels]] = defaultdict(list)
    for row in shown:
        if row.source_org != judge.reader.organization_id and row.student_id:
            by_student[row.student_id].append(row)
    drafts = []
    for student_id, rows in sorted(by_student.items()):
        permitted = _permitted(judge, rows)
        record = disclosures.plan_record(
            flow=FHIR_READ,
            student_id=student_id,
            recipient=judge.reader.organization_id,
            role=judge.reader.role,
            actor=judge.reader.actor,
            purpose=judge.reader.purpose,
            elements=[(f"{r.resource_type}/{r.id}", r.source_org, r.category) for r in rows],
            permitted=permitted,
            policy_version=judge.policy.version if judge.policy is not None else "",
        )
        drafts.append(disclosures.disclosure_draft(record, actor=judge.reader.actor, subject=student_id))
    return drafts


def _permitted(judge: Judge, rows: list[RowLabels]) -> list[Decision]:
    found = {judge.decide(r).decision_id: judge.decide(r) for r in rows}
    return [found[k] for k in sorted(found)]
