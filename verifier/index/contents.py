"""Batch contents: a mirror's listing fetched over HTTP (bounded), checked against the anchored root, and how the
outcome is written."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    func,
    select,
    update,
)

from tracecert.certificate.canonical import number_tag, parse_json
from tracecert.certificate.merkle import merkle_root
from tracecert.verification.sources import read_bounded
from verifier.index.model import ContentState, FlaggedBatch, MirrorProblem, SyncReport
from verifier.index.queries import BATCH
from verifier.index.schema import (
    SQLITE,
    batches_table,
    leaves_table,
)

__all__ = [
    "BatchFetcher",
    "HttpFetcher",
    "Listed",
    "Outcome",
    "check_listing",
    "due_batches",
    "flagged",
    "resolve_listing",
    "store_contents",
]

logger = logging.getLogger(__name__)

#: Takes a batch listing URL; returns its decoded JSON body, or None when the mirror has nothing to give.
BatchFetcher = Callable[[str], Any]

_MAX_FIELD = 256  # longest leaf metadata string accepted from a mirror
_MAX_LISTING_BYTES = 32 * 1024 * 1024


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


class Listed(NamedTuple):
    """A leaf as a listing gave it."""

    position: int
    digest: bytes
    certificate_number: str | None
    number_tag: bytes | None
    serial_number: str | None
    kind: str | None
    category_code: str | None


def check_listing(
    body: Any, root: bytes, lab_id: bytes, key_id: bytes, count: int
) -> tuple[list[Listed], None] | tuple[None, tuple[str, str]]:
    """The leaves of a listing if it matches the anchored batch, else (None, (code, message)) with code one of
    MALFORMED, ROOT_MISMATCH, LAB_MISMATCH, KEY_MISMATCH, SIZE_MISMATCH. Never raises: a listing is untrusted input."""
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
    leaves: list[Listed] = []
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
                Listed(
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
class Outcome:
    """What the mirrors gave for one batch: its verified leaves (and the mirror that served them), or its flag."""

    root: bytes
    block_number: int
    lab_id: bytes
    state: ContentState
    leaves: list[Listed] | None
    mirror: str | None
    problems: list[MirrorProblem]


def _attempt_values(o: Outcome, now: float) -> dict[str, Any]:
    return {
        "b_contents": o.state.value,
        "b_now": now,
        "b_problems": json.dumps([p.__dict__ for p in o.problems], ensure_ascii=False),
    }


# Leaves are written by the ten thousand: a plain executemany of tuples in the table's column order (root,
# leaf_index, digest, lab_id, certificate_number, number_tag, serial_number, kind, category_code, block_number).
_INSERT_LEAVES = str(leaves_table.insert().compile(dialect=SQLITE))
_MARK = update(batches_table).where(BATCH.root == bindparam("b_root"))
_MARK_VERIFIED = _MARK.values(
    contents=bindparam("b_contents"),
    mirror=bindparam("b_mirror"),
    last_attempt_at=bindparam("b_now"),
    attempts=BATCH.attempts + 1,
    problems=bindparam("b_problems"),
)
_MARK_FLAGGED = _MARK.values(
    contents=bindparam("b_contents"),
    first_flagged_at=func.coalesce(BATCH.first_flagged_at, bindparam("b_now")),
    last_attempt_at=bindparam("b_now"),
    attempts=BATCH.attempts + 1,
    problems=bindparam("b_problems"),
)


def due_batches(conn: Connection, retry_before: float) -> list[Any]:
    """The batches whose contents are to be fetched: new ones, and flagged ones last tried before ``retry_before``."""
    query = (
        select(BATCH.root, BATCH.block_number, BATCH.lab_id, BATCH.key_id, BATCH.size)
        .where(
            (BATCH.contents == ContentState.PENDING.value)
            | (
                BATCH.contents.in_([ContentState.WITHHELD.value, ContentState.MISMATCH.value])
                & (BATCH.last_attempt_at <= retry_before)
            )
        )
        .order_by(BATCH.batch_index)
    )
    return list(conn.execute(query).all())


def resolve_listing(
    mirrors: Sequence[str],
    fetcher: BatchFetcher,
    root: bytes,
    block_number: int,
    lab_id: bytes,
    key_id: bytes,
    count: int,
) -> Outcome:
    """Ask each mirror in turn for a listing of ``root`` until one matches the chain."""
    problems: list[MirrorProblem] = []
    for mirror in mirrors:
        url = f"{mirror}/v1/batches/0x{root.hex()}"
        try:
            body = fetcher(url)
        except Exception as exc:  # a mirror (or an injected fetcher) must never stop the index
            problems.append(MirrorProblem(mirror, "UNAVAILABLE", f"{type(exc).__name__}: {exc}"))
            continue
        if body is None:
            problems.append(MirrorProblem(mirror, "UNAVAILABLE", "no listing served"))
            continue
        leaves, problem = check_listing(body, root, lab_id, key_id, count)
        if problem is not None:
            problems.append(MirrorProblem(mirror, *problem))
            continue
        return Outcome(root, block_number, lab_id, ContentState.VERIFIED, leaves, mirror, problems)
    if not mirrors:
        problems.append(MirrorProblem("", "UNAVAILABLE", "no mirror configured"))
    state = ContentState.MISMATCH if any(p.code != "UNAVAILABLE" for p in problems) else ContentState.WITHHELD
    return Outcome(root, block_number, lab_id, state, None, None, problems)


def store_contents(writer: Engine, outcomes: Sequence[Outcome], now: float, report: SyncReport) -> None:
    """Record what the listings gave: verified leaves, or the batches flagged with their mirrors' problems."""
    with writer.begin() as conn:
        # Only batches still there from the same block and not yet verified: a rollback, or another process,
        # may have changed them while the listings were being fetched.
        open_ = set(
            conn.execute(
                select(BATCH.root, BATCH.block_number).where(
                    BATCH.root.in_([o.root for o in outcomes]), BATCH.contents != ContentState.VERIFIED.value
                )
            ).all()
        )
        current = [o for o in outcomes if (o.root, o.block_number) in open_]
        verified = [o for o in current if o.state is ContentState.VERIFIED]
        flagged = [o for o in current if o.state is not ContentState.VERIFIED]
        if verified:
            conn.execute(
                _MARK_VERIFIED,
                [{"b_root": o.root, "b_mirror": o.mirror, **_attempt_values(o, now)} for o in verified],
            )
            conn.exec_driver_sql(
                _INSERT_LEAVES,
                [(o.root, *leaf[:2], o.lab_id, *leaf[2:], o.block_number) for o in verified for leaf in o.leaves or ()],
            )
        if flagged:
            conn.execute(_MARK_FLAGGED, [{"b_root": o.root, **_attempt_values(o, now)} for o in flagged])
    report.batches_verified += len(verified)
    report.batches_flagged += len(flagged)
    for o in flagged:
        logger.info(
            "index: batch 0x%s contents %s (%s)",
            o.root.hex(),
            o.state.value,
            "; ".join(f"{p.mirror or '-'}: {p.code}" for p in o.problems),
        )


def flagged(conn: Connection) -> list[FlaggedBatch]:
    """Anchored batches whose contents are withheld or do not match, oldest anchoring first."""
    query = (
        select(batches_table)
        .where(BATCH.contents.in_([ContentState.WITHHELD.value, ContentState.MISMATCH.value]))
        .order_by(BATCH.batch_index)
    )
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
