"""SMART v2 system scopes: what each credential role may be granted, and granting a request.

The table ``ALLOWED`` is the rule: for each credential role, each resource type the FHIR server
serves and the SMART v2 permission letters (c create, r read, u update, d delete, s search) a
token may carry for it. A partner works on the clinical types it exchanges; the administrator
and the compliance officer read and search the audit (AuditEvent) and the directory, and never
clinical records through FHIR.

A token request asks with ``scope`` (space separated). v2 scopes (``system/Task.rs``) and SMART
v1 scopes (``system/Task.read``, ``.write``, ``.*``) are both understood; ``system/*.rs`` names
every type. What is granted is, per type, the letters both asked and allowed, written in v2 form
with the letters in ``cruds`` order (``system/Task.rus``). Nothing asked: the whole allowed set.
Every scope that gives nothing is named with the reason, so a refusal explains itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

LETTERS = "cruds"
CLINICAL_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "ServiceRequest",
    "Task",
    "Consent",
    "Procedure",
    "Goal",
    "QuestionnaireResponse",
    "RelatedPerson",
)
RESOURCE_TYPES = (*CLINICAL_TYPES, "AuditEvent", "Organization", "Bundle")

# credential role -> resource type -> permission letters (see the module docstring).
ALLOWED: Mapping[str, Mapping[str, str]] = {
    "partner": {
        **dict.fromkeys(CLINICAL_TYPES, "cruds"),
        "AuditEvent": "rs",  # the decisions and disclosures it took part in
        "Organization": "rs",
        "Bundle": "crs",  # batch and transaction Bundles, documents
    },
    "administrator": {"AuditEvent": "rs", "Organization": "rs"},
    "compliance": {"AuditEvent": "rs", "Consent": "rs", "Organization": "rs"},
}
# SMART v1 permission words, as v2 letters.
V1_WORDS = {"read": "rs", "write": "cud", "*": "cruds"}

_SCOPE = re.compile(r"^(?P<context>[a-z]+)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<permissions>[a-z*]+)$")


@dataclass(frozen=True, kw_only=True)
class Refusal:
    scope: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ScopeGrant:
    """What a token gets (``scopes``, v2 form) and why anything asked was not given."""

    scopes: tuple[str, ...]
    refused: tuple[Refusal, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(self.scopes)


def canonical(letters: str) -> str:
    return "".join(letter for letter in LETTERS if letter in letters)


def parse_scope(scope: str) -> tuple[str, str] | str:
    """``(resource type or "*", letters)``, or the reason the scope is not understood."""
    match = _SCOPE.match(scope)
    if match is None:
        return "not a SMART system scope (system/Type.letters, e.g. system/Task.rs)"
    if match["context"] != "system":
        return "only system/ scopes are granted to backend services"
    permissions = match["permissions"]
    if permissions in V1_WORDS:
        return match["type"], V1_WORDS[permissions]
    if any(p not in LETTERS for p in permissions) or canonical(permissions) != permissions:
        return f"permissions are SMART v2 letters in the order {LETTERS}, or read, write or *"
    return match["type"], permissions


def allowed_for(role: str) -> Mapping[str, str]:
    return ALLOWED.get(role, {})


def grant(requested: str | None, role: str) -> ScopeGrant:
    """The scopes a token of ``role`` gets for ``requested`` (None or blank: all it may have)."""
    allowed = allowed_for(role)
    if requested is None or not requested.strip():
        return ScopeGrant(scopes=_written(allowed))
    given: dict[str, str] = {}
    refused = []
    for scope in dict.fromkeys(requested.split()):
        parsed = parse_scope(scope)
        if isinstance(parsed, str):
            refused.append(Refusal(scope=scope, reason=parsed))
            continue
        target, letters = parsed
        found = _granted_of(target, letters, allowed)
        if not found:
            refused.append(Refusal(scope=scope, reason=f"not allowed to {role} credentials"))
        for resource_type, granted in found.items():
            given[resource_type] = canonical(given.get(resource_type, "") + granted)
    return ScopeGrant(scopes=_written(given), refused=tuple(refused))


def _granted_of(target: str, letters: str, allowed: Mapping[str, str]) -> dict[str, str]:
    types = RESOURCE_TYPES if target == "*" else (target,)
    found = {t: canonical("".join(x for x in letters if x in allowed.get(t, ""))) for t in types}
    return {t: granted for t, granted in found.items() if granted}


def _written(by_type: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"system/{t}.{by_type[t]}" for t in RESOURCE_TYPES if by_type.get(t))


def supported_scopes() -> list[str]:
    """Every scope a credential of some role can be granted in full, and the read-only ones."""
    letters = {t: canonical("".join(a.get(t, "") for a in ALLOWED.values())) for t in RESOURCE_TYPES}
    found = [f"system/{t}.{letters[t]}" for t in RESOURCE_TYPES if letters[t]]
    found += [f"system/{t}.rs" for t in RESOURCE_TYPES if letters[t] != "rs" and set("rs") <= set(letters[t])]
    return found
