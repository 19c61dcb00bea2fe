"""The verifier's own index of the chain, kept like a transparency-log monitor keeps a log.

It follows the TraceCert contracts' events block range by block range into a local SQLite file (resumable,
reorg-safe), fetches the contents of every anchored batch from mirrors and keeps them only when they hash to the
anchored root, and answers the engine's :class:`~tracecert.verification.chainview.ChainView` reads without a round trip.

Errors::

    ChainIndexError                 anything the index itself refuses
     ├── IndexMismatch (ValueError)  the database belongs to another chain or deployment, or the deployment's
     │                               root of trust is not the national authority the caller trusts
     └── ReorgTooDeep                the node's chain departs from the index below every block hash it kept

Chain-layer errors (:class:`~tracecert.chain.errors.ChainUnavailable`, ``ChainError``) pass through unchanged.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
from eth_abi import decode as abi_decode
from eth_utils import keccak
from sqlalchemy import (
    Connection,
    LargeBinary,
    Table,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tracecert.certificate.canonical import number_tag, parse_json
from tracecert.certificate.merkle import merkle_root
from tracecert.chain.client import ChainClient, revert_guard
from tracecert.chain.compile import load_artifact
from tracecert.chain.contracts import BatchInfo, CertificateStatus, KeyInfo
from tracecert.chain.deploy import Deployment
from tracecert.chain.errors import ChainError, ChainUnavailable, canonical_type
from tracecert.chain.types import Activity, CertificateState, LabKind, LabStatus, category_code, chain_time
from tracecert.verification.chainview import ChainView, LabState
from tracecert.verification.sources import read_bounded
from verifier.index_schema import (
    BLOCK_TABLES,
    SCHEMA_VERSION,
    SQLITE,
    Query,
    UInt64,
    authorizations_table,
    batches_table,
    blocks_table,
    key_closures_table,
    keys_table,
    lab_admins_table,
    lab_statuses_table,
    labs_table,
    leaves_table,
    meta_table,
    metadata,
    regulator_changes_table,
    regulators_table,
    scopes_table,
    sqlite_engine,
    statuses_table,
    writers_table,
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

logger = logging.getLogger(__name__)

#: Takes a batch listing URL; returns its decoded JSON body, or None when the mirror has nothing to give.
BatchFetcher = Callable[[str], Any]

_REASON_SUPERSEDED = 3  # CertificateRegistry.REASON_SUPERSEDED
_ZERO_ADDRESS = "0x" + "00" * 20
_MAX_FIELD = 256  # longest leaf metadata string accepted from a mirror
_MAX_LISTING_BYTES = 32 * 1024 * 1024


# ---------------------------------------------------------------------------------------------------- errors


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


# ---------------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class _EventSpec:
    name: str
    address: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) in topic order
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


def _event_specs(addresses: Mapping[str, str]) -> dict[tuple[str, bytes], _EventSpec]:
    """(contract address, topic0) → how to decode, for every event of the TraceCert contracts."""
    specs: dict[tuple[str, bytes], _EventSpec] = {}
    for contract, address in addresses.items():
        for item in load_artifact(contract)["abi"]:
            if item["type"] != "event":
                continue
            types = ",".join(canonical_type(i) for i in item["inputs"])
            topic = keccak(text=f"{item['name']}({types})")
            indexed = tuple((i["name"], canonical_type(i)) for i in item["inputs"] if i["indexed"])
            data = [i for i in item["inputs"] if not i["indexed"]]
            specs[(address.lower(), topic)] = _EventSpec(
                item["name"],
                address.lower(),
                indexed,
                tuple(i["name"] for i in data),
                tuple(canonical_type(i) for i in data),
            )
    return specs


def _topic_value(kind: str, topic: bytes) -> Any:
    if kind == "address":
        return "0x" + topic[12:].hex()
    if kind.startswith(("uint", "int")):
        return int.from_bytes(topic, "big")
    return topic  # bytes32


def _decode(spec: _EventSpec, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
    args = {name: _topic_value(kind, topic) for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True)}
    values = abi_decode(list(spec.data_types), data) if spec.data_types else ()
    for name, kind, value in zip(spec.data_names, spec.data_types, values, strict=True):
        args[name] = value.lower() if kind == "address" else value
    return args


@dataclass
class _Rows:
    """Rows decoded from one block range, per table, plus the blocks they came from."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blocks: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    events: int = 0

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.tables.setdefault(table.name, []).append(row)


# ---------------------------------------------------------------------------------------------------- fetching


class HttpFetcher:
    """Fetches batch listings over HTTP; None for anything but a 200 answer (the index counts that as withheld).

    A 200 answer that is not JSON is returned as text, which the index rejects as MALFORMED.
    """

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        max_bytes: int = _MAX_LISTING_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
        self.max_bytes = max_bytes

    def __call__(self, url: str) -> Any:
        try:
            with self._client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    return None
                body = read_bounded(response, self.max_bytes)
        except httpx.HTTPError as exc:
            logger.debug("mirror %s unavailable: %s", url, exc)
            return None
        if body is None:
            return f"listing larger than {self.max_bytes} bytes"
        try:
            return parse_json(body)
        except ValueError:
            return body.decode("utf-8", "replace")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _hex32(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        return None
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_FIELD:
        raise ValueError
    return value


class _Listed(NamedTuple):
    """A leaf as a listing gave it."""

    position: int
    digest: bytes
    certificate_number: str | None
    number_tag: bytes | None
    serial_number: str | None
    kind: str | None
    category_code: str | None


def _check_listing(
    body: Any, root: bytes, lab_id: bytes, key_id: bytes, count: int
) -> tuple[list[_Listed], None] | tuple[None, tuple[str, str]]:
    """The leaves of a listing if it matches the anchored batch, else (None, (code, message))."""
    if not isinstance(body, dict) or not isinstance(body.get("leaves"), list):
        return None, ("MALFORMED", "not a batch listing (an object with a list of leaves)")
    claimed_root = body.get("root")
    if claimed_root is not None and _hex32(claimed_root) != root:
        return None, ("ROOT_MISMATCH", f"the listing is for root {claimed_root!r}")
    claimed_lab = _hex32(body.get("lab_id"))
    if claimed_lab is None:
        return None, ("MALFORMED", "the listing names no lab_id")
    if claimed_lab != lab_id:
        return None, ("LAB_MISMATCH", f"the listing names lab 0x{claimed_lab.hex()}, the chain lab 0x{lab_id.hex()}")
    if body.get("key_id") is not None and _hex32(body.get("key_id")) != key_id:
        return None, ("KEY_MISMATCH", f"the listing names key {body.get('key_id')!r}, the chain key 0x{key_id.hex()}")
    size = body.get("size")
    if (size is not None and size != count) or len(body["leaves"]) != count:
        return None, (
            "SIZE_MISMATCH",
            f"the listing has {len(body['leaves'])} leaves (size {size!r}), the chain anchored {count}",
        )
    leaves: list[_Listed] = []
    try:
        ordered = sorted(body["leaves"], key=lambda leaf: leaf["index"])
        for position, leaf in enumerate(ordered):
            digest = _hex32(leaf.get("digest"))
            if type(leaf["index"]) is not int or leaf["index"] != position or digest is None:
                raise ValueError
            number = _text(leaf.get("certificate_number"))
            # A number in the clear makes its own tag (a listing's tag beside it is not believed); a withheld
            # number (a private certificate) is found by the listing's tag. Either is confirmed by the record.
            tag = number_tag(lab_id, number) if number is not None else _hex32(leaf.get("number_tag"))
            leaves.append(
                _Listed(
                    position,
                    digest,
                    number,
                    tag,
                    _text(leaf.get("serial_number")),
                    _text(leaf.get("kind")),
                    _text(leaf.get("category_code")),
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, ("MALFORMED", "leaves must be indexed 0..n-1 with 0x-hex 32-byte digests and short text fields")
    computed = merkle_root([leaf.digest for leaf in leaves])
    if computed != root:
        return None, ("ROOT_MISMATCH", f"the leaves hash to 0x{computed.hex()}, the chain anchored 0x{root.hex()}")
    return leaves, None


@dataclass
class _Outcome:
    root: bytes
    block_number: int
    lab_id: bytes
    state: ContentState
    leaves: list[_Listed] | None
    mirror: str | None
    problems: list[MirrorProblem]


# ---------------------------------------------------------------------------------------------------- the index


def _bytes32(value: bytes | str) -> bytes:
    raw = value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


_T = bindparam("t", type_=UInt64())
_LAB = bindparam("lab", type_=LargeBinary())

_Q_LAB = Query(
    select(labs_table.c.kind, labs_table.c.jurisdiction, labs_table.c.name).where(labs_table.c.lab_id == _LAB)
)
_Q_STATUS_AT = Query(
    select(lab_statuses_table.c.status)
    .where(lab_statuses_table.c.lab_id == _LAB, lab_statuses_table.c.since <= _T)
    .order_by(lab_statuses_table.c.block_number.desc(), lab_statuses_table.c.log_index.desc())
    .limit(1)
)
_A = authorizations_table.c
_Q_AUTH_AT = Query(
    select(_A.auth_index, _A.number, _A.valid_from, _A.valid_until)
    .where(_A.lab_id == _LAB, _A.valid_from <= _T, _A.valid_until > _T)
    .order_by(_A.auth_index.desc())
    .limit(1)
)
_Q_SCOPE = Query(
    select(scopes_table.c.activities).where(
        scopes_table.c.lab_id == _LAB,
        scopes_table.c.auth_index == bindparam("auth_index"),
        scopes_table.c.category == bindparam("category"),
    )
)
_Q_KEY = Query(
    select(
        keys_table,
        select(func.min(key_closures_table.c.valid_until))
        .where(key_closures_table.c.key_id == keys_table.c.key_id)
        .scalar_subquery()
        .label("closed_at"),
    ).where(keys_table.c.key_id == bindparam("key_id"))
)
_Q_BATCH = Query(select(batches_table).where(batches_table.c.root == bindparam("root")))
_Q_STATUS = Query(
    select(statuses_table).where(statuses_table.c.lab_id == _LAB, statuses_table.c.digest == bindparam("digest"))
)
_B = batches_table.c
_L = leaves_table.c
_Q_LEAVES = select(
    _L.digest,
    _L.root,
    _L.leaf_index,
    _B.size,
    _L.lab_id,
    _B.key_id,
    _L.certificate_number,
    _L.serial_number,
    _L.kind,
    _L.category_code,
    _B.batch_index,
    _B.anchored_at,
    _B.block_number,
).join_from(leaves_table, batches_table, _L.root == _B.root)
_Q_BY_DIGEST = Query(_Q_LEAVES.where(_L.digest == bindparam("digest")).order_by(_B.batch_index, _L.leaf_index))
_Q_BY_NUMBER = Query(
    _Q_LEAVES.where(_L.number_tag == bindparam("tag"), _L.lab_id == _LAB).order_by(_B.batch_index, _L.leaf_index)
)
_Q_BY_SERIAL = Query(_Q_LEAVES.where(_L.serial_number == bindparam("serial")).order_by(_B.batch_index, _L.leaf_index))
_Q_BY_ROOT = Query(_Q_LEAVES.where(_L.root == bindparam("root")).order_by(_L.leaf_index))
_Q_CONTENTS = Query(select(_B.contents).where(_B.root == bindparam("root")))
_Q_TIP = Query(select(meta_table.c.key, meta_table.c.value))  # a dozen rows
_Q_META = select(meta_table.c.value).where(meta_table.c.key == bindparam("key"))
_Q_META_VALUE = Query(_Q_META)


def _status_at(db: sqlite3.Connection, lab_id: bytes, t: int, covered: bool) -> int:
    # TrustRegistry._statusAt: the last recorded change at or before t; before registration the lab counts as
    # ACTIVE wherever a recorded authorization covers t, else 0.
    row = _Q_STATUS_AT.first(db, lab=lab_id, t=t)
    if row is not None:
        return int(row.status)
    return LabStatus.ACTIVE if covered else LabStatus.NONE


class Index:
    """A local, incrementally kept index of the TraceCert contracts on one chain; a :class:`ChainView`.

    Reads are answered from the database as of the last indexed block (:meth:`tip`); :meth:`sync` brings it up
    to the node's head minus ``confirmations``. Reads may run in other threads while a sync runs. Several
    processes may share one file (server workers): their syncs take turns through a lock file beside it.

    Args:
        path: the SQLite file (created on first use).
        client: the JSON-RPC node to follow.
        deployment: the contracts to follow (as checked by :func:`~tracecert.chain.deploy.find_deployment`);
            indexing starts at its block, and its national authority must be the TrustRegistry's root.
        mirrors: base URLs serving ``GET /v1/batches/{root}`` (the registry or any mirror), tried in order.
        fetcher: fetches one listing URL (default: :class:`HttpFetcher`); injectable for tests.
        chunk_size: blocks per ``eth_getLogs`` request (halved when the node refuses a range).
        confirmations: blocks left below the head, not yet indexed (0 for a local or instant-finality chain).
        reorg_depth: how many recent blocks keep their hashes for reorganization checks.
        retry_interval: seconds before a withheld or mismatching batch is asked for again.
        fetch_workers: listings fetched in parallel.
        clock: wall-clock time (seconds) for the flags' timestamps.
        catch_up: a root the index does not know yet makes :meth:`batch` sync at once and look again (at most
            every ``catch_up_interval`` seconds), so that a certificate anchored a moment ago is not "never
            anchored" while the following thread is a block behind (a service); off, reads answer as of the tip.

    Raises:
        IndexMismatch: the file was built for another chain, deployment or schema.
        ChainUnavailable: the node did not answer (its chain id is checked).
    """

    def __init__(
        self,
        path: Path | str,
        client: ChainClient,
        deployment: Deployment,
        *,
        mirrors: Sequence[str] = (),
        fetcher: BatchFetcher | None = None,
        chunk_size: int = 2_000,
        confirmations: int = 0,
        reorg_depth: int = 64,
        retry_interval: float = 60.0,
        fetch_workers: int = 4,
        clock: Callable[[], float] = time.time,
        catch_up: bool = False,
        catch_up_interval: float = 0.5,
    ) -> None:
        if chunk_size < 1 or confirmations < 0 or reorg_depth < 1 or fetch_workers < 1:
            raise ValueError("chunk_size, reorg_depth and fetch_workers must be ≥ 1, confirmations ≥ 0")
        self.path = Path(path)
        self.client = client
        self.deployment = deployment
        self.mirrors = [m.rstrip("/") for m in mirrors]
        self._own_fetcher: HttpFetcher | None = None
        if fetcher is None:
            fetcher = self._own_fetcher = HttpFetcher()
        self.fetcher: BatchFetcher = fetcher
        self.chunk_size = chunk_size
        self.confirmations = confirmations
        self.reorg_depth = reorg_depth
        self.retry_interval = retry_interval
        self.fetch_workers = fetch_workers
        self.clock = clock
        self._trust = deployment.trust_registry.lower()
        self._certs = deployment.certificate_registry.lower()
        self._specs = _event_specs(
            {"TrustRegistry": deployment.trust_registry, "CertificateRegistry": deployment.certificate_registry}
        )
        self._sync_lock = threading.Lock()
        self.catch_up, self.catch_up_interval = catch_up, catch_up_interval
        self._catch_up_lock = threading.Lock()
        self._caught_up_at = -math.inf
        self._lock_path = Path(f"{self.path}.lock")
        self._writer = sqlite_engine(self.path, "BEGIN IMMEDIATE", pool_size=1)
        self._reader = sqlite_engine(self.path, "BEGIN", pool_size=2)
        self._local = threading.local()
        self._dbs: list[sqlite3.Connection] = []
        self._dbs_lock = threading.Lock()
        try:
            self._chain_id = client.chain_id
            with self._exclusive():
                self._open()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        metadata.create_all(self._writer)
        identity = {
            "schema_version": SCHEMA_VERSION,
            "chain_id": str(self._chain_id),
            "trust_registry": self._trust,
            "certificate_registry": self._certs,
            "national_authority": self.deployment.national_authority.lower(),
            "start_block": str(self.deployment.block_number),
        }
        with self._writer.begin() as conn:
            stored = dict(conn.execute(select(meta_table.c.key, meta_table.c.value)).all())
            if not stored:
                conn.execute(meta_table.insert(), [{"key": k, "value": v} for k, v in identity.items()])
                return
        for key, value in identity.items():
            if stored.get(key) != value:
                raise IndexMismatch(f"{self.path} was built with {key}={stored.get(key)!r}, not {value!r}")

    def close(self) -> None:
        """Release the database connections (and the HTTP client the index created)."""
        self._writer.dispose()
        self._reader.dispose()
        with self._dbs_lock:
            for db in self._dbs:
                db.close()
            self._dbs.clear()
        if self._own_fetcher is not None:
            self._own_fetcher.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def start_block(self) -> int:
        """The first block indexed (the deployment's)."""
        return self.deployment.block_number

    # ------------------------------------------------------------------ following the chain

    def sync(self, *, until: int | None = None, stop: threading.Event | None = None) -> SyncReport:
        """Take in every block up to the node's head minus ``confirmations`` (or ``until``), then fetch and check
        the contents of batches still unknown (new ones, and flagged ones due for a retry).

        First compares the kept block hashes with the node's and rolls back to the fork point if they differ.
        Each block range is committed in one transaction with the cursor, so an interrupted sync resumes cleanly.

        Raises:
            ReorgTooDeep: the chain changed below every kept block hash.
            IndexMismatch: the deployment's constructor event names another national authority.
            ChainUnavailable, ChainError: from the node.
        """
        with self._exclusive():
            started = time.perf_counter()
            rolled_back = self._check_reorg()
            tip = self.tip()
            first = tip.number + 1 if tip else self.start_block
            report = SyncReport(first, first - 1, rolled_back_to=rolled_back)
            head = int(self._rpc("eth_blockNumber", []), 16)
            target = head - self.confirmations if until is None else min(until, head - self.confirmations)
            size = self.chunk_size
            while first <= target and not (stop is not None and stop.is_set()):
                last = min(first + size - 1, target)
                # The range's last block is read before its logs: if the chain reorganizes in between, the hash
                # kept is the older one, so the next sync's check sees the change and re-indexes the range.
                tip_block = self._rpc("eth_getBlockByNumber", [hex(last), False])
                if tip_block is None:
                    break  # the head moved back under us: the next sync's hash check sorts it out
                try:
                    logs = self._rpc(
                        "eth_getLogs",
                        [{"fromBlock": hex(first), "toBlock": hex(last), "address": [self._trust, self._certs]}],
                    )
                except ChainUnavailable:
                    raise
                except ChainError:
                    if size == 1:
                        raise
                    size = max(1, size // 2)  # too many results for this node: smaller ranges
                    continue
                rows = self._rows(logs)
                rows.blocks[last] = (_b(tip_block["hash"]), int(tip_block["timestamp"], 16))
                if not self._commit(first, last, rows):
                    logger.debug("index: another writer indexed past block %d; stopping this sync", first - 1)
                    break
                report.blocks += last - first + 1
                report.events += rows.events
                report.to_block = last
                first = last + 1
            if not (stop is not None and stop.is_set()):
                fetching = time.perf_counter()
                self._fetch_contents(report)
                report.contents_elapsed = time.perf_counter() - fetching
            report.elapsed = time.perf_counter() - started
            return report

    def follow(
        self,
        stop: threading.Event,
        interval: float = 1.0,
        *,
        on_sync: Callable[[SyncReport], None] | None = None,
    ) -> None:
        """Sync every ``interval`` seconds until ``stop`` is set; node failures are logged and retried.

        Raises:
            ReorgTooDeep, IndexMismatch: as :meth:`sync`.
        """
        while not stop.is_set():
            try:
                report = self.sync(stop=stop)
            except ChainError as exc:  # unreachable or erring node: try again later
                logger.warning("index: sync failed, retrying in %.1f s: %s", interval, exc)
            else:
                if on_sync is not None:
                    on_sync(report)
            stop.wait(interval)

    # ------------------------------------------------------------------ reads: ChainView

    def chain_id(self) -> int:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        return self._chain_id

    def certificate_registry(self) -> str:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        return self.deployment.certificate_registry

    def now(self) -> int:
        """The timestamp of the last indexed block: the index answers as of that block.

        Before the first sync, the node's latest block timestamp.
        """
        row = _Q_META_VALUE.first(self._db(), key="last_timestamp")
        return int(row.value) if row else self.client.block_timestamp()

    def batch(self, root: bytes) -> BatchInfo | None:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        row = _Q_BATCH.first(self._db(), root=bytes(root))
        if row is None and self.catch_up and self._caught_up():
            row = _Q_BATCH.first(self._db(), root=bytes(root))
        if row is None:
            return None
        return BatchInfo(row.root, row.lab_id, row.key_id, row.size, row.batch_index, row.anchored_at, row.block_number)

    def _caught_up(self) -> bool:
        """Sync now, for a read that found nothing (see ``catch_up``): whether the index has synced since the read
        asked (by this call, or by another that held the turn meanwhile). False when throttled or the node fails."""
        asked = time.monotonic()
        with self._catch_up_lock:
            if self._caught_up_at >= asked:
                return True
            if asked - self._caught_up_at < self.catch_up_interval:
                return False
            try:
                self.sync()
            except Exception as exc:  # the following thread reports and retries what a sync cannot do
                logger.warning("index: catching up for a read failed: %s", exc)
                return False
            finally:
                self._caught_up_at = time.monotonic()
            return True

    def key(self, key_id: bytes) -> KeyInfo | None:
        """See :class:`~tracecert.verification.chainview.ChainView`: the window as shrunk by every
        ``KeyWindowClosed``."""
        row = _Q_KEY.first(self._db(), key_id=bytes(key_id))
        if row is None:
            return None
        until = row.valid_until if row.closed_at is None else min(row.valid_until, row.closed_at)
        return KeyInfo(row.key_id, row.lab_id, row.public_key, row.valid_from, until, row.registered_at)

    def lab_at(self, lab_id: bytes, at: int) -> LabState | None:
        """See :class:`~tracecert.verification.chainview.ChainView`; the semantics of ``TrustRegistry.labAt``.

        Times outside the uint64 range are asked at its nearest end (:func:`~tracecert.chain.types.chain_time`).
        """
        t = chain_time(at)
        with self._snapshot() as db:
            lab = _Q_LAB.first(db, lab=bytes(lab_id))
            if lab is None:
                return None
            auth = _Q_AUTH_AT.first(db, lab=bytes(lab_id), t=t)
            status = _status_at(db, bytes(lab_id), t, auth is not None)
        return LabState(
            bytes(lab_id),
            LabKind(lab.kind),
            lab.jurisdiction,
            LabStatus(status),
            auth is not None,
            auth.number if auth else "",
            auth.valid_from if auth else 0,
            auth.valid_until if auth else 0,
        )

    def is_authorized(self, lab_id: bytes, category: str, activity: Activity, at: int) -> bool:
        """See :class:`~tracecert.verification.chainview.ChainView`; the semantics of ``TrustRegistry.isAuthorized``.

        Times outside the uint64 range are asked at its nearest end (:func:`~tracecert.chain.types.chain_time`).
        """
        t = chain_time(at)
        try:
            code = category_code(category)
        except ValueError:
            return False
        wanted = int(activity)
        if wanted == 0:
            return False
        with self._snapshot() as db:
            auth = _Q_AUTH_AT.first(db, lab=bytes(lab_id), t=t)  # none for an unknown lab
            if auth is None or _status_at(db, bytes(lab_id), t, True) != LabStatus.ACTIVE:
                return False
            scope = _Q_SCOPE.first(db, lab=bytes(lab_id), auth_index=auth.auth_index, category=code)
        return scope is not None and scope.activities & wanted == wanted

    def status(self, lab_id: bytes, digest: bytes) -> CertificateStatus:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        row = _Q_STATUS.first(self._db(), lab=bytes(lab_id), digest=bytes(digest))
        if row is None:
            return CertificateStatus(CertificateState.NONE, 0, 0, 0, None)
        return CertificateStatus(
            CertificateState(row.state), row.reason, row.effective_time, row.recorded_at, row.substituted_by
        )

    def lab_name(self, lab_id: bytes) -> str | None:
        """See :class:`~tracecert.verification.chainview.ChainView`."""
        row = _Q_LAB.first(self._db(), lab=bytes(lab_id))
        return None if row is None else str(row.name)

    def batch_published(self, root: bytes) -> bool | None:
        """See :class:`~tracecert.verification.chainview.ChainView`: from :meth:`contents_state`; None without any
        mirror to ask (then nothing was withheld: nobody was asked)."""
        if not self.mirrors:
            return None
        state = self.contents_state(root)
        if state is ContentState.VERIFIED:
            return True
        return False if state in (ContentState.WITHHELD, ContentState.MISMATCH) else None

    def numbered(self, lab_id: bytes, number: str) -> list[bytes]:
        """See :class:`~tracecert.verification.chainview.ChainView`: from the verified batch contents
        (:meth:`by_number`)."""
        return [leaf.digest for leaf in self.by_number(lab_id, number)]

    # ------------------------------------------------------------------ reads: contents and monitoring

    def by_digest(self, digest: bytes | str) -> Leaf | None:
        """Where a certificate digest was anchored (the earliest batch holding it), from verified contents only.

        Raises:
            ValueError: not a 32-byte digest.
        """
        row = _Q_BY_DIGEST.first(self._db(), digest=_bytes32(digest))
        return None if row is None else Leaf(*row)

    def by_number(self, lab_id: bytes | str, number: str) -> list[Leaf]:
        """A lab's certificates with this number, in anchoring order (more than one: the number was reused). Found
        by the number's tag, so private certificates (whose listings withhold the number) are found too.

        Raises:
            ValueError: ``lab_id`` is not 32 bytes.
        """
        lab = _bytes32(lab_id)
        return [Leaf(*row) for row in _Q_BY_NUMBER.all(self._db(), lab=lab, tag=number_tag(lab, number))]

    def by_serial(self, serial: str) -> list[Leaf]:
        """Certificates of instruments with this serial number (any lab), in anchoring order."""
        return [Leaf(*row) for row in _Q_BY_SERIAL.all(self._db(), serial=serial)]

    def leaves(self, root: bytes | str) -> list[Leaf]:
        """The verified contents of a batch in leaf order (empty while unknown), e.g. to build inclusion proofs.

        Raises:
            ValueError: not a 32-byte root.
        """
        return [Leaf(*row) for row in _Q_BY_ROOT.all(self._db(), root=_bytes32(root))]

    def contents_state(self, root: bytes | str) -> ContentState | None:
        """What is known of an anchored batch's contents, or None for a root never anchored.

        Raises:
            ValueError: not a 32-byte root.
        """
        row = _Q_CONTENTS.first(self._db(), root=_bytes32(root))
        return None if row is None else ContentState(row.contents)

    def flagged_batches(self) -> list[FlaggedBatch]:
        """Anchored batches whose contents are withheld or do not match, oldest anchoring first."""
        query = (
            select(batches_table)
            .where(_B.contents.in_([ContentState.WITHHELD.value, ContentState.MISMATCH.value]))
            .order_by(_B.batch_index)
        )
        with self._sa_read() as conn:
            rows = conn.execute(query).all()
        return [
            FlaggedBatch(
                r.root,
                r.lab_id,
                r.key_id,
                r.size,
                ContentState(r.contents),
                r.anchored_at,
                r.block_number,
                r.first_flagged_at,
                r.last_attempt_at,
                r.attempts,
                tuple(MirrorProblem(**p) for p in json.loads(r.problems)),
            )
            for r in rows
        ]

    def tip(self) -> Tip | None:
        """The last indexed block, or None before the first sync."""
        values = dict(_Q_TIP.all(self._db()))
        if "last_block" not in values:
            return None
        return Tip(int(values["last_block"]), bytes.fromhex(values["last_hash"]), int(values["last_timestamp"]))

    def counts(self) -> dict[str, int]:
        """Rows per table (for monitoring and benchmarks)."""
        with self._sa_read() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in BLOCK_TABLES}

    # ------------------------------------------------------------------ internals: database

    def _db(self) -> sqlite3.Connection:
        """This thread's read connection (one statement is one consistent snapshot in SQLite)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA query_only=ON")
            with self._dbs_lock:
                self._dbs.append(db)
            self._local.db = db
        return db

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Write alone: one thread of this process, and one process of those sharing the file (several server
        workers over one index), through a lock file beside it. Another process's sync is waited for; the work it
        did is then found done (the cursor moved), so each block range is taken in once."""
        with self._sync_lock, open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several statements see one state even while a sync commits."""
        db = self._db()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    @contextmanager
    def _sa_read(self) -> Iterator[Connection]:
        """A read transaction through SQLAlchemy, for the bookkeeping reads off the lookup path."""
        with self._reader.connect() as conn:
            yield conn

    def _commit(self, first: int, last: int, rows: _Rows) -> bool:
        """Write one block range's rows, its block hashes and the cursor in one transaction."""
        with self._writer.begin() as conn:
            cursor = conn.execute(_Q_META, {"key": "last_block"}).scalar()
            if (int(cursor) if cursor is not None else self.start_block - 1) != first - 1:
                return False
            for table in BLOCK_TABLES:
                if rows.tables.get(table.name):
                    conn.execute(table.insert(), rows.tables[table.name])
            conn.execute(
                sqlite_insert(blocks_table).on_conflict_do_nothing(),
                [{"number": n, "hash": h, "timestamp": ts} for n, (h, ts) in rows.blocks.items()],
            )
            tip_hash, tip_time = rows.blocks[last]
            self._set_meta(conn, last_block=str(last), last_hash=tip_hash.hex(), last_timestamp=str(tip_time))
            # Keep the hashes of the last reorg_depth blocks, and the newest one below them as the floor.
            cut = last - self.reorg_depth
            floor = conn.execute(select(func.max(blocks_table.c.number)).where(blocks_table.c.number <= cut)).scalar()
            if floor is not None:
                pruned = conn.execute(delete(blocks_table).where(blocks_table.c.number < floor)).rowcount
                if pruned:
                    self._set_meta(conn, pruned="1")
        return True

    @staticmethod
    def _set_meta(conn: Connection, **values: str) -> None:
        stmt = sqlite_insert(meta_table)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}),
            [{"key": k, "value": v} for k, v in values.items()],
        )

    def _check_reorg(self) -> int | None:
        """Compare the kept block hashes with the node's; roll back to the fork point if they differ."""
        with self._sa_read() as conn:
            kept = conn.execute(select(blocks_table.c.number, blocks_table.c.hash).order_by("number")).all()
            pruned = conn.execute(_Q_META, {"key": "pruned"}).scalar() is not None
        if not kept:
            return None
        headers = self._headers([n for n, _ in kept])
        fork: int | None = None
        for position, ((number, stored), header) in enumerate(zip(kept, headers, strict=True)):
            if header is not None and _b(header["hash"]) == stored:
                continue
            # The lowest differing block: everything from the last matching kept block upwards is re-indexed.
            if position > 0:
                fork = kept[position - 1][0]
            elif pruned:
                raise ReorgTooDeep(
                    f"block {number} changed and no older block hash is kept (reorg_depth={self.reorg_depth}); "
                    f"rebuild the index from block {self.start_block}"
                )
            else:
                fork = self.start_block - 1
            logger.warning("index: chain reorganized at block %d, rolling back to block %d", number, fork)
            self._rollback(fork)
            return fork
        return None

    def _rollback(self, fork: int) -> None:
        with self._writer.begin() as conn:
            for table in BLOCK_TABLES:
                conn.execute(delete(table).where(table.c.block_number > fork))
            conn.execute(delete(blocks_table).where(blocks_table.c.number > fork))
            base = conn.execute(select(blocks_table).where(blocks_table.c.number == fork)).first()
            if base is None:  # back to before the deployment: start over
                conn.execute(delete(blocks_table))
                conn.execute(
                    delete(meta_table).where(meta_table.c.key.in_(["last_block", "last_hash", "last_timestamp"]))
                )
            else:
                self._set_meta(
                    conn, last_block=str(fork), last_hash=base.hash.hex(), last_timestamp=str(base.timestamp)
                )

    # ------------------------------------------------------------------ internals: chain

    def _rpc(self, method: str, params: list[Any]) -> Any:
        return self.client.rpc(method, params)

    def _headers(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        """Block headers, in one JSON-RPC batch when the node accepts batches."""
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        provider = self.client.w3.provider
        if len(calls) > 1 and hasattr(provider, "make_batch_request"):
            answers = revert_guard(lambda: provider.make_batch_request(calls), what="eth_getBlockByNumber batch")
            if isinstance(answers, list) and len(answers) == len(calls) and all("result" in a for a in answers):
                return [a["result"] for a in answers]
        return [self._rpc(method, params) for method, params in calls]

    def _rows(self, logs: Iterable[dict[str, Any]]) -> _Rows:
        """Decode one range's logs into rows (ignoring other contracts' and removed logs)."""
        wanted: list[tuple[_EventSpec, list[bytes], dict[str, Any]]] = []
        hashes: dict[int, bytes] = {}
        stamps: dict[int, int] = {}
        for log in logs:
            topics = [_b(t) for t in log["topics"]]
            spec = self._specs.get((str(log["address"]).lower(), topics[0])) if topics else None
            if spec is None or log.get("removed"):
                continue
            wanted.append((spec, topics, log))
            block = int(log["blockNumber"], 16)
            if block not in hashes:
                hashes[block] = _b(log["blockHash"])
                if log.get("blockTimestamp"):
                    stamps[block] = int(log["blockTimestamp"], 16)
        missing = sorted(set(hashes) - set(stamps))
        if missing:  # nodes that do not put blockTimestamp in logs: ask for those blocks' headers
            for number, header in zip(missing, self._headers(missing), strict=True):
                if header is None:
                    raise ChainUnavailable(f"block {number} vanished while indexing")
                stamps[number] = int(header["timestamp"], 16)
        rows = _Rows(blocks={n: (h, stamps[n]) for n, h in hashes.items()})
        for spec, topics, log in wanted:
            block = int(log["blockNumber"], 16)
            rows.events += 1
            self._apply(
                rows,
                spec.name,
                _decode(spec, topics, _b(log["data"])),
                {"block_number": block, "log_index": int(log["logIndex"], 16)},
                rows.blocks[block][1],
                str(log["transactionHash"]).lower(),
            )
        return rows

    def _apply(self, rows: _Rows, name: str, a: dict[str, Any], at: dict[str, int], now: int, tx_hash: str) -> None:
        """Turn one decoded event into rows; ``now`` is its block's timestamp."""
        if name == "RegulatorRegistered":
            if a["parent"] == _ZERO_ADDRESS and a["account"] != self.deployment.national_authority.lower():
                raise IndexMismatch(
                    f"the TrustRegistry at {self.deployment.trust_registry} is rooted at {a['account']}, "
                    f"not at the trusted national authority {self.deployment.national_authority}"
                )
            rows.add(
                regulators_table,
                {"account": a["account"], "parent": a["parent"], "jurisdiction": a["jurisdiction"], "name": a["name"]}
                | at,
            )
        elif name == "RegulatorStatusChanged":
            rows.add(regulator_changes_table, {"account": a["account"], "active": a["active"], "by": a["by"]} | at)
        elif name == "LabRegistered":
            rows.add(
                labs_table,
                {
                    "lab_id": a["labId"],
                    "lab_number": a["labNumber"],
                    "kind": a["kind"],
                    "jurisdiction": a["jurisdiction"],
                    "admin": a["admin"],
                    "regulator": a["regulator"],
                    "name": a["name"],
                    "registered_at": now,
                }
                | at,
            )
        elif name == "LabAuthorized":
            rows.add(
                authorizations_table,
                {
                    "lab_id": a["labId"],
                    "auth_index": a["authIndex"],
                    "number": a["number"],
                    "valid_from": a["validFrom"],
                    "valid_until": a["validUntil"],
                    "regulator": a["regulator"],
                    "recorded_at": now,
                }
                | at,
            )
            scope: dict[bytes, int] = {}
            for category, bits in zip(a["categories"], a["activities"], strict=True):
                scope[bytes(category)] = bits  # a repeated category: the contract keeps the last
            for category, bits in scope.items():
                rows.add(
                    scopes_table,
                    {
                        "lab_id": a["labId"],
                        "auth_index": a["authIndex"],
                        "category": category,
                        "activities": bits,
                        "block_number": at["block_number"],
                    },
                )
        elif name == "LabStatusChanged":
            rows.add(
                lab_statuses_table,
                {"lab_id": a["labId"], "since": now, "status": a["status"], "reason": a["reason"], "by": a["by"]} | at,
            )
        elif name == "LabAdminChanged":
            rows.add(lab_admins_table, {"lab_id": a["labId"], "admin": a["admin"], "by": a["by"]} | at)
        elif name in ("WriterAdded", "WriterRemoved"):
            rows.add(
                writers_table,
                {"lab_id": a["labId"], "account": a["account"], "added": name == "WriterAdded", "by": a["by"]} | at,
            )
        elif name == "KeyRegistered":
            rows.add(
                keys_table,
                {
                    "key_id": a["keyId"],
                    "lab_id": a["labId"],
                    "public_key": a["publicKey"],
                    "key_number": a["keyNumber"],
                    "valid_from": a["validFrom"],
                    "valid_until": a["validUntil"],
                    "registered_at": now,
                }
                | at,
            )
        elif name == "KeyWindowClosed":
            rows.add(
                key_closures_table,
                {"key_id": a["keyId"], "valid_until": a["validUntil"], "reason": a["reason"], "by": a["by"]} | at,
            )
        elif name == "BatchAnchored":
            rows.add(
                batches_table,
                {
                    "root": a["root"],
                    "lab_id": a["labId"],
                    "key_id": a["keyId"],
                    "size": a["count"],
                    "batch_index": a["index"],
                    "anchored_at": now,
                    "tx_hash": tx_hash,
                    "contents": ContentState.PENDING.value,
                    "attempts": 0,
                    "problems": "[]",
                }
                | at,
            )
        elif name == "CertificateRevoked":
            rows.add(
                statuses_table,
                {
                    "lab_id": a["labId"],
                    "digest": a["digest"],
                    "state": int(CertificateState.REVOKED),
                    "reason": a["reason"],
                    "effective_time": a["effectiveTime"],
                    "recorded_at": now,
                    "substituted_by": None,
                }
                | at,
            )
        elif name == "CertificateSubstituted":
            rows.add(
                statuses_table,
                {
                    "lab_id": a["labId"],
                    "digest": a["digest"],
                    "state": int(CertificateState.SUBSTITUTED),
                    "reason": _REASON_SUPERSEDED,
                    "effective_time": now,
                    "recorded_at": now,
                    "substituted_by": a["newDigest"],
                }
                | at,
            )
        else:
            rows.events -= 1  # an event the index has no use for

    # ------------------------------------------------------------------ internals: batch contents

    def _fetch_contents(self, report: SyncReport) -> None:
        retry_before = self.clock() - self.retry_interval
        due_query = (
            select(_B.root, _B.block_number, _B.lab_id, _B.key_id, _B.size)
            .where(
                (_B.contents == ContentState.PENDING.value)
                | (
                    _B.contents.in_([ContentState.WITHHELD.value, ContentState.MISMATCH.value])
                    & (_B.last_attempt_at <= retry_before)
                )
            )
            .order_by(_B.batch_index)
        )
        with self._sa_read() as conn:
            due = conn.execute(due_query).all()
        if not due:
            return
        if self.fetch_workers > 1 and len(due) > 1:
            with ThreadPoolExecutor(self.fetch_workers, thread_name_prefix="index-fetch") as pool:
                outcomes = list(pool.map(lambda b: self._resolve(*b), due))
        else:
            outcomes = [self._resolve(*b) for b in due]
        for start in range(0, len(outcomes), 500):
            self._store_contents(outcomes[start : start + 500], report)

    def _resolve(self, root: bytes, block_number: int, lab_id: bytes, key_id: bytes, count: int) -> _Outcome:
        """Ask each mirror in turn for a listing of ``root`` until one matches the chain."""
        problems: list[MirrorProblem] = []
        for mirror in self.mirrors:
            url = f"{mirror}/v1/batches/0x{root.hex()}"
            try:
                body = self.fetcher(url)
            except Exception as exc:  # a mirror (or an injected fetcher) must never stop the index
                problems.append(MirrorProblem(mirror, "UNAVAILABLE", f"{type(exc).__name__}: {exc}"))
                continue
            if body is None:
                problems.append(MirrorProblem(mirror, "UNAVAILABLE", "no listing served"))
                continue
            leaves, problem = _check_listing(body, root, lab_id, key_id, count)
            if problem is not None:
                problems.append(MirrorProblem(mirror, *problem))
                continue
            return _Outcome(root, block_number, lab_id, ContentState.VERIFIED, leaves, mirror, problems)
        if not self.mirrors:
            problems.append(MirrorProblem("", "UNAVAILABLE", "no mirror configured"))
        state = ContentState.MISMATCH if any(p.code != "UNAVAILABLE" for p in problems) else ContentState.WITHHELD
        return _Outcome(root, block_number, lab_id, state, None, None, problems)

    def _store_contents(self, outcomes: Sequence[_Outcome], report: SyncReport) -> None:
        now = self.clock()
        with self._writer.begin() as conn:
            # Only batches still there from the same block and not yet verified: a rollback, or another process,
            # may have changed them while the listings were being fetched.
            open_ = set(
                conn.execute(
                    select(_B.root, _B.block_number).where(
                        _B.root.in_([o.root for o in outcomes]), _B.contents != ContentState.VERIFIED.value
                    )
                ).all()
            )
            current = [o for o in outcomes if (o.root, o.block_number) in open_]
            verified = [o for o in current if o.state is ContentState.VERIFIED]
            flagged = [o for o in current if o.state is not ContentState.VERIFIED]
            if verified:
                conn.execute(
                    _MARK_VERIFIED, [{"b_root": o.root, "b_mirror": o.mirror, **_attempt(o, now)} for o in verified]
                )
                conn.exec_driver_sql(
                    _INSERT_LEAVES,
                    [
                        (o.root, *leaf[:2], o.lab_id, *leaf[2:], o.block_number)
                        for o in verified
                        for leaf in o.leaves or ()
                    ],
                )
            if flagged:
                conn.execute(_MARK_FLAGGED, [{"b_root": o.root, **_attempt(o, now)} for o in flagged])
        report.batches_verified += len(verified)
        report.batches_flagged += len(flagged)
        for o in flagged:
            logger.info(
                "index: batch 0x%s contents %s (%s)",
                o.root.hex(),
                o.state.value,
                "; ".join(f"{p.mirror or '-'}: {p.code}" for p in o.problems),
            )


def _attempt(o: _Outcome, now: float) -> dict[str, Any]:
    return {
        "b_contents": o.state.value,
        "b_now": now,
        "b_problems": json.dumps([p.__dict__ for p in o.problems], ensure_ascii=False),
    }


# Leaves are written by the ten thousand: a plain executemany of tuples in the table's column order (root,
# leaf_index, digest, lab_id, certificate_number, number_tag, serial_number, kind, category_code, block_number).
_INSERT_LEAVES = str(leaves_table.insert().compile(dialect=SQLITE))
_MARK = update(batches_table).where(_B.root == bindparam("b_root"))
_MARK_VERIFIED = _MARK.values(
    contents=bindparam("b_contents"),
    mirror=bindparam("b_mirror"),
    last_attempt_at=bindparam("b_now"),
    attempts=_B.attempts + 1,
    problems=bindparam("b_problems"),
)
_MARK_FLAGGED = _MARK.values(
    contents=bindparam("b_contents"),
    first_flagged_at=func.coalesce(_B.first_flagged_at, bindparam("b_now")),
    last_attempt_at=bindparam("b_now"),
    attempts=_B.attempts + 1,
    problems=bindparam("b_problems"),
)


# ---------------------------------------------------------------------------------------------------- helpers


def _b(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


if TYPE_CHECKING:  # mypy proves that the index is a ChainView the engine can run on

    def _is_chain_view(index: Index) -> ChainView:
        return index
