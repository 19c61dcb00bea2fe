"""Benchmark: the registry's database and the verifier's index at scale (10 k, 1 M, 10 M certificates).

Fills the registry's database (migrated as in production) and the verifier's index (its own schema) with the same
certificates of several labs, written straight to both (executemany, not HTTP, not the ORM), as the anchoring
worker and the index leave them: every certificate ANCHORED in a batch of ``--batch-size`` with its leaf index and
inclusion proof, lab-signed (Ed25519), its digest the SHA-256 of its canonical record. The records are those of
``tests/ledger.py`` (a city lab's verifications of weighing instruments, each citing the NMI's calibration of one
of the lab's standards), made valid and laid out from a canonical template per (lab, standard, performer), each
template checked once against the reference canonicalization. The registry and the index are filled by two
processes at once (one per core), each generating the same certificates from the same seed.

At each checkpoint it times, over certificates drawn from the whole range: the lookups by digest, by (lab, number)
and by document hash (registry and index where both have it), one verification in process against the index
(the verifier's engine with the index as its chain view, as ``bench_verifier.py --index``), a regulator's listing
page of one lab (cursor in the middle), one lab's incremental anomaly scan (its last 30 days, the index as its
chain view), and the disk size per certificate. Every answer is checked; every query a measure runs is checked
with EXPLAIN, and the run fails if one reads a table that grows with the certificates whole. Prints the machine
first and a JSON line last.

    .venv/bin/python scripts/bench_scale.py [--checkpoints 10000,1000000,10000000] [--labs 20] [--database URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, Table, event, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import sessionmaker

from registry.core import Principal
from registry.db import Batch, BatchState, Certificate, CertificateStatus, Citation, Lab, make_engine, migrate
from registry.instruments import manufacturer_key
from registry.reads import anchored_bundle, certificate_view, find_by_number, list_certificates
from registry.scans import Thresholds, record, scan
from scripts.bench_index import machine
from tests.ledger import LabRef, _Ledger, lab_refs
from tests.verifier.conftest import usci
from tracecert.certificate.canonical import (
    canonicalize,
    digest_canonical_record,
    jcs_layout,
    normalize_record_json,
    number_tag,
    to_hex,
)
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.merkle import build_batch, merkle_root
from tracecert.certificate.signing import SigningKey
from tracecert.chain.client import ChainClient
from tracecert.chain.deploy import Deployment
from tracecert.chain.types import Activity, LabKind, category_code
from tracecert.verification.chainview import CachedChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Verdict
from tracecert.verification.sources import MemorySource
from verifier.index import ContentState, Index
from verifier.index.schema import (
    SQLITE,
    authorizations_table,
    batches_table,
    blocks_table,
    keys_table,
    labs_table,
    leaves_table,
    meta_table,
    scopes_table,
    sqlite_engine,
)

_CHINA = dt.timezone(dt.timedelta(hours=8))
DAY = 86_400
CATEGORY = "0201"  # the ledger's records: 电子计价秤, verified under mandatory verification
CUSTOMER_USCI = usci("91330100MA2H00001")  # the ledger's market, with its check character
MIRROR = "https://registry.bench"
DEPLOYMENT = Deployment(
    chain_id=31337,
    trust_registry="0x" + "11" * 20,
    certificate_registry="0x" + "22" * 20,
    national_authority="0x" + "33" * 20,
    deployer="0x" + "33" * 20,
    block_number=1,
)
REGULATOR = "0x" + "44" * 20
#: The tables whose rows grow with the certificates: a query that reads one of them whole fails the run.
GROWING = {"certificates", "citations", "batches", "leaves"}
_SLOT = re.compile(r"@@(\w+)@@")


class BenchFailure(RuntimeError):
    """A wrong answer, a verification that is not VALID, or a query that reads a growing table whole."""


# ------------------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class BatchSpec:
    """One batch: its index on chain, its lab (-1: the NMI), the lab's certificates before it, its size, the seq of
    its first certificate, and when it was anchored (Unix seconds)."""

    number: int
    lab: int
    first: int
    size: int
    seq: int
    anchored_at: int


@dataclass(frozen=True)
class Plan:
    """What is generated: the labs, their daily work, and every batch, in anchoring order.

    Each lab does ``per_day`` verifications a day with ``standards`` reference standards (each calibrated by the
    NMI) and ``performers`` people, as many as the scans' thresholds allow, so that the clean ledger shows none of
    the anomalies they look for. Batch 0 holds the NMI's calibrations of every lab's standards."""

    labs: tuple[LabRef, ...]
    nmi: LabRef
    per_day: int
    standards: int
    performers: int
    start: dt.date
    days: int
    seed: int
    batch_size: int
    batches: tuple[BatchSpec, ...]
    #: The number of batches written at each checkpoint.
    ends: tuple[int, ...]

    @property
    def standards_valid_until(self) -> dt.date:
        """The NMI certificates' validity: past the whole period (recalibration is not modelled)."""
        return self.start + dt.timedelta(days=self.days + 400)

    def accepted(self, j: int) -> int:
        """When the lab's ``j``-th certificate was accepted (Unix seconds): on its work day, 09:00 to 18:00."""
        day = self.start + dt.timedelta(days=j // self.per_day)
        opening = dt.datetime.combine(day, dt.time(9), _CHINA).timestamp()
        return int(opening + (j % self.per_day) * (9 * 3600 // self.per_day))

    def count(self, end: int) -> int:
        """Certificates in the first ``end`` batches."""
        last = self.batches[end - 1]
        return last.seq - 1 + last.size


def valid_labs(count: int, seed: int = 1) -> list[LabRef]:
    """The ledger's labs (``tests.ledger.lab_refs``) with their USCI check characters made right."""
    labs = []
    for lab in lab_refs(count, seed):
        code = usci(lab.code[:17])
        labs.append(LabRef(to_hex(derive_lab_id(code)), code, lab.name))
    return labs


def make_plan(
    checkpoints: Sequence[int],
    *,
    labs: int = 20,
    batch_size: int = 1024,
    per_day: int = 500,
    seed: int = 1,
    today: dt.date | None = None,
) -> Plan:
    """The batches that fill the ledger to each of ``checkpoints`` (certificates, NMI calibrations included),
    round-robin over the labs, each batch full but the last before a checkpoint; the last work day is yesterday
    (of ``today``).

    Raises:
        ValueError: checkpoints not increasing, or the first smaller than the NMI's batch.
    """
    refs = valid_labs(labs, seed)
    nmi = LabRef(to_hex(derive_lab_id("12100000400000624D")), "12100000400000624D", "中国计量科学研究院")
    t = Thresholds()
    standards = max(3, math.ceil(per_day / (t.standard_per_day - 10)))
    performers = max(4, math.ceil(per_day / (t.signer_per_day - 10)))
    nmi_size = labs * standards
    if list(checkpoints) != sorted(set(checkpoints)) or checkpoints[0] <= nmi_size:
        raise ValueError(f"checkpoints must increase and start above the NMI's batch ({nmi_size} certificates)")
    days = math.ceil((checkpoints[-1] - nmi_size) / labs / per_day) + 1
    start = (today or dt.date.today()) - dt.timedelta(days=days + 1)
    nmi_day = dt.datetime.combine(start - dt.timedelta(days=20), dt.time(12), _CHINA)
    specs = [BatchSpec(0, -1, 0, nmi_size, 1, int(nmi_day.timestamp()))]
    done, ends, turn = nmi_size, [], 0
    per_lab = [0] * labs
    shell = Plan(
        labs=tuple(refs),
        nmi=nmi,
        per_day=per_day,
        standards=standards,
        performers=performers,
        start=start,
        days=days,
        seed=seed,
        batch_size=batch_size,
        batches=(),
        ends=(),
    )
    for checkpoint in checkpoints:
        while done < checkpoint:
            lab = turn % labs
            size = min(batch_size, checkpoint - done)
            last = shell.accepted(per_lab[lab] + size - 1)
            anchored = max(last + 120, specs[-1].anchored_at + 2)
            specs.append(BatchSpec(len(specs), lab, per_lab[lab], size, done + 1, anchored))
            per_lab[lab] += size
            done += size
            turn += 1
        ends.append(len(specs))
    return replace(shell, batches=tuple(specs), ends=tuple(ends))


# ------------------------------------------------------------------------------------------------ the records


class Cert(NamedTuple):
    """One generated certificate: what the registry's row and the index's leaf are made of."""

    digest: bytes
    canonical: bytes
    lab: LabRef
    number: str
    serial: str
    issue: str
    valid_until: str
    document: str | None
    accepted: int
    cited: str | None
    public: bool
    customer_usci: str | None
    manufacturer: str | None


def lab_key(lab: LabRef) -> SigningKey:
    """The lab's signing key (derived from its id: the same in every process)."""
    return SigningKey.from_seed(hashlib.sha256(b"bench-scale-key" + bytes.fromhex(lab.lab_id[2:])).digest())


class Records:
    """The certificates of a plan, made the same in every process: the NMI's batch, then any lab batch alone.

    A lab certificate is one of ``tests/ledger.py``'s records (made valid: a D-SI unit, the lab's authorization
    number, a customer USCI with its check character, the original PDF's hash), laid out from the canonical
    text of its (lab, standard, performer) template with its own number, serial number, dates, results and
    document hash in the slots; each template's output is checked once against :func:`canonicalize`."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.ledger = _Ledger(None, plan.labs, plan.start, plan.seed)
        self._templates: dict[tuple[int, int, int], tuple[list[str], list[str]]] = {}
        self.nmi = self._nmi()
        self.standards: list[list[dict[str, Any]]] = [
            [self._standard_entry(self.nmi[i * plan.standards + s]) for s in range(plan.standards)]
            for i in range(len(plan.labs))
        ]

    def _valid(self, record: dict[str, Any], lab: LabRef) -> dict[str, Any]:
        for result in record["results"]:
            result["unit"] = "\\gram"
        record["lab"]["authorization_number"] = f"ZJ-JL-{lab.code[-6:]}"
        if record["customer"].get("usci") == "91330100MA2H00001X":
            record["customer"]["usci"] = CUSTOMER_USCI
        return record

    def _nmi(self) -> list[Cert]:
        plan, certs = self.plan, []
        day = plan.start - dt.timedelta(days=20)
        rng = random.Random(f"{plan.seed}:nmi")
        for i, lab in enumerate(plan.labs):
            for s in range(plan.standards):
                k = i * plan.standards + s
                record = self.ledger.record(
                    plan.nmi,
                    "CALIBRATION",
                    f"NIM-{k + 1:06d}",
                    f"STD-{i:02d}-{s:02d}",
                    day,
                    day,
                    customer={"name": lab.name, "usci": lab.code},
                    valid_until=plan.standards_valid_until,
                    standards=[],
                    performer="NIM-01",
                    results=[f"{rng.uniform(-0.02, 0.02):.4f}" for _ in range(5)],
                )
                self._valid(record, plan.nmi)
                for result in record["results"]:
                    result["expanded_uncertainty"], result["coverage_factor"] = "0.010", "2"
                canonical = canonicalize(normalize_record_json(record))
                certs.append(
                    Cert(
                        digest_canonical_record(canonical),
                        canonical,
                        plan.nmi,
                        record["certificate_number"],
                        record["item"]["serial_number"],
                        day.isoformat(),
                        plan.standards_valid_until.isoformat(),
                        None,
                        plan.batches[0].anchored_at - 3600,
                        None,
                        True,  # a standard's certificate is published: those who cite it fetch its bundle
                        lab.code,
                        manufacturer_key(record["item"].get("manufacturer")),
                    )
                )
        return certs

    def _standard_entry(self, nmi: Cert) -> dict[str, Any]:
        return {
            "name": f"M1 等级砝码 {nmi.serial[-2:]}",
            "serial_number": nmi.serial,
            "certificate_number": nmi.number,
            "certificate_digest": to_hex(nmi.digest),
            "issuing_lab_id": self.plan.nmi.lab_id,
            "issuing_lab_name": self.plan.nmi.name,
            "valid_until": nmi.valid_until,
        }

    def performer(self, lab: LabRef, p: int) -> str:
        """The ``p``-th performer of ``lab`` (as the ledger names them)."""
        return f"{lab.code[-4:]}-P{p}"

    def template(self, lab: int, standard: int, performer: int) -> tuple[list[str], list[str]]:
        """The canonical text of the (lab, standard, performer) records, cut at its slots: the pieces between
        them and the slot names."""
        key = (lab, standard, performer)
        found = self._templates.get(key)
        if found is not None:
            return found
        ref = self.plan.labs[lab]
        record = self.ledger.record(
            ref,
            "VERIFICATION",
            "@@number@@",
            "@@serial@@",
            self.plan.start,
            self.plan.start,
            standards=[self.standards[lab][standard]],
            performer=self.performer(ref, performer),
            results=[f"@@r{i}@@" for i in range(5)],
        )
        self._valid(record, ref)
        record["dates"] = {
            "receipt_date": "@@work@@",
            "performance_begin": "@@work@@",
            "performance_end": "@@work@@",
            "issue_date": "@@issue@@",
            "valid_until": "@@valid@@",
        }
        record["original_document"] = {"media_type": "application/pdf", "sha256": "@@document@@"}
        parts = _SLOT.split(jcs_layout(normalize_record_json(record)).decode("utf-8"))
        found = (parts[0::2], parts[1::2])
        example = {
            "number": "JD-00000001",
            "serial": "SN-01-0000001",
            "work": "2025-01-02",
            "issue": "2025-01-03",
            "valid": "2026-01-01",
            "document": "0x" + "ab" * 32,
        } | {f"r{i}": f"{i - 2}.125" for i in range(5)}
        laid = _fill(found, example)
        if canonicalize(normalize_record_json(json.loads(laid))) != laid:
            raise BenchFailure(f"template {key} does not lay out canonical JSON")
        self._templates[key] = found
        return found

    def batch(self, spec: BatchSpec) -> list[Cert]:
        """The certificates of one batch, in leaf order."""
        if spec.lab < 0:
            return self.nmi
        plan = self.plan
        lab = plan.labs[spec.lab]
        rng = random.Random(f"{plan.seed}:{spec.number}")
        certs = []
        year = plan.per_day * 365
        for j in range(spec.first, spec.first + spec.size):
            work = plan.start + dt.timedelta(days=j // plan.per_day)
            standard = j % plan.standards
            performer = (j // plan.standards) % plan.performers
            number = f"JD{spec.lab:02d}-{j + 1:08d}"
            serial = f"SN{spec.lab:02d}-{j % year:07d}"  # the same instruments come back a year later
            document = "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()
            issue = work.isoformat()
            until = (work + dt.timedelta(days=364)).isoformat()
            values = {
                "number": number,
                "serial": serial,
                "work": issue,
                "issue": issue,
                "valid": until,
                "document": document,
                "r0": f"{rng.uniform(-2, 2):.3f}",
                "r1": f"{rng.uniform(-2, 2):.3f}",
                "r2": f"{rng.uniform(-2, 2):.3f}",
                "r3": f"{rng.uniform(-2, 2):.3f}",
                "r4": f"{rng.uniform(-2, 2):.3f}",
            }
            canonical = _fill(self.template(spec.lab, standard, performer), values)
            certs.append(
                Cert(
                    digest_canonical_record(canonical),
                    canonical,
                    lab,
                    number,
                    serial,
                    issue,
                    until,
                    document,
                    plan.accepted(j),
                    self.standards[spec.lab][standard]["certificate_digest"],
                    False,
                    CUSTOMER_USCI,
                    "某衡器有限公司",
                )
            )
        return certs


def _fill(template: tuple[list[str], list[str]], values: dict[str, str]) -> bytes:
    pieces, slots = template
    out = [pieces[0]]
    for slot, piece in zip(slots, pieces[1:], strict=True):
        out.append(values[slot])
        out.append(piece)
    return "".join(out).encode("utf-8")


# ------------------------------------------------------------------------------------------------ writing


class RawInsert:
    """An INSERT of every column of ``table`` as its dialect compiles it, run as one executemany of tuples; values
    go through the columns' own bind processors (dates, JSON, unsigned 64-bit), so the rows read back as if
    SQLAlchemy had written them."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self.table = table
        self.sql = str(table.insert().compile(dialect=dialect))
        self.columns = [c.name for c in table.columns]
        self._processors = [
            (i, p) for i, c in enumerate(table.columns) if (p := c.type.bind_processor(dialect)) is not None
        ]

    def tuples(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """``rows`` as tuples in column order, processed."""
        out = []
        columns, processors = self.columns, self._processors
        for row in rows:
            values = [row.get(c) for c in columns]
            for i, process in processors:
                if values[i] is not None:
                    values[i] = process(values[i])
            out.append(tuple(values))
        return out

    def run(self, db: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` (dicts by column name, missing ones NULL)."""
        db.executemany(self.sql, self.tuples(rows))


def _bulk_sqlite(path: str, cache_mb: int) -> sqlite3.Connection:
    """A connection for loading: no journal, no syncs (a benchmark's database is made again if a load dies)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
    db.execute("PRAGMA temp_store=MEMORY")
    return db


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def registry_setup(engine: Engine, plan: Plan) -> None:
    """The labs (the NMI's included) as onboarding leaves them."""
    with engine.begin() as conn:
        conn.execute(
            insert(Lab),
            [
                {"lab_id": lab.lab_id, "code": lab.code, "name": lab.name, "writer_address": "0x" + "00" * 20}
                for lab in [plan.nmi, *plan.labs]
            ],
        )


def registry_rows(
    records: Records, spec: BatchSpec, keys: dict[str, SigningKey]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """A batch's row, its certificates' rows and their citations, as the anchoring worker leaves them."""
    certs = records.batch(spec)
    lab = certs[0].lab
    key = keys[lab.lab_id]
    key_id = to_hex(key.key_id)
    built = build_batch([c.digest for c in certs])
    root = to_hex(built.root)
    anchored = _utc(spec.anchored_at)
    batch = {
        "root": root,
        "lab_id": lab.lab_id,
        "key_id": key_id,
        "size": len(certs),
        "state": BatchState.ANCHORED,
        "attempts": 1,
        "tx_hash": to_hex(hashlib.sha256(b"tx" + built.root).digest()),
        "block_number": DEPLOYMENT.block_number + 1 + spec.number,
        "block_hash": to_hex(hashlib.sha256(b"block%d" % spec.number).digest()),
        "block_timestamp": spec.anchored_at,
        "chain_index": spec.number,
        "gas_used": 120_000,
        "created_at": anchored,
        "anchored_at": anchored,
    }
    rows, citations = [], []
    for i, (c, proof) in enumerate(zip(certs, built.proofs, strict=True)):
        digest = to_hex(c.digest)
        rows.append(
            {
                "seq": spec.seq + i,
                "digest": digest,
                "lab_id": lab.lab_id,
                "certificate_number": c.number,
                "kind": "CALIBRATION" if spec.lab < 0 else "VERIFICATION",
                "category_code": CATEGORY,
                "serial_number": c.serial,
                "document_sha256": c.document,
                "issue_date": c.issue,
                "record_json": c.canonical.decode("utf-8"),
                "key_id": key_id,
                "signature": to_hex(key.sign(c.digest)),
                "signed_by": "LAB",
                "status": CertificateStatus.ANCHORED,
                "batch_root": root,
                "leaf_index": i,
                "proof": [to_hex(h) for h in proof],
                "accepted_at": _utc(c.accepted),
                "anchored_at": anchored,
                "public": c.public,
                "manufacturer_key": c.manufacturer,
                "customer_usci": c.customer_usci,
                "valid_until": c.valid_until,
            }
        )
        if c.cited is not None:
            citations.append({"citing_digest": digest, "cited_digest": c.cited})
    return batch, rows, citations


def fill_registry(
    url: str, plan: Plan, first: int, end: int, *, cache_mb: int = 2048, commit_every: int = 8, progress: int = 0
) -> float:
    """Write batches ``first`` to ``end`` (excluded) into the registry's database; the seconds it took. Every
    ``progress`` batches (0: never) prints how far it got and at what rate."""
    started = time.perf_counter()
    records = Records(plan)
    keys = {lab.lab_id: lab_key(lab) for lab in [plan.nmi, *plan.labs]}
    engine = make_engine(url)
    mark = (started, plan.batches[first].seq - 1)

    def written(b: int) -> None:
        nonlocal mark
        if progress and (b - first) % progress == progress - 1 and b + 1 < end:
            now, count = time.perf_counter(), plan.count(b + 1)
            print(f"  registry: {count:,} certificates written, {(count - mark[1]) / (now - mark[0]):,.0f}/s lately")
            mark = (now, count)

    try:
        if engine.dialect.name == "sqlite":
            tables = [RawInsert(cast(Table, t.__table__), engine.dialect) for t in (Batch, Certificate, Citation)]
            db = _bulk_sqlite(str(engine.url.database), cache_mb)
            try:
                db.execute("BEGIN")
                for b in range(first, end):
                    for table, rows in zip(
                        tables, _as_lists(registry_rows(records, plan.batches[b], keys)), strict=True
                    ):
                        table.run(db, rows)
                    if (b - first) % commit_every == commit_every - 1:
                        db.execute("COMMIT")
                        db.execute("BEGIN")
                    written(b)
                db.execute("COMMIT")
            finally:
                db.close()
        else:
            for b in range(first, end):
                batch, rows, citations = registry_rows(records, plan.batches[b], keys)
                with engine.begin() as conn:
                    conn.execute(insert(Batch), [batch])
                    conn.execute(insert(Certificate), rows)
                    if citations:
                        conn.execute(insert(Citation), citations)
                written(b)
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _as_lists(
    parts: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], ...]:
    batch, rows, citations = parts
    return [batch], rows, citations


def index_setup(path: Path, plan: Plan) -> None:
    """The index file with its schema and identity (made by :class:`Index` itself), and the chain's facts about
    the labs: registered (the NMI as an NMI), authorized for the ledger's category, one key each."""
    Index(path, _stub_client(), DEPLOYMENT).close()
    valid_from = int(dt.datetime.combine(plan.start - dt.timedelta(days=60), dt.time(), _CHINA).timestamp())
    valid_until = valid_from + 20 * 365 * DAY
    labs, auths, scopes, keys = [], [], [], []
    for i, lab in enumerate([plan.nmi, *plan.labs]):
        lab_id = bytes.fromhex(lab.lab_id[2:])
        key = lab_key(lab)
        at = {"block_number": DEPLOYMENT.block_number, "log_index": i}
        kind = LabKind.NMI if i == 0 else LabKind.LEGAL_METROLOGY_INSTITUTE
        labs.append(
            {
                "lab_id": lab_id,
                "lab_number": i + 1,
                "kind": int(kind),
                "jurisdiction": 110000 if i == 0 else 330100,
                "admin": "0x" + f"{i + 1:040x}",
                "regulator": REGULATOR,
                "name": lab.name,
                "registered_at": valid_from,
            }
            | at
        )
        auths.append(
            {
                "lab_id": lab_id,
                "auth_index": 0,
                "number": f"AUTH-{i:03d}",
                "valid_from": valid_from,
                "valid_until": valid_until,
                "regulator": REGULATOR,
                "recorded_at": valid_from,
            }
            | at
        )
        scopes.append(
            {
                "lab_id": lab_id,
                "auth_index": 0,
                "category": category_code(CATEGORY),
                "activities": int(Activity.VERIFY | Activity.CALIBRATE),
                "block_number": DEPLOYMENT.block_number,
            }
        )
        keys.append(
            {
                "key_id": key.key_id,
                "lab_id": lab_id,
                "public_key": key.public_key,
                "key_number": 1,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "registered_at": valid_from,
            }
            | at
        )
    engine = sqlite_engine(path, "BEGIN IMMEDIATE", pool_size=1)
    try:
        with engine.begin() as conn:
            for table, rows in (
                (labs_table, labs),
                (authorizations_table, auths),
                (scopes_table, scopes),
                (keys_table, keys),
            ):
                conn.execute(table.insert(), rows)
    finally:
        engine.dispose()


def index_rows(records: Records, spec: BatchSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A batch's row and its leaves as the index keeps them once a mirror's listing matched the anchored root: a
    private certificate's number and serial number withheld (its number tag kept)."""
    certs = records.batch(spec)
    lab = certs[0].lab
    lab_id = bytes.fromhex(lab.lab_id[2:])
    root = merkle_root([c.digest for c in certs])
    block = DEPLOYMENT.block_number + 1 + spec.number
    batch = {
        "root": root,
        "lab_id": lab_id,
        "key_id": lab_key(lab).key_id,
        "size": len(certs),
        "batch_index": spec.number,
        "anchored_at": spec.anchored_at,
        "tx_hash": to_hex(hashlib.sha256(b"tx" + root).digest()),
        "block_number": block,
        "log_index": 0,
        "contents": ContentState.VERIFIED.value,
        "mirror": MIRROR,
        "last_attempt_at": float(spec.anchored_at + 5),
        "attempts": 1,
        "problems": "[]",
    }
    leaves = [
        {
            "root": root,
            "leaf_index": i,
            "digest": c.digest,
            "lab_id": lab_id,
            "certificate_number": c.number if c.public else None,
            "number_tag": number_tag(lab_id, c.number),
            "serial_number": c.serial if c.public else None,
            "kind": "CALIBRATION" if spec.lab < 0 else "VERIFICATION",
            "category_code": CATEGORY,
            "block_number": block,
        }
        for i, c in enumerate(certs)
    ]
    return batch, leaves


def fill_index(path: Path, plan: Plan, first: int, end: int, *, cache_mb: int = 1024, commit_every: int = 8) -> float:
    """Write batches ``first`` to ``end`` (excluded) into the index, and move its tip to the last one's block;
    the seconds it took."""
    started = time.perf_counter()
    records = Records(plan)
    batches, leaves = RawInsert(batches_table, SQLITE), RawInsert(leaves_table, SQLITE)
    blocks, meta = RawInsert(blocks_table, SQLITE), RawInsert(meta_table, SQLITE)
    db = _bulk_sqlite(str(path), cache_mb)
    try:
        db.execute("BEGIN")
        for b in range(first, end):
            batch, rows = index_rows(records, plan.batches[b])
            batches.run(db, [batch])
            leaves.run(db, rows)
            if (b - first) % commit_every == commit_every - 1:
                db.execute("COMMIT")
                db.execute("BEGIN")
        last = plan.batches[end - 1]
        number = DEPLOYMENT.block_number + 1 + last.number
        block_hash = hashlib.sha256(b"block%d" % last.number).digest()
        db.execute("DELETE FROM blocks")
        blocks.run(db, [{"number": number, "hash": block_hash, "timestamp": last.anchored_at}])
        db.execute("DELETE FROM meta WHERE key IN ('last_block', 'last_hash', 'last_timestamp')")
        tip = {"last_block": str(number), "last_hash": block_hash.hex(), "last_timestamp": str(last.anchored_at)}
        meta.run(db, [{"key": k, "value": v} for k, v in tip.items()])
        db.execute("COMMIT")
    finally:
        db.close()
    return time.perf_counter() - started


def _stub_client() -> ChainClient:
    """What the index asks of a node outside a sync: the chain id."""
    return cast(ChainClient, SimpleNamespace(chain_id=DEPLOYMENT.chain_id))


def _fill_index_into(queue: Any, path: Path, plan: Plan, first: int, end: int, cache_mb: int) -> None:
    queue.put(fill_index(path, plan, first, end, cache_mb=cache_mb))


def fill(ctx: Bench, first: int, end: int, *, parallel: bool = True) -> tuple[float, float, float]:
    """Fill both stores with batches ``first`` to ``end``: the index in a process of its own while this one fills
    the registry (``parallel``), else one after the other. Returns the wall, registry and index seconds."""
    started = time.perf_counter()
    if not parallel:
        registry = fill_registry(ctx.url, ctx.plan, first, end, cache_mb=ctx.cache_mb)
        index = fill_index(ctx.index_path, ctx.plan, first, end, cache_mb=ctx.cache_mb // 2)
        return time.perf_counter() - started, registry, index
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_fill_index_into, args=(queue, ctx.index_path, ctx.plan, first, end, ctx.cache_mb // 2))
    child.start()
    try:
        registry = fill_registry(ctx.url, ctx.plan, first, end, cache_mb=ctx.cache_mb, progress=ctx.progress)
        index = float(queue.get(timeout=24 * 3600))
    finally:
        child.join()
    if child.exitcode != 0:
        raise BenchFailure(f"filling the index failed (exit code {child.exitcode})")
    return time.perf_counter() - started, registry, index


# ------------------------------------------------------------------------------------------------ measuring


@dataclass
class Bench:
    """One benchmark's stores and plan."""

    url: str
    index_path: Path
    plan: Plan
    cache_mb: int = 2048
    written: int = 0  # batches written so far
    progress: int = 0  # batches between progress lines while filling (0: none)


@dataclass
class Measure:
    """One timed measure: its runs (seconds), how many answers were right, the query plans of what it ran."""

    name: str
    store: str
    runs: list[float] = field(default_factory=list)
    right: int = 0
    plans: dict[str, list[str]] = field(default_factory=dict)

    @property
    def median_us(self) -> float:
        """Median run, µs."""
        return statistics.median(self.runs) * 1e6

    @property
    def best_us(self) -> float:
        """Fastest run, µs."""
        return min(self.runs) * 1e6

    @property
    def full_scans(self) -> list[str]:
        """The plan lines that read a growing table whole."""
        return [line for lines in self.plans.values() for line in lines if _reads_whole(line)]

    @property
    def other_scans(self) -> list[str]:
        """Plan lines that read some other (small) table whole."""
        return [line for lines in self.plans.values() for line in lines if _reads(line) and not _reads_whole(line)]


def _reads(line: str) -> str | None:
    """The table a plan line reads whole (SQLite ``SCAN t``, PostgreSQL ``Seq Scan on t``), if any."""
    found = re.match(r"\s*(?:->\s*)?(?:SCAN|Seq Scan on)\s+(\w+)", line)
    return found.group(1) if found else None


def _reads_whole(line: str) -> bool:
    """Whether a plan line reads a table that grows with the certificates whole."""
    return _reads(line) in GROWING


class Captured:
    """The SELECTs that the registry's engine and the index's reading connection run while :meth:`on` is held."""

    def __init__(self, engine: Engine, index: Index) -> None:
        self.engine, self.index = engine, index
        self.registry: list[tuple[str, Any]] = []
        self.chain: list[str] = []
        self._active = False
        event.listen(engine, "before_cursor_execute", self._keep)
        # The index answers on one plain sqlite3 connection per thread: its statements, with their values.
        index._db().set_trace_callback(self._trace)

    def _keep(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if self._active and statement.lstrip().upper().startswith("SELECT"):
            self.registry.append((statement, parameters))

    def _trace(self, statement: str) -> None:
        if self._active and statement.lstrip().upper().startswith("SELECT"):
            self.chain.append(statement)

    @contextmanager
    def on(self) -> Iterator[None]:
        """Capture what runs inside."""
        self.registry.clear()
        self.chain.clear()
        self._active = True
        try:
            yield
        finally:
            self._active = False

    def plans(self) -> dict[str, list[str]]:
        """Each distinct statement captured, with its plan (SQLite EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN)."""
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for statement, parameters in self.registry:
                key = "registry: " + " ".join(statement.split())
                if key in out:
                    continue
                if self.engine.dialect.name == "sqlite":
                    rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                    out[key] = [str(r[-1]) for r in rows]
                else:
                    rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
                    out[key] = [str(r[0]) for r in rows]
        db = sqlite3.connect(str(self.index.path))
        try:
            for statement in self.chain:
                key = "index: " + " ".join(re.sub(r"[xX]'[0-9A-Fa-f]*'|'[^']*'|-?\b\d+\b", "?", statement).split())
                if key not in out:
                    out[key] = [str(r[-1]) for r in db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()]
        finally:
            db.close()
        return out


class Sample(NamedTuple):
    """A certificate to look up: its registry row's keys."""

    seq: int
    digest: str
    lab_id: str
    number: str
    document: str | None


def _samples(engine: Engine, seqs: Sequence[int]) -> list[Sample]:
    c = cast(Table, Certificate.__table__).c
    query = select(c.seq, c.digest, c.lab_id, c.certificate_number, c.document_sha256).where(c.seq.in_(list(seqs)))
    with engine.connect() as conn:
        found = {row.seq: Sample(*row) for row in conn.execute(query)}
    return [found[s] for s in seqs]


def _core(engine: Engine, index: Index) -> SimpleNamespace:
    """What the registry's reads and scans ask of the registry's core: its sessions; the chain (a node whose head
    is past every batch, the keys as the index has them, the deployment); a regulator over every lab."""
    return SimpleNamespace(
        sessions=sessionmaker(engine, expire_on_commit=False),
        chain=SimpleNamespace(client=SimpleNamespace(head=lambda at_least=0: 1 << 62), deployment=DEPLOYMENT),
        key_info=lambda key_id: index.key(bytes.fromhex(key_id[2:])),
        require_lab_or_regulator=lambda principal, lab_id: None,
    )


def _timed(
    measure: Measure,
    capture: Captured,
    inputs: Sequence[Any],
    run: Callable[[Any], Any],
    check: Callable[[Any, Any], bool],
) -> Measure:
    """Run ``run`` on each input (the first run captured for the plans, not timed); count the right answers."""
    with capture.on():
        answer = run(inputs[0])
    measure.right += bool(check(inputs[0], answer))
    measure.plans = capture.plans()
    for item in inputs[1:]:
        started = time.perf_counter()
        answer = run(item)
        measure.runs.append(time.perf_counter() - started)
        measure.right += bool(check(item, answer))
    return measure


def _disk(engine: Engine, path: Path) -> tuple[int, int]:
    """Bytes on disk of the registry's database and of the index (their WAL checkpointed first)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        base = Path(str(engine.url.database))
        registry = sum(p.stat().st_size for p in base.parent.glob(base.name + "*") if not p.name.endswith(".lock"))
    else:
        with engine.connect() as conn:
            registry = int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0)
    db = sqlite3.connect(str(path))
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    index = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if not p.name.endswith(".lock"))
    return registry, index


def measure(
    ctx: Bench, *, lookups: int = 200, verifications: int = 50, pages: int = 20, scans: int = 3, seed: int = 7
) -> dict[str, Any]:
    """Time every measure at the current size; every answer is checked and every query's plan kept."""
    plan, count = ctx.plan, ctx.plan.count(ctx.written)
    rng = random.Random(seed + count)
    engine = make_engine(ctx.url)
    index = Index(ctx.index_path, _stub_client(), DEPLOYMENT, mirrors=[MIRROR])
    try:
        capture = Captured(engine, index)
        core = _core(engine, index)
        regulator = Principal(role="REGULATOR", token_id=1, regulator_address=REGULATOR)
        nmi_count = plan.batches[0].size
        picked = _samples(engine, [rng.randrange(nmi_count + 1, count + 1) for _ in range(lookups + 1)])
        with_document = [s for s in picked if s.document]
        # Verifications: recent certificates (still in force), each one's standard's bundle in the source.
        recent = max(nmi_count + 1, count - len(plan.labs) * plan.per_day * 90)
        fresh = _samples(engine, [rng.randrange(recent, count + 1) for _ in range(verifications + 1)])
        with core.sessions() as s:
            rows = [s.get(Certificate, x.seq) for x in fresh] + [s.get(Certificate, q) for q in range(1, nmi_count + 1)]
        bundles = [anchored_bundle(cast(Any, core), cast(Certificate, r)) for r in rows]
        if any(b is None for b in bundles):
            raise BenchFailure("a certificate has no proof bundle")
        source = MemorySource(cast(list[dict[str, Any]], bundles))
        verifier = Verifier(index, source)
        # One lab with certificates so far; its listing pages from cursors anywhere among them.
        chosen = plan.batches[rng.randrange(1, ctx.written)].lab
        lab_batches = [b for b in plan.batches[1 : ctx.written] if b.lab == chosen]
        lab = plan.labs[chosen].lab_id
        cursors = []
        for _ in range(pages + 1):
            b = rng.choice(lab_batches)
            cursors.append(b.seq - 1 + rng.randrange(max(1, b.size - 100)))
        today = dt.datetime.fromtimestamp(plan.batches[ctx.written - 1].anchored_at, _CHINA).date()

        def scan_lab(lab_id: str) -> int:
            # As the worker's incremental scans (registry.scans.IncrementalScans): the lab's last 30 days, the chain
            # view's answers kept a minute, what is found recorded. The clean ledger shows nothing.
            chain = CachedChainView(index, 60.0)
            found = scan(core, labs=[lab_id], since=today - dt.timedelta(days=30), chain=chain)
            record(core, found)
            return len(found)

        raw = bytes.fromhex
        measures = [
            _timed(
                Measure("lookup by digest", "registry"),
                capture,
                picked,
                lambda x: certificate_view(cast(Any, core), regulator, x.digest),
                lambda x, a: a["digest"] == x.digest,
            ),
            _timed(
                Measure("lookup by digest", "index"),
                capture,
                picked,
                lambda x: index.by_digest(x.digest),
                lambda x, a: a is not None and a.digest == raw(x.digest[2:]),
            ),
            _timed(
                Measure("lookup by (lab, number)", "registry"),
                capture,
                picked,
                lambda x: find_by_number(cast(Any, core), regulator, x.lab_id, x.number),
                lambda x, a: a["digest"] == x.digest,
            ),
            _timed(
                Measure("lookup by (lab, number)", "index"),
                capture,
                picked,
                lambda x: index.by_number(x.lab_id, x.number),
                lambda x, a: [leaf.digest for leaf in a] == [raw(x.digest[2:])],
            ),
            _timed(
                Measure("lookup by document hash", "registry"),
                capture,
                with_document,
                lambda x: list_certificates(cast(Any, core), None, document_sha256=x.document),
                lambda x, a: [i["digest"] for i in a["items"]] == [x.digest],
            ),
            _timed(
                Measure("verification (index as chain view)", "index"),
                capture,
                bundles[: len(fresh)],
                lambda b: verifier.verify_bundle(b),
                lambda b, a: a.verdict is Verdict.VALID and a.digest == b["digest"],
            ),
            _timed(
                Measure("regulator's listing page (one lab, 100)", "registry"),
                capture,
                cursors,
                lambda cursor: list_certificates(cast(Any, core), regulator, lab_id=lab, cursor=cursor, limit=100),
                lambda cursor, a: len(a["items"]) > 0 and all(i["lab_id"] == lab for i in a["items"]),
            ),
            _timed(
                Measure("incremental anomaly scan (one lab, 30 days)", "registry"),
                capture,
                [lab] * (scans + 1),
                scan_lab,
                lambda _lab, a: a == 0,
            ),
        ]
        registry_bytes, index_bytes = _disk(engine, ctx.index_path)
        capture.index._db().set_trace_callback(None)
    finally:
        index.close()
        engine.dispose()
    return {
        "certificates": count,
        "measures": measures,
        "scan_rows": _scan_rows(plan, ctx.written, lab, today - dt.timedelta(days=30)),
        "registry_bytes": registry_bytes,
        "index_bytes": index_bytes,
    }


def _scan_rows(plan: Plan, end: int, lab: str, since: dt.date) -> int:
    """How many certificates of ``lab`` issued since ``since`` the first ``end`` batches hold: what its scan reads."""
    i = next(n for n, ref in enumerate(plan.labs) if ref.lab_id == lab)
    issued = sum(b.size for b in plan.batches[:end] if b.lab == i)
    return max(0, issued - max(0, (since - plan.start).days) * plan.per_day)


def failures(result: dict[str, Any]) -> list[str]:
    """What is wrong in one checkpoint's result: wrong answers, and queries reading a growing table whole."""
    out = []
    for m in result["measures"]:
        runs = len(m.runs) + 1
        if m.right != runs:
            out.append(f"{m.name} ({m.store}): {runs - m.right} of {runs} answers wrong")
        out += [f"{m.name} ({m.store}) reads a whole table: {line}" for line in m.full_scans]
    return out


# ------------------------------------------------------------------------------------------------ printing


def _us(value: float) -> str:
    return f"{value / 1000:,.2f} ms" if value >= 10_000 else f"{value:,.0f} µs"


def print_checkpoint(result: dict[str, Any]) -> None:
    """The table of one checkpoint."""
    count = result["certificates"]
    print(f"\nat {count:,} certificates:")
    print("| measure | store | median | best | runs | right | plan |")
    print("|---|---|---:|---:|---:|---:|---|")
    for m in result["measures"]:
        plan = "FULL SCAN" if m.full_scans else "indexed"
        print(
            f"| {m.name} | {m.store} | {_us(m.median_us)} | {_us(m.best_us)} | {len(m.runs)} | "
            f"{m.right}/{len(m.runs) + 1} | {plan} |"
        )
    print(
        f"| disk per certificate | registry | {result['registry_bytes'] / count:,.0f} B | | | | "
        f"{result['registry_bytes'] / 1e6:,.1f} MB |"
    )
    print(
        f"| disk per certificate | index | {result['index_bytes'] / count:,.0f} B | | | | "
        f"{result['index_bytes'] / 1e6:,.1f} MB |"
    )
    scan = result["measures"][-1]
    if result["scan_rows"]:
        print(
            f"| incremental scan per certificate in its window ({result['scan_rows']:,}) | registry | "
            f"{_us(scan.median_us / result['scan_rows'])} | | | | |"
        )
    print("| lookup by document hash | index | — (the index keeps no document hash) | | | | |")
    print(
        "| coverage / statistics | registry | — (they read registered instruments' coverage rows; "
        "this ledger registers none) | | | | |"
    )
    whole = sorted({line for m in result["measures"] for line in m.full_scans})
    small = sorted({line.strip() for m in result["measures"] for line in m.other_scans})
    print(
        f"queries reading a growing table ({', '.join(sorted(GROWING))}) whole: {'; '.join(whole) or 'none'}; "
        f"other tables read whole: {'; '.join(small) or 'none'}"
    )
    print("query plans (each distinct query a measure ran):")
    seen: set[str] = set()
    for m in result["measures"]:
        for query, lines in m.plans.items():
            if query in seen:
                continue
            seen.add(query)
            if any(_reads_whole(x) for x in lines):
                verdict = "FULL SCAN"
            elif any(_reads(x) for x in lines):
                verdict = "scan of a table that does not grow with the certificates"
            else:
                verdict = "ok"
            print(f"  [{verdict}] {m.name}: {query[:150]}{'…' if len(query) > 150 else ''}")
            for line in lines:
                print(f"      {line}")


def summary(results: list[dict[str, Any]]) -> None:
    """The measures across checkpoints, each against its first figure."""
    if len(results) < 2:
        return
    counts = [r["certificates"] for r in results]
    print("\nacross checkpoints (median; change from the first):")
    print("| measure | store | " + " | ".join(f"{c:,}" for c in counts) + " |")
    print("|---|---|" + "---:|" * len(counts))
    for i, m in enumerate(results[0]["measures"]):
        cells = []
        for r in results:
            value = r["measures"][i].median_us
            change = value / m.median_us - 1
            cells.append(_us(value) + ("" if r is results[0] else f" ({change:+.0%})"))
        print(f"| {m.name} | {m.store} | " + " | ".join(cells) + " |")
    for store in ("registry", "index"):
        cells = [f"{r[f'{store}_bytes'] / r['certificates']:,.0f} B" for r in results]
        print(f"| disk per certificate | {store} | " + " | ".join(cells) + " |")


def as_json(result: dict[str, Any], generation: dict[str, float]) -> dict[str, Any]:
    """One checkpoint in the final JSON line."""
    return {
        "certificates": result["certificates"],
        "generation": generation,
        "measures": [
            {
                "name": m.name,
                "store": m.store,
                "median_us": round(m.median_us, 1),
                "best_us": round(m.best_us, 1),
                "runs": len(m.runs),
                "right": m.right,
                "full_scans": m.full_scans,
            }
            for m in result["measures"]
        ],
        "registry_bytes_per_certificate": round(result["registry_bytes"] / result["certificates"], 1),
        "index_bytes_per_certificate": round(result["index_bytes"] / result["certificates"], 1),
        "scan_rows": result["scan_rows"],
    }


# ------------------------------------------------------------------------------------------------ main


def prepare(url: str, index_path: Path, plan: Plan, cache_mb: int = 2048) -> Bench:
    """Empty stores brought up as in production (the registry migrated), with the labs."""
    engine = make_engine(url)
    try:
        migrate(engine)
        registry_setup(engine, plan)
    finally:
        engine.dispose()
    index_setup(index_path, plan)
    return Bench(url, index_path, plan, cache_mb)


def warm(path: Path) -> float:
    """Read the SQLite file at ``path`` (and its WAL) through once, as a verifier's index is in memory once it has
    served a while; return the seconds it took."""
    started = time.perf_counter()
    for part in (path, Path(f"{path}-wal")):
        if part.exists():
            with part.open("rb", buffering=0) as f:
                while f.read(16 << 20):
                    pass
    return time.perf_counter() - started


def run(
    ctx: Bench, *, parallel: bool = True, warm_index: bool = False, **options: Any
) -> Iterator[tuple[dict[str, Any], dict[str, float]]]:
    """Fill to each checkpoint and measure there: each checkpoint's result and its generation figures. With
    ``warm_index`` the index's file is read through before the measures (``index_warm_s``)."""
    for end in ctx.plan.ends:
        first = ctx.written
        wall, registry, index = fill(ctx, first, end, parallel=parallel)
        ctx.written = end
        made = ctx.plan.count(end) - (ctx.plan.count(first) if first else 0)
        generation = {
            "certificates": made,
            "wall_s": round(wall, 2),
            "registry_s": round(registry, 2),
            "index_s": round(index, 2),
            "per_second": round(made / wall, 1),
        }
        if warm_index:
            generation["index_warm_s"] = round(warm(ctx.index_path), 2)
        yield measure(ctx, **options), generation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="10000,1000000,10000000", help="sizes to measure at (certificates)")
    parser.add_argument("--labs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--per-day", type=int, default=500, help="certificates a lab issues a day")
    parser.add_argument("--database", help="SQLAlchemy URL of an empty registry database (default: a SQLite file)")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: a temporary directory)")
    parser.add_argument("--cache-mb", type=int, default=2048, help="SQLite page cache of the registry's loader")
    parser.add_argument("--lookups", type=int, default=200, help="runs of each lookup")
    parser.add_argument("--verifications", type=int, default=50)
    parser.add_argument("--serial", action="store_true", help="fill the registry and the index one after the other")
    parser.add_argument(
        "--warm-index",
        action="store_true",
        help="read the index's file through before measuring (a serving verifier's index is in memory; the "
        "registry's database, larger than memory at 10 M here, is left as the filling left it)",
    )
    args = parser.parse_args()
    checkpoints = [int(c.replace("_", "")) for c in args.checkpoints.split(",")]
    m = machine()
    print(m)
    plan = make_plan(checkpoints, labs=args.labs, batch_size=args.batch_size, per_day=args.per_day)
    print(
        f"plan: {checkpoints[-1]:,} certificates of {args.labs} labs ({plan.per_day}/day each, {plan.standards} "
        f"standards, {plan.performers} performers) over {plan.days} days, {len(plan.batches):,} batches of up to "
        f"{args.batch_size:,}; checkpoints {', '.join(f'{c:,}' for c in checkpoints)}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.dir) as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'registry.db'}"
        ctx = prepare(url, Path(tmp) / "index.db", plan, args.cache_mb)
        ctx.progress = max(1, 200_000 // args.batch_size)
        print(f"registry: {make_engine(url).dialect.name}; index: SQLite {sqlite3.sqlite_version}; files in {tmp}")
        results, lines, problems = [], [], []
        for result, generation in run(
            ctx,
            parallel=not args.serial,
            warm_index=args.warm_index,
            lookups=args.lookups,
            verifications=args.verifications,
        ):
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"\nload average {load} (the machine is shared: other work takes cores from the measures)\n"
                f"generated {generation['certificates']:,} certificates in {generation['wall_s']:,.1f} s: "
                f"{generation['per_second']:,.0f}/s (registry {generation['registry_s']:,.1f} s and index "
                f"{generation['index_s']:,.1f} s, {'one after the other' if args.serial else 'in parallel'})"
                + (f"; the index's file read through in {generation['index_warm_s']:,.1f} s" if args.warm_index else "")
            )
            print_checkpoint(result)
            results.append(result)
            lines.append(as_json(result, generation))
            problems += [f"at {result['certificates']:,}: {p}" for p in failures(result)]
            if problems:
                break
        summary(results)
    print(json.dumps({"machine": m, "checkpoints": lines, "problems": problems}, ensure_ascii=False))
    if problems:
        raise SystemExit("FAILED:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
