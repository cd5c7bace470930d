"""Signing an agreement version: each party for itself, or the administrator from paper.

A signature names the organization, the person who signed for it, the time and the digest of
the exact version signed; a signer who read another text (a stale digest) is refused, so a
changed text always needs new signatures. When the last party named in a proposal signs, that
version comes into force and the one before is superseded, in the same transaction.

Seeded agreements (a site's policy folder loaded by ``spgw init``) are recorded as signed on
paper by every party, attested by the administrator who loaded them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.core.agreement_change import version_digest
from gateway.core.canonical import digest
from gateway.errors import AccessDenied, Conflict, InputInvalid, Issue
from gateway.service.compliance import audit
from gateway.service.policy.agreement_views import Acting, AgreementView, resolve_key, view
from gateway.service.runtime import Runtime
from gateway.storage import agreement_store as store
from gateway.storage.db import Session
from gateway.storage.tables import AgreementSignatureRow, AgreementVersionRow

MAX_SIGNER = 200  # what the signatures table keeps
CREDENTIAL, PAPER = "credential", "paper"
SEEDED_SIGNER = "site policy folder (spgw init)"


@dataclass(frozen=True, kw_only=True)
class SignatureRequest:
    agreement_id: str
    signed_by: str  # the person who signed for the organization
    version: int | None = None  # default: the pending proposal
    version_digest: str | None = None  # the digest of the text the signer read
    on_behalf_of: str | None = None  # the administrator's paper signature: for which party


@dataclass(frozen=True, kw_only=True)
class Signer:
    """Who signed which party's name, how, and who entered it into the gateway."""

    organization: str
    method: str  # credential | paper
    signed_by: str
    recorded_by: str


def sign(rt: Runtime, request: SignatureRequest, *, acting: Acting) -> AgreementView:
    _check_request(request)
    with rt.sessions.begin() as session:
        key = resolve_key(session, acting, request.agreement_id)
        organization, method = _signing_party(acting, request)
        row = _target(session, key, request)
        _check_digest(row, request)
        if organization not in row.document["parties"]:
            raise AccessDenied(
                f"{organization} is not a party to version {row.version}",
                [Issue(path="organization", message="only a party named in the version signs it")],
            )
        signer = Signer(
            organization=organization,
            method=method,
            signed_by=request.signed_by.strip(),
            recorded_by=acting.audit_actor,
        )
        result = _record(session, rt, row, signer, acting)
    audit.checkpoint(rt)
    return result


def _check_request(request: SignatureRequest) -> None:
    issues = []
    if not request.signed_by.strip():
        issues.append(Issue(path="signedBy", message="required: who signed for the organization"))
    elif len(request.signed_by) > MAX_SIGNER:
        issues.append(Issue(path="signedBy", message=f"at most {MAX_SIGNER} characters"))
    if request.version is not None and request.version < 1:
        issues.append(Issue(path="version", message="a version number, 1 or more"))
    if issues:
        raise InputInvalid("invalid signature", issues)


def _signing_party(acting: Acting, request: SignatureRequest) -> tuple[str, str]:
    """A partner signs for itself with its credentials; only the administrator records paper."""
    if acting.organization is not None:
        if request.on_behalf_of not in (None, acting.organization):
            raise AccessDenied(
                "partner credentials sign only for their own organization",
                [Issue(path="for", message="a signature on paper is recorded by the gateway administrator")],
            )
        return acting.organization, CREDENTIAL
    if not request.on_behalf_of:
        raise InputInvalid(
            "say which party signed on paper", [Issue(path="for", message="required for the administrator")]
        )
    return request.on_behalf_of, PAPER


def _target(session: Session, key: str, request: SignatureRequest) -> AgreementVersionRow:
    rows = store.versions(session, key)
    pending = [row for row in rows if row.state == store.PROPOSED]
    wanted = request.version if request.version is not None else (pending[-1].version if pending else None)
    row = next((r for r in rows if r.version == wanted), None)
    if row is None or row.state != store.PROPOSED:
        raise Conflict(
            "no such version awaits signatures"
            if row is None
            else f"version {row.version} is {row.state}; only a proposed version is signed",
            [Issue(path="version", message="read the agreement and sign its pending proposal")],
        )
    return row


def _check_digest(row: AgreementVersionRow, request: SignatureRequest) -> None:
    if request.version_digest is not None and request.version_digest != row.digest:
        raise Conflict(
            f"the text signed is not version {row.version}'s text; nothing was signed",
            [
                Issue(
                    path="digest",
                    message=f"re-read the agreement: version {row.version} has digest {row.digest}",
                )
            ],
        )


def _record(
    session: Session, rt: Runtime, row: AgreementVersionRow, signer: Signer, acting: Acting
) -> AgreementView:
    signed = {s.organization_id for s in store.signatures(session, row.key, row.version)}
    if signer.organization in signed:
        return view(session, row.key, rt.now().date())
    _add_signature(session, rt, row, signer)
    details = _signature_details(row, signer)
    drafts = [
        audit.AuditDraft(kind="agreement.signed", actor=acting.audit_actor, subject="", details=details)
    ]
    awaiting = set(row.document["parties"]) - signed - {signer.organization}
    if not awaiting:
        drafts.append(_in_force_draft(session, rt, row, acting))
    audit.record(session, rt, drafts)
    return view(session, row.key, rt.now().date(), effect="signed" if awaiting else "in-force")


def _add_signature(session: Session, rt: Runtime, row: AgreementVersionRow, signer: Signer) -> None:
    store.add_signature(
        session,
        AgreementSignatureRow(
            key=row.key,
            version=row.version,
            organization_id=signer.organization,
            signed_by=signer.signed_by,
            digest=row.digest,
            method=signer.method,
            recorded_by=signer.recorded_by,
            signed_at=rt.now(),
        ),
    )


def _in_force_draft(
    session: Session, rt: Runtime, row: AgreementVersionRow, acting: Acting
) -> audit.AuditDraft:
    previous = next((r for r in store.versions(session, row.key) if r.state == store.IN_FORCE), None)
    store.put_in_force(session, row, rt.now())
    details = {
        "agreementId": row.key,
        "version": row.version,
        "status": row.document["status"],
        "previous": {"version": previous.version, "status": previous.document["status"]}
        if previous
        else None,
        "change": "signed-by-every-party",
        "widens": list(row.widens),
        "versionDigest": row.digest,
    }
    return audit.AuditDraft(kind="agreement.changed", actor=acting.audit_actor, subject="", details=details)


def _signature_details(row: AgreementVersionRow, signer: Signer) -> dict[str, Any]:
    # The signer's name stays in the signature row; the audit proves it by digest.
    return {
        "agreementId": row.key,
        "version": row.version,
        "organization": signer.organization,
        "method": signer.method,
        "signedByDigest": digest(signer.signed_by),
        "versionDigest": row.digest,
    }


def seed_signed(session: Session, rt: Runtime, document: dict[str, Any], *, loaded_by: str) -> None:
    """An agreement of a site's policy folder, in force and signed on paper by every party."""
    key = document["id"]
    if any(row.digest == version_digest(document) for row in store.versions(session, key)):
        return
    store.withdraw_pending(session, key, rt.now())
    latest = max((row.version for row in store.versions(session, key)), default=0)
    stored = {**document, "version": max(int(document["version"]), latest + 1)}
    row = AgreementVersionRow(
        key=key,
        version=stored["version"],
        agreement_id=key,
        state=store.PROPOSED,
        document=stored,
        digest=version_digest(stored),
        change="seeded",
        widens=[],
        proposed_by=loaded_by,
        created_at=rt.now(),
        decided_at=None,
    )
    store.add_version(session, row)
    for party in sorted(stored["parties"]):
        signer = Signer(organization=party, method=PAPER, signed_by=SEEDED_SIGNER, recorded_by=loaded_by)
        _add_signature(session, rt, row, signer)
    store.put_in_force(session, row, rt.now())
