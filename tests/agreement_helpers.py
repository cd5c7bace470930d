"""Agreement changes for tests that need one in force: proposed, then signed by every party."""

from __future__ import annotations

from typing import Any

from gateway.service.policy import agreements
from gateway.service.policy.agreement_signing import SignatureRequest, sign
from gateway.service.policy.agreement_views import Acting, AgreementView
from gateway.service.runtime import Runtime

ADMIN = Acting.administrator("test")


def agree(rt: Runtime, document: dict[str, Any], *, by: str) -> AgreementView:
    """``by`` proposes the version; each party then signs it with its own credentials."""
    result = agreements.import_agreement(rt, document, acting=Acting.partner(by))
    for party in sorted(document["parties"]):
        if result.proposal is None:
            break
        request = SignatureRequest(
            agreement_id=document["id"],
            signed_by=f"Director, {party}",
            version_digest=result.proposal["digest"],
        )
        result = sign(rt, request, acting=Acting.partner(party))
    return result


def suspend(rt: Runtime, agreement_id: str, *, by: str, reason: str = "under review") -> AgreementView:
    return agreements.set_status(rt, agreement_id, "suspended", acting=Acting.partner(by), reason=reason)
