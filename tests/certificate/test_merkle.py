"""RFC 6962 / 9162 Merkle batches: CT reference roots and proofs, every leaf of every size, tampering."""

from __future__ import annotations

import hashlib
import random

import pytest

from tracecert.certificate.errors import ProofInvalid
from tracecert.certificate.merkle import (
    EMPTY_ROOT,
    build_batch,
    inclusion_proof,
    inclusion_proof_of_inputs,
    leaf_hash,
    merkle_root,
    merkle_root_of_inputs,
    node_hash,
    root_from_leaf_hashes,
    verify_inclusion,
    verify_inclusion_leaf_hash,
)

# Certificate Transparency reference test vectors (RFC 6962 implementation, merkle_tree_test).
CT_INPUTS = [
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
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (zero-based leaf index, tree size, audit path) from the same CT vectors.
CT_PROOFS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def _digests(n: int, seed: int = 6962) -> list[bytes]:
    rng = random.Random(seed + n)
    return [rng.randbytes(32) for _ in range(n)]


def _flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def _shape(index: int, size: int) -> tuple[bool, ...]:
    """The left/right sequence the RFC 9162 verifier follows (True = proof hash on the left)."""
    fn, sn, out = index, size - 1, []
    while sn:
        left = bool(fn & 1) or fn == sn
        out.append(left)
        if left and not fn & 1:
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
    return tuple(out)


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_ct_reference_roots(size: int) -> None:
    assert merkle_root_of_inputs(CT_INPUTS[:size]).hex() == CT_ROOTS[size]


def test_empty_tree_and_hash_prefixes() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == merkle_root([])
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert build_batch([]).root == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "path"), CT_PROOFS)
def test_ct_reference_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof_of_inputs(CT_INPUTS[:size], index)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(CT_ROOTS[size])
    verify_inclusion_leaf_hash(leaf_hash(CT_INPUTS[index]), index, size, proof, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion_leaf_hash(leaf_hash(CT_INPUTS[index]), index, size, proof, bytes.fromhex(CT_ROOTS[0]))


def test_certificate_leaves_hash_the_digest() -> None:
    digests = _digests(5)
    assert merkle_root(digests) == root_from_leaf_hashes([leaf_hash(d) for d in digests])
    with pytest.raises(ValueError, match="32"):
        merkle_root([b"short"])


@pytest.mark.parametrize("size", range(1, 65))
def test_every_leaf_proof_verifies(size: int) -> None:
    digests = _digests(size)
    batch = build_batch(digests)
    assert batch.root == merkle_root(digests)
    assert batch.tree_size == size
    for i, d in enumerate(digests):
        proof = list(batch.proofs[i])
        assert proof == inclusion_proof(digests, i)  # the O(n log n) builder agrees with RFC 6962 PATH
        verify_inclusion(d, i, size, proof, batch.root)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 16, 31, 33, 64])
def test_any_tampering_fails(size: int) -> None:
    rng = random.Random(size)
    digests = _digests(size)
    batch = build_batch(digests)
    for i, d in enumerate(digests):
        proof = list(batch.proofs[i])
        checks = [
            (_flip(d, rng.randrange(256)), i, size, proof, batch.root),  # altered digest
            (d, i, size, proof, _flip(batch.root, rng.randrange(256))),  # altered root
            (d, i, size, [*proof, bytes(32)], batch.root),  # extra proof hash
        ]
        for k in range(len(proof)):  # a bit flipped in each proof hash
            bad = list(proof)
            bad[k] = _flip(bad[k], rng.randrange(256))
            checks.append((d, i, size, bad, batch.root))
        if proof:
            checks.append((d, i, size, proof[:-1], batch.root))  # missing proof hash
        checks += [(d, j, size, proof, batch.root) for j in range(size) if j != i]  # every wrong index
        for args in checks:
            with pytest.raises(ProofInvalid):
                verify_inclusion(*args)


@pytest.mark.parametrize("size", range(1, 65))
def test_wrong_tree_size_fails(size: int) -> None:
    """Every other size whose audit path has another shape fails. (A size with an identical path shape
    computes the same root: tree size is only bound by the anchor, which must record it - see docs.)"""
    digests = _digests(size)
    batch = build_batch(digests)
    for i, d in enumerate(digests):
        for wrong in [0, -1, *range(1, 70)]:
            if wrong == size or (wrong > i and _shape(i, wrong) == _shape(i, size)):
                continue
            with pytest.raises(ProofInvalid):
                verify_inclusion(d, i, wrong, batch.proofs[i], batch.root)


def test_out_of_range_arguments() -> None:
    digests = _digests(4)
    with pytest.raises(IndexError):
        inclusion_proof(digests, 4)
    with pytest.raises(IndexError):
        inclusion_proof(digests, -1)
    proof = inclusion_proof(digests, 0)
    root = merkle_root(digests)
    for bad in [(b"\x00" * 31, 0, 4, proof, root), (digests[0], 0, 4, proof, root[:31]),
                (digests[0], 0, 4, [proof[0][:31], *proof[1:]], root)]:  # fmt: skip
        with pytest.raises(ProofInvalid):
            verify_inclusion(*bad)
