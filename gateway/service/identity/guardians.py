"""Guardian links: recorded from accepted education records, by an administrator, removed with
the records that made them, and read at every consent decision.

A link says that a person (an identifier: system + value) is a parent or legal guardian of a
student, and what says so (``gateway/core/guardians.py``). Records write their links inside the
batch's transaction, beside the plan like attendance rows: each accepted record replaces the
links it made before (a changed relation or a lost legal guardianship removes them), and a
retraction of the record (Ed-Fi delete, OneRoster absence or ``tobedeleted``) removes them.

A consent signed by a RelatedPerson counts only while a link names that person for that
student (``with_links``); the decision itself stays in ``core.consent``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.consent import PARENT_ROLES, RELATED_PERSON, Consent
from gateway.core.guardians import GUARDIAN_MAPPINGS, LINKING, GuardianClaim, claim_of, link_id
from gateway.service.compliance.audit import AuditDraft
from gateway.storage import guardians as store
from gateway.storage.db import Session

ADMINISTRATOR, ADMINISTRATOR_ORG = "administrator", "gateway"


@dataclass(frozen=True, kw_only=True)
class AcceptedRecord:
    """An accepted record of one batch, as the link reader needs it."""

    index: int
    student_id: str
    mapping_id: str
    entity: str
    source_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class BatchLinks:
    linked: int  # links new or refreshed
    removed: int
    notes: dict[int, str]  # record index -> why it made no link
    students: tuple[str, ...]


def leave_out(by_student: dict[str, list[tuple[int, Any]]], mapping_of: Callable[[int], str]) -> None:
    """A contact, parent or family-user record is reference data (a guardian link, stored after
    the merge), not plan content: its element never reaches the plan."""
    for student_id, items in list(by_student.items()):
        kept = [(i, e) for i, e in items if mapping_of(i) not in GUARDIAN_MAPPINGS]
        if kept:
            by_student[student_id] = kept
        else:
            del by_student[student_id]


def record_links(
    session: Session,
    *,
    source_org: str,
    message_id: str,
    identifier_systems: Mapping[str, str],
    codes: Mapping[str, Mapping[str, Any]],
    records: Iterable[AcceptedRecord],
    now: Any,
) -> BatchLinks | None:
    """The links the batch's guardian records make now; None when the batch has no such record."""
    claims = [
        (item, claim)
        for item in records
        if (claim := claim_of(item.mapping_id, item.data, identifier_systems, codes)) is not None
    ]
    if not claims:
        return None
    rows = [
        _row(item, claim, source_org, message_id)
        for item, claim in claims
        if claim.authority in LINKING and claim.person is not None
    ]
    removed = _replace(session, source_org, claims, {row["id"] for row in rows})
    store.upsert_links(session, rows, now)
    return BatchLinks(
        linked=len(rows),
        removed=removed,
        notes={item.index: claim.reason for item, claim in claims if claim.reason},
        students=tuple(sorted({row["student_id"] for row in rows})),
    )


def _row(item: AcceptedRecord, claim: GuardianClaim, source_org: str, message_id: str) -> dict[str, Any]:
    assert claim.person is not None
    assert claim.authority is not None
    return {
        "id": link_id(item.student_id, claim.person, claim.source, source_org),
        "student_id": item.student_id,
        "person_system": claim.person[0],
        "person_value": claim.person[1],
        "relationship": claim.relationship[:200],
        "authority": claim.authority,
        "source": claim.source,
        "source_org": source_org,
        "entity": item.entity,
        "source_id": item.source_id,
        "linked_by": None,
        "message_id": message_id,
    }


def _replace(
    session: Session, source_org: str, claims: list[tuple[AcceptedRecord, GuardianClaim]], kept: set[str]
) -> int:
    """Links these records made before and no longer make (a relation changed, a flag cleared)."""
    by_entity: dict[str, set[str]] = {}
    for item, _ in claims:
        by_entity.setdefault(item.entity, set()).add(item.source_id)
    stale = [
        link.id
        for entity, ids in sorted(by_entity.items())
        for link in store.links_of_records(session, source_org, entity, ids)
        if link.id not in kept
    ]
    return store.delete_links(session, stale)


def links_draft(source_org: str, message_id: str, links: BatchLinks) -> AuditDraft:
    # Ids and counts only: the people are named by identifiers, which stay in the table.
    return AuditDraft(
        kind="guardian.linked",
        actor=source_org,
        subject="",
        details={
            "messageId": message_id,
            "source": "education-record",
            "linked": links.linked,
            "removed": links.removed,
            "students": list(links.students),
        },
    )


def retract(session: Session, source_org: str, entity: str, source_ids: Iterable[str]) -> int:
    """Remove the links the retracted records made; how many were removed."""
    links = store.links_of_records(session, source_org, entity, source_ids)
    return store.delete_links(session, [link.id for link in links])


def known_record_ids(session: Session, source_org: str, entity: str) -> set[str]:
    return store.record_source_ids(session, source_org, entity)


# -- at decisions -------------------------------------------------------------------------


def with_links(session: Session, consents: Iterable[Consent]) -> tuple[Consent, ...]:
    """The consents, each RelatedPerson signer marked linked when a link names them for its student."""
    found = tuple(consents)
    asking = [c for c in found if needs_link(c)]
    linked = store.linked_people(
        session, {c.student_id for c in asking}, {i for c in asking for i in c.signer_ids}
    )
    return tuple(
        dataclasses.replace(c, signer_linked=True)
        if needs_link(c) and any((c.student_id, *i) in linked for i in c.signer_ids)
        else c
        for c in found
    )


def needs_link(consent: Consent) -> bool:
    """Signed by a RelatedPerson (a parent, a guardian, or one named only by identifier)."""
    return bool(consent.student_id) and (
        consent.signer_role in PARENT_ROLES or consent.signer_role == RELATED_PERSON
    )
