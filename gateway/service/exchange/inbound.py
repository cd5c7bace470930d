"""What every inbound door hands over (``Inbound``), and staging it: the payload is committed to
the message store as a ``received`` message before anything can fail (``ingest`` runs it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from gateway.core.canonical import digest_bytes
from gateway.core.limits import LABELS, text_problem
from gateway.errors import InputInvalid, Issue
from gateway.service.exchange import payloads
from gateway.service.runtime import Runtime
from gateway.storage import message_store
from gateway.storage.tables import Message


@dataclass(frozen=True, kw_only=True)
class Inbound:
    """One inbound exchange, from any door: the HTTP API, the FHIR server, the CLI, a pull, the demo."""

    source_org: str
    format_name: str
    payload: bytes = b""
    path: Path | None = None  # a bulk file: copied into the payload store, never read whole
    entity: str | None = None
    content_type: str | None = None
    # A bulk payload over the file threshold is kept as a file and may exceed the HTTP limit (up
    # to the bulk limit); anything else stays in the row, under the HTTP limit.
    bulk: bool = False
    # The id a FHIR create or update writes (fixed with the body, so a replay writes the same resource).
    resource_id: str | None = None


def stage(rt: Runtime, inbound: Inbound) -> str:
    """Commit the raw payload as a ``received`` message; return its id."""
    _check_labels(inbound)
    if inbound.path is not None:
        name, size = payloads.store_file(rt, inbound.path)
        return _add_message(rt, inbound, payload=b"", payload_file=name, digest="sha256:" + name, size=size)
    payload, payload_file = inbound.payload, None
    if inbound.bulk and len(payload) > rt.settings.payload_file_threshold:
        payload_file = payloads.store_bytes(rt, payload)
    stored = b"" if payload_file else payload
    return _add_message(
        rt,
        inbound,
        payload=stored,
        payload_file=payload_file,
        digest=digest_bytes(payload),
        size=len(payload),
    )


def _add_message(
    rt: Runtime, inbound: Inbound, *, payload: bytes, payload_file: str | None, digest: str, size: int
) -> str:
    now = rt.now()
    message = Message(
        id=str(uuid.uuid4()),
        organization_id=inbound.source_org,
        format=inbound.format_name,
        entity=inbound.entity,
        content_type=inbound.content_type,
        resource_id=inbound.resource_id,
        payload=payload,
        payload_file=payload_file,
        payload_digest=digest,
        size=size,
        status="received",
        reason=None,
        outcome={},
        attempts=0,
        received_at=now,
        updated_at=now,
    )
    with rt.sessions.begin() as session:
        message_store.add_message(session, message)
    return message.id


def _check_labels(inbound: Inbound) -> None:
    """The request's own labels must fit their columns; the payload itself is never refused here."""
    # field -> the name users know it by (its most characters: core.limits.LABELS)
    labels = {"format": inbound.format_name, "entity": inbound.entity, "Content-Type": inbound.content_type}
    issues = []
    for label, value in labels.items():
        problem = None if value is None else text_problem(value, limit=LABELS[label])
        if problem:
            issues.append(Issue(path=label, message=f"{problem}; use the documented name"))
    if issues:
        raise InputInvalid("request labels are too long or not text", issues)
