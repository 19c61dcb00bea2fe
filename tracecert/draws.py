"""Random inspection draws (双随机抽查): who is inspected and by whom, drawn so that nobody could choose the result and
anyone can check it.

1. The regulator fixes the draw's inputs (:class:`DrawSpec`: the population — lab ids, certificate digests or
   instrument ids, each once —, how many to draw, the inspectors and how many go to each, the purpose) and commits
   to their SHA-256 digest on chain (``CreditRegistry.commitDraw``), before anyone can know the seed.
2. The seed is SHA-256 of the hash of the block *after* the commitment's block and the commitment: unknown when the
   commitment was sent, fixed by the chain once that block exists.
3. The sample and the inspectors follow from the inputs and the seed alone (:func:`draw`: a Fisher–Yates shuffle
   driven by SHA-256 of the seed and a counter), so a second process, or anyone, re-runs the draw and gets the same
   result (:func:`verify_published`).

What this relies on: the chain's block hashes (a block producer that is also the regulator could try several
blocks; on a QBFT network the validators are not the regulators), and the commitment being sent before the seed
block exists, which the contract's record of the commitment's block shows.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracecert.certificate.canonical import canonicalize, from_hex, to_hex

__all__ = [
    "Draw",
    "DrawSpec",
    "DrawVerification",
    "commitment",
    "draw",
    "published_from_chain",
    "run",
    "seed_of",
    "verify_published",
]

_VERSION = "tracecert-draw/1"


@dataclass(frozen=True)
class DrawSpec:
    """What a draw is made from; its digest is the commitment put on chain before the seed exists."""

    purpose: str
    jurisdiction: int
    population: tuple[str, ...]
    size: int
    inspectors: tuple[str, ...] = ()
    inspectors_per_item: int = 2
    #: How the population was chosen (filters, as of when), for the record; part of the commitment.
    selection: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.population)) != len(self.population):
            raise ValueError("the population lists an item twice")
        if not 0 < self.size <= len(self.population):
            raise ValueError(f"cannot draw {self.size} of a population of {len(self.population)}")
        if self.inspectors and not 0 < self.inspectors_per_item <= len(self.inspectors):
            raise ValueError(f"cannot send {self.inspectors_per_item} of {len(self.inspectors)} inspectors")
        if len(set(self.inspectors)) != len(self.inspectors):
            raise ValueError("the inspectors list a person twice")

    def to_dict(self) -> dict[str, Any]:
        """JSON form (population and inspectors sorted: the order they were listed in does not matter)."""
        return {
            "version": _VERSION,
            "purpose": self.purpose,
            "jurisdiction": self.jurisdiction,
            "population": sorted(self.population),
            "size": self.size,
            "inspectors": sorted(self.inspectors),
            "inspectors_per_item": self.inspectors_per_item,
            "selection": self.selection,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrawSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: another version, or inputs no draw can be made from.
        """
        if data.get("version") != _VERSION:
            raise ValueError(f"not a {_VERSION} draw: {data.get('version')!r}")
        return cls(
            purpose=str(data["purpose"]),
            jurisdiction=int(data["jurisdiction"]),
            population=tuple(str(x) for x in data["population"]),
            size=int(data["size"]),
            inspectors=tuple(str(x) for x in data.get("inspectors") or ()),
            inspectors_per_item=int(data.get("inspectors_per_item", 2)),
            selection=dict(data.get("selection") or {}),
        )


@dataclass(frozen=True)
class Draw:
    """A draw's result: the items drawn, in drawing order, and the inspectors of each."""

    sample: tuple[str, ...]
    inspectors: dict[str, tuple[str, ...]]


def commitment(spec: DrawSpec) -> bytes:
    """SHA-256 of the spec's canonical JSON (RFC 8785): what the regulator commits to on chain."""
    return hashlib.sha256(canonicalize(spec.to_dict())).digest()


def seed_of(block_hash: bytes, committed: bytes) -> bytes:
    """The draw's seed: SHA-256 of the seed block's hash and the commitment."""
    return hashlib.sha256(b"tracecert-draw-seed" + block_hash + committed).digest()


class _Stream:
    """Uniform integers from SHA-256(seed, label, counter), without modulo bias (rejection sampling)."""

    def __init__(self, seed: bytes, label: bytes) -> None:
        self.seed, self.label, self.counter = seed, label, 0

    def below(self, n: int) -> int:
        limit = (1 << 256) - ((1 << 256) % n)
        while True:
            self.counter += 1
            block = hashlib.sha256(self.seed + self.label + self.counter.to_bytes(8, "big")).digest()
            value = int.from_bytes(block, "big")
            if value < limit:
                return value % n


def _choose(items: Sequence[str], k: int, stream: _Stream) -> tuple[str, ...]:
    pool = list(items)
    for i in range(k):  # partial Fisher–Yates: the first k places
        j = i + stream.below(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
    return tuple(pool[:k])


def draw(spec: DrawSpec, seed: bytes) -> Draw:
    """The sample and each item's inspectors, from the spec and the seed alone."""
    population = sorted(spec.population)
    sample = _choose(population, spec.size, _Stream(seed, b"sample"))
    inspectors: dict[str, tuple[str, ...]] = {}
    if spec.inspectors:
        people = sorted(spec.inspectors)
        stream = _Stream(seed, b"inspectors")
        for item in sample:
            inspectors[item] = _choose(people, spec.inspectors_per_item, stream)
    return Draw(sample, inspectors)


@dataclass(frozen=True)
class DrawVerification:
    """Each link of a published draw checked: its name, whether it holds, and what was found."""

    links: tuple[tuple[str, bool, str], ...]

    @property
    def ok(self) -> bool:
        """Every link holds."""
        return all(ok for _name, ok, _detail in self.links)


def verify_published(published: dict[str, Any], chain: Any) -> DrawVerification:
    """Re-run a published draw against the chain: the commitment is the digest of the inputs, the contract
    recorded it in the block named, by an active regulator (the event), the seed block is the next one and its
    hash gives the seed, and the inputs and seed give the sample and inspectors published.

    ``chain`` answers ``draw_block(commitment) -> int`` (0 if never committed), ``draw_committer(commitment, block)
    -> str | None`` and ``block_hash(number) -> bytes | None``.
    """
    links: list[tuple[str, bool, str]] = []
    spec = DrawSpec.from_dict(published["spec"])
    committed = commitment(spec)
    stated = from_hex(str(published["commitment"]))
    links.append(("COMMITMENT", committed == stated, f"digest of the inputs {to_hex(committed)}"))
    block = int(chain.draw_block(committed))
    links.append(
        (
            "COMMITTED_ON_CHAIN",
            block != 0 and block == int(published["commit_block"]),
            f"recorded in block {block}" if block else "no such commitment on chain",
        )
    )
    committer = chain.draw_committer(committed, block) if block else None
    links.append(
        (
            "COMMITTED_BY",
            committer is not None and committer.lower() == str(published["regulator"]).lower(),
            f"by {committer}" if committer else "no DrawCommitted event",
        )
    )
    seed_block = block + 1
    block_hash = chain.block_hash(seed_block) if block else None
    links.append(
        (
            "SEED_BLOCK",
            block_hash is not None and int(published["seed_block"]) == seed_block,
            f"block {seed_block} {to_hex(block_hash) if block_hash else 'not yet mined'}",
        )
    )
    seed = seed_of(block_hash, committed) if block_hash else b""
    links.append(("SEED", bool(seed) and to_hex(seed) == published["seed"], f"seed {to_hex(seed) if seed else '-'}"))
    result = draw(spec, seed) if seed else None
    same = (
        result is not None
        and list(result.sample) == list(published["sample"])
        and {k: list(v) for k, v in result.inspectors.items()}
        == {k: list(v) for k, v in (published.get("inspectors") or {}).items()}
    )
    links.append(("SAMPLE", same, f"{len(result.sample) if result else 0} drawn again from {len(spec.population)}"))
    return DrawVerification(tuple(links))


def run(
    spec: DrawSpec,
    chain: Any,
    sender: Any,
    *,
    timeout: float = 120.0,
    poll: float = 0.5,
    nudge: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Commit to ``spec`` on chain as ``sender`` (a regulator), wait for the next block, draw, and return the
    published draw (everything :func:`verify_published` needs). ``chain`` is a
    :class:`~tracecert.chain.contracts.ChainContracts`; ``nudge`` is called while waiting (a development chain that
    mines only on transactions needs one).

    Raises:
        TimeoutError: no block after the commitment's within ``timeout`` seconds.
        ContractReverted: CreditNotRegulatorOver, CreditDrawExists.
    """
    chain.commit_draw(sender, commitment(spec), spec.jurisdiction)
    return published_from_chain(spec, chain, timeout=timeout, poll=poll, nudge=nudge)


def published_from_chain(
    spec: DrawSpec,
    chain: Any,
    *,
    timeout: float = 120.0,
    poll: float = 0.5,
    nudge: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The published draw of a spec already committed on chain (after :func:`run`, or to make it again after a
    crash): its commitment's block and transaction, the seed from the next block (waited for), the draw.

    Raises:
        LookupError: the spec was never committed.
        TimeoutError: no block after the commitment's within ``timeout`` seconds.
    """
    committed = commitment(spec)
    block = int(chain.draw_block(committed))
    found = chain.draw_commitment_log(committed, block) if block else None
    if found is None:
        raise LookupError(f"draw {to_hex(committed)} was never committed on this chain")
    regulator, tx_hash = found
    deadline = time.monotonic() + timeout
    while (block_hash := chain.block_hash(block + 1)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no block after block {block} within {timeout:.0f} s: the draw's seed is not known yet")
        if nudge is not None:
            nudge()
        time.sleep(poll)
    seed = seed_of(block_hash, committed)
    result = draw(spec, seed)
    return {
        "spec": spec.to_dict(),
        "commitment": to_hex(committed),
        "chain_id": chain.client.chain_id,
        "contract": chain.deployment.credit_registry,
        "regulator": regulator,
        "tx_hash": tx_hash,
        "commit_block": block,
        "seed_block": block + 1,
        "seed_block_hash": to_hex(block_hash),
        "seed": to_hex(seed),
        "sample": list(result.sample),
        "inspectors": {item: list(people) for item, people in result.inspectors.items()},
    }
