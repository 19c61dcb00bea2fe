"""The verifier's own index of the chain, kept like a transparency-log monitor keeps a log.

It follows the TraceCert contracts' events block range by block range into a local SQLite file (resumable,
reorg-safe), fetches the contents of every anchored batch from mirrors and keeps them only when they hash to the
anchored root, and answers the engine's :class:`~tracecert.verification.chainview.ChainView` reads without a round trip.

Errors::

    ChainIndexError                 anything the index itself refuses
     ├── IndexMismatch (ValueError)  the database belongs to another chain or deployment, or the deployment's
     │                               root of trust is not the national authority the caller trusts
     └── ReorgTooDeep                the node's chain departs from the index below every block hash it kept

Modules: :mod:`~verifier.index.schema` (tables), :mod:`~verifier.index.events` (raw logs → typed events),
:mod:`~verifier.index.sync` (events → rows by one handler per event; a range written in one transaction; rollback
to a fork), :mod:`~verifier.index.contents` (batch listings from mirrors, checked and stored),
:mod:`~verifier.index.queries` (prepared reads), :mod:`~verifier.index.model` (errors and answers),
:mod:`~verifier.index.core` (:class:`Index`: following the chain, and its reads).

Chain-layer errors (:class:`~tracecert.chain.errors.ChainUnavailable`, ``ChainError``) pass through unchanged.
"""

from verifier.index.contents import BatchFetcher, HttpFetcher
from verifier.index.core import Index
from verifier.index.model import (
    ChainIndexError,
    ContentState,
    FlaggedBatch,
    IndexMismatch,
    Leaf,
    MirrorProblem,
    ReorgTooDeep,
    SyncReport,
    Tip,
)

__all__ = [
    "BatchFetcher",
    "ChainIndexError",
    "ContentState",
    "FlaggedBatch",
    "HttpFetcher",
    "Index",
    "IndexMismatch",
    "Leaf",
    "MirrorProblem",
    "ReorgTooDeep",
    "SyncReport",
    "Tip",
]
