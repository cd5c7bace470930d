"""SMART Backend Services: the discovery document, the CapabilityStatement's security part, and
what a token is granted (scopes, and the purpose and policy role of the partner's reads).

At the token endpoint a partner may ask for ``scope`` (SMART v2 or v1 system scopes), ``purpose``
and ``role``. Scopes are granted by the table in ``core.smart_scopes``. The purpose and role must
be vocabulary terms that an agreement in force names for the partner (the organization is a
party, the purpose among its purposes, the role among its recipient roles); what is not asked
comes from the organization's registration (``default_purpose``, ``default_role`` in
``organizations.yaml``), kept only when an agreement in force allows it. Administrator and
compliance credentials read under no agreement: their terms are only checked against the
vocabulary (compliance defaults to purpose ``audit``, role ``compliance-officer``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.core.smart_scopes import grant, supported_scopes
from gateway.errors import InputInvalid, InvalidScope, Issue
from gateway.service.administration.partners import ASSERTION_ALGORITHMS, COMPLIANCE, PARTNER, Principal
from gateway.service.policy.policies import policy_set
from gateway.service.policy.terms import term_issues
from gateway.service.runtime import Runtime
from gateway.storage import organization_store

SIGNING_ALGORITHMS = ["RS384", "ES384", *(a for a in ASSERTION_ALGORITHMS if a not in ("RS384", "ES384"))]
AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post"]
CAPABILITIES = [
    "client-confidential-asymmetric",
    "client-confidential-symmetric",
    "permission-v2",
    "permission-v1",
]
SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
ROLE_DEFAULTS = {COMPLIANCE: ("audit", "compliance-officer")}


def smart_configuration(rt: Runtime) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` (SMART App Launch 2.x, backend services part)."""
    return {
        "issuer": rt.settings.issuer,
        "token_endpoint": rt.settings.token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "scopes_supported": supported_scopes(),
        "response_types_supported": ["token"],
        "capabilities": CAPABILITIES,
    }


def smart_security_extension(rt: Runtime) -> dict[str, Any]:
    """The CapabilityStatement's ``rest[0].security``: SMART-on-FHIR with the token URL."""
    return {
        "extension": [
            {"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": rt.settings.token_url}]}
        ],
        "service": [
            {
                "coding": [{"system": SECURITY_SYSTEM, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                "text": "OAuth2 using SMART Backend Services (client credentials)",
            }
        ],
        "description": "Get a token at the token endpoint with the client-credentials grant "
        "(private_key_jwt, client_secret_basic or client_secret_post) and SMART v2 system scopes.",
    }


def grant_token(
    rt: Runtime, principal: Principal, *, scope: str | None, purpose: str | None, role: str | None
) -> Principal:
    """``principal`` with the scopes, purpose and read role its token is given (or InputInvalid:
    ``scope`` named when nothing asked can be granted, ``purpose``/``role`` when not allowed)."""
    granted = grant(scope, principal.role)
    if not granted.scopes:
        raise InvalidScope(
            "none of the requested scopes can be granted",
            [Issue(path="scope", message=f"{r.scope}: {r.reason}") for r in granted.refused]
            or [Issue(path="scope", message="ask for SMART system scopes, e.g. system/Task.rs")],
        )
    issues = term_issues(rt.artifacts.vocabulary, role=role or "", purpose=purpose or "")
    if issues:
        raise InputInvalid("the purpose or role is not a vocabulary term", issues)
    chosen_purpose, chosen_role = _terms(rt, principal, purpose or None, role or None)
    return replace(principal, scopes=granted.scopes, purpose=chosen_purpose, read_role=chosen_role)


def _terms(
    rt: Runtime, principal: Principal, purpose: str | None, role: str | None
) -> tuple[str | None, str | None]:
    if principal.role != PARTNER:
        default_purpose, default_role = ROLE_DEFAULTS.get(principal.role, (None, None))
        return purpose or default_purpose, role or default_role
    with rt.sessions() as session:
        organization = next(
            (
                d
                for d in organization_store.organization_docs(session)
                if d["id"] == principal.organization_id
            ),
            {},
        )
        agreements = policy_set(session, rt).agreements
    today = rt.now().date()
    allowed = {
        (p, r)
        for a in agreements
        if principal.organization_id in a.parties and a.in_force(today)
        for p in a.purposes
        for r in a.recipient_roles
    }
    chosen = (purpose or organization.get("default_purpose"), role or organization.get("default_role"))
    if chosen in allowed:
        return chosen
    if purpose or role:
        raise InvalidScope(
            "no agreement in force lets this partner read for that purpose in that role",
            [Issue(path="purpose" if purpose else "role", message=_allowed_text(allowed))],
        )
    return None, None  # the registration's defaults are not allowed (or absent): reads state their own


def _allowed_text(allowed: set[tuple[str, str]]) -> str:
    if not allowed:
        return "the organization has no agreement in force; ask the administrator"
    pairs = ", ".join(f"{p}/{r}" for p, r in sorted(allowed))
    return f"use a purpose/role pair an agreement in force names: {pairs}"
