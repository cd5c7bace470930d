"""Deterministic identity: link a record's identifiers to one canonical student.

A record links through the link table (system + identifier -> student id). Nothing is
guessed: no identifiers known and no right to register a student means the record is held;
identifiers that point at two different students mean the record is held as a conflict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.core.ids import student_id_for

Identifier = tuple[str, str]  # (system, value)


@dataclass(frozen=True, kw_only=True)
class IdentityOutcome:
    student_id: str | None
    new_links: tuple[Identifier, ...]
    created: bool
    reason: str = ""


def resolve_student(
    identifiers: tuple[Identifier, ...],
    links: Mapping[Identifier, str],
    *,
    may_create: bool,
) -> IdentityOutcome:
    """Which student ``identifiers`` name, and which links to add; never a guess."""
    known = {links[i] for i in identifiers if i in links}
    systems = ", ".join(sorted({system for system, _ in identifiers}))
    if len(known) > 1:
        return IdentityOutcome(
            student_id=None,
            new_links=(),
            created=False,
            reason=f"identifiers in systems [{systems}] are linked to {len(known)} different "
            "students; resolve the duplicate link before replaying",
        )
    unlinked = tuple(i for i in identifiers if i not in links)
    if known:
        return IdentityOutcome(student_id=known.pop(), new_links=unlinked, created=False)
    if may_create and identifiers:
        first = identifiers[0]
        return IdentityOutcome(student_id=student_id_for(*first), new_links=identifiers, created=True)
    return IdentityOutcome(
        student_id=None,
        new_links=(),
        created=False,
        reason=f"no student is linked to identifiers in systems [{systems}]; send the "
        "student record first or add an explicit link, then replay",
    )
