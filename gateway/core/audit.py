"""The audit chain: entries hashed over canonical JSON, each naming its predecessor's hash.

Entries hold identifiers and digests only, never sensitive values. ``verify_chain`` walks
the entries in sequence order and reports each break by kind:

- ``edited``: an entry's content no longer matches its hash;
- ``deleted``: a sequence number is missing;
- ``reordered``: an entry's content is valid for a different sequence number;
- ``broken-link``: an entry does not name its predecessor's hash;
- ``truncated``: a signed checkpoint names an entry the log no longer has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.canonical import canonical_json, digest_bytes

GENESIS_HASH = "sha256:" + "0" * 64


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    seq: int
    recorded_at: str
    kind: str
    actor: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str = ""

    def body(self, seq: int | None = None) -> dict[str, Any]:
        return {
            "seq": self.seq if seq is None else seq,
            "recordedAt": self.recorded_at,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "details": dict(self.details),
            "prevHash": self.prev_hash,
        }


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A signed statement 'the log had ``seq`` entries, the last hashing to ``hash``'."""

    seq: int
    hash: str
    signed_at: str


@dataclass(frozen=True, kw_only=True)
class Break:
    seq: int
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class ChainReport:
    entries: int
    head_seq: int
    head_hash: str
    breaks: tuple[Break, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.breaks

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "headSeq": self.head_seq,
            "headHash": self.head_hash,
            "breaks": [b.to_dict() for b in self.breaks],
        }


def entry_hash(entry: AuditEntry, seq: int | None = None) -> str:
    return digest_bytes(canonical_json(entry.body(seq)))


def seal(entry: AuditEntry) -> AuditEntry:
    """The entry with its hash filled in."""
    return AuditEntry(**{**entry.__dict__, "hash": entry_hash(entry)})


def verify_chain(entries: Iterable[AuditEntry], checkpoints: Iterable[Checkpoint] = ()) -> ChainReport:
    """Walk ``entries`` (in ascending ``seq``) once; report every break found."""
    breaks: list[Break] = []
    bad_hash: list[AuditEntry] = []
    hashes: dict[int, str] = {}
    prev_seq, prev_hash, count, prev_bad = 0, GENESIS_HASH, 0, False
    for entry in entries:
        count += 1
        if entry.seq != prev_seq + 1:
            missing = f"{prev_seq + 1}" if entry.seq == prev_seq + 2 else f"{prev_seq + 1}..{entry.seq - 1}"
            breaks.append(
                Break(
                    seq=prev_seq + 1,
                    kind="deleted",
                    message=f"entries {missing} are missing",
                )
            )
        bad = entry_hash(entry) != entry.hash
        if bad:
            bad_hash.append(entry)
        # After a bad entry its stored hash proves nothing, so the next link is not judged by it.
        elif entry.prev_hash != prev_hash and entry.seq == prev_seq + 1 and not prev_bad:
            breaks.append(
                Break(
                    seq=entry.seq,
                    kind="broken-link",
                    message="does not name its predecessor's hash",
                )
            )
        hashes[entry.seq] = entry.hash
        prev_seq, prev_hash, prev_bad = entry.seq, entry.hash, bad
    breaks.extend(_classify(bad_hash))
    breaks.extend(_check_points(checkpoints, hashes, prev_seq))
    return ChainReport(
        entries=count,
        head_seq=prev_seq,
        head_hash=prev_hash,
        breaks=tuple(sorted(breaks, key=lambda b: b.seq)),
    )


def _classify(bad: list[AuditEntry]) -> list[Break]:
    candidates = [e.seq for e in bad]
    found = []
    for entry in bad:
        moved_from = next(
            (s for s in candidates if s != entry.seq and entry_hash(entry, s) == entry.hash),
            None,
        )
        if moved_from is not None:
            found.append(
                Break(
                    seq=entry.seq,
                    kind="reordered",
                    message=f"holds the entry written as seq {moved_from}",
                )
            )
        else:
            found.append(
                Break(
                    seq=entry.seq,
                    kind="edited",
                    message="content does not match its hash",
                )
            )
    return found


def _check_points(checkpoints: Iterable[Checkpoint], hashes: Mapping[int, str], head: int) -> list[Break]:
    found = []
    for point in checkpoints:
        if point.seq > head:
            found.append(
                Break(
                    seq=point.seq,
                    kind="truncated",
                    message=f"signed checkpoint of {point.signed_at} names entry {point.seq}, "
                    f"but the log ends at {head}",
                )
            )
        elif point.seq in hashes and hashes[point.seq] != point.hash:
            found.append(
                Break(
                    seq=point.seq,
                    kind="edited",
                    message="entry differs from its signed checkpoint",
                )
            )
    return found
