"""The index's errors and what it answers: batches' content states, mirrors' problems, leaves, its tip, sync reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ChainIndexError",
    "ContentState",
    "FlaggedBatch",
    "IndexMismatch",
    "Leaf",
    "MirrorProblem",
    "ReorgTooDeep",
    "SyncReport",
    "Tip",
]


class ChainIndexError(Exception):
    """Base of the index's own errors."""


class IndexMismatch(ChainIndexError, ValueError):
    """The database was built for another chain or deployment, or the deployment is not rooted where trusted."""


class ReorgTooDeep(ChainIndexError):
    """The node's chain no longer contains any block hash the index kept: rebuild the index from scratch."""


# ---------------------------------------------------------------------------------------------------- results


class ContentState(StrEnum):
    """What the index knows of an anchored batch's contents."""

    PENDING = "PENDING"  # anchored; not fetched yet
    VERIFIED = "VERIFIED"  # a mirror served leaves that hash to the anchored root
    WITHHELD = "WITHHELD"  # no mirror served a listing
    MISMATCH = "MISMATCH"  # listings were served, none matches the anchored root, size and lab


@dataclass(frozen=True)
class MirrorProblem:
    """Why one mirror's answer for one batch was not accepted.

    ``code`` is one of UNAVAILABLE, MALFORMED, ROOT_MISMATCH, SIZE_MISMATCH, LAB_MISMATCH, KEY_MISMATCH.
    """

    mirror: str
    code: str
    message: str


@dataclass(frozen=True)
class FlaggedBatch:
    """An anchored batch whose contents the index could not obtain or verify (retried on later syncs)."""

    root: bytes
    lab_id: bytes
    key_id: bytes
    count: int
    state: ContentState
    anchored_at: int
    block_number: int
    first_flagged_at: float
    last_attempt_at: float
    attempts: int
    problems: tuple[MirrorProblem, ...]


@dataclass(frozen=True)
class Leaf:
    """A certificate digest in a verified batch, with the metadata the listing gave for it.

    Only ``digest`` (and its place: ``root``, ``index``) is bound to the chain by the Merkle root; the number,
    serial, kind and category are what the mirror said, to be confirmed by the record that hashes to ``digest``.
    """

    digest: bytes
    root: bytes
    index: int
    size: int
    lab_id: bytes
    key_id: bytes
    certificate_number: str | None
    serial_number: str | None
    kind: str | None
    category_code: str | None
    batch_index: int
    anchored_at: int
    block_number: int


@dataclass(frozen=True)
class Tip:
    """The newest block the index has taken in."""

    number: int
    hash: bytes
    timestamp: int


@dataclass
class SyncReport:
    """What one :meth:`Index.sync` did."""

    from_block: int
    to_block: int  # last block indexed after the sync (from_block - 1 when nothing new)
    blocks: int = 0
    events: int = 0
    batches_verified: int = 0
    batches_flagged: int = 0
    rolled_back_to: int | None = None  # fork point when a reorganization was undone
    elapsed: float = 0.0  # seconds, in all
    contents_elapsed: float = 0.0  # of which fetching and checking batch contents
