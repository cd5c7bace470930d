"""A referral's Task and ServiceRequest among the served FHIR resources.

Written when the referral is queued, in the same transaction, so an agency can find it by
polling ``/fhir/r4/Task`` whether or not the gateway also pushes it to an endpoint; the Task's
status follows every status report, whichever door it came through (a Task update, or the
delivery status alias), so the Task and the plan's support never disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.formats.fhir_referral import Referral, service_request, task, task_id
from gateway.service.fhir import fhir_served
from gateway.storage import fhir_store
from gateway.storage.db import Session
from gateway.storage.fhir_store import ResourceLabels
from gateway.storage.tables import Delivery

# As the referral's support element is labelled in the plan (service/referrals/referrals.LABELS).
CATEGORY, REGIME, SENSITIVITY = "referral", "not-covered", "restricted"


def labels_for(row: Delivery) -> ResourceLabels:
    return ResourceLabels(
        source_org=row.source_org,
        owner_org=row.recipient_org,
        student_id=row.student_id,
        category=CATEGORY,
        regime=REGIME,
        sensitivity=SENSITIVITY,
        delivery_id=row.id,
    )


def write_referral(session: Session, row: Delivery, now: dt.datetime) -> None:
    referral = Referral(
        delivery_id=row.id,
        student_id=row.student_id,
        source_org=row.source_org,
        recipient_org=row.recipient_org,
        domain=str(row.payload["referral"].get("domain", "familyBasicNeeds")),
        authored=_instant(now),
        reason_code=row.payload["referral"].get("reasonCode"),
    )
    labels = labels_for(row)
    for document in (service_request(referral), task(referral)):
        fhir_served.write(session, document["resourceType"], document["id"], document, labels, now)


def follow_status(session: Session, row: Delivery, status: str, now: dt.datetime) -> None:
    """The referral's Task takes ``status`` (a new version), if the Task exists and differs."""
    current = fhir_store.current(session, "Task", task_id(row.id), lock=True)
    if current is None or current.deleted_at is not None or current.document.get("status") == status:
        return
    document: dict[str, Any] = {**current.document, "status": status, "lastModified": _instant(now)}
    fhir_served.write(session, "Task", current.id, document, labels_for(row), now)


def _instant(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
