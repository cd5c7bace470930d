"""Guardian links: who may consent for a minor student besides the student.

A parent or legal guardian signs a consent as a FHIR RelatedPerson; their signature counts only
when a guardian link names them (their identifier, in a system the district declares) for that
student. Links come from education records, read here from the record a mapping accepted:

- Ed-Fi DS 5 ``studentContactAssociations`` (``contactReference.contactUniqueId``) and DS 4
  ``studentParentAssociations`` (``parentReference.parentUniqueId``): the person is named in the
  partner's ``contact-id`` identifier system; ``relationDescriptor`` is read through
  ``mappings/codes/edfi-relation-authority.yaml``, and ``legalGuardian: true`` makes any
  relation a guardian;
- OneRoster users with a family role (``family-users``: one record per student the user's
  ``agentSourcedIds`` names): the person is the user's ``sourcedId`` in the same ``contact-id``
  system, the role read through ``mappings/codes/oneroster-family-roles.yaml``;

or from an administrator (``spgw students guardians link``). A relation that gives no
authority (a grandmother, a friend) makes no link; the record's outcome says why. Values in,
values out: the service stores what this returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.ids import derive_id

PARENT, GUARDIAN, NO_AUTHORITY = "parent", "guardian", "none"
AUTHORITIES = (PARENT, GUARDIAN, NO_AUTHORITY)
LINKING = frozenset({PARENT, GUARDIAN})
SOURCES = ("edfi", "oneroster", "administrator")
CONTACT_SYSTEM = "contact-id"  # the partner's identifier_systems key for its contacts' ids
AUTHORITY_TABLES = ("relatedperson-authority", "edfi-relation-authority", "oneroster-family-roles")


@dataclass(frozen=True, kw_only=True)
class _Spec:
    source: str  # edfi | oneroster
    person: tuple[str, ...]  # where the person's id is in the record
    relation: tuple[str, ...]
    table: str
    legal_guardian: tuple[str, ...] = ()


GUARDIAN_MAPPINGS: Mapping[str, _Spec] = {
    "edfi.student-contact-associations": _Spec(
        source="edfi",
        person=("contactReference", "contactUniqueId"),
        relation=("relationDescriptor",),
        table="edfi-relation-authority",
        legal_guardian=("legalGuardian",),
    ),
    "edfi.student-parent-associations": _Spec(
        source="edfi",
        person=("parentReference", "parentUniqueId"),
        relation=("relationDescriptor",),
        table="edfi-relation-authority",
        legal_guardian=("legalGuardian",),
    ),
    "oneroster.family-users": _Spec(
        source="oneroster", person=("sourcedId",), relation=("role",), table="oneroster-family-roles"
    ),
}


@dataclass(frozen=True, kw_only=True)
class GuardianClaim:
    """What one accepted education record says about a person's authority for its student."""

    source: str
    person: tuple[str, str] | None  # (system, value); None when it cannot be named
    relationship: str  # the source's own code (a descriptor, a role)
    authority: str | None  # parent | guardian; None: no link
    reason: str = ""  # why no link, when none


def check_authority_table(table: Mapping[str, Any]) -> list[str]:
    """Codes whose value is not an authority (the crosswalk's values have a closed set)."""
    return [
        f"code {code!r} maps to {value!r}; use one of {', '.join(AUTHORITIES)}"
        for code, value in table.items()
        if value not in AUTHORITIES
    ]


def claim_of(
    mapping_id: str,
    record: Mapping[str, Any],
    identifier_systems: Mapping[str, str],
    codes: Mapping[str, Mapping[str, Any]],
) -> GuardianClaim | None:
    """The guardian claim of an accepted record of a guardian mapping; None for other mappings."""
    spec = GUARDIAN_MAPPINGS.get(mapping_id)
    if spec is None:
        return None
    relation = _text(_at(record, spec.relation))
    system = identifier_systems.get(CONTACT_SYSTEM)
    value = _text(_at(record, spec.person))
    person = (system, value) if system and value else None
    authority, reason = _authority(spec, record, relation, codes.get(spec.table, {}))
    if person is None and authority is not None:
        authority = None
        reason = f"the partner has no '{CONTACT_SYSTEM}' identifier system, so the person cannot be named"
    return GuardianClaim(
        source=spec.source, person=person, relationship=relation, authority=authority, reason=reason
    )


def _authority(
    spec: _Spec, record: Mapping[str, Any], relation: str, table: Mapping[str, Any]
) -> tuple[str | None, str]:
    if spec.legal_guardian and _at(record, spec.legal_guardian) in (True, "true"):
        return GUARDIAN, ""
    found = table.get(relation)
    if found in LINKING:
        return str(found), ""
    if found is None:
        return None, f"relation '{relation}' is not in crosswalk {spec.table}; no guardian link was made"
    return None, f"relation '{relation}' gives no authority to consent; no guardian link was made"


def _at(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = record
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, Mapping | list) else str(value)


def link_id(student_id: str, person: tuple[str, str], source: str, source_org: str) -> str:
    """One link per student, person, source and source organization."""
    return derive_id("guardian", student_id, *person, source, source_org)


def oneroster_absent(
    known: Iterable[str],
    *,
    mode: str,
    rows: set[str],
    pairs: set[str],
    deactivated: set[str],
) -> set[str]:
    """Family-user links (``sourcedId|student``) a users file no longer backs.

    ``rows``: every users row's sourcedId; ``pairs``: ``sourcedId|student`` of the family rows read
    (``sourcedId|*`` for a row that was rejected: a typo never removes a link); ``deactivated``:
    sourcedIds marked tobedeleted in a delta file. A row present names all its students, so a
    student it no longer names is gone; a user missing from a bulk file is gone whole.
    """
    gone = set()
    for key in known:
        user = key.split("|", 1)[0]
        if f"{user}|*" in pairs or key in pairs:
            continue
        if user in deactivated or user in rows or mode == "bulk":
            gone.add(key)
    return gone
