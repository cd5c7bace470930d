"""The audit chain: entries hashed over canonical JSON, each naming its predecessor's hash.

Entries hold identifiers and digests only, never sensitive values. ``verify_chain`` walks
the entries in sequence order and reports each break by kind:

- ``edited``: an entry's content no longer matches its hash;
- ``deleted``: a sequence number is missing;
- ``reordered``: an entry's content is valid for a different sequence number;
- ``broken-link``: an entry does not name its predecessor's hash;
- ``truncated``: a signed checkpoint names an entry the log no longer has;
- ``fork``: a head kept elsewhere names another tree than the log's at its size;
- ``rollback``: a head kept elsewhere is larger than the log and every head the log keeps itself
  (the log and its checkpoint file were restored to an older state together);

and, as a warning of its own rather than a break, ``unsigned``: entries after the last signed
head, which nothing outside the database vouches for yet.

The same pass builds the RFC 6962 tree over the entries' hashes, so each signed head's root is
checked against the tree recomputed at its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.core.canonical import canonical_json, digest_bytes
from gateway.core.merkle import TreeBuilder, leaf_of

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
    root: str | None = None  # None on heads signed before the Merkle tree (chain hash only)
    kept: bool = False  # a head kept outside the gateway (``verify --against``)


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
    root: str = ""
    warnings: tuple[Break, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.breaks

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "headSeq": self.head_seq,
            "headHash": self.head_hash,
            "root": self.root,
            "breaks": [b.to_dict() for b in self.breaks],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def entry_hash(entry: AuditEntry, seq: int | None = None) -> str:
    return digest_bytes(canonical_json(entry.body(seq)))


def _matches(entry: AuditEntry) -> bool:
    """Whether the entry's content hashes to its stored hash. orjson with sorted keys writes the
    same bytes as canonical_json for the documents entries hold (strings, ints, lists, objects) at
    a fifth of the cost; where it differs or cannot encode, canonical_json decides, so a match
    is only ever reported for bytes that hash to the stored value."""
    try:
        fast = orjson.dumps(entry.body(), option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        fast = b""
    if fast and "sha256:" + hashlib.sha256(fast).hexdigest() == entry.hash:
        return True
    return entry_hash(entry) == entry.hash


def seal(entry: AuditEntry) -> AuditEntry:
    """The entry with its hash filled in."""
    return AuditEntry(**{**entry.__dict__, "hash": entry_hash(entry)})


def verify_chain(entries: Iterable[AuditEntry], checkpoints: Iterable[Checkpoint] = ()) -> ChainReport:
    """Walk ``entries`` (in ascending ``seq``) once; report every break found."""
    points = list(checkpoints)
    wanted = {p.seq for p in points}
    tree = TreeBuilder()
    breaks: list[Break] = []
    bad_hash: list[AuditEntry] = []
    at_size: dict[int, tuple[str, str]] = {}  # seq -> (chain hash, tree root) for the heads
    prev_seq, prev_hash, count, prev_bad = 0, GENESIS_HASH, 0, False
    for entry in entries:
        count += 1
        if entry.seq != prev_seq + 1:
            breaks.append(_gap(prev_seq, entry.seq))
        bad = not _matches(entry)
        if bad:
            bad_hash.append(entry)
        # After a bad entry its stored hash proves nothing, so the next link is not judged by it.
        elif entry.prev_hash != prev_hash and entry.seq == prev_seq + 1 and not prev_bad:
            breaks.append(
                Break(seq=entry.seq, kind="broken-link", message="does not name its predecessor's hash")
            )
        tree.add(_leaf(entry.hash))
        if entry.seq in wanted:
            at_size[entry.seq] = (entry.hash, "sha256:" + tree.root().hex())
        prev_seq, prev_hash, prev_bad = entry.seq, entry.hash, bad
    breaks.extend(_classify(bad_hash))
    breaks.extend(_check_points(points, at_size, prev_seq))
    return ChainReport(
        entries=count,
        head_seq=prev_seq,
        head_hash=prev_hash,
        breaks=tuple(sorted(breaks, key=lambda b: b.seq)),
        root="sha256:" + tree.root().hex(),
        warnings=_unsigned(points, prev_seq),
    )


def _leaf(chain_hash: str) -> bytes:
    try:
        return leaf_of(chain_hash)
    except ValueError:
        # An edited hash that is not even a digest still takes its place in the tree.
        return chain_hash.encode("utf-8")


def _gap(prev_seq: int, seq: int) -> Break:
    missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}..{seq - 1}"
    return Break(seq=prev_seq + 1, kind="deleted", message=f"entries {missing} are missing")


def _unsigned(points: list[Checkpoint], head: int) -> tuple[Break, ...]:
    signed = max((p.seq for p in points if not p.kept and p.seq <= head), default=0)
    if signed >= head:
        return ()
    span = f"{signed + 1}" if signed + 1 == head else f"{signed + 1}..{head}"
    return (Break(seq=signed + 1, kind="unsigned", message=f"entries {span} are after the last signed head"),)


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


def _check_points(points: list[Checkpoint], at_size: Mapping[int, tuple[str, str]], head: int) -> list[Break]:
    own_top = max((p.seq for p in points if not p.kept), default=0)
    found = []
    for point in points:
        if point.seq > head:
            found.append(_beyond(point, head, rolled_back=point.kept and own_top <= head))
            continue
        hash_at, root_at = at_size.get(point.seq, ("", ""))
        if point.seq not in at_size:
            continue  # the entry itself is missing: reported as deleted
        if hash_at != point.hash or (point.root is not None and root_at != point.root):
            found.append(
                Break(
                    seq=point.seq,
                    kind="fork",
                    message="a head kept elsewhere names another tree at this size",
                )
                if point.kept
                else Break(seq=point.seq, kind="edited", message="entry differs from its signed checkpoint")
            )
    return found


def _beyond(point: Checkpoint, head: int, *, rolled_back: bool) -> Break:
    if rolled_back:
        return Break(
            seq=point.seq,
            kind="rollback",
            message=f"a head kept elsewhere, signed {point.signed_at}, covers {point.seq} entries; "
            f"the log and its own heads end at {head}",
        )
    return Break(
        seq=point.seq,
        kind="truncated",
        message=f"signed checkpoint of {point.signed_at} names entry {point.seq}, but the log ends at {head}",
    )
