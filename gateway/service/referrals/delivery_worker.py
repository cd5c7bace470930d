"""The outbox worker: decide again, then send each due delivery's fixed body to its agency.

A delivery's body is fixed when its referral is queued (``deliveries.body``: canonical JSON bytes,
their digest, and the ``Idempotency-Key``). Every attempt sends those bytes with that key; only
the bearer token (its ``jti`` and times) differs, so an agency recognises a retry by the key. Each
run has three steps:

1. **Claim** (one transaction): due deliveries, queued and due or ``sending`` with a lapsed lease
   (a crashed sender's), are selected ``FOR UPDATE SKIP LOCKED``, so several workers share the
   queue without waiting on each other. Each is decided again now, with the same
   ``decide_disclosure`` the referral used: a consent revoked, an agreement suspended or a student
   turned 18 since it was queued cancels it (``disclosure.cancelled``, code ``disclosure-denied``)
   even if the revocation hook never ran. The body is never re-shaped: if less may go now than it
   holds (an element denied or retracted, labels changed, an obligation added; see
   ``core.delivery_body``) the delivery is cancelled (``disclosure-narrowed``) rather than sent
   with a different body. Otherwise the attempt is audited before any byte leaves
   (``disclosure.attempted``: attempt number, body digest, key, this attempt's decision ids; fail
   closed) and the row is leased to this claim (``delivery_lease``).
2. **Send** (no transaction open; a heartbeat renews the lease meanwhile): POST the body to the
   recipient's registered endpoint with a short-lived EdDSA bearer token (``aud`` = the recipient,
   ``bodyDigest`` = the body's digest).
3. **Record** (one transaction per delivery): 2xx is ``sent``, with exactly one
   ``disclosure.delivered`` entry (the accounting of disclosures) whichever attempt's 2xx comes
   first; a later 2xx for the same key adds nothing. No answer, 5xx, 408, 409 (the agency is still
   processing an earlier copy), 425 or 429 is retried with exponential backoff up to
   ``MAX_ATTEMPTS``; any other answer is ``failed``. Only the lease holder records a failure.

Why a lease and not a row lock held across the POST: a lock held during network I/O would keep a
database transaction open for the whole timeout, and on SQLite (whose writers are serialised)
block every other writer meanwhile. The claim commits quickly; the lease keeps other workers off
the claimed row. A sender killed before, during or after its POST leaves the row ``sending``; when
its lease lapses the next claim takes it over, decides again and sends the same bytes with the
same key. The agency may so receive one delivery twice (at-least-once) and answers the repeat with
the 2xx it gave the first: that answer is what the worker records as proof of delivery.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization

import gateway
from gateway.clients.agency import AgencyAnswer, endpoint_problem, post_delivery
from gateway.core.delivery_body import narrowing
from gateway.errors import GatewayError
from gateway.service.compliance import audit, disclosures
from gateway.service.compliance.disclosures import Grounds, delivery_details
from gateway.service.referrals.deliveries import (
    CANCELLED,
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    DeliverySummary,
    Shaped,
    decision_drafts,
    grounds_of,
    shape,
    summary_of,
)
from gateway.service.referrals.delivery_lease import heartbeat, lease_length, new_owner
from gateway.service.runtime import Runtime
from gateway.storage import delivery_store, organization_store
from gateway.storage.db import Session
from gateway.storage.tables import Delivery

MAX_ATTEMPTS = 8
FIRST_BACKOFF = dt.timedelta(seconds=30)
LONGEST_BACKOFF = dt.timedelta(hours=1)
TOKEN_TTL = dt.timedelta(seconds=60)
WORKER = "spgw-delivery-worker"
# Why a queued delivery was cancelled instead of sent (audit reason codes).
DENIED, NARROWED = "disclosure-denied", "disclosure-narrowed"


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim: who holds what it takes, since when, for how long."""

    owner: str
    at: dt.datetime
    lease: dt.timedelta


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """A claimed delivery, ready to go: where, the fixed bytes, which attempt and whose."""

    delivery_id: str
    recipient: str
    endpoint: str
    body: bytes
    body_digest: str
    idempotency_key: str
    attempt: int
    owner: str
    grounds: Grounds


def backoff(attempts: int) -> dt.timedelta:
    """30 s after the first failed attempt, doubling, at most an hour."""
    delay: dt.timedelta = FIRST_BACKOFF * 2 ** min(max(attempts - 1, 0), 16)
    return min(delay, LONGEST_BACKOFF)


def deliver_due(rt: Runtime, *, limit: int = 50, now: dt.datetime | None = None) -> list[DeliverySummary]:
    """Send up to ``limit`` deliveries due at ``now``; the summaries of those cancelled or put off
    without sending, then of those sent (whatever came of them)."""
    if rt.keys.token is None:
        raise GatewayError("the gateway has no token key to sign deliveries with; run 'spgw init'")
    clock = _clock(rt, now)
    claim = Claim(owner=new_owner(), at=clock(), lease=lease_length(rt.settings))
    with rt.sessions.begin() as session:
        outgoing, settled = _claim(session, rt, claim, limit)
    results = dict(settled)
    if outgoing:
        with heartbeat(rt, claim.owner, clock, claim.lease), requests.Session() as http:
            for item in outgoing:
                answer = post_delivery(http, item.endpoint, item.body, request_headers(rt, item))
                results[item.delivery_id] = _record(rt, item, answer, clock())
    if results:
        audit.checkpoint(rt)
    return list(results.values())


def _clock(rt: Runtime, now: dt.datetime | None) -> Callable[[], dt.datetime]:
    """The run's clock: the runtime's, or ``now`` held still (tests, replays)."""
    if now is None:
        return rt.now
    fixed: dt.datetime = now
    return lambda: fixed


# -- 1. claim --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Stop:
    """Why a claimed delivery must not go at all: a reason code, and the reason for the row."""

    code: str
    reason: str
    narrowing: str | None = None
    element_ids: tuple[str, ...] = ()


def _claim(
    session: Session, rt: Runtime, claim: Claim, limit: int
) -> tuple[list[Outgoing], dict[str, DeliverySummary]]:
    endpoints = {doc["id"]: doc.get("endpoint") for doc in organization_store.organization_docs(session)}
    outgoing: list[Outgoing] = []
    settled: dict[str, DeliverySummary] = {}
    drafts: list[audit.AuditDraft] = []
    for row in delivery_store.claim_due_deliveries(session, claim.at, limit):
        shaped = shape(session, rt, row.payload["referral"])
        # Re-decided at its claim: these are new decisions, each audited once.
        drafts.extend(decision_drafts(row.payload["referral"], shaped, row.student_id))
        stop = _stop(row, shaped)
        problem = endpoint_problem(endpoints.get(row.recipient_org))
        if stop is not None:
            drafts.append(_cancel(row, shaped, stop, claim.at))
        elif problem is not None:
            row.attempts += 1
            problem = f"{row.recipient_org}: {problem}"
            drafts.extend(_retry_or_fail(row, problem, True, claim.at, grounds_of(shaped)))
        else:
            drafts.append(_attempted(row, claim, grounds_of(shaped)))
            outgoing.append(_take(row, shaped, str(endpoints[row.recipient_org]), claim))
            continue
        settled[row.id] = summary_of(row)
    audit.record(session, rt, drafts)
    return outgoing, settled


def _stop(row: Delivery, shaped: Shaped) -> Stop | None:
    """Why the fixed body may not go now, or None: nothing may go, or less than it holds."""
    if shaped.payload is None:
        return Stop(code=DENIED, reason=shaped.refusal(row.categories))
    narrower = narrowing(row.payload, shaped.payload)
    if narrower is None:
        return None
    return Stop(
        code=NARROWED, reason=narrower.describe(), narrowing=narrower.code, element_ids=narrower.element_ids
    )


def _cancel(row: Delivery, shaped: Shaped, stop: Stop, now: dt.datetime) -> audit.AuditDraft:
    # A row taken over from a dead sender may already be at the agency: the entry says so.
    unconfirmed = row.status == SENDING
    row.status, row.reason, row.updated_at = CANCELLED, stop.reason, now
    _release(row)
    return audit.AuditDraft(
        kind="disclosure.cancelled",
        actor=WORKER,
        subject=row.student_id,
        details={
            "deliveryId": row.id,
            "recipient": row.recipient_org,
            "purpose": row.purpose,
            "reasonCode": stop.code,
            "narrowing": stop.narrowing,
            "elementIds": list(stop.element_ids),
            "bodyDigest": row.body_digest,
            "earlierAttemptUnconfirmed": unconfirmed,
            "decisions": sorted(d.decision_id for d in shaped.disclosure.decisions.values()),
            "policyVersion": shaped.disclosure.policy.version,
        },
    )


def _attempted(row: Delivery, claim: Claim, grounds: Grounds) -> audit.AuditDraft:
    """Before any byte leaves: which attempt, which bytes (digest and key), on which decisions,
    and whose lapsed lease it takes over (the time from that lapse to this claim is the takeover
    delay)."""
    takeover = None
    if row.status == SENDING:
        takeover = {"previousOwner": row.lease_owner, "leaseLapsedAt": _iso(row.lease_until)}
    details = {**delivery_details(row, grounds), "attempt": row.attempts + 1, "leaseOwner": claim.owner}
    return audit.AuditDraft(
        kind="disclosure.attempted",
        actor=WORKER,
        subject=row.student_id,
        details={**details, "takeover": takeover},
    )


def _take(row: Delivery, shaped: Shaped, endpoint: str, claim: Claim) -> Outgoing:
    """Lease the row to this claim; what goes is the body stored at queue time, never re-shaped."""
    grounds = grounds_of(shaped)
    row.consent_ids, row.decision_id = list(grounds.consent_ids), shaped.first_decision_id
    row.attempts += 1
    row.status, row.reason, row.updated_at = SENDING, None, claim.at
    row.lease_owner, row.lease_until = claim.owner, claim.at + claim.lease
    return Outgoing(
        delivery_id=row.id,
        recipient=row.recipient_org,
        endpoint=endpoint,
        body=row.body,
        body_digest=row.body_digest,
        idempotency_key=row.idempotency_key,
        attempt=row.attempts,
        owner=claim.owner,
        grounds=grounds,
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _release(row: Delivery) -> None:
    row.lease_owner, row.lease_until = None, None


# -- 2. send -------------------------------------------------------------------------------


def request_headers(rt: Runtime, item: Outgoing) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {delivery_token(rt, item, rt.now())}",
        "Idempotency-Key": item.idempotency_key,
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
        "bodyDigest": item.body_digest,  # binds the token to this one body
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
        row = delivery_store.get_delivery(session, item.delivery_id, lock=True)
        assert row is not None
        if answer.delivered:
            # Whichever attempt's 2xx arrives first is the proof; the same key answered again
            # (a takeover's retry, deduplicated by the agency) adds no second entry.
            drafts = [] if row.status == SENT else _delivered(row, item, answer, now)
        elif row.status != SENDING or row.lease_owner != item.owner:
            drafts = []  # another worker took the delivery over after our lease lapsed
        else:
            row.response_status = answer.status
            problem = answer.problem or f"the agency answered HTTP {answer.status}"
            drafts = _retry_or_fail(row, problem, answer.retryable, now, item.grounds)
        audit.record(session, rt, drafts)
        return summary_of(row)


def _delivered(
    row: Delivery, item: Outgoing, answer: AgencyAnswer, now: dt.datetime
) -> list[audit.AuditDraft]:
    # Recorded even if the row moved meanwhile (a takeover, a cancellation): these bytes did
    # reach the agency.
    row.status, row.reason, row.response_status, row.updated_at = SENT, None, answer.status, now
    _release(row)
    details = delivery_details(row, item.grounds)
    lifecycle = audit.AuditDraft(
        kind="disclosure.delivered",
        actor=WORKER,
        subject=row.student_id,
        details={
            **details,
            "attempt": item.attempt,
            "responseStatus": answer.status,
            "disclosedAt": now.isoformat(),
        },
    )
    record = disclosures.referral_record(
        row, item.grounds, disclosed_at=now.isoformat(), attempt=item.attempt
    )
    return [lifecycle, disclosures.disclosure_draft(record, actor=WORKER, subject=row.student_id)]


def _retry_or_fail(
    row: Delivery, problem: str, retryable: bool, now: dt.datetime, grounds: Grounds
) -> list[audit.AuditDraft]:
    row.updated_at = now
    _release(row)
    if retryable and row.attempts < MAX_ATTEMPTS:
        row.status, row.next_attempt_at = QUEUED, now + backoff(row.attempts)
        row.reason = (
            f"attempt {row.attempts} failed: {problem}; next attempt at {row.next_attempt_at.isoformat()}"
        )
        return []
    given_up = f"; gave up after {row.attempts} attempts" if retryable else ""
    row.status, row.reason = FAILED, f"attempt {row.attempts} failed: {problem}{given_up}"
    code = "attempts-exhausted" if retryable else "refused-by-agency"  # the row keeps the words
    details = {**delivery_details(row, grounds), "responseStatus": row.response_status, "reasonCode": code}
    return [audit.AuditDraft(kind="disclosure.failed", actor=WORKER, subject=row.student_id, details=details)]
