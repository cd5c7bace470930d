"""Credential roles: a credential is a partner's or an administrator's, the access token carries
the role, an unknown role is refused, and issuing an administrator credential is audited."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import AuthenticationFailed, InputInvalid
from gateway.service.administration.partners import (
    Principal,
    authenticate_secret,
    create_secret,
    issue_access_token,
    register_public_key,
    verify_access_token,
)
from gateway.service.compliance.audit import verify
from gateway.service.runtime import Runtime
from gateway.storage import audit_store, organization_store
from tests.helpers import count_rows


def audit_entries(rt: Runtime) -> list[Any]:
    with rt.sessions() as session:
        return list(audit_store.iter_audit(session))


def public_pem() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def token_claims(rt: Runtime, token: str) -> dict[str, Any]:
    assert rt.keys.token is not None
    return jwt.decode(token, rt.keys.token.public, algorithms=["EdDSA"], options={"verify_exp": False})


def forged_token(rt: Runtime, principal: Principal, **override: Any) -> str:
    """A token signed with the gateway's own key, claims changed: what a role check must catch."""
    assert rt.keys.token is not None
    claims = {**token_claims(rt, issue_access_token(rt, principal)["access_token"]), **override}
    return jwt.encode(claims, rt.keys.token.private, algorithm="EdDSA")


def test_principal_defaults_to_partner() -> None:
    principal = Principal(organization_id="riverside-health", client_id="riverside-health.1")
    assert principal.role == "partner"
    assert not principal.is_administrator
    assert Principal(organization_id="o", client_id="c", role="administrator").is_administrator


@pytest.mark.parametrize("role", ["partner", "administrator"])
def test_the_role_travels_from_credential_to_token_to_principal(rt: Runtime, role: str) -> None:
    issued = create_secret(rt, "grand-bend-isd", role=role)
    principal = authenticate_secret(rt, issued.client_id, issued.client_secret)
    assert principal.role == role
    token = issue_access_token(rt, principal)["access_token"]
    assert token_claims(rt, token)["role"] == role
    assert verify_access_token(rt, token) == Principal(
        organization_id="grand-bend-isd", client_id=issued.client_id, role=role
    )


def test_a_key_credential_has_a_role_too(rt: Runtime) -> None:
    client_id = register_public_key(rt, "grand-bend-isd", public_pem(), role="administrator")
    with rt.sessions() as session:
        credential = organization_store.active_credential(session, client_id)
    assert credential is not None
    assert credential.role == "administrator"


@pytest.mark.parametrize("role", ["admin", "Administrator", "", "root"])
def test_an_unknown_role_is_refused_at_issuance(rt: Runtime, role: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        create_secret(rt, "grand-bend-isd", role=role)
    assert [i.path for i in caught.value.issues] == ["role"]
    assert "partner, administrator" in caught.value.issues[0].message
    with pytest.raises(InputInvalid):
        register_public_key(rt, "grand-bend-isd", public_pem(), role=role)


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"role": "superuser"}, id="unknown-role"),
        pytest.param({"role": "administrator"}, id="more-than-the-credential"),
    ],
)
def test_a_token_whose_role_is_not_the_credentials_is_refused(rt: Runtime, override: dict[str, str]) -> None:
    issued = create_secret(rt, "grand-bend-isd")
    principal = authenticate_secret(rt, issued.client_id, issued.client_secret)
    with pytest.raises(AuthenticationFailed):
        verify_access_token(rt, forged_token(rt, principal, **override))


def test_a_token_without_a_role_is_refused(rt: Runtime) -> None:
    issued = create_secret(rt, "grand-bend-isd")
    principal = authenticate_secret(rt, issued.client_id, issued.client_secret)
    claims = token_claims(rt, issue_access_token(rt, principal)["access_token"])
    del claims["role"]
    assert rt.keys.token is not None
    with pytest.raises(AuthenticationFailed):
        verify_access_token(rt, jwt.encode(claims, rt.keys.token.private, algorithm="EdDSA"))


def test_administrator_issuance_is_audited_with_ids_and_codes(rt: Runtime) -> None:
    before = len(audit_entries(rt))
    issued = create_secret(rt, "grand-bend-isd", role="administrator")
    entries = audit_entries(rt)[before:]
    assert [(e.kind, e.subject) for e in entries] == [("credential.issued", issued.client_id)]
    assert dict(entries[0].details) == {
        "organizationId": "grand-bend-isd",
        "kind": "secret",
        "role": "administrator",
    }
    assert issued.client_secret not in repr(entries[0])
    assert verify(rt).ok  # checkpointed after the commit


def test_partner_issuance_writes_no_audit_entry(rt: Runtime) -> None:
    before = len(audit_entries(rt))
    create_secret(rt, "grand-bend-isd")
    assert len(audit_entries(rt)) == before


def test_a_refused_role_stores_no_credential_and_no_audit(rt: Runtime) -> None:
    credentials, entries = count_rows(rt, "credentials"), count_rows(rt, "audit_entries")
    with pytest.raises(InputInvalid):
        create_secret(rt, "grand-bend-isd", role="root")
    assert (count_rows(rt, "credentials"), count_rows(rt, "audit_entries")) == (credentials, entries)
