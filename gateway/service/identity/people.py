"""Local accounts for the pages: add a person, sign in and out, and what a session may do.

Passwords are hashed with argon2id (argon2-cffi, its RFC 9106 low-memory profile). Every sign-in,
refused or not, is audited by the digest of the email, never the address. A refusal is one message
whatever was wrong (unknown email, wrong password, locked or disabled account), and an unknown
email still costs a hash verification, so neither the words nor the time tell whether an account
exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.core import people as core
from gateway.core.canonical import digest
from gateway.core.people import Lockout, Person
from gateway.errors import AuthenticationFailed, InputInvalid, Issue, NotFound
from gateway.service.administration.partners import COMPLIANCE as COMPLIANCE_ROLE
from gateway.service.compliance import audit
from gateway.service.compliance.audit_access import AuditReader
from gateway.service.identity.guardian_links import link_guardian
from gateway.service.identity.students import resolve_student_ref
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest
from gateway.storage import organization_store, student_store
from gateway.storage import people_store as store
from gateway.storage.db import Session
from gateway.storage.people_tables import PersonRow, WebSessionRow

REFUSED = "the email or password is not right, or the account is locked; try again later"
_HASHER = PasswordHasher()
# Verified when the email is unknown, so a refusal takes as long whether or not the account exists.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
COORDINATION = "care-coordination"


@dataclass(frozen=True, kw_only=True)
class SignedIn:
    token: str  # goes into the session cookie; the database keeps only its digest
    csrf: str
    person: Person


@dataclass(frozen=True, kw_only=True)
class SessionState:
    person: Person
    csrf: str


def add_person(
    rt: Runtime,
    *,
    email: str,
    role: str,
    password: str,
    organization: str | None = None,
    student_refs: tuple[str, ...] | list[str] = (),
    relationship: str = "PRN",
    by: str = "operator",
) -> Person:
    """A new account; a family member is linked to their students as parent (or guardian)."""
    _check_new(rt, email, role, password, organization, student_refs)
    students = [resolve_student_ref(rt, ref) for ref in student_refs]
    normal = core.normal_email(email)
    row = PersonRow(
        id="per-" + secrets.token_hex(8),
        email=normal,
        email_digest=digest(normal),
        role=role,
        organization_id=organization or None,
        password_hash=_HASHER.hash(password),
        failures=0,
        locked_until=None,
        created_at=rt.now(),
        disabled_at=None,
    )
    with rt.sessions.begin() as session:
        if any(not student_store.student_exists(session, student) for student in students):
            raise NotFound("a student named is not registered: check the identifier")
        if store.person_by_email(session, normal) is not None:
            raise InputInvalid(
                "an account with this email exists", [Issue(path="email", message="use another")]
            )
        store.add_person(session, row, students)
        person = _person(row, students)
        audit.record(session, rt, [_added_draft(person, by)])
    for student in students:
        link_guardian(
            rt,
            student_ref=student,
            system=core.GUARDIAN_SYSTEM,
            value=person.id,
            relationship=relationship,
            by=by,
        )
    audit.checkpoint(rt)
    return person


def _check_new(
    rt: Runtime,
    email: str,
    role: str,
    password: str,
    organization: str | None,
    student_refs: tuple[str, ...] | list[str],
) -> None:
    problems = [
        Issue(path=path, message=message)
        for path, message in (
            ("email", core.email_problem(email)),
            ("password", core.password_problem(password)),
            ("role", None if role in core.PAGE_ROLES else f"one of {', '.join(core.PAGE_ROLES)}"),
            ("organization", _organization_problem(rt, role, organization)),
            (
                "student",
                "a family member is linked to at least one student"
                if role == core.FAMILY and not student_refs
                else None,
            ),
        )
        if message
    ]
    if problems:
        raise InputInvalid("the account cannot be added", problems)


def _organization_problem(rt: Runtime, role: str, organization: str | None) -> str | None:
    if role == core.FAMILY:
        return "a family member belongs to no organization" if organization else None
    if role == core.COORDINATOR and not organization:
        return "a coordinator works for an organization: give it"
    if organization is None:
        return None
    with rt.sessions() as session:
        known = {doc["id"] for doc in organization_store.organization_docs(session)}
    return None if organization in known else f"'{organization[:60]}' is not a registered organization"


def sign_in(rt: Runtime, *, email: str, password: str) -> SignedIn:
    """A new session for the person, or AuthenticationFailed (one message whatever was wrong)."""
    normal = core.normal_email(email)[: core.MAX_EMAIL_LENGTH]
    now = rt.now()
    with rt.sessions.begin() as session:
        row = store.person_by_email(session, normal)
        outcome = _check_password(row, password[: core.MAX_PASSWORD_LENGTH], now)
        if row is not None:
            _count(row, outcome, now)
        drafts = [_sign_in_draft(digest(normal), row, outcome)]
        audit.record(session, rt, drafts)
        signed = _open_session(session, row, now) if outcome == "signed-in" and row is not None else None
    audit.checkpoint(rt)
    if signed is None:
        raise AuthenticationFailed(REFUSED)
    return signed


def _check_password(row: PersonRow | None, password: str, now: dt.datetime) -> str:
    if row is None:
        _verify(_DUMMY_HASH, password)
        return "unknown"
    state = Lockout(failures=row.failures, locked_until=row.locked_until)
    matches = _verify(row.password_hash, password)
    if row.disabled_at is not None:
        return "disabled"
    if core.is_locked(state, now):
        return "locked"
    return "signed-in" if matches else "wrong-password"


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _count(row: PersonRow, outcome: str, now: dt.datetime) -> None:
    if outcome == "signed-in":
        row.failures, row.locked_until = 0, None
    elif outcome == "wrong-password":
        state = core.after_failure(Lockout(failures=row.failures, locked_until=row.locked_until), now)
        row.failures, row.locked_until = state.failures, state.locked_until


def _open_session(session: Session, row: PersonRow, now: dt.datetime) -> SignedIn:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    web = WebSessionRow(
        token_digest=_token_digest(token),
        person_id=row.id,
        csrf=csrf,
        created_at=now,
        last_seen=now,
        ended_at=None,
    )
    store.add_session(session, web)
    students = store.students_of(session, row.id)
    return SignedIn(token=token, csrf=csrf, person=_person(row, students))


def session_state(rt: Runtime, token: str) -> SessionState | None:
    """The person and CSRF token of a live session; None when the token names none (or it ended)."""
    if not token or len(token) > 200:
        return None
    now = rt.now()
    with rt.sessions.begin() as session:
        web = store.web_session(session, _token_digest(token))
        if web is None or web.ended_at is not None:
            return None
        if core.session_expired(web.created_at, web.last_seen, now):
            web.ended_at = now
            return None
        row = store.person_by_id(session, web.person_id)
        if row is None or row.disabled_at is not None:
            return None
        web.last_seen = now
        return SessionState(person=_person(row, store.students_of(session, row.id)), csrf=web.csrf)


def sign_out(rt: Runtime, token: str) -> None:
    now = rt.now()
    with rt.sessions.begin() as session:
        web = store.web_session(session, _token_digest(token)) if token else None
        if web is None or web.ended_at is not None:
            return
        web.ended_at = now
        actor = _actor_of(store.person_by_id(session, web.person_id))
        audit.record(
            session, rt, [audit.AuditDraft(kind="person.sign_out", actor=actor, subject="", details={})]
        )
    audit.checkpoint(rt)


def end_sessions(rt: Runtime, email: str, *, by: str = "operator") -> int:
    """Revoke every live session of a person (a lost laptop, a person who left)."""
    now = rt.now()
    with rt.sessions.begin() as session:
        row = store.person_by_email(session, core.normal_email(email))
        if row is None:
            raise NotFound("no account has this email")
        ended = store.end_sessions_of(session, row.id, now)
        details = {"person": row.id, "sessionsEnded": ended}
        audit.record(
            session,
            rt,
            [audit.AuditDraft(kind="person.sessions_ended", actor=by, subject="", details=details)],
        )
    audit.checkpoint(rt)
    return ended


def list_people(rt: Runtime) -> list[dict[str, object]]:
    """Accounts for the operator (the CLI): ids, roles, organizations and the emails they sign in with."""
    with rt.sessions() as session:
        return [
            {
                "id": row.id,
                "email": row.email,
                "role": row.role,
                "organization": row.organization_id or "",
                "students": store.students_of(session, row.id),
                "locked": row.locked_until is not None and row.locked_until > rt.now(),
                "disabled": row.disabled_at is not None,
            }
            for row in store.people(session)
        ]


def read_request_for(person: Person, student_id: str, *, purpose: str = COORDINATION) -> ReadRequest:
    """The plan read a coordinator's page makes, decided like a partner's read for the same role."""
    return ReadRequest(
        student_id=student_id,
        organization_id=person.organization_id,
        actor=person.id,  # the read's audit names it under the organization: org/per-...
        role=core.COORDINATOR,
        purpose=purpose,
    )


def audit_reader_for(person: Person) -> AuditReader:
    role = COMPLIANCE_ROLE if person.role == core.COMPLIANCE else person.role
    return AuditReader(organization_id=person.organization_id, client_id=person.id, role=role)


def _person(row: PersonRow, students: list[str]) -> Person:
    return Person(
        id=row.id,
        role=row.role,
        organization_id=row.organization_id or "",
        student_ids=tuple(students),
        email_digest=row.email_digest,
    )


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _actor_of(row: PersonRow | None) -> str:
    return "anonymous" if row is None else f"{row.organization_id or core.FAMILY}/{row.id}"


def _sign_in_draft(email_digest: str, row: PersonRow | None, outcome: str) -> audit.AuditDraft:
    details = {"outcome": outcome, "emailDigest": email_digest}
    if row is not None:
        details["person"] = row.id
        details["role"] = row.role
    return audit.AuditDraft(kind="person.sign_in", actor=_actor_of(row), subject="", details=details)


def _added_draft(person: Person, by: str) -> audit.AuditDraft:
    details = {
        "person": person.id,
        "role": person.role,
        "organization": person.organization_id,
        "students": list(person.student_ids),
        "emailDigest": person.email_digest,
    }
    return audit.AuditDraft(kind="person.added", actor=by, subject="", details=details)
