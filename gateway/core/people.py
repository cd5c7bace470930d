"""People who sign in to the pages: their roles, what an account is, and the lock-out rule.

Systems (partners) authenticate with OAuth client credentials; people (a compliance officer, a
coordinator, a family member) sign in with an email and a password on the gateway's own pages.
A person's email is kept only as a digest outside the accounts table, so the audit can say who
signed in without holding the address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

COMPLIANCE = "compliance"
COORDINATOR = "coordinator"
FAMILY = "family"
PAGE_ROLES = (COMPLIANCE, COORDINATOR, FAMILY)

# The identifier a family member's guardian link carries (value: the person's id), so a consent
# they sign on the family page names a signer the consent rules recognise.
GUARDIAN_SYSTEM = "urn:spgw:person"

# After this many failed sign-ins in a row, the account is locked for LOCK_FOR; the count
# starts again after a successful sign-in or once the lock has passed.
MAX_FAILURES = 5
LOCK_FOR = dt.timedelta(minutes=15)
# A session ends after IDLE_LIMIT without a request, or SESSION_LIMIT after sign-in, whichever first.
IDLE_LIMIT = dt.timedelta(minutes=30)
SESSION_LIMIT = dt.timedelta(hours=12)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, kw_only=True)
class Person:
    """A signed-in person, as the pages and services see them (no email, no password)."""

    id: str
    role: str
    organization_id: str  # "" for a family member
    student_ids: tuple[str, ...]  # the students a family member is linked to
    email_digest: str

    @property
    def actor(self) -> str:
        """How the audit names this person: their organization (or "family") and their id."""
        return f"{self.organization_id or FAMILY}/{self.id}"


@dataclass(frozen=True, kw_only=True)
class Lockout:
    failures: int
    locked_until: dt.datetime | None


def after_failure(current: Lockout, now: dt.datetime) -> Lockout:
    """The account's state after one more failed sign-in at ``now``."""
    failures = 0 if current.locked_until is not None and current.locked_until <= now else current.failures
    failures += 1
    if failures >= MAX_FAILURES:
        return Lockout(failures=0, locked_until=now + LOCK_FOR)
    return Lockout(failures=failures, locked_until=current.locked_until)


def is_locked(state: Lockout, now: dt.datetime) -> bool:
    return state.locked_until is not None and state.locked_until > now


def session_expired(created_at: dt.datetime, last_seen: dt.datetime, now: dt.datetime) -> bool:
    return now - last_seen > IDLE_LIMIT or now - created_at > SESSION_LIMIT


def normal_email(email: str) -> str:
    """Emails compare without case or surrounding blanks (the local part's case is never meaningful
    in practice, and a person who types Jo@School.org expects to be the same account)."""
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    """Why ``email`` cannot name an account, or None."""
    text = normal_email(email)
    local, at, domain = text.partition("@")
    if not at or not local or "." not in domain or len(text) > MAX_EMAIL_LENGTH or " " in text:
        return f"give an email address (name@domain, at most {MAX_EMAIL_LENGTH} characters)"
    return None


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None (length, as NIST SP 800-63B asks; no composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password has at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    return None
