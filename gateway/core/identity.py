"""Deterministic identity: link a record's identifiers to one canonical student.

A record links through the link table (system + identifier -> student id). Nothing is
guessed: no identifiers known and no right to register a student means the record is held;
identifiers that point at two different students mean the record is held as a conflict.

Who may register a student the gateway has not seen is the sending organization's setting, its
**identity authority** (``identity_authority`` in organizations.yaml): the standards whose
student records may register (``edfi``, ``oneroster``, ``fhir``) and, optionally, the identifier
systems they may register under. A mapping only says its records *are* student records
(``subject.create``); the authority says whether this source's are trusted to register. Without
the setting the district SIS is the authority: Ed-Fi student records register, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.frozen import quick_init
from gateway.core.ids import student_id_for
from gateway.errors import Issue

Identifier = tuple[str, str]  # (system, value)
STANDARDS: tuple[str, ...] = ("edfi", "oneroster", "fhir")
DEFAULT_REGISTRARS: frozenset[str] = frozenset({"edfi"})  # the district SIS, as before the setting


@dataclass(frozen=True, kw_only=True)
class IdentityAuthority:
    """Which of an organization's sources may register a new student, under which systems."""

    organization: str
    standards: frozenset[str] = DEFAULT_REGISTRARS
    systems: frozenset[str] | None = None  # identifier system URIs; None: any system

    def refusal(self, mapping_family: str, identifiers: tuple[Identifier, ...]) -> str:
        """Why a student record of this family may not register a student; "" when it may."""
        standard = mapping_family.split("-")[0]
        if standard not in self.standards:
            named = ", ".join(sorted(self.standards)) or "none"
            return (
                f"{self.organization}'s {standard} records may not register a student (its identity "
                f"authority registers from: {named}; see identity_authority in organizations.yaml)"
            )
        outside = sorted({s for s, _ in identifiers} - self.systems) if self.systems is not None else []
        if outside:
            return (
                f"{self.organization} registers students only under its listed identifier systems, "
                f"not [{', '.join(outside)}] (identity_authority.identifier_systems)"
            )
        return ""


def authority_of(organization: Mapping[str, Any]) -> IdentityAuthority:
    """The organization document's identity authority; system keys resolved to their URIs."""
    setting = organization.get("identity_authority") or {}
    names = organization.get("identifier_systems") or {}
    systems = setting.get("identifier_systems")
    return IdentityAuthority(
        organization=str(organization.get("id", "")),
        standards=frozenset(setting.get("sources", DEFAULT_REGISTRARS)),
        systems=None if systems is None else frozenset(str(names.get(k, k)) for k in systems),
    )


def authority_issues(organizations: Sequence[Mapping[str, Any]], where: str) -> list[Issue]:
    """An identity authority names identifier systems its organization declares."""
    return [
        Issue(
            path=f"{where}: $.organizations[{n}].identity_authority.identifier_systems",
            message=f"'{key}' is not one of this organization's identifier_systems; use one of: "
            + (", ".join(sorted(org.get("identifier_systems") or {})) or "(none declared)"),
        )
        for n, org in enumerate(organizations)
        for key in (org.get("identity_authority") or {}).get("identifier_systems", [])
        if key not in (org.get("identifier_systems") or {})
    ]


@quick_init
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
    refused: str = "",
) -> IdentityOutcome:
    """Which student ``identifiers`` name, and which links to add; never a guess. ``refused``
    (``IdentityAuthority.refusal``) withholds registration from a record that could register."""
    known = {links[i] for i in identifiers if i in links}
    if len(known) > 1:
        return IdentityOutcome(
            student_id=None,
            new_links=(),
            created=False,
            reason=f"identifiers in systems [{_systems(identifiers)}] are linked to {len(known)} different "
            "students; resolve the duplicate link before replaying",
        )
    unlinked = tuple(i for i in identifiers if i not in links)
    if known:
        return IdentityOutcome(student_id=known.pop(), new_links=unlinked, created=False)
    if may_create and identifiers and not refused:
        first = identifiers[0]
        return IdentityOutcome(student_id=student_id_for(*first), new_links=identifiers, created=True)
    return IdentityOutcome(
        student_id=None,
        new_links=(),
        created=False,
        reason=f"no student is linked to identifiers in systems [{_systems(identifiers)}]; "
        + (
            f"{refused}; send the student record from a source it names"
            if may_create and refused
            else "send the student record first"
        )
        + " or add an explicit link, then replay",
    )


def _systems(identifiers: tuple[Identifier, ...]) -> str:
    """The systems of ``identifiers``, for a held record's reason (only then: most records link)."""
    return ", ".join(sorted({system for system, _ in identifiers}))
