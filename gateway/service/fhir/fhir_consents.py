"""Recorded consents among the served FHIR resources (``GET /fhir/r4/Consent?patient=&status=``).

A consent enters through the consent service, never the exchange pipeline (its grantor is
checked and its provisions become enforceable there); each recording and each revocation writes
the served version in the same transaction, a revoked consent reading ``status: inactive``.
"""

from __future__ import annotations

from gateway.service.fhir import fhir_served
from gateway.service.runtime import Runtime
from gateway.storage.db import Session
from gateway.storage.fhir_store import ResourceLabels
from gateway.storage.tables import ConsentRow

CATEGORY, REGIME, SENSITIVITY = "consent", "not-covered", "restricted"


def serve(session: Session, rt: Runtime, row: ConsentRow) -> None:
    document = {**row.document, "status": row.status}
    labels = ResourceLabels(
        source_org=row.recorded_by or row.grantor or "",
        student_id=row.student_id,
        category=CATEGORY,
        regime=REGIME,
        sensitivity=SENSITIVITY,
        client_id=row.local_id,
    )
    fhir_served.write(session, "Consent", row.id, document, labels, rt.now())
