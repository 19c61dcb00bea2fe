"""Evidence packages for a case (行政执法与刑事司法衔接): one JSON file a court or the police check offline, with no
TraceCert service and no chain node.

A package holds, for each certificate of the case: its proof bundle (the record, the lab's Ed25519 signature and
public key, the Merkle inclusion proof, the anchor), the verification report made when the package was built, and
the chain evidence of its anchoring — the header of the block, and every receipt of that block. Optionally a
forged copy with a field-by-field diff against the genuine record. The whole is signed by the regulator's chain
account (EIP-191 over the SHA-256 of its compact JSON with sorted keys).

:func:`verify_package` checks every link and names the one that fails:

========================  ===================================================================================
link                      what is recomputed
========================  ===================================================================================
SIGNED                    the package's signature recovers to the authority pinned by the one checking
RECORD_DIGEST             the record's certificate digest (RFC 8785, SHA-256) is the bundle's digest
LAB_SIGNATURE             the lab's key id is SHA-256 of its public key; the Ed25519 signature over the digest
INCLUSION                 the Merkle proof (RFC 6962) leads from the digest to the anchored root
ANCHOR_LOG                the anchoring transaction's receipt succeeded and holds the CertificateRegistry's
                          ``BatchAnchored(root, labId, keyId)`` log with the bundle's root, lab and key
RECEIPTS_ROOT             the block's receipts, RLP-encoded (EIP-2718 types), rebuild the header's receipts root
HEADER                    the header's RLP hashes to the block hash, of the number and time the anchor states
FORGED_DIFF               the diff of the forged copy against the genuine record is what the package states
========================  ===================================================================================

What it relies on, and the signature vouches for: that the block hash is in the canonical chain of the stated
chain id and final (on a QBFT network a block is final once sealed), and that the contract address is the
CertificateRegistry of the deployment rooted at the national authority — the two facts a file cannot prove about a
chain it does not hold. The header hash is Ethereum's (Keccak-256 of the RLP header, the London to Prague fields as
the node returns them); a QBFT chain hashes its header without the validators' commit seals, which a package from
such a chain states in ``chain.header_rule``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from trie import HexaryTrie

from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.merkle import verify_inclusion
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import key_id, verify_signature
from tracecert.chain.errors import ChainError

__all__ = [
    "FORMAT",
    "PackageCheck",
    "build_package",
    "chain_evidence",
    "diff_records",
    "header_hash",
    "receipts_root",
    "sign_package",
    "verify_package",
]

FORMAT = "tracecert-evidence/1"

#: Header fields in RLP order; those from baseFeePerGas on exist from the fork that added them (London, Shanghai,
#: Cancun, Prague) and are encoded when the node returns them.
_HEADER = (
    ("parentHash", "bytes"),
    ("sha3Uncles", "bytes"),
    ("miner", "bytes"),
    ("stateRoot", "bytes"),
    ("transactionsRoot", "bytes"),
    ("receiptsRoot", "bytes"),
    ("logsBloom", "bytes"),
    ("difficulty", "int"),
    ("number", "int"),
    ("gasLimit", "int"),
    ("gasUsed", "int"),
    ("timestamp", "int"),
    ("extraData", "bytes"),
    ("mixHash", "bytes"),
    ("nonce", "bytes"),
)
_OPTIONAL_HEADER = (
    ("baseFeePerGas", "int"),
    ("withdrawalsRoot", "bytes"),
    ("blobGasUsed", "int"),
    ("excessBlobGas", "int"),
    ("parentBeaconBlockRoot", "bytes"),
    ("requestsHash", "bytes"),
)
#: topic0 of CertificateRegistry's BatchAnchored(bytes32 indexed root, bytes32 indexed labId, bytes32 indexed keyId,
#: uint32 count, uint32 index).
BATCH_ANCHORED = keccak(text="BatchAnchored(bytes32,bytes32,bytes32,uint32,uint32)")


def _value(kind: str, text: Any) -> Any:
    raw = str(text)
    if kind == "int":
        return int(raw, 16)
    return bytes.fromhex(raw[2:] if raw.startswith("0x") else raw)


def header_hash(block: Mapping[str, Any]) -> bytes:
    """Keccak-256 of the RLP header built from a JSON-RPC block's fields."""
    fields = [_value(kind, block[name]) for name, kind in _HEADER]
    fields += [_value(kind, block[name]) for name, kind in _OPTIONAL_HEADER if block.get(name) is not None]
    return keccak(rlp.encode(fields))


def _receipt_rlp(receipt: Mapping[str, Any]) -> bytes:
    logs = [
        [_value("bytes", log["address"]), [_value("bytes", t) for t in log["topics"]], _value("bytes", log["data"])]
        for log in receipt["logs"]
    ]
    status = _value("int", receipt.get("status", "0x1"))
    items = [status, _value("int", receipt["cumulativeGasUsed"]), _value("bytes", receipt["logsBloom"]), logs]
    kind = _value("int", receipt.get("type", "0x0"))
    encoded = rlp.encode(items)
    return encoded if kind == 0 else bytes([kind]) + encoded


def receipts_root(receipts: list[Mapping[str, Any]]) -> bytes:
    """The Merkle-Patricia root of a block's receipts (keys RLP(index), values the EIP-2718 receipt encodings)."""
    trie = HexaryTrie({})
    for receipt in sorted(receipts, key=lambda r: _value("int", r["transactionIndex"])):
        trie[rlp.encode(_value("int", receipt["transactionIndex"]))] = _receipt_rlp(receipt)
    return bytes(trie.root_hash)


def diff_records(genuine: Any, forged: Any, path: str = "") -> list[dict[str, Any]]:
    """Every field where ``forged`` differs from ``genuine``, by dotted path, with both values (None: absent)."""
    if isinstance(genuine, Mapping) and isinstance(forged, Mapping):
        out = []
        for key in sorted(set(genuine) | set(forged)):
            out += diff_records(genuine.get(key), forged.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(genuine, list) and isinstance(forged, list) and len(genuine) == len(forged):
        return [
            d for i, (g, f) in enumerate(zip(genuine, forged, strict=True)) for d in diff_records(g, f, f"{path}.{i}")
        ]
    return [] if genuine == forged else [{"field": path, "genuine": genuine, "forged": forged}]


def _unsigned_digest(package: Mapping[str, Any]) -> bytes:
    """SHA-256 of the package without its signature as compact JSON with sorted keys (not RFC 8785: a report holds
    uint64 times, such as an open key window's end, beyond the integers JCS allows)."""
    body = {k: v for k, v in package.items() if k != "signature"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).digest()


def sign_package(package: dict[str, Any], private_key: bytes) -> dict[str, Any]:
    """The package with its ``signature``: the signer's address and an EIP-191 signature over the SHA-256 of the
    package without the signature (:func:`_unsigned_digest`)."""
    signed = Account.sign_message(encode_defunct(primitive=_unsigned_digest(package)), private_key)
    account = Account.from_key(private_key)
    return {**package, "signature": {"signer": account.address, "value": "0x" + bytes(signed.signature).hex()}}


def chain_evidence(client: Any, block_number: int) -> dict[str, Any]:
    """The block (header fields and transaction hashes) and every receipt of it, from a JSON-RPC node
    (``eth_getBlockReceipts``, else one ``eth_getTransactionReceipt`` per transaction)."""
    block = dict(client.rpc("eth_getBlockByNumber", [hex(block_number), False]))
    try:
        receipts = list(client.rpc("eth_getBlockReceipts", [hex(block_number)]))
    except ChainError:  # a node without the method: ask per transaction
        receipts = [client.rpc("eth_getTransactionReceipt", [tx]) for tx in block["transactions"]]
    return {"block": block, "receipts": [dict(r) for r in receipts]}


def build_package(
    *,
    case: Mapping[str, Any],
    deployment: Mapping[str, Any],
    certificates: Sequence[Mapping[str, Any]],
    forged: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An unsigned package. Each certificate is ``{"bundle", "report", "block", "receipts"}`` (the JSON-RPC block
    without transactions, and every receipt of that block); ``forged`` is ``{"record", "of"}`` (the forged record
    and the digest of the certificate it copies), diffed here."""
    package: dict[str, Any] = {
        "format": FORMAT,
        "case": dict(case),
        "deployment": dict(deployment),
        "chain": {"header_rule": "ethereum"},
        "certificates": [copy.deepcopy(dict(c)) for c in certificates],
        "forged": None,
    }
    if forged is not None:
        genuine = next(c["bundle"]["record"] for c in certificates if c["bundle"]["digest"] == forged["of"])
        package["forged"] = {
            "of": forged["of"],
            "record": forged["record"],
            "diff": diff_records(genuine, forged["record"]),
        }
    return package


@dataclass(frozen=True)
class PackageCheck:
    """Each link of a package checked: its name, the certificate it is about (or None), whether it holds, why."""

    links: tuple[tuple[str, str | None, bool, str], ...]

    @property
    def ok(self) -> bool:
        """Every link holds."""
        return all(ok for _name, _digest, ok, _detail in self.links)

    @property
    def failing(self) -> list[str]:
        """The names of the links that fail, in order."""
        return [name for name, _digest, ok, _detail in self.links if not ok]


def verify_package(package: Mapping[str, Any], trust_authority: str) -> PackageCheck:
    """Check every link of ``package`` offline; ``trust_authority`` is the signer's address the checker pins."""
    links: list[tuple[str, str | None, bool, str]] = []
    if package.get("format") != FORMAT:
        return PackageCheck((("FORMAT", None, False, f"not a {FORMAT} package"),))
    signature = package.get("signature") or {}
    try:
        signer = Account.recover_message(
            encode_defunct(primitive=_unsigned_digest(package)), signature=from_hex(str(signature.get("value")), 65)
        )
    except (ValueError, TypeError) as exc:
        signer = f"unreadable signature ({exc})"
    links.append(("SIGNED", None, signer.lower() == trust_authority.lower(), f"signed by {signer}"))
    registry = str(package["deployment"]["certificate_registry"]).lower()
    for certificate in package["certificates"]:
        links += list(_certificate_links(certificate, registry))
    forged = package.get("forged")
    if forged is not None:
        genuine = next(
            (c["bundle"]["record"] for c in package["certificates"] if c["bundle"]["digest"] == forged["of"]), None
        )
        same = genuine is not None and diff_records(genuine, forged["record"]) == forged["diff"]
        links.append(
            ("FORGED_DIFF", forged["of"], same, f"{len(forged['diff'])} field(s) differ from the genuine record")
        )
    return PackageCheck(tuple(links))


def _certificate_links(certificate: Mapping[str, Any], registry: str) -> Iterator[tuple[str, str | None, bool, str]]:
    bundle, block, receipts = certificate["bundle"], certificate["block"], certificate["receipts"]
    digest = str(bundle["digest"])
    yield ("RECORD_DIGEST", digest, *_attempt(lambda: _record_digest(bundle) == digest, "the record digests to it"))
    yield ("LAB_SIGNATURE", digest, *_attempt(lambda: _lab_signature(bundle), f"key {bundle['signature']['key_id']}"))
    yield ("INCLUSION", digest, *_attempt(lambda: _inclusion(bundle), f"leaf {bundle['proof']['leaf_index']}"))
    anchor = bundle["anchor"]
    receipt = next((r for r in receipts if str(r["transactionHash"]).lower() == str(anchor["tx_hash"]).lower()), None)
    wanted = [
        BATCH_ANCHORED,
        from_hex(anchor["root"]),
        from_hex(bundle["record"]["lab"]["lab_id"]),
        from_hex(bundle["signature"]["key_id"]),
    ]
    found = (
        receipt is not None
        and _value("int", receipt.get("status", "0x0")) == 1
        and any(
            str(log["address"]).lower() == registry and [_value("bytes", t) for t in log["topics"]] == wanted
            for log in receipt["logs"]
        )
    )
    yield (
        "ANCHOR_LOG",
        digest,
        found,
        f"BatchAnchored of root {anchor['root']} in transaction {anchor['tx_hash']}"
        if found
        else "no successful BatchAnchored log of this root, lab and key from the CertificateRegistry",
    )
    try:
        rebuilt = receipts_root(receipts)
        root_ok = rebuilt == _value("bytes", block["receiptsRoot"])
        detail = f"{len(receipts)} receipts rebuild {to_hex(rebuilt)}"
    except (KeyError, ValueError, TypeError) as exc:
        root_ok, detail = False, f"receipts unreadable: {exc}"
    yield ("RECEIPTS_ROOT", digest, root_ok, detail)
    try:
        computed = header_hash(block)
        header_ok = (
            computed == _value("bytes", block["hash"]) == from_hex(str(certificate.get("block_hash", block["hash"])))
            and _value("int", block["number"]) == int(anchor["block_number"])
            and _value("int", block["timestamp"]) == int(anchor["block_timestamp"])
        )
        detail = f"block {int(anchor['block_number'])} hashes to {to_hex(computed)}"
    except (KeyError, ValueError, TypeError) as exc:
        header_ok, detail = False, f"header unreadable: {exc}"
    yield ("HEADER", digest, header_ok, detail)


def _attempt(check: Callable[[], bool], detail: str) -> tuple[bool, str]:
    """Run one check: (holds, what was found); an exception is a failing link with its message."""
    try:
        return (True, detail) if check() else (False, f"not so: {detail}")
    except (CertificateError, KeyError, TypeError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _record_digest(bundle: Mapping[str, Any]) -> str:
    return to_hex(certificate_digest(record_from_json(bundle["record"])))


def _lab_signature(bundle: Mapping[str, Any]) -> bool:
    sig = bundle["signature"]
    public_key = from_hex(sig["public_key"])
    if to_hex(key_id(public_key)) != sig["key_id"]:
        return False
    verify_signature(public_key, from_hex(bundle["digest"]), from_hex(sig["value"], 64))  # raises when it fails
    return True


def _inclusion(bundle: Mapping[str, Any]) -> bool:
    proof = bundle["proof"]
    verify_inclusion(
        from_hex(bundle["digest"]),
        proof["leaf_index"],
        proof["tree_size"],
        [from_hex(h) for h in proof["hashes"]],
        from_hex(bundle["anchor"]["root"]),
    )
    return True
