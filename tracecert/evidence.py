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
HEADER                    the header's RLP hashes to the block hash by the package's ``chain.header_rule``, of the
                          number and time the anchor states
SEALS                     (BFT rules only) the commit seals recover to distinct validators of the block's extraData,
                          at least the quorum ceil(2n/3) of them, and no seal is by anyone else
FORGED_DIFF               the diff of the forged copy against the genuine record is what the package states
========================  ===================================================================================

What it relies on, and the signature vouches for: that the block hash is in the canonical chain of the stated
chain id and final (on a QBFT network a block is final once sealed), and that the contract address is the
CertificateRegistry of the deployment rooted at the national authority — the two facts a file cannot prove about a
chain it does not hold.

The header rule (``chain.header_rule``, chosen by :func:`build_package` as the one that reproduces the node's block
hash, and applied by :func:`verify_package` as the package states it; an unknown rule fails HEADER by name):

- ``ethereum``: Keccak-256 of the RLP header, the London to Prague fields as the node returns them.
- ``qbft`` (Hyperledger Besu's QBFT, ``QbftExtraDataCodec`` and ``BftBlockHashing`` in hyperledger/besu): the
  extraData is the RLP list ``[vanity (32 bytes), [validator addresses], vote ([] when none), round, [commit
  seals]]``. The block hash is the header's hash with the extraData re-encoded with the round set to 0 (the empty
  string) and the seals to ``[]``; each commit seal is a secp256k1 signature (r, s, recovery id 0/1: 65 bytes) over
  the hash of the header with only the seals set to ``[]`` (the round kept). The genesis block is hashed as is.
- ``ibft2`` (Besu's IBFT 2.0 codec, which Besu's first QBFT used; its reference vectors in Consensys/qbft-tests): the
  same five items, but the block hash leaves the round and the seals out of the list, and the sealed hash the seals.

What SEALS proves, for a BFT rule: that at least a quorum (ceil(2n/3), Besu's ``calculateRequiredValidatorQuorum``)
of the n validators the block's own extraData lists signed this very header (every field of it but the seals), and
that nobody outside that list sealed it — so a header changed after sealing fails SEALS as well as HEADER. What it
relies on: that the validator list in the extraData is the network's (Besu checks the seals against the validators
after the parent block, which a file cannot recompute without the chain; the list is vouched for by the regulator's
signature on the package, like the chain id), and secp256k1. A network whose validators live in a contract (QBFT's
validator-contract mode) lists none in the extraData: SEALS then fails, saying so.
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
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak
from trie import HexaryTrie

from tracecert.certificate.canonical import certificate_digest, from_hex, to_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.merkle import verify_inclusion
from tracecert.certificate.model import record_from_json
from tracecert.certificate.signing import key_id, verify_signature
from tracecert.chain.errors import ChainError

__all__ = [
    "BFT_RULES",
    "FORMAT",
    "HEADER_RULES",
    "BftExtra",
    "BftExtraInvalid",
    "HeaderRuleUnknown",
    "PackageCheck",
    "bft_extra",
    "build_package",
    "chain_evidence",
    "commit_seal_hash",
    "diff_records",
    "header_hash",
    "header_rule",
    "quorum",
    "receipts_root",
    "recover_committers",
    "sign_package",
    "verify_package",
]

FORMAT = "tracecert-evidence/1"
#: The header rules :func:`header_hash` knows, in the order :func:`header_rule` tries them.
HEADER_RULES = ("ethereum", "qbft", "ibft2")
#: The rules of a BFT chain, whose blocks carry commit seals (the SEALS link).
BFT_RULES = ("qbft", "ibft2")

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


class HeaderRuleUnknown(ChainError, ValueError):
    """No header rule reproduces the node's block hash (or a rule named is not one of :data:`HEADER_RULES`)."""

    code = "HEADER_RULE_UNKNOWN"


class BftExtraInvalid(ChainError, ValueError):
    """A BFT block's extraData, or one of its commit seals, cannot be read."""

    code = "BFT_EXTRA_INVALID"


@dataclass(frozen=True)
class BftExtra:
    """A BFT block's extraData decoded: ``[vanity, validators, vote, round, seals]`` (each item as RLP holds it)."""

    vanity: bytes
    validators: tuple[bytes, ...]
    vote: Any
    round: bytes
    seals: tuple[bytes, ...]


def bft_extra(extra_data: bytes) -> BftExtra:
    """Decode a QBFT (or IBFT 2.0) extraData; raises :class:`BftExtraInvalid` (code ``BFT_EXTRA_INVALID``) when it
    is not the five-item RLP list."""
    try:
        items = rlp.decode(extra_data)
    except rlp.DecodingError as exc:
        raise BftExtraInvalid(f"extraData is not RLP: {exc}") from exc
    if not isinstance(items, list) or len(items) != 5:
        raise BftExtraInvalid("extraData is not the BFT list [vanity, validators, vote, round, seals]")
    vanity, validators, vote, round_, seals = items
    if not isinstance(vanity, bytes) or not isinstance(round_, bytes):
        raise BftExtraInvalid("extraData's vanity and round are not byte strings")
    if not isinstance(validators, list) or not all(isinstance(v, bytes) and len(v) == 20 for v in validators):
        raise BftExtraInvalid("extraData's validators are not a list of 20-byte addresses")
    if not isinstance(seals, list) or not all(isinstance(seal, bytes) for seal in seals):
        raise BftExtraInvalid("extraData's commit seals are not a list of byte strings")
    return BftExtra(vanity, tuple(validators), vote, round_, tuple(seals))


def _header_fields(block: Mapping[str, Any]) -> list[Any]:
    fields = [_value(kind, block[name]) for name, kind in _HEADER]
    fields += [_value(kind, block[name]) for name, kind in _OPTIONAL_HEADER if block.get(name) is not None]
    return fields


_EXTRA_INDEX = [name for name, _kind in _HEADER].index("extraData")


def _with_extra(block: Mapping[str, Any], make: Callable[[BftExtra], list[Any]]) -> bytes:
    """Keccak-256 of the RLP header with its extraData replaced by ``make(decoded extraData)`` re-encoded (the
    genesis block as it is, as Besu's ``BftBlockHashing.serializeHeader`` does)."""
    fields = _header_fields(block)
    if fields[_HEADER.index(("number", "int"))] != 0:
        fields[_EXTRA_INDEX] = rlp.encode(make(bft_extra(fields[_EXTRA_INDEX])))
    return keccak(rlp.encode(fields))


def header_hash(block: Mapping[str, Any], rule: str = "ethereum") -> bytes:
    """The block hash of a JSON-RPC block's header fields by ``rule`` (one of :data:`HEADER_RULES`; the module
    docstring gives each). Raises :class:`HeaderRuleUnknown` for another rule, :class:`BftExtraInvalid` for a BFT
    rule when the extraData is not the BFT list."""
    if rule == "ethereum":
        return keccak(rlp.encode(_header_fields(block)))
    if rule == "qbft":  # round 0 (RLP's empty string, as Besu's writeIntScalar(0)) and no seals
        return _with_extra(block, lambda x: [x.vanity, list(x.validators), x.vote, b"", []])
    if rule == "ibft2":  # round and seals left out of the list
        return _with_extra(block, lambda x: [x.vanity, list(x.validators), x.vote])
    raise HeaderRuleUnknown(f"unknown header rule {rule!r} (known: {', '.join(HEADER_RULES)})")


def commit_seal_hash(block: Mapping[str, Any], rule: str = "qbft") -> bytes:
    """The hash each validator signs as its commit seal: the header with the seals excluded and the round kept
    (Besu's ``BftBlockHashing.calculateDataHashForCommittedSeal``)."""
    if rule == "qbft":
        return _with_extra(block, lambda x: [x.vanity, list(x.validators), x.vote, x.round, []])
    if rule == "ibft2":
        return _with_extra(block, lambda x: [x.vanity, list(x.validators), x.vote, x.round])
    raise HeaderRuleUnknown(f"{rule!r} is not a BFT header rule (known: {', '.join(BFT_RULES)})")


def recover_committers(block: Mapping[str, Any], rule: str = "qbft") -> list[bytes]:
    """The address (20 bytes) recovered from each commit seal of the block, in the extraData's order. Raises
    :class:`BftExtraInvalid` for a seal that is not 65 bytes (r, s, recovery id 0 or 1) or recovers to no key."""
    digest = commit_seal_hash(block, rule)
    signers = []
    for index, seal in enumerate(bft_extra(_value("bytes", block["extraData"])).seals):
        if len(seal) != 65 or seal[64] not in (0, 1):
            raise BftExtraInvalid(f"seal {index} is not 65 bytes ending in a recovery id 0 or 1")
        try:
            public_key = keys.Signature(signature_bytes=seal).recover_public_key_from_msg_hash(digest)
        except (BadSignature, ValidationError, ValueError) as exc:
            raise BftExtraInvalid(f"seal {index} recovers to no key: {exc}") from exc
        signers.append(public_key.to_canonical_address())
    return signers


def quorum(validators: int) -> int:
    """The seals a BFT block needs: ceil(2n/3) of its n validators (Besu's ``calculateRequiredValidatorQuorum``)."""
    return -(-2 * validators // 3)


def header_rule(block: Mapping[str, Any]) -> str:
    """The first of :data:`HEADER_RULES` whose hash of the block's header is the block hash the node gave; raises
    :class:`HeaderRuleUnknown` (code ``HEADER_RULE_UNKNOWN``) when none is."""
    wanted = _value("bytes", block["hash"])
    for rule in HEADER_RULES:
        try:
            if header_hash(block, rule) == wanted:
                return rule
        except (ValueError, TypeError):  # not a BFT extraData: not that rule
            continue
    raise HeaderRuleUnknown(
        f"block {_value('int', block['number'])}: no header rule ({', '.join(HEADER_RULES)}) reproduces the "
        f"node's block hash {block['hash']}"
    )


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
    and the digest of the certificate it copies), diffed here. ``chain.header_rule`` is the first of
    :data:`HEADER_RULES` that reproduces every block's hash as the node gave it; :class:`HeaderRuleUnknown` (code
    ``HEADER_RULE_UNKNOWN``) when none does."""
    package: dict[str, Any] = {
        "format": FORMAT,
        "case": dict(case),
        "deployment": dict(deployment),
        "chain": {"header_rule": _package_rule([c["block"] for c in certificates])},
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


def _package_rule(blocks: Sequence[Mapping[str, Any]]) -> str:
    """The first rule reproducing the hash of every block (one chain: one rule; a genesis block fits them all)."""
    rules = [header_rule(block) for block in blocks]  # raises, naming the block, when one fits none
    for rule in HEADER_RULES:
        if all(_reproduces(block, rule) for block in blocks):
            return rule
    raise HeaderRuleUnknown(f"the blocks' hashes follow different header rules ({', '.join(sorted(set(rules)))})")


def _reproduces(block: Mapping[str, Any], rule: str) -> bool:
    try:
        return header_hash(block, rule) == _value("bytes", block["hash"])
    except (ValueError, TypeError):
        return False


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
    rule = str((package.get("chain") or {}).get("header_rule", "ethereum"))
    for certificate in package["certificates"]:
        links += list(_certificate_links(certificate, registry, rule))
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


def _certificate_links(
    certificate: Mapping[str, Any], registry: str, rule: str
) -> Iterator[tuple[str, str | None, bool, str]]:
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
        computed = header_hash(block, rule)
        header_ok = (
            computed == _value("bytes", block["hash"]) == from_hex(str(certificate.get("block_hash", block["hash"])))
            and _value("int", block["number"]) == int(anchor["block_number"])
            and _value("int", block["timestamp"]) == int(anchor["block_timestamp"])
        )
        detail = f"block {int(anchor['block_number'])} hashes to {to_hex(computed)} by the {rule} rule"
    except HeaderRuleUnknown as exc:
        header_ok, detail = False, str(exc)
    except (KeyError, ValueError, TypeError) as exc:
        header_ok, detail = False, f"header unreadable: {exc}"
    yield ("HEADER", digest, header_ok, detail)
    if rule in BFT_RULES:
        yield ("SEALS", digest, *_seals(block, rule))


def _seals(block: Mapping[str, Any], rule: str) -> tuple[bool, str]:
    """The SEALS link: distinct signers, every one a validator of the block's extraData, at least the quorum."""
    try:
        validators = bft_extra(_value("bytes", block["extraData"])).validators
        signers = recover_committers(block, rule)
    except (KeyError, ValueError, TypeError) as exc:
        return False, f"seals unreadable: {exc}"
    if not validators:
        return False, "the extraData lists no validators (a validator-contract network): no set to check the seals by"
    strangers = [to_hex(s) for s in signers if s not in validators]
    if strangers:
        return False, f"sealed by {len(strangers)} signer(s) not among the {len(validators)} validators: " + ", ".join(
            strangers
        )
    if len(set(signers)) != len(signers):
        return False, "a validator sealed the block more than once"
    needed = quorum(len(validators))
    detail = f"{len(signers)} of {len(validators)} validators sealed the block (quorum {needed})"
    return (True, detail) if len(signers) >= needed else (False, f"not so: {detail}")


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
