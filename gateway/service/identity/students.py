"""Finding a student by canonical id or by any linked identifier."""

from __future__ import annotations

from gateway.errors import Issue, NotFound
from gateway.service.runtime import Runtime
from gateway.storage import student_store
from gateway.storage.db import Session

# The words of every plan answer that shows nothing (gateway.service.views.plans.not_visible).
NOT_AVAILABLE = "no plan of this student is available to this reader"


def resolve_student_ref(rt: Runtime, ref: str) -> str:
    """``stu-...`` as is; ``SYSTEM|VALUE`` through the link table."""
    with rt.sessions() as session:
        found = resolve_in(session, ref) if "|" in ref else ref
    if not found:
        # The same answer as a plan the reader may not see: no hint that the identifier is unknown.
        raise NotFound(
            NOT_AVAILABLE, [Issue(path="student", message="check the identifier, the role and the purpose")]
        )
    return found


def resolve_in(session: Session, ref: str) -> str:
    """The canonical id ``ref`` names, inside the caller's transaction; "" when none."""
    if "|" not in ref:
        return ref if student_store.student_exists(session, ref) else ""
    system, value = ref.rsplit("|", 1)
    return student_store.links_for(session, [(system, value)]).get((system, value), "")
