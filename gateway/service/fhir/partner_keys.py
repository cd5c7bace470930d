"""Partners' public keys for ``private_key_jwt``, registered by the administrator (CLI or API).

A key set belongs to one client id, a credential of kind ``jwt-key`` (new, or named with
``client_id``); the partner signs its assertions with ``iss`` = ``sub`` = that client id and puts
the key's ``kid`` in the header. Keys come as JWKs (one, or a JWKS document) or from a JWKS URL
the gateway fetches (and fetches again for an unknown kid, see ``service.jwks``). Every add and
removal is audited by client id, kid and RFC 7638 thumbprint, never the key itself.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import Any

from gateway.clients.jwks import check_jwks_url, fetch_jwks
from gateway.errors import Conflict, InputInvalid, Issue, NotFound
from gateway.service.administration.partners import (
    AUDITED_ROLES,
    OPERATOR,
    PARTNER,
    check_role,
    credential_row,
    issued_draft,
    require_org,
)
from gateway.service.compliance import audit
from gateway.service.fhir.jwk_check import CheckedKey, checked_keys, thumbprint, usable_keys
from gateway.service.runtime import Runtime
from gateway.storage import organization_store
from gateway.storage import partner_keys as store
from gateway.storage.db import Session
from gateway.storage.tables import Credential, PartnerJwksRow, PartnerKeyRow


@dataclass(frozen=True, kw_only=True)
class KeyView:
    kid: str
    client_id: str
    organization_id: str
    algorithm: str
    thumbprint: str
    jwks_url: str | None
    added_by: str
    added_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "clientId": self.client_id,
            "organization": self.organization_id,
            "algorithm": self.algorithm,
            "thumbprint": self.thumbprint,
            "source": "jwks-url" if self.jwks_url else "jwk",
            "jwksUrl": self.jwks_url,
            "addedBy": self.added_by,
            "addedAt": self.added_at.isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class KeyListing:
    organization_id: str
    keys: tuple[KeyView, ...]
    jwks_urls: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "organization": self.organization_id,
            "keys": [k.to_dict() for k in self.keys],
            "jwksUrls": list(self.jwks_urls),
        }


def add_keys(
    rt: Runtime,
    organization_id: str,
    document: Any,
    *,
    client_id: str | None = None,
    role: str = PARTNER,
    actor: str = OPERATOR,
) -> KeyListing:
    """Register one JWK or a JWKS document's keys for ``client_id`` (or a new key-set client)."""
    keys = checked_keys(document)
    with rt.sessions.begin() as session:
        credential = _key_set_credential(session, rt, organization_id, client_id, role, actor)
        taken = [k.kid for k in keys if store.active_key(session, credential.client_id, k.kid)]
        if taken:
            raise Conflict(
                "a key with this kid is already registered for the client",
                [
                    Issue(path="kid", message=f"remove kid '{kid}' first, or give the new key its own kid")
                    for kid in taken
                ],
            )
        rows = [_row(credential, key, actor, rt.now()) for key in keys]
        for row in rows:
            store.put_key(session, row)
        audit.record(session, rt, [_draft("partner_key.added", actor, row) for row in rows])
        views = tuple(_view(row) for row in rows)
    audit.checkpoint(rt)
    return KeyListing(organization_id=organization_id, keys=views)


def add_jwks_url(
    rt: Runtime,
    organization_id: str,
    url: str,
    *,
    client_id: str | None = None,
    role: str = PARTNER,
    actor: str = OPERATOR,
) -> KeyListing:
    """Register the partner's JWKS URL: fetched now (it must serve at least one usable key)."""
    check_jwks_url(url)
    keys = usable_keys(fetch_jwks(url))
    if not keys:
        raise InputInvalid(
            "the JWKS at the URL has no usable key",
            [
                Issue(
                    path="jwks_url",
                    message="publish public RSA, EC P-384/P-256 or Ed25519 keys, each with a kid",
                )
            ],
        )
    now = rt.now()
    with rt.sessions.begin() as session:
        credential = _key_set_credential(session, rt, organization_id, client_id, role, actor)
        if store.jwks_of(session, credential.client_id) is not None:
            raise Conflict(
                "the client already has a JWKS URL",
                [
                    Issue(
                        path="client_id",
                        message="remove its keys first, or register the URL for a new client",
                    )
                ],
            )
        jwks = _jwks_row(credential, url, keys, now)
        store.put_jwks(session, jwks)
        session.flush()
        store.replace_url_keys(session, jwks, [(k.kid, k.jwk, k.algorithm) for k in keys], now)
        session.flush()
        rows = [
            r for r in store.keys_of_organization(session, organization_id) if r.client_id == jwks.client_id
        ]
        audit.record(session, rt, [_draft("partner_key.added", actor, row) for row in rows])
        views = tuple(_view(row) for row in rows)
    audit.checkpoint(rt)
    return KeyListing(organization_id=organization_id, keys=views, jwks_urls=(_url_view(jwks),))


def list_keys(rt: Runtime, organization_id: str) -> KeyListing:
    with rt.sessions() as session:
        require_org(session, organization_id)
        keys = tuple(_view(row) for row in store.keys_of_organization(session, organization_id))
        urls = tuple(_url_view(row) for row in store.jwks_of_organization(session, organization_id))
    return KeyListing(organization_id=organization_id, keys=keys, jwks_urls=urls)


def remove_key(
    rt: Runtime, kid: str, *, organization_id: str | None = None, actor: str = OPERATOR
) -> KeyListing:
    """Remove the key ``kid`` (of ``organization_id``, needed when two organizations use the kid).
    Assertions signed with it are refused from now on; a JWKS refresh never brings it back."""
    with rt.sessions.begin() as session:
        rows = store.keys_by_kid(session, kid, organization_id)
        if not rows:
            raise NotFound("no such key", [Issue(path="kid", message="see 'spgw partners keys list ORG'")])
        orgs = sorted({row.organization_id for row in rows})
        if len(orgs) > 1:
            raise Conflict(
                "more than one organization has a key with this kid",
                [Issue(path="org", message=f"name the organization: one of {', '.join(orgs)}")],
            )
        store.mark_removed(session, rows, rt.now())
        audit.record(session, rt, [_draft("partner_key.removed", actor, row) for row in rows])
        views = tuple(_view(row) for row in rows)
    audit.checkpoint(rt)
    return KeyListing(organization_id=orgs[0], keys=views)


def _key_set_credential(
    session: Session, rt: Runtime, organization_id: str, client_id: str | None, role: str, actor: str
) -> Credential:
    require_org(session, organization_id)
    if client_id is None:
        check_role(role)
        new_id = f"{organization_id}.jwt.{secrets.token_hex(4)}"
        created = credential_row(rt, organization_id, new_id, "jwt-key", role)
        organization_store.add_credential(session, created)
        if role in AUDITED_ROLES:
            audit.record(session, rt, [replace(issued_draft(created), actor=actor)])
        return created
    credential = organization_store.active_credential(session, client_id)
    if credential is None or credential.organization_id != organization_id:
        raise NotFound(
            "no such client of the organization",
            [Issue(path="client_id", message="leave it out to create one")],
        )
    if credential.kind != "jwt-key" or credential.public_key_pem:
        raise InputInvalid(
            "the client does not sign with a key set",
            [
                Issue(
                    path="client_id",
                    message="name a client created by 'spgw partners keys add', or leave it out",
                )
            ],
        )
    return credential


def _row(credential: Credential, key: CheckedKey, actor: str, now: dt.datetime) -> PartnerKeyRow:
    return PartnerKeyRow(
        kid=key.kid,
        client_id=credential.client_id,
        organization_id=credential.organization_id,
        jwk=key.jwk,
        algorithm=key.algorithm,
        jwks_url=None,
        added_by=actor,
        created_at=now,
        removed_at=None,
    )


def _jwks_row(credential: Credential, url: str, keys: list[CheckedKey], now: dt.datetime) -> PartnerJwksRow:
    return PartnerJwksRow(
        client_id=credential.client_id,
        organization_id=credential.organization_id,
        url=url,
        fetched_at=now,
        keys=[k.jwk for k in keys],
        created_at=now,
        removed_at=None,
    )


def _view(row: PartnerKeyRow) -> KeyView:
    return KeyView(
        kid=row.kid,
        client_id=row.client_id,
        organization_id=row.organization_id,
        algorithm=row.algorithm or "",
        thumbprint=thumbprint(dict(row.jwk)),
        jwks_url=row.jwks_url,
        added_by=row.added_by,
        added_at=row.created_at,
    )


def _url_view(row: PartnerJwksRow) -> dict[str, Any]:
    fetched = row.fetched_at.isoformat() if row.fetched_at else None
    return {"clientId": row.client_id, "url": row.url, "fetchedAt": fetched, "keys": len(row.keys or [])}


def _draft(kind: str, actor: str, row: PartnerKeyRow) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind=kind,
        actor=actor,
        subject=row.client_id,
        details={
            "organizationId": row.organization_id,
            "kid": row.kid,
            "thumbprint": thumbprint(dict(row.jwk)),
            "source": "jwks-url" if row.jwks_url else "jwk",
        },
    )
