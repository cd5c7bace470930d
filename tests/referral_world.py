"""The demo world set up for referrals: Lisa's records from the district and the clinic, the
food bank's endpoint pointed at a test agency, and small helpers that change policy directly
in the database (so these tests do not depend on the consent and agreement services)."""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import text

from gateway.service.referrals.deliveries import DeliverySummary, refer
from gateway.service.runtime import Runtime
from gateway.storage import agreement_store, delivery_store, organization_store
from gateway.storage.tables import AgreementRow, ConsentRow, Delivery
from tests.helpers import LISA, send_demo

DISTRICT, CLINIC, FOOD_BANK = "grand-bend-isd", "riverside-health", "northside-food-bank"
REFERRAL_CONSENT = "consent-0002-gbisd-to-northside"
REFERRAL_AGREEMENT = "gbisd-northside-2026"
STATUS_AGREEMENT = "northside-gbisd-referral-status-2026"
FIELD_SET = ("student.name", "student.identifiers", "needs", "supports", "domains.familyBasicNeeds.facts")
PUBLIC_BENEFIT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "PUBLIC-BENEFIT"}


def prepare(rt: Runtime, endpoint: str) -> None:
    """Exchanges 01, 02, 05 and 08 (the district links Lisa's mother, who signed the sample
    consents), a consent that covers referrals, and the agency's endpoint."""
    for prefix in ("01", "02", "05", "08"):
        send_demo(rt, prefix)
    consent_covers_referrals(rt)
    set_endpoint(rt, endpoint)


def consent_covers_referrals(rt: Runtime) -> None:
    """The sample consent to refer to the food bank names only CAREMGT (care-coordination), so
    it cannot ground a referral-fulfillment disclosure; add PUBLIC-BENEFIT (referral-fulfillment),
    as the signed form says. (Reported: the sample itself should carry it.)"""
    with rt.sessions.begin() as session:
        row = session.get(ConsentRow, REFERRAL_CONSENT)
        assert row is not None
        document = copy.deepcopy(row.document)
        purposes = document["provision"]["purpose"]
        if PUBLIC_BENEFIT["code"] not in {p["code"] for p in purposes}:
            purposes.append(PUBLIC_BENEFIT)
        row.document = document


def set_endpoint(rt: Runtime, endpoint: str | None) -> None:
    with rt.sessions.begin() as session:
        doc = next(d for d in organization_store.organization_docs(session) if d["id"] == FOOD_BANK)
        doc = {k: v for k, v in doc.items() if k != "endpoint"}
        organization_store.upsert_organization(
            session, {**doc, **({"endpoint": endpoint} if endpoint else {})}, rt.now()
        )


def refer_lisa(rt: Runtime, **overrides: Any) -> DeliverySummary:
    arguments: dict[str, Any] = {
        "student_ref": LISA,
        "source_org": DISTRICT,
        "recipient_org": FOOD_BANK,
        "actor": "ms-ortiz",
        "role": "case-worker",
        "purpose": "referral-fulfillment",
        **overrides,
    }
    return refer(rt, **arguments)


def revoke_consent(rt: Runtime, consent_id: str = REFERRAL_CONSENT) -> None:
    """Revoke directly on the row, as if the revocation hook had not run."""
    with rt.sessions.begin() as session:
        row = session.get(ConsentRow, consent_id)
        assert row is not None
        row.revoked_at, row.status = rt.now(), "inactive"


def amend_agreement(rt: Runtime, agreement_id: str = REFERRAL_AGREEMENT, **changes: Any) -> None:
    with rt.sessions.begin() as session:
        row = session.get(AgreementRow, agreement_id)
        assert row is not None
        agreement_store.upsert_agreement(session, {**row.document, **changes}, rt.now())


def let_district_follow_referrals(rt: Runtime) -> None:
    """The sample agreement schedules nothing from the food bank to the district, so referral
    status would stay invisible to the coordinator. Amend it as version 2 (reported)."""
    with rt.sessions.begin() as session:
        row = session.get(AgreementRow, REFERRAL_AGREEMENT)
        assert row is not None
        doc = copy.deepcopy(row.document)
    for entry in doc["schedule"]:
        if entry["party"] == DISTRICT:
            entry["receives"] = ["referral"]
    amend_agreement(
        rt,
        version=doc["version"] + 1,
        schedule=doc["schedule"],
        purposes=[*doc["purposes"], "care-coordination"],
        recipient_roles=[*doc["recipient_roles"], "coordinator"],
    )


def delivery(rt: Runtime, delivery_id: str) -> Delivery:
    with rt.sessions() as session:
        row = delivery_store.get_delivery(session, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


def audit_entries(rt: Runtime, prefix: str = "") -> list[dict[str, Any]]:
    with rt.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT kind, actor, subject, details FROM audit_entries ORDER BY seq")
        )
        found = [
            {"kind": k, "actor": a, "subject": s, "details": d if isinstance(d, dict) else json.loads(d)}
            for k, a, s, d in rows
        ]
    return [e for e in found if e["kind"].startswith(prefix)]
