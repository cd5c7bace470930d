"""Finding a student by canonical id or by any linked identifier."""

from __future__ import annotations

from gateway.errors import NotFound
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo


def resolve_student_ref(rt: Runtime, ref: str) -> str:
    """``stu-...`` as is; ``SYSTEM|VALUE`` through the link table."""
    if "|" not in ref:
        return ref
    system, value = ref.rsplit("|", 1)
    with rt.sessions() as session:
        found = repo.links_for(session, [(system, value)])
    if (system, value) not in found:
        # The same answer as a plan the reader may not see: no hint that the identifier is unknown.
        raise NotFound(f"no plan of student {ref} is available to this reader")
    return found[(system, value)]
