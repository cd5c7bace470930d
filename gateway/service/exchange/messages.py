"""The message store as users see it: list, show, and (in ingest) replay.

``reasonCode`` says why a message failed: the type name of the exception that stopped it, or
``Interrupted`` for a run whose process ended (see ``message_state``)."""

from __future__ import annotations

from typing import Any

from gateway.errors import InputInvalid, Issue, NotFound
from gateway.service.exchange.message_state import recover_interrupted
from gateway.service.runtime import Runtime
from gateway.storage import message_store
from gateway.storage.tables import Message

STATUSES = ("received", "mapped", "partial", "held", "rejected", "failed", "ignored", "superseded")


def _summary(message: Message) -> dict[str, Any]:
    outcome = message.outcome or {}
    return {
        "id": message.id,
        "source": message.organization_id,
        "format": message.format,
        "entity": message.entity,
        "status": message.status,
        "reason": message.reason,
        "size": message.size,
        "payloadDigest": message.payload_digest,
        "receivedAt": message.received_at.isoformat(),
        "updatedAt": message.updated_at.isoformat(),
        "attempts": message.attempts,
        "counts": {k: outcome.get(k, 0) for k in ("accepted", "rejected", "held", "failed", "ignored")},
        "reasonCode": outcome.get("reasonCode"),
    }


def list_messages(
    rt: Runtime,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
    source: str | None = None,
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise InputInvalid(
            "unknown message status",
            [Issue(path="status", message=f"use one of {', '.join(STATUSES)}")],
        )
    recover_interrupted(rt)  # a run that died is listed as failed (Interrupted), not as in progress
    with rt.sessions() as session:
        rows = message_store.list_messages(session, status, limit, offset, source)
    return [_summary(m) for m in rows]


def show_message(rt: Runtime, message_id: str, source: str | None = None) -> dict[str, Any]:
    """One message with its per-record problems (never its payload: that may hold PHI)."""
    with rt.sessions() as session:
        message = message_store.get_message(session, message_id)
    if message is None or (source is not None and message.organization_id != source):
        raise NotFound(f"message {message_id} does not exist")
    return {**_summary(message), "records": (message.outcome or {}).get("records", [])}
