"""Benchmark of the certificate core (a script, not a test): canonicalize+hash, parse, sign, verify, Merkle.

Rates are calls per second of CPU time of this process (``time.process_time``), so a machine shared with other
work still gives its single-core figure; the parse lines show the reference path (the definition the fast path
is property-tested against, tests/certificate/test_parse_fast.py) beside the one in use.

Run: .venv/bin/python scripts/bench_certificate.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from tracecert.certificate.bundle import Anchor, _parse_bundle_reference, build_bundle, bundle_to_json, parse_bundle
from tracecert.certificate.canonical import (
    _compute_canonical_record_reference,
    certificate_digest,
    compute_canonical_record,
    digest_canonical_record,
    parse_json,
    to_hex,
)
from tracecert.certificate.merkle import build_batch, merkle_root, verify_inclusion
from tracecert.certificate.model import _record_from_json_reference, record_from_json
from tracecert.certificate.signing import generate_key, sign_digest, verify_signature

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "certificate" / "data" / "verification-record.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rate(fn: Callable[[int], object], seconds: float) -> float:
    """Calls per second of CPU time of fn(i), run for about ``seconds`` of CPU time."""
    n, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        for _ in range(100):
            fn(n)
            n += 1
    return n / elapsed


def best_ms(fn: Callable[[], object], repeats: int = 20) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per throughput figure")
    args = parser.parse_args()

    base = parse_json(SAMPLE.read_bytes())
    records = []
    for i in range(1000):
        doc = copy.deepcopy(base)
        doc["certificate_number"] = f"JD2024-{i:05d}"
        records.append(record_from_json(doc))
    key = generate_key()
    digests = [certificate_digest(r) for r in records]
    signatures = [sign_digest(key, d) for d in digests]
    leaves = [certificate_digest(records[i % 1000]) for i in range(1024)]
    batch = build_batch(leaves)
    anchor = Anchor(
        chain_id=31337,
        contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        root=to_hex(batch.root),
        tx_hash="0x" + "11" * 32,
        block_number=42,
        block_timestamp=1_710_000_000,
    )
    bundles = [
        bundle_to_json(
            build_bundle(
                records[i],
                signature=signatures[i],
                public_key=key.public_key,
                leaf_index=i,
                tree_size=1024,
                proof=batch.proofs[i],
                anchor=anchor,
            )
        )
        for i in range(1000)
    ]
    record_docs = [bundle["record"] for bundle in bundles]

    figures = {
        # computed afresh each time (certificate_digest keeps a record's digest once computed)
        "records canonicalized + hashed /s": rate(
            lambda i: digest_canonical_record(compute_canonical_record(records[i % 1000])), args.seconds
        ),
        "  (reference path, canonicalized + hashed)": rate(
            lambda i: digest_canonical_record(_compute_canonical_record_reference(records[i % 1000])), args.seconds
        ),
        "records parsed + validated + hashed /s": rate(
            lambda i: certificate_digest(record_from_json(record_docs[i % 1000])), args.seconds
        ),
        "  (reference path, parsed + validated + hashed)": rate(
            lambda i: digest_canonical_record(
                _compute_canonical_record_reference(_record_from_json_reference(record_docs[i % 1000]))
            ),
            args.seconds,
        ),
        "bundles parsed (parse_bundle) + hashed /s": rate(
            lambda i: certificate_digest(parse_bundle(bundles[i % 1000]).record), args.seconds
        ),
        "  (reference path, parse_bundle + hashed)": rate(
            lambda i: digest_canonical_record(
                _compute_canonical_record_reference(_parse_bundle_reference(bundles[i % 1000]).record)
            ),
            args.seconds,
        ),
        "signatures /s": rate(lambda i: sign_digest(key, digests[i % 1000]), args.seconds),
        "signature verifications /s": rate(
            lambda i: verify_signature(key.public_key, digests[i % 1000], signatures[i % 1000]), args.seconds
        ),
        "inclusion proof verifications /s (1,024 leaves)": rate(
            lambda i: verify_inclusion(leaves[i % 1024], i % 1024, 1024, batch.proofs[i % 1024], batch.root),
            args.seconds,
        ),
    }
    timings = {
        "Merkle root of 1,024 leaves, ms": best_ms(lambda: merkle_root(leaves)),
        "Merkle root + all 1,024 proofs, ms": best_ms(lambda: build_batch(leaves)),
    }

    print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}")
    print("single thread, calls per second of CPU time (time.process_time)")
    for name, value in figures.items():
        print(f"  {name:<50} {value:>12,.0f}")
    for name, value in timings.items():
        print(f"  {name:<50} {value:>12.2f}")


if __name__ == "__main__":
    main()
