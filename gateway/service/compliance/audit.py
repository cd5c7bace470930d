"""Writing, signing and verifying the audit trail.

Entries are appended inside the caller's transaction (fail closed: no audit, no data), and the
RFC 6962 frontier in ``audit_head`` moves with them (O(log n) per entry). After a commit,
``checkpoint`` signs a tree head (size, root, time, key id) with the audit key, which lives
outside the database, when one is due: every ``checkpoint_every_entries`` entries or
``checkpoint_every_minutes`` minutes, and always at shutdown or on demand. The newest head is
also kept in a file, and heads go to witnesses (gateway.service.compliance.witness), so deleting tail
rows, or the checkpoint rows with them, or restoring an older database, is detected.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.core.audit import GENESIS_HASH, AuditEntry, Break, ChainReport, Checkpoint, seal, verify_chain
from gateway.core.canonical import canonical_json, digest_bytes
from gateway.core.merkle import leaf_hash, leaf_of
from gateway.core.tree_head import HeadFormatError, TreeHead, from_dict
from gateway.errors import AuditBroken
from gateway.service.administration import keys as key_files
from gateway.service.compliance import witness
from gateway.service.runtime import Runtime
from gateway.storage import audit_store as store
from gateway.storage import audit_writes
from gateway.storage.db import Session


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
    head = store.lock_audit_head(session)
    frontier = store.frontier_of(session, head)
    if head is None:
        head = audit_writes.start_head(session, GENESIS_HASH)
    seq, prev = head.seq, head.hash
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
        frontier = frontier.append(leaf_hash(leaf_of(entry.hash)))
        prev = entry.hash
    store.append_audit(session, head, entries)
    head.frontier = frontier.to_hex()
    # Written now, so a refused audit write stops the flow here with its own error (503).
    audit_writes.flush_entries(session)
    return entries


def _checkpoint_file(rt: Runtime) -> Path:
    return rt.settings.home / "audit" / "checkpoint.json"


def _legacy_bytes(point: Checkpoint) -> bytes:
    """What heads signed before the Merkle tree covered (chain hash only)."""
    return canonical_json({"seq": point.seq, "hash": point.hash, "signedAt": point.signed_at})


def checkpoint(rt: Runtime, *, reason: str | None = None) -> Checkpoint | None:
    """Sign a tree head of the log when one is due (``reason`` None), or now if the log moved since
    the last head (``reason`` manual or shutdown). Called after every audited commit."""
    if rt.keys.audit is None:
        raise AuditBroken("no audit key: run 'spgw init' to create the keys before writing")
    try:
        with audit_writes.head_race(), rt.sessions.begin() as session:
            head = sign_due(session, rt, reason)
    except audit_writes.HeadRaceLost:
        return None  # another writer signed this very size first
    if head is None:
        return None
    _write_file(rt, head)
    return Checkpoint(seq=head.size, hash=head.hash, signed_at=head.time, root=head.root)


def sign_due(session: Session, rt: Runtime, reason: str | None) -> TreeHead | None:
    """Sign and store a head inside ``session`` if one is due; its witnesses are queued with it."""
    current = store.audit_head(session)
    if current is None:
        return None
    last = store.latest_head(session)
    if last is not None and last.seq >= current.seq:
        return None
    why = reason or _due(session, rt, current.seq, last)
    if why is None:
        return None
    key = key_files.load_audit_key(rt.settings.home)
    if key is None:
        raise AuditBroken("no audit key: run 'spgw init' to create the keys before writing")
    frontier = store.frontier_of(session, current)
    head = TreeHead(
        size=current.seq,
        root="sha256:" + frontier.root().hex(),
        hash=current.hash,
        time=rt.now().isoformat(),
        key_id=key.key_id,
        reason=why,
    )
    head = replace(head, signature=key.sign(head.body().encode("utf-8")))
    if not store.add_head(session, head):
        return None
    witness.queue(session, rt, head)
    return head


def _due(session: Session, rt: Runtime, size: int, last: Any) -> str | None:
    signed = last.seq if last is not None else 0
    if size - signed >= rt.settings.checkpoint_every_entries:
        return "entries"
    since = last.signed_at if last is not None else _first_unsigned_time(session, signed)
    waited = rt.now() - dt.datetime.fromisoformat(since)
    if waited >= dt.timedelta(minutes=rt.settings.checkpoint_every_minutes):
        return "minutes"
    return None


def _first_unsigned_time(session: Session, signed: int) -> str:
    found = audit_writes.recorded_at(session, signed + 1)
    return found if found is not None else dt.datetime.max.replace(tzinfo=dt.UTC).isoformat()


def _write_file(rt: Runtime, head: TreeHead) -> None:
    path = _checkpoint_file(rt)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = _read_file(path)
    if previous is not None and previous.size >= head.size:
        return  # a slower writer must not put an older head back
    # A name of its own per writer: two workers on one host must not share the temporary file.
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(head.to_dict(), indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _read_file(path: Path) -> TreeHead | None:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return TreeHead(size=0, root="", hash="", time="", key_id="", signature="")
    if "seq" in doc:  # the file as written before tree heads
        return TreeHead(
            size=doc["seq"],
            root="",
            hash=doc["hash"],
            time=doc["signedAt"],
            key_id=doc.get("keyId", ""),
            signature=doc.get("signature", ""),
        )
    try:
        return from_dict(doc)
    except HeadFormatError:
        return TreeHead(size=0, root="", hash="", time="", key_id="", signature="")


def latest(rt: Runtime, *, sign: bool = True) -> TreeHead | None:
    """The newest signed head; with ``sign``, one is signed now first if the log moved since."""
    if sign:
        checkpoint(rt, reason="manual")
    with rt.sessions() as session:
        row = store.latest_head(session)
        return None if row is None else store.head_of(row)


def note_of(rt: Runtime, head: TreeHead) -> str:
    public = key_files.audit_public_keys(rt.settings.home).get(head.key_id)
    return head.note(b"\0\0\0\0" if public is None else key_files.note_key_hash(head.key_id, public))


def verify(rt: Runtime, kept: Sequence[TreeHead] = ()) -> ChainReport:
    """One streaming pass over the log, checked against every head: the log's own (rows and file)
    and ``kept``, heads kept elsewhere (witnesses, ``spgw audit checkpoint`` output)."""
    publics = key_files.audit_public_keys(rt.settings.home)
    with rt.sessions() as session:
        rows = [store.head_of(r) for r in store.checkpoints(session)]
        file_head = _read_file(_checkpoint_file(rt))
        outside = [*([(file_head, False)] if file_head is not None else []), *((h, True) for h in kept)]
        points: list[Checkpoint] = []
        found: list[Break] = []
        trusted_outside: list[TreeHead] = []
        for head, is_kept in [*((h, False) for h in rows), *outside]:
            point, problem = _trusted(head, publics, kept=is_kept)
            if point is None:
                found.append(Break(seq=head.size, kind="forged-checkpoint", message=problem))
                continue
            points.append(point)
            if (head, is_kept) in outside:
                trusted_outside.append(head)
        report = verify_chain(store.stream_entries(session), points)
    stored = {h.size for h in rows}
    found.extend(
        Break(
            seq=h.size,
            kind="deleted-checkpoint",
            message="a signed head of this size is missing from the log",
        )
        for h in trusted_outside
        if h.size <= report.head_seq and h.size not in stored
    )
    breaks = tuple(sorted({b: None for b in (*report.breaks, *found)}, key=lambda b: b.seq))
    return replace(report, breaks=breaks)


def _trusted(head: TreeHead, publics: Mapping[str, Any], *, kept: bool) -> tuple[Checkpoint | None, str]:
    public = publics.get(head.key_id)
    if public is None:
        return None, "signed by a key this gateway never had"
    point = Checkpoint(seq=head.size, hash=head.hash, signed_at=head.time, root=head.root or None, kept=kept)
    data = head.body().encode("utf-8") if head.root else _legacy_bytes(point)
    if not key_files.verifies(public, data, head.signature):
        return None, "checkpoint signature does not verify"
    return point, ""


@contextlib.contextmanager
def signs_on_exit(rt: Runtime) -> Iterator[None]:
    """Sign the newest head when the block ends: normally, on Ctrl-C, or on SIGTERM (turned into
    SystemExit here so the block unwinds instead of the process dying unsigned)."""

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        yield
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        checkpoint(rt, reason="shutdown")


def rotate_key(rt: Runtime, actor: str) -> tuple[str, str]:
    """A new audit key. The old key first signs everything so far, the rotation is audited, and the
    new key signs a head covering that entry; the old public key stays for the old heads."""
    checkpoint(rt, reason="manual")
    old_id, new_id = key_files.rotate_audit_key(rt.settings.home)
    with rt.sessions.begin() as session:
        record(
            session,
            rt,
            [
                AuditDraft(
                    kind="audit.key-rotated",
                    actor=actor,
                    subject=new_id,
                    details={"oldKeyId": old_id, "newKeyId": new_id},
                )
            ],
        )
    checkpoint(rt, reason="manual")
    return old_id, new_id


def leaves_up_to(rt: Runtime, size: int) -> list[bytes]:
    with rt.sessions() as session:
        return store.leaf_hashes(session, size)
