"""OneRoster users of a student's family (role parent, guardian or relative), as records.

A family user names their students in ``agentSourcedIds``; each (user, student) pair is one
``family-users`` record, so a parent of two students links to each (a record has one subject).
The record is the user's row plus ``role`` (1.2 keeps it in roles.csv) and ``_agentSourcedId``.
A family user who names no student is a ``nonstudent-users`` record, as before. The pairs read
(``sourcedId|student``; ``sourcedId|*`` for a rejected row) let a bulk or delta users file
remove the guardian links it no longer backs (``core.guardians.oneroster_absent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.formats.records import SourceRecord, record

FAMILY_USERS = "family-users"
FAMILY_ROLES = frozenset({"parent", "guardian", "relative"})
ANY_STUDENT = "*"


def family_role(row: Mapping[str, Any], roles: Mapping[str, str]) -> str | None:
    """The user's family role: the row's ``role`` (1.1, REST), else roles.csv's (1.2)."""
    names = {str(n) for n in str(row.get("roleNames", "")).split(",") if n}
    if "student" in names:
        return None
    role = row.get("role") or roles.get(str(row.get("sourcedId", "")))
    if role in FAMILY_ROLES:
        return str(role)
    return next((n for n in sorted(names) if n in FAMILY_ROLES), None)


def agents(row: Mapping[str, Any]) -> list[str]:
    return [a.strip() for a in str(row.get("agentSourcedIds", "")).split(",") if a.strip()]


def family_records(where: str, row: Mapping[str, Any], role: str) -> list[SourceRecord]:
    return [
        record(FAMILY_USERS, f"{where} agentSourcedIds[{i}]", {**row, "role": role, "_agentSourcedId": agent})
        for i, agent in enumerate(agents(row))
    ]


def pairs_of(row: Mapping[str, Any]) -> set[str]:
    return {f"{row.get('sourcedId')}|{agent}" for agent in agents(row)}
