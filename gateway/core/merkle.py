"""The Merkle tree over the audit log (RFC 6962 §2.1), so one signed root covers every entry.

Leaves are the entries' chain hashes (the 32 raw digest bytes). A leaf hashes as
SHA-256(0x00 || leaf), a node as SHA-256(0x01 || left || right), the tree of n leaves
splits at the largest power of two below n. The writer keeps only the *frontier*, the roots
of the perfect subtrees covering entries 1..n (largest first, one per set bit of n), so an
append costs O(log n) and any prefix's root is the fold of its frontier. Inclusion and
consistency proofs follow RFC 6962 §2.1.1 and §2.1.2 and verify per RFC 9162 §2.1.3/2.1.4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_of(chain_hash: str) -> bytes:
    """The leaf bytes of an entry: its chain hash ``sha256:<hex>`` as 32 raw bytes."""
    return bytes.fromhex(chain_hash.removeprefix("sha256:"))


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already leaf-hashed entries."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


@dataclass(frozen=True)
class Frontier:
    """The roots of the perfect subtrees over leaves 1..size, largest first."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def append(self, leaf_hashed: bytes) -> Frontier:
        hashes, carry, size = list(self.hashes), leaf_hashed, self.size
        # Each trailing set bit of the old size is a subtree the new leaf completes.
        while size & 1:
            carry = node_hash(hashes.pop(), carry)
            size >>= 1
        hashes.append(carry)
        return Frontier(self.size + 1, tuple(hashes))

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def to_hex(self) -> list[str]:
        return [h.hex() for h in self.hashes]

    @classmethod
    def from_hex(cls, size: int, hashes: Iterable[str]) -> Frontier:
        found = tuple(bytes.fromhex(h) for h in hashes)
        if len(found) != size.bit_count():
            raise ValueError(f"a frontier of {size} leaves has {size.bit_count()} roots, not {len(found)}")
        return cls(size, found)


class TreeBuilder:
    """A mutable frontier for one streaming pass (verify, bulk loads): no tuple per leaf."""

    def __init__(self) -> None:
        self.size = 0
        self._hashes: list[bytes] = []

    def add(self, leaf: bytes) -> None:
        carry, size, hashes = leaf_hash(leaf), self.size, self._hashes
        while size & 1:
            carry = node_hash(hashes.pop(), carry)
            size >>= 1
        hashes.append(carry)
        self.size += 1

    def frontier(self) -> Frontier:
        return Frontier(self.size, tuple(self._hashes))

    def root(self) -> bytes:
        return self.frontier().root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` (0-based) in the tree of these leaves."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaf_hashes[:k], index), root_of(leaf_hashes[k:])]
    return [*inclusion_proof(leaf_hashes[k:], index - k), root_of(leaf_hashes[:k])]


def verify_inclusion(index: int, size: int, leaf_hashed: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hashed
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2: the old tree is a prefix of the new one."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"a tree of {n} has no prefix of {old_size}")
    if old_size in (0, n):
        return []
    return _subproof(leaf_hashes, old_size, complete=True)


def _subproof(leaves: Sequence[bytes], m: int, *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete=complete), root_of(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, complete=False), root_of(leaves[:k])]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if old_size == 0:
        return not proof
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
