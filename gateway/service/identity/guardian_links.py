"""``spgw students guardians``: an administrator who has seen the papers (a birth certificate, a
court order) links a parent or legal guardian to a registered student, so a consent they sign
counts; and lists who is linked to a student, by what.

The relationship is an HL7 v3 RoleCode, read through the same crosswalk as a consent's
RelatedPerson (``mappings/codes/relatedperson-authority.yaml``): only a parent or guardian code
links. The link is audited with ids and codes only (the person's identifier as a digest).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.core.canonical import digest
from gateway.core.guardians import LINKING, link_id
from gateway.errors import InputInvalid, Issue, NotFound
from gateway.formats.fhir_signer import AUTHORITY_TABLE, NEEDED, ROLE_CODE_SYSTEM
from gateway.service.compliance import audit
from gateway.service.identity.guardians import ADMINISTRATOR, ADMINISTRATOR_ORG
from gateway.service.identity.students import resolve_student_ref
from gateway.service.runtime import Runtime
from gateway.storage import guardians as store
from gateway.storage import student_store
from gateway.storage.db import Session
from gateway.storage.tables import GuardianLinkRow


@dataclass(frozen=True, kw_only=True)
class GuardianLinkSummary:
    """A link as shown to staff: the person's identifier, the relationship, what links them."""

    id: str
    student_id: str
    system: str
    value: str
    relationship: str
    authority: str
    source: str
    source_org: str
    linked_by: str | None
    created_at: dt.datetime
    created: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "studentId": self.student_id,
            "system": self.system,
            "value": self.value,
            "relationship": self.relationship,
            "authority": self.authority,
            "source": self.source,
            "sourceOrg": self.source_org,
            "linkedBy": self.linked_by,
            "createdAt": self.created_at.isoformat(),
            "created": self.created,
        }


def link_guardian(
    rt: Runtime, *, student_ref: str, system: str, value: str, relationship: str, by: str
) -> GuardianLinkSummary:
    """Link (system, value) to the student as parent or guardian; the same link again changes nothing."""
    authority = _authority(rt, system, value, relationship, by)
    student_id = resolve_student_ref(rt, student_ref)
    now = rt.now()
    with rt.sessions.begin() as session:
        if not student_store.student_exists(session, student_id):
            raise NotFound(f"no student {student_ref} is registered")
        row = {
            "id": link_id(student_id, (system, value), ADMINISTRATOR, ADMINISTRATOR_ORG),
            "student_id": student_id,
            "person_system": system,
            "person_value": value,
            "relationship": relationship,
            "authority": authority,
            "source": ADMINISTRATOR,
            "source_org": ADMINISTRATOR_ORG,
            "entity": None,
            "source_id": None,
            "linked_by": by,
            "message_id": None,
        }
        existing = _stored(session, student_id, str(row["id"]))
        if existing is not None and existing.relationship == relationship:
            return _summary(existing)
        store.upsert_links(session, [row], now)
        stored = _stored(session, student_id, str(row["id"]))
        assert stored is not None
        summary = _summary(stored, created=existing is None)
        audit.record(session, rt, [_audit_draft(summary)])
    audit.checkpoint(rt)
    return summary


def _stored(session: Session, student_id: str, wanted: str) -> GuardianLinkRow | None:
    return next((row for row in store.links_of_student(session, student_id) if row.id == wanted), None)


def _authority(rt: Runtime, system: str, value: str, relationship: str, by: str) -> str:
    issues = [
        Issue(path=name, message=f"give the {name} (at most {limit} characters)")
        for name, text, limit in (("system", system, 300), ("value", value, 200), ("by", by, 200))
        if not text.strip() or len(text) > limit
    ]
    authority = rt.artifacts.codes.get(AUTHORITY_TABLE, {}).get(relationship)
    if authority not in LINKING:
        known = "is not in" if authority is None else "gives no authority to consent in"
        issues.append(
            Issue(
                path="relationship",
                message=f"'{relationship[:40]}' {known} {ROLE_CODE_SYSTEM} ({AUTHORITY_TABLE}); {NEEDED}",
            )
        )
    if issues:
        raise InputInvalid("the guardian link cannot be recorded", issues)
    return str(authority)


def list_guardians(rt: Runtime, student_ref: str) -> list[GuardianLinkSummary]:
    student_id = resolve_student_ref(rt, student_ref)
    with rt.sessions() as session:
        return [_summary(row) for row in store.links_of_student(session, student_id)]


def _summary(row: GuardianLinkRow, created: bool = False) -> GuardianLinkSummary:
    return GuardianLinkSummary(
        id=row.id,
        student_id=row.student_id,
        system=row.person_system,
        value=row.person_value,
        relationship=row.relationship,
        authority=row.authority,
        source=row.source,
        source_org=row.source_org,
        linked_by=row.linked_by,
        created_at=row.created_at,
        created=created,
    )


def _audit_draft(link: GuardianLinkSummary) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="guardian.linked",
        actor=link.linked_by or "",
        subject=link.student_id,
        details={
            "linkId": link.id,
            "source": link.source,
            "system": link.system,
            "valueDigest": digest(link.value),
            "relationship": link.relationship,
            "authority": link.authority,
        },
    )
