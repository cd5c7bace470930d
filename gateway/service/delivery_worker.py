"""The outbox worker: decide again, then send due deliveries to their agencies.

Each run has three steps:

1. **Claim** (one transaction): due deliveries are selected ``FOR UPDATE SKIP LOCKED``, so
   several workers share the queue without waiting on each other. Each is decided again now,
   with the same ``decide_disclosure`` the referral used: a consent revoked, an agreement
   suspended or a student turned 18 since it was queued cancels it (``disclosure.cancelled``),
   even if the revocation hook never ran. What may go is re-shaped from the current plan,
   stored as the payload, audited (``disclosure.attempted``, before any byte leaves: fail
   closed) and marked ``sending`` with a lease (``next_attempt_at`` = now + ``LEASE``).
2. **Send** (no transaction open): POST the JSON body to the recipient's registered endpoint
   with a short-lived EdDSA bearer token (``aud`` = the recipient) and ``Idempotency-Key`` =
   the delivery id.
3. **Record** (one transaction per delivery): 2xx is ``sent`` (``disclosure.delivered``, the
   accounting-of-disclosures record); no answer, 5xx, 408, 425 or 429 is retried with
   exponential backoff up to ``MAX_ATTEMPTS``; any other answer is ``failed``.

Why a lease and not a row lock held across the POST: a lock held during network I/O would
keep a database transaction open for the whole timeout, and on SQLite (whose writers are
serialised) block every other writer meanwhile. The claim commits quickly; the lease keeps
other workers off the claimed row (a claimed row is no longer due), and if a worker dies
mid-send the lease runs out and another worker takes the delivery over. The agency may then
see one delivery twice, which the ``Idempotency-Key`` lets it recognise (at-least-once).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

import gateway
from gateway.clients.agency import AgencyAnswer, endpoint_problem, post_delivery
from gateway.core.canonical import canonical_json, digest, digest_bytes
from gateway.errors import GatewayError
from gateway.service import audit
from gateway.service.deliveries import (
    CANCELLED,
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    DeliverySummary,
    Shaped,
    disclosure_details,
    shape,
    summary_of,
)
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo
from gateway.storage.tables import Delivery

LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 8
FIRST_BACKOFF = dt.timedelta(seconds=30)
LONGEST_BACKOFF = dt.timedelta(hours=1)
TOKEN_TTL = dt.timedelta(seconds=60)
WORKER = "spgw-delivery-worker"


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """A claimed delivery, ready to go: where, what, and which attempt this is."""

    delivery_id: str
    recipient: str
    endpoint: str
    body: bytes
    attempt: int


def backoff(attempts: int) -> dt.timedelta:
    """30 s after the first failed attempt, doubling, at most an hour."""
    delay: dt.timedelta = FIRST_BACKOFF * 2 ** min(max(attempts - 1, 0), 16)
    return min(delay, LONGEST_BACKOFF)


def deliver_due(rt: Runtime, *, limit: int = 50, now: dt.datetime | None = None) -> list[DeliverySummary]:
    """Send up to ``limit`` deliveries due at ``now``; the summaries of those cancelled or put off
    without sending, then of those sent (whatever came of them)."""
    if rt.keys.token is None:
        raise GatewayError("the gateway has no token key to sign deliveries with; run 'spgw init'")
    at = now or rt.now()
    with rt.sessions.begin() as session:
        outgoing, settled = _claim(session, rt, at, limit)
    results = dict(settled)
    if outgoing:
        with requests.Session() as http:
            for item in outgoing:
                answer = post_delivery(http, item.endpoint, item.body, request_headers(rt, item))
                results[item.delivery_id] = _record(rt, item, answer, at)
    if results:
        audit.checkpoint(rt)
    return list(results.values())


# -- 1. claim --------------------------------------------------------------------------------


def _claim(
    session: Session, rt: Runtime, now: dt.datetime, limit: int
) -> tuple[list[Outgoing], dict[str, DeliverySummary]]:
    endpoints = {doc["id"]: doc.get("endpoint") for doc in repo.organization_docs(session)}
    outgoing: list[Outgoing] = []
    settled: dict[str, DeliverySummary] = {}
    drafts: list[audit.AuditDraft] = []
    for row in repo.claim_due_deliveries(session, now, limit):
        shaped = shape(session, rt, row.payload["referral"])
        problem = endpoint_problem(endpoints.get(row.recipient_org))
        if shaped.payload is None:
            drafts.append(_cancel(row, shaped, now))
        elif problem is not None:
            row.attempts += 1
            drafts.extend(_retry_or_fail(row, f"{row.recipient_org}: {problem}", True, now))
        else:
            outgoing.append(_take(row, shaped, str(endpoints[row.recipient_org]), now))
            drafts.append(_draft("disclosure.attempted", row, shaped, attempt=row.attempts))
            continue
        settled[row.id] = summary_of(row)
    audit.record(session, rt, drafts)
    return outgoing, settled


def _cancel(row: Delivery, shaped: Shaped, now: dt.datetime) -> audit.AuditDraft:
    row.status, row.reason, row.updated_at = CANCELLED, shaped.refusal(row.categories), now
    return audit.AuditDraft(
        kind="disclosure.cancelled",
        actor=WORKER,
        subject=row.student_id,
        details={
            "deliveryId": row.id,
            "recipient": row.recipient_org,
            "purpose": row.purpose,
            "reason": row.reason,
            "decisions": sorted(d.decision_id for d in shaped.disclosure.decisions.values()),
            "policyVersion": shaped.disclosure.policy.version,
        },
    )


def _take(row: Delivery, shaped: Shaped, endpoint: str, now: dt.datetime) -> Outgoing:
    """Store what goes now (decided now, from the current plan) and lease the row for sending."""
    assert shaped.payload is not None
    row.payload, row.categories = shaped.payload, shaped.categories
    row.consent_ids, row.decision_id = shaped.disclosure.consent_ids, shaped.first_decision_id
    row.attempts += 1
    row.status, row.reason, row.next_attempt_at, row.updated_at = SENDING, None, now + LEASE, now
    return Outgoing(
        delivery_id=row.id,
        recipient=row.recipient_org,
        endpoint=endpoint,
        body=canonical_json(row.payload),
        attempt=row.attempts,
    )


def _draft(kind: str, row: Delivery, shaped: Shaped | None, **extra: Any) -> audit.AuditDraft:
    details = disclosure_details(row, shaped) if shaped is not None else _stored_details(row)
    return audit.AuditDraft(kind=kind, actor=WORKER, subject=row.student_id, details={**details, **extra})


def _stored_details(row: Delivery) -> dict[str, Any]:
    """The disclosure as the row holds it since its claim (the outcome is recorded later)."""
    disclosure = row.payload.get("disclosure", {})
    return {
        "deliveryId": row.id,
        "source": row.source_org,
        "recipient": row.recipient_org,
        "purpose": row.purpose,
        "role": row.role,
        "categories": list(row.categories),
        "basis": list(disclosure.get("basis", [])),
        "consentIds": list(row.consent_ids or ()),
        "decisions": list(disclosure.get("decisionIds", [])),
        "policyVersion": disclosure.get("policyVersion", ""),
        "payloadDigest": digest(row.payload),
    }


# -- 2. send -------------------------------------------------------------------------------


def request_headers(rt: Runtime, item: Outgoing) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {delivery_token(rt, item, rt.now())}",
        "Idempotency-Key": item.delivery_id,
        "User-Agent": f"spgw/{gateway.__version__}",
    }


def delivery_token(rt: Runtime, item: Outgoing, now: dt.datetime) -> str:
    """A one-use bearer for one POST, verifiable with the gateway's JWKS."""
    key = rt.keys.token
    assert key is not None
    issued = int(now.timestamp())
    claims = {
        "iss": rt.settings.issuer,
        "sub": WORKER,
        "aud": item.recipient,
        "iat": issued,
        "exp": issued + int(TOKEN_TTL.total_seconds()),
        "jti": secrets.token_hex(16),
        "deliveryId": item.delivery_id,
        "bodyDigest": digest_bytes(item.body),  # binds the token to this one body
    }
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.key_id})


def token_jwks(rt: Runtime) -> dict[str, Any]:
    """The public key of the delivery tokens as a JWK set (RFC 8037 OKP / Ed25519), for agencies."""
    key = rt.keys.token
    if key is None:
        raise GatewayError("the gateway has no token key; run 'spgw init'")
    raw = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return {
        "keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.key_id, "alg": "EdDSA", "use": "sig"}]
    }


# -- 3. record -------------------------------------------------------------------------------


def _record(rt: Runtime, item: Outgoing, answer: AgencyAnswer, now: dt.datetime) -> DeliverySummary:
    with rt.sessions.begin() as session:
        row = repo.get_delivery(session, item.delivery_id, lock=True)
        assert row is not None
        if answer.delivered:
            drafts = [_delivered(row, item, answer, now)]
        elif row.status != SENDING or row.attempts != item.attempt:
            drafts = []  # another worker took the delivery over after our lease ran out
        else:
            row.response_status = answer.status
            problem = answer.problem or f"the agency answered HTTP {answer.status}"
            drafts = _retry_or_fail(row, problem, answer.retryable, now)
        audit.record(session, rt, drafts)
        return summary_of(row)


def _delivered(row: Delivery, item: Outgoing, answer: AgencyAnswer, now: dt.datetime) -> audit.AuditDraft:
    # Recorded even if the row moved meanwhile (a takeover): these bytes did reach the agency.
    row.status, row.reason, row.response_status, row.updated_at = SENT, None, answer.status, now
    return _draft(
        "disclosure.delivered",
        row,
        None,
        payloadDigest=digest_bytes(item.body),
        responseStatus=answer.status,
        disclosedAt=now.isoformat(),
    )


def _retry_or_fail(row: Delivery, problem: str, retryable: bool, now: dt.datetime) -> list[audit.AuditDraft]:
    row.updated_at = now
    if retryable and row.attempts < MAX_ATTEMPTS:
        row.status, row.next_attempt_at = QUEUED, now + backoff(row.attempts)
        row.reason = (
            f"attempt {row.attempts} failed: {problem}; next attempt at {row.next_attempt_at.isoformat()}"
        )
        return []
    given_up = f"; gave up after {row.attempts} attempts" if retryable else ""
    row.status, row.reason = FAILED, f"attempt {row.attempts} failed: {problem}{given_up}"
    return [_draft("disclosure.failed", row, None, responseStatus=row.response_status, reason=row.reason)]
