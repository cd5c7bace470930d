"""Writing, checkpointing and verifying the audit trail.

Entries are appended inside the caller's transaction (fail closed: no audit, no data).
After a commit, ``checkpoint`` signs the head with the audit key, which lives outside the
database, and keeps the newest signed checkpoint in a file too: deleting tail rows, or the
checkpoint rows with them, is then detected.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gateway.core.audit import (
    GENESIS_HASH,
    AuditEntry,
    Break,
    ChainReport,
    Checkpoint,
    seal,
    verify_chain,
)
from gateway.core.canonical import canonical_json, digest_bytes
from gateway.errors import AuditBroken
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo


@dataclass(frozen=True, kw_only=True)
class AuditDraft:
    kind: str
    actor: str
    subject: str
    details: Mapping[str, Any]


def free_text(text: str) -> dict[str, Any]:
    """What an audit entry keeps of a partner's free text: proof of what was said, not the words
    (a note or reason can name the student or describe their health)."""
    return {"digest": digest_bytes(text.encode("utf-8")), "length": len(text)}


def record(session: Session, rt: Runtime, drafts: list[AuditDraft]) -> list[AuditEntry]:
    if not drafts:
        return []
    head = repo.lock_audit_head(session)
    seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    recorded_at = rt.now().isoformat()
    entries = []
    for draft in drafts:
        seq += 1
        entry = seal(
            AuditEntry(
                seq=seq,
                recorded_at=recorded_at,
                kind=draft.kind,
                actor=draft.actor,
                subject=draft.subject,
                details=draft.details,
                prev_hash=prev,
            )
        )
        entries.append(entry)
        prev = entry.hash
    repo.append_audit(session, head, entries)
    return entries


def _checkpoint_file(rt: Runtime) -> Path:
    return rt.settings.home / "audit" / "checkpoint.json"


def _signed_bytes(point: Checkpoint) -> bytes:
    return canonical_json({"seq": point.seq, "hash": point.hash, "signedAt": point.signed_at})


def checkpoint(rt: Runtime) -> Checkpoint | None:
    """Sign the current head; store it in the database and in the checkpoint file."""
    key = rt.keys.audit
    if key is None:
        raise AuditBroken("no audit key: run 'spgw init' to create the keys before writing")
    with rt.sessions.begin() as session:
        head = repo.audit_head(session)
        if head is None:
            return None
        point = Checkpoint(seq=head.seq, hash=head.hash, signed_at=rt.now().isoformat())
        signature = key.sign(_signed_bytes(point))
        repo.add_checkpoint(session, point, key.key_id, signature)
    _write_file(_checkpoint_file(rt), point, key.key_id, signature)
    return point


def _write_file(path: Path, point: Checkpoint, key_id: str, signature: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "seq": point.seq,
        "hash": point.hash,
        "signedAt": point.signed_at,
        "keyId": key_id,
        "signature": signature,
    }
    # A name of its own per writer: two workers on one host must not share the temporary file.
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(body, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def verify(rt: Runtime) -> ChainReport:
    points, forged = _trusted_checkpoints(rt)
    with rt.sessions() as session:
        report = verify_chain(repo.iter_audit(session), points)
    if not forged:
        return report
    breaks = tuple(sorted((*report.breaks, *forged), key=lambda b: b.seq))
    return ChainReport(
        entries=report.entries,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        breaks=breaks,
    )


def _trusted_checkpoints(rt: Runtime) -> tuple[list[Checkpoint], list[Break]]:
    key = rt.keys.audit
    found: list[tuple[Checkpoint, str]] = []
    with rt.sessions() as session:
        for row in repo.checkpoints(session):
            found.append(
                (
                    Checkpoint(seq=row.seq, hash=row.hash, signed_at=row.signed_at),
                    row.signature,
                )
            )
    path = _checkpoint_file(rt)
    if path.exists():
        doc = json.loads(path.read_text("utf-8"))
        found.append(
            (
                Checkpoint(seq=doc["seq"], hash=doc["hash"], signed_at=doc["signedAt"]),
                doc["signature"],
            )
        )
    trusted, forged = [], []
    for point, signature in found:
        if key is not None and key.verify(_signed_bytes(point), signature):
            trusted.append(point)
        else:
            forged.append(
                Break(
                    seq=point.seq,
                    kind="forged-checkpoint",
                    message="checkpoint signature does not verify",
                )
            )
    return trusted, forged
