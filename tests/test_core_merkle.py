"""The RFC 6962 Merkle tree: known roots and paths, frontier appends, proofs that verify and
proofs that must not."""

from __future__ import annotations

import pytest

from gateway.core.merkle import (
    EMPTY_ROOT,
    Frontier,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The test vectors of RFC 6962's reference implementation (certificate-transparency).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
HASHED = [leaf_hash(x) for x in LEAVES]
ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def test_empty_tree_is_the_hash_of_nothing():
    assert root_of([]) == EMPTY_ROOT == Frontier().root()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(("size", "root"), sorted(ROOTS.items()))
def test_known_roots(size, root):
    assert root_of(HASHED[:size]).hex() == root


@pytest.mark.parametrize("size", range(0, 9))
def test_frontier_appends_give_the_same_roots(size):
    frontier, builder = Frontier(), TreeBuilder()
    for leaf in LEAVES[:size]:
        frontier = frontier.append(leaf_hash(leaf))
        builder.add(leaf)
    assert frontier.root() == builder.root() == root_of(HASHED[:size])
    assert len(frontier.hashes) == size.bit_count()
    assert Frontier.from_hex(size, frontier.to_hex()) == frontier


def test_a_frontier_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="roots"):
        Frontier.from_hex(3, ["00" * 32])


@pytest.mark.parametrize(
    ("index", "size", "path"),
    [
        (0, 1, []),
        (
            0,
            8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ],
)
def test_known_inclusion_paths(index, size, path):
    proof = inclusion_proof(HASHED[:size], index)
    assert [p.hex() for p in proof] == path
    assert verify_inclusion(index, size, HASHED[index], proof, root_of(HASHED[:size]))


@pytest.mark.parametrize(
    ("old", "new", "proof"),
    [
        (1, 1, []),
        (
            1,
            8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ],
)
def test_known_consistency_proofs(old, new, proof):
    found = consistency_proof(HASHED[:new], old)
    assert [p.hex() for p in found] == proof
    assert verify_consistency(old, new, root_of(HASHED[:old]), root_of(HASHED[:new]), found)


TREE = [leaf_hash(i.to_bytes(4, "big")) for i in range(33)]
PAIRS = [(m, n) for n in range(1, 34) for m in range(0, n + 1)]


@pytest.mark.parametrize("size", range(1, 34))
def test_every_inclusion_proof_verifies_and_a_wrong_leaf_does_not(size):
    root = root_of(TREE[:size])
    for index in range(size):
        proof = inclusion_proof(TREE[:size], index)
        assert verify_inclusion(index, size, TREE[index], proof, root)
        assert not verify_inclusion(index, size, leaf_hash(b"other"), proof, root)


def test_every_consistency_proof_verifies_and_tampering_fails():
    for m, n in PAIRS:
        old, new = root_of(TREE[:m]), root_of(TREE[:n])
        proof = consistency_proof(TREE[:n], m)
        assert verify_consistency(m, n, old, new, proof), (m, n)
        if 0 < m < n:
            assert not verify_consistency(m, n, leaf_hash(b"forked"), new, proof), (m, n)
            assert not verify_consistency(m, n, old, leaf_hash(b"forked"), proof), (m, n)
            assert not verify_consistency(m, n, old, new, proof[:-1]), (m, n)


@pytest.mark.parametrize(("index", "size"), [(-1, 4), (4, 4)])
def test_inclusion_outside_the_tree(index, size):
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(TREE[:size], index)
    assert not verify_inclusion(index, size, TREE[0], [], root_of(TREE[:size]))


def test_consistency_refuses_a_larger_old_tree():
    with pytest.raises(ValueError, match="no prefix"):
        consistency_proof(TREE[:3], 4)
    assert not verify_consistency(4, 3, root_of(TREE[:4]), root_of(TREE[:3]), [])
