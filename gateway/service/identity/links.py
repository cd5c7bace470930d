"""Explicit identity links: a coordinator who has verified that a partner's identifier (say a
clinic's patient id) belongs to a registered student records that link by hand.

The gateway never guesses a link; this is the reviewed path for records that were held because
nothing linked them. The link is audited (the identifier as a digest) and, when asked, the held
messages are replayed at once so the waiting records land.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.canonical import digest
from gateway.core.limits import IDENTIFIER_SYSTEM_MAX, IDENTIFIER_VALUE_MAX
from gateway.errors import Conflict, InputInvalid, Issue, NotFound
from gateway.service.compliance import audit
from gateway.service.exchange.ingest import IngestSummary, replay
from gateway.service.identity.students import resolve_student_ref
from gateway.service.runtime import Runtime
from gateway.storage import message_store, student_store


@dataclass(frozen=True, kw_only=True)
class LinkSummary:
    student_id: str
    system: str
    created: bool  # False when the same link already existed
    replayed: tuple[IngestSummary, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "studentId": self.student_id,
            "system": self.system,
            "created": self.created,
            "replayed": [s.to_dict() for s in self.replayed],
        }


def link_identifier(
    rt: Runtime, *, student_ref: str, system: str, value: str, by: str, replay_held: bool = True
) -> LinkSummary:
    _check(system, value)
    student_id = resolve_student_ref(rt, student_ref)
    with rt.sessions.begin() as session:
        if not student_store.student_exists(session, student_id):
            raise NotFound(f"no student {student_ref} is registered")
        linked = student_store.links_for(session, [(system, value)]).get((system, value))
        if linked is not None and linked != student_id:
            raise Conflict(
                "that identifier is already linked to another student",
                [Issue(path="value", message="check the identifier; links are never moved silently")],
            )
        created = linked is None
        if created:
            student_store.add_links(session, [(system, value, student_id)], None, rt.now())
            audit.record(session, rt, [_audit_draft(by, student_id, system, value)])
    if created:
        audit.checkpoint(rt)
    replayed = _replay_held(rt) if replay_held and created else ()
    return LinkSummary(student_id=student_id, system=system, created=created, replayed=replayed)


def _replay_held(rt: Runtime) -> tuple[IngestSummary, ...]:
    with rt.sessions() as session:
        ids = message_store.message_ids_with_held_records(session)
    return tuple(replay(rt, message_id) for message_id in ids)


def _check(system: str, value: str) -> None:
    issues = [
        Issue(path=name, message=f"give the identifier's {name} (at most {limit} characters)")
        for name, text, limit in (
            ("system", system, IDENTIFIER_SYSTEM_MAX),
            ("value", value, IDENTIFIER_VALUE_MAX),
        )
        if not text.strip() or len(text) > limit
    ]
    if issues:
        raise InputInvalid("the identifier to link is incomplete", issues)


def _audit_draft(by: str, student_id: str, system: str, value: str) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="identity.linked",
        actor=by,
        subject=student_id,
        details={"system": system, "valueDigest": digest(value), "explicit": True},
    )
