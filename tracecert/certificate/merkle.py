"""Merkle batches as in RFC 6962 / RFC 9162: roots, inclusion proofs, and their verification.

Leaf hash = SHA-256(0x00 || leaf input), node hash = SHA-256(0x01 || left || right), the root of an empty
tree is SHA-256(""), and a tree of n > 1 leaves splits at the largest power of two smaller than n. For
TraceCert the leaf input is a 32-byte certificate digest; the ``*_of_inputs`` functions take arbitrary
leaf inputs (for the Certificate Transparency test vectors and other logs).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from tracecert.certificate.canonical import DIGEST_SIZE
from tracecert.certificate.errors import ProofInvalid

__all__ = [
    "EMPTY_ROOT",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "MerkleBatch",
    "build_batch",
    "inclusion_proof",
    "inclusion_proof_of_inputs",
    "leaf_hash",
    "merkle_root",
    "merkle_root_of_inputs",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_inclusion",
    "verify_inclusion_leaf_hash",
]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf_input: bytes) -> bytes:
    """Return SHA-256(0x00 || leaf_input)."""
    return hashlib.sha256(LEAF_PREFIX + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _digest_leaves(leaf_digests: Sequence[bytes]) -> list[bytes]:
    for i, d in enumerate(leaf_digests):
        if len(d) != DIGEST_SIZE:
            raise ValueError(f"leaf {i} is {len(d)} bytes; certificate digests are {DIGEST_SIZE}")
    return [leaf_hash(d) for d in leaf_digests]


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (MTH) over already-hashed leaves, bottom-up in O(n)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # Pairing left to right and carrying an odd last node up unchanged gives exactly RFC 6962's split tree.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(leaf_digests: Sequence[bytes]) -> bytes:
    """Return the batch root over certificate digests (each 32 bytes), in order.

    Raises:
        ValueError: a digest is not 32 bytes.
    """
    return root_from_leaf_hashes(_digest_leaves(leaf_digests))


def merkle_root_of_inputs(leaf_inputs: Sequence[bytes]) -> bytes:
    """Return the RFC 6962 root over raw leaf inputs of any length (as in the CT test vectors)."""
    return root_from_leaf_hashes([leaf_hash(x) for x in leaf_inputs])


def _path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    # RFC 6962 §2.1.1 PATH(m, D[n]), iteratively from the top, then reversed to leaf-to-root order.
    out: list[bytes] = []
    lo, hi = 0, len(hashes)
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append(root_from_leaf_hashes(hashes[lo + k : hi]))
            hi = lo + k
        else:
            out.append(root_from_leaf_hashes(hashes[lo : lo + k]))
            lo = lo + k
    out.reverse()
    return out


def _check_index(index: int, n: int) -> None:
    if not 0 <= index < n:
        raise IndexError(f"leaf index {index} outside a tree of {n} leaves")


def inclusion_proof(leaf_digests: Sequence[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof (audit path, leaf to root) for ``leaf_digests[index]``. O(n) per call;
    use :func:`build_batch` for the proofs of a whole batch.

    Raises:
        IndexError: ``index`` is outside the tree.
        ValueError: a digest is not 32 bytes.
    """
    _check_index(index, len(leaf_digests))
    return _path(index, _digest_leaves(leaf_digests))


def inclusion_proof_of_inputs(leaf_inputs: Sequence[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof for raw leaf input ``leaf_inputs[index]``.

    Raises:
        IndexError: ``index`` is outside the tree.
    """
    _check_index(index, len(leaf_inputs))
    return _path(index, [leaf_hash(x) for x in leaf_inputs])


def verify_inclusion_leaf_hash(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that the leaf hash ``leaf`` is at ``index`` in the tree of ``tree_size`` leaves with ``root``
    (RFC 9162 §2.1.3.2). Returns nothing on success.

    Raises:
        ProofInvalid: wrong index or size for the proof, a malformed hash, or the computed root differs.
    """
    if not isinstance(index, int) or not isinstance(tree_size, int) or not 0 <= index < tree_size:
        raise ProofInvalid(f"leaf index {index} is not inside a tree of size {tree_size}")
    if len(root) != DIGEST_SIZE or len(leaf) != DIGEST_SIZE or any(len(p) != DIGEST_SIZE for p in proof):
        raise ProofInvalid("proof hashes and root are 32 bytes each")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofInvalid("proof is longer than the path for this index and tree size")
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
    if sn != 0:
        raise ProofInvalid("proof is shorter than the path for this index and tree size")
    if not hmac.compare_digest(r, root):
        raise ProofInvalid("inclusion proof does not lead to the root")


def verify_inclusion(digest: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that certificate ``digest`` is leaf ``index`` of the batch of ``tree_size`` with ``root``.

    Raises:
        ProofInvalid: the proof does not verify (any altered bit, wrong index, wrong size, wrong root).
    """
    if len(digest) != DIGEST_SIZE:
        raise ProofInvalid(f"a certificate digest is {DIGEST_SIZE} bytes")
    verify_inclusion_leaf_hash(leaf_hash(digest), index, tree_size, proof, root)


@dataclass(frozen=True, slots=True)
class MerkleBatch:
    """A built batch: ``root``, ``tree_size`` and ``proofs[i]``, the inclusion proof of leaf ``i``."""

    root: bytes
    tree_size: int
    proofs: tuple[tuple[bytes, ...], ...]


def build_batch(leaf_digests: Sequence[bytes]) -> MerkleBatch:
    """Compute the root and every leaf's inclusion proof in one pass, O(n log n) hashes and memory.

    Raises:
        ValueError: a digest is not 32 bytes.
    """
    leaves = _digest_leaves(leaf_digests)
    n = len(leaves)
    proofs: list[list[bytes]] = [[] for _ in range(n)]

    def build(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        mid = lo + _split(hi - lo)
        left, right = build(lo, mid), build(mid, hi)
        # Children are finished first, so each proof grows leaf-to-root.
        for i in range(lo, mid):
            proofs[i].append(right)
        for i in range(mid, hi):
            proofs[i].append(left)
        return node_hash(left, right)

    root = build(0, n) if n else EMPTY_ROOT
    return MerkleBatch(root=root, tree_size=n, proofs=tuple(tuple(p) for p in proofs))
