"""Who may read the audit, the reports and the accountings, and the audit of that reading.

A compliance officer (credential role ``compliance``), an administrator and the operator on the
gateway host (the CLI) see every organization's entries; a partner sees only the disclosures it
made or received. Every read of the audit is itself audited (kind ``audit.read``) before the
answer is given: if that entry cannot be written, nothing is read (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.disclosure import DisclosureRecord
from gateway.service.administration.partners import ADMINISTRATOR, COMPLIANCE, Principal
from gateway.service.compliance import audit
from gateway.service.runtime import Runtime

OPERATOR = "operator"  # the CLI on the gateway host: whoever can run it can read the database
_SEES_ALL = frozenset({ADMINISTRATOR, COMPLIANCE, OPERATOR})


@dataclass(frozen=True, kw_only=True)
class AuditReader:
    organization_id: str
    client_id: str
    role: str

    @property
    def sees_all(self) -> bool:
        return self.role in _SEES_ALL

    @property
    def actor(self) -> str:
        return f"{self.organization_id or 'gateway'}/{self.client_id}"

    def may_see(self, record: DisclosureRecord) -> bool:
        return self.sees_all or record.involves(self.organization_id)


OPERATOR_READER = AuditReader(organization_id="", client_id="cli", role=OPERATOR)


def reader_of(principal: Principal) -> AuditReader:
    return AuditReader(
        organization_id=principal.organization_id, client_id=principal.client_id, role=principal.role
    )


def record_read(rt: Runtime, reader: AuditReader, what: str, query: Mapping[str, Any]) -> None:
    """Audit that ``reader`` read ``what`` (``disclosures``, ``export``, ``report.flows``...).

    ``query`` holds the parameters (student id, dates, format): ids and codes, which the entry
    keeps as given, plus their digest so two identical reads are recognisable."""
    draft = audit.AuditDraft(
        kind="audit.read",
        actor=reader.actor,
        subject=str(query.get("student", "")),
        details={
            "what": what,
            "role": reader.role,
            "organization": reader.organization_id,
            "query": dict(query),
            "queryDigest": digest(dict(query)),
        },
    )
    with rt.sessions.begin() as session:
        audit.record(session, rt, [draft])
    audit.checkpoint(rt)
