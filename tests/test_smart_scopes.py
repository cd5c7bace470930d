"""SMART v2 system scopes: parsing (v2 letters and v1 words) and what each credential role is
granted for what it asks (core.smart_scopes, a pure table)."""

from __future__ import annotations

import pytest

from gateway.core.smart_scopes import (
    ALLOWED,
    CLINICAL_TYPES,
    RESOURCE_TYPES,
    grant,
    parse_scope,
    supported_scopes,
)

PARTNER_ALL = (
    *(f"system/{t}.cruds" for t in CLINICAL_TYPES),
    "system/AuditEvent.rs",
    "system/Organization.rs",
    "system/Bundle.crs",
)


@pytest.mark.parametrize(
    ("scope", "parsed"),
    [
        # v2 letters, in cruds order
        ("system/Task.rs", ("Task", "rs")),
        ("system/Observation.c", ("Observation", "c")),
        ("system/Task.cruds", ("Task", "cruds")),
        ("system/*.rs", ("*", "rs")),
        # v1 words map to v2 letters
        ("system/Task.read", ("Task", "rs")),
        ("system/Task.write", ("Task", "cud")),
        ("system/Task.*", ("Task", "cruds")),
        # not understood: each says why
        ("system/Task.sr", "permissions are SMART v2 letters in the order cruds, or read, write or *"),
        ("system/Task.rr", "permissions are SMART v2 letters in the order cruds, or read, write or *"),
        ("system/Task.x", "permissions are SMART v2 letters in the order cruds, or read, write or *"),
        ("patient/Task.rs", "only system/ scopes are granted to backend services"),
        ("user/*.read", "only system/ scopes are granted to backend services"),
        ("openid", "not a SMART system scope (system/Type.letters, e.g. system/Task.rs)"),
        (
            "system/Task.rs?status=ready",
            "not a SMART system scope (system/Type.letters, e.g. system/Task.rs)",
        ),
    ],
)
def test_parse_scope(scope: str, parsed: tuple[str, str] | str) -> None:
    assert parse_scope(scope) == parsed


@pytest.mark.parametrize(
    ("role", "asked", "granted"),
    [
        # nothing asked: everything the role may have
        ("partner", None, PARTNER_ALL),
        ("partner", "  ", PARTNER_ALL),
        ("compliance", None, ("system/Consent.rs", "system/AuditEvent.rs", "system/Organization.rs")),
        ("administrator", None, ("system/AuditEvent.rs", "system/Organization.rs")),
        # the example; letters of one type are merged, in cruds order
        (
            "partner",
            "system/Observation.c system/Task.rs system/Task.u",
            ("system/Observation.c", "system/Task.rus"),
        ),
        # v1 forms are granted in v2 form
        ("partner", "system/Task.read system/Goal.write", ("system/Task.rs", "system/Goal.cud")),
        ("partner", "system/Consent.*", ("system/Consent.cruds",)),
        # the intersection of what is asked and what is allowed
        ("partner", "system/AuditEvent.cruds", ("system/AuditEvent.rs",)),
        ("partner", "system/Bundle.d system/Bundle.c", ("system/Bundle.c",)),
        ("compliance", "system/Patient.rs system/AuditEvent.rs", ("system/AuditEvent.rs",)),
        (
            "compliance",
            "system/*.read",
            ("system/Consent.rs", "system/AuditEvent.rs", "system/Organization.rs"),
        ),
        # what cannot be given is left out, the rest granted
        ("partner", "openid system/Task.rs patient/Task.rs", ("system/Task.rs",)),
        # nothing can be granted
        ("administrator", "system/Patient.rs", ()),
        ("partner", "system/Unknown.rs", ()),
        ("partner", "launch/patient", ()),
        ("nobody", None, ()),
    ],
)
def test_grant(role: str, asked: str | None, granted: tuple[str, ...]) -> None:
    assert grant(asked, role).scopes == granted


def test_every_refused_scope_is_named_with_its_reason() -> None:
    result = grant("system/Patient.rs openid system/AuditEvent.rs", "administrator")
    assert result.scopes == ("system/AuditEvent.rs",)
    assert [(r.scope, r.reason) for r in result.refused] == [
        ("system/Patient.rs", "not allowed to administrator credentials"),
        ("openid", "not a SMART system scope (system/Type.letters, e.g. system/Task.rs)"),
    ]


def test_the_table_names_only_served_types_and_letters() -> None:
    for by_type in ALLOWED.values():
        assert set(by_type) <= set(RESOURCE_TYPES)
        assert all(letters and set(letters) <= set("cruds") for letters in by_type.values())


def test_supported_scopes_cover_what_can_be_granted() -> None:
    supported = supported_scopes()
    for role in ALLOWED:
        assert set(grant(None, role).scopes) <= set(supported)
    assert "system/Patient.rs" in supported
    assert "system/AuditEvent.rs" in supported
