"""Signed tree heads to witnesses, through an outbox: a copy of each head held outside the
gateway is what makes a restored or forked database visible (``spgw audit verify --against``).

``queue`` adds one row per configured witness in the transaction that stores the head;
``deliver_heads`` (run by ``spgw deliver``) first signs a head if one is due, then POSTs each due
row: the signed head (JSON and signed note) plus an RFC 6962 consistency proof from the last
head that witness acknowledged. Failures are retried with exponential backoff.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

import requests

from gateway.core.merkle import consistency_proof
from gateway.service.runtime import Runtime
from gateway.storage import audit_store as store
from gateway.storage.tables import CheckpointWitness

if TYPE_CHECKING:
    from gateway.core.tree_head import TreeHead
    from gateway.storage.db import Session

MAX_ATTEMPTS = 8
TIMEOUT = (3.0, 5.0)


def queue(session: Session, rt: Runtime, head: TreeHead) -> None:
    now = rt.now()
    for name, endpoint in rt.settings.audit_witnesses:
        store.queue_witness(
            session,
            CheckpointWitness(
                id="wit-" + uuid.uuid4().hex,
                checkpoint_seq=head.size,
                witness=name,
                endpoint=endpoint,
                body=json.dumps(head.to_dict(), sort_keys=True).encode("utf-8"),
                status="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            ),
        )


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts * 5, 3600))


def deliver_heads(rt: Runtime, *, limit: int = 50) -> list[dict[str, Any]]:
    """Sign a head if due, then send due heads to witnesses; what came of each send."""
    from gateway.service.compliance import audit

    audit.checkpoint(rt)
    with rt.sessions() as session:
        due = [
            (r.id, r.witness, r.endpoint, r.checkpoint_seq, r.body)
            for r in store.due_witness_rows(session, rt.now(), limit)
        ]
    done = []
    with requests.Session() as http:
        for row_id, name, endpoint, size, body in due:
            done.append(_send(rt, http, row_id, name, endpoint, size, body))
    return done


def _payload(rt: Runtime, name: str, size: int, body: bytes) -> bytes:
    with rt.sessions() as session:
        since = store.acknowledged_size(session, name)
        acknowledged = store.head_at(session, since) if since else None
        leaves = store.leaf_hashes(session, size)
    proof = consistency_proof(leaves, since) if since <= size else []
    doc = {
        "head": json.loads(body),
        "consistency": {
            "fromSize": since,
            "fromRoot": acknowledged.root if acknowledged is not None else None,
            "proof": [base64.b64encode(p).decode("ascii") for p in proof],
        },
    }
    return json.dumps(doc, sort_keys=True).encode("utf-8")


def _send(
    rt: Runtime, http: requests.Session, row_id: str, name: str, endpoint: str, size: int, body: bytes
) -> dict[str, Any]:
    payload = _payload(rt, name, size, body)
    try:
        answer = http.post(
            endpoint, data=payload, headers={"Content-Type": "application/json"}, timeout=TIMEOUT
        )
        status: int | None = answer.status_code
        problem = "" if 200 <= answer.status_code < 300 else f"witness answered {answer.status_code}"
    except requests.RequestException as exc:
        status, problem = None, f"no answer: {type(exc).__name__}"
    now = rt.now()
    with rt.sessions.begin() as session:
        row = session.get(CheckpointWitness, row_id)
        assert row is not None  # rows are never deleted
        row.attempts += 1
        row.response_status, row.updated_at = status, now
        if not problem:
            row.status, row.reason = "sent", None
        elif row.attempts >= MAX_ATTEMPTS or (status is not None and 400 <= status < 500 and status != 429):
            row.status, row.reason = "failed", problem
        else:
            row.next_attempt_at, row.reason = now + backoff(row.attempts), problem
    return {
        "witness": name,
        "size": size,
        "status": "sent" if not problem else row.status,
        "reason": problem or None,
    }
