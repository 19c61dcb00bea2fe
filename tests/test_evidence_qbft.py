"""Evidence packages from a Hyperledger Besu QBFT chain: the header hash rule and the commit seals, checked against
vectors taken from public repositories (each names its file), and against a header sealed here the way Besu does.

``besu_seal`` is used by tests/registry/test_evidence.py too, to turn a real anchoring block into a sealed QBFT one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import rlp
from eth_keys import keys
from eth_utils import keccak

from tracecert.evidence import (
    BftExtraInvalid,
    HeaderRuleUnknown,
    bft_extra,
    build_package,
    commit_seal_hash,
    header_hash,
    header_rule,
    quorum,
    recover_committers,
)

# ------------------------------------------------------------------------------------------------ Besu's sealing


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _with_extra(block: Mapping[str, Any], extra: list[Any]) -> dict[str, Any]:
    return {**block, "extraData": _hex(rlp.encode(extra))}


def validator_keys(count: int, first: int = 1) -> list[keys.PrivateKey]:
    """``count`` secp256k1 keys (private keys first, first+1, ...: Besu's reference tests use 1 to 4)."""
    return [keys.PrivateKey(i.to_bytes(32, "big")) for i in range(first, first + count)]


def besu_seal(
    block: Mapping[str, Any],
    validators: Sequence[keys.PrivateKey],
    sealers: Sequence[keys.PrivateKey] | None = None,
    *,
    round_: int = 1,
) -> dict[str, Any]:
    """``block`` as a Besu QBFT node seals it, written from Besu's documented algorithm (QbftExtraDataCodec and
    BftBlockHashing in hyperledger/besu), not from tracecert.evidence: the extraData is ``[32-byte vanity,
    validators, vote ([] for none), round, seals]``; each sealer signs (secp256k1, r||s||recovery id) the hash of the
    header whose extraData has the seals ``[]``; the block hash is that of the header whose extraData has the round 0
    (RLP's empty string, ``writeIntScalar(0)``) and the seals ``[]``. The header's RLP is Ethereum's (the
    ``ethereum`` rule, checked against real nodes by the anchoring tests)."""
    vanity = bytes(32)
    addresses = [k.public_key.to_canonical_address() for k in validators]
    round_bytes = round_.to_bytes((round_.bit_length() + 7) // 8, "big")
    to_sign = header_hash(_with_extra(block, [vanity, addresses, [], round_bytes, []]))
    seals = [k.sign_msg_hash(to_sign).to_bytes() for k in (validators if sealers is None else sealers)]
    sealed = _with_extra(block, [vanity, addresses, [], round_bytes, seals])
    sealed["hash"] = _hex(header_hash(_with_extra(block, [vanity, addresses, [], b"", []])))
    return sealed


#: A post-Prague header's fields as a node returns them (the seal rule is the same for every fork's field list).
_BLOCK: dict[str, Any] = {
    "parentHash": "0x" + "11" * 32,
    "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    "miner": "0x" + "00" * 20,
    "stateRoot": "0x" + "22" * 32,
    "transactionsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "receiptsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "logsBloom": "0x" + "00" * 256,
    "difficulty": "0x1",
    "number": "0x2a",
    "gasLimit": "0x1c9c380",
    "gasUsed": "0x0",
    "timestamp": "0x6640618b",
    "extraData": "0x",
    "mixHash": "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
    "nonce": "0x0000000000000000",
    "baseFeePerGas": "0x0",
    "withdrawalsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "blobGasUsed": "0x0",
    "excessBlobGas": "0x0",
    "parentBeaconBlockRoot": "0x" + "00" * 32,
    "requestsHash": "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}

# ------------------------------------------------------------------------------------------------ real vectors

#: hyperledger/besu consensus/qbft/src/test/java/org/hyperledger/besu/consensus/qbft/QbftExtraDataCodecTest.java,
#: RAW_HEX_ENCODING_STRING and DECODED_EXTRA_DATA_FOR_RAW_HEX_ENCODING_STRING (vanity 0x01..0x20, validators 0x..01
#: and 0x..02, an add vote for 0x..01, round 0xFEDCBA, seals (r=1, s=10, v=0) and (r=10, s=1, v=0)).
BESU_EXTRA_DATA = (
    "0xf8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea940000000000000000"
    "000000000000000000000001940000000000000000000000000000000000000002d7940000000000000000"
    "00000000000000000000000181ff83fedcbaf886b841000000000000000000000000000000000000000000"
    "0000000000000000000001000000000000000000000000000000000000000000000000000000000000000a"
    "00b841000000000000000000000000000000000000000000000000000000000000000a0000000000000000"
    "00000000000000000000000000000000000000000000000100"
)

#: Consensys/qbft-tests BftBlockHeaderHashTests/bft_block_headers_data.json ("hash_of_qbft_block_header", run by
#: hyperledger/besu consensus/qbft/src/reference-test/.../BftBlockHeaderHashTest.java, whose committers are the keys
#: 1 to 4). Its extraData has the 4-byte round of Besu's first QBFT, which used the IBFT 2.0 codec: the on-chain hash
#: leaves the round and seals out of the list (the ``ibft2`` rule), not the current QbftExtraDataCodec's layout.
QBFT_TESTS_HEADER: dict[str, Any] = {
    "parentHash": "0xa7762d3307dbf2ae6a1ae1b09cf61c7603722b2379731b6b90409cdb8c8288a0",
    "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    "miner": "0x0000000000000000000000000000000000000000",
    "stateRoot": "0xca07595b82f908822971b7e848398e3395e59ee52565c7ef3603df1a1fa7bc80",
    "transactionsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "receiptsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    "logsBloom": "0x" + "00" * 256,
    "difficulty": hex(1),
    "number": hex(1),
    "gasLimit": hex(4704588),
    "gasUsed": hex(0),
    "timestamp": hex(1530674616),
    "extraData": "0xf90178a0000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fea94000000000000000000"
    "0000000000000000000001940000000000000000000000000000000000000002d79400000000000000000000000000000000000000"
    "0381ff8400fedcbaf9010cb8412d98a30d2844aa05b4fcf3abcd333e195d4ad365726a7b9a5bc19744dcec0ad42d129ad2890b86c3"
    "2a969a9b511d8c1c846f7eb694455bb29b7365ab260a188100b8416e65e1097c802f12fe12048871f228fc394fb005cbf5c55225ad"
    "bff7e82c94d352fc83967effa3a777a9d50e677108b732258c7ef6e1a3e8fc34919b90e0f34e00b841b8462060df24936c7da7413f"
    "bf8ac706775d06ba052831075fd2059458ca91e971f35a7a90ec5225328fe25d6dec51de3a2d71e81a581ceb98acdafd5bcd12f801"
    "b841be1cb71a2525013ae8ac676505597229265960b4d34654dc88249d1bc7e07a324f44b16542adad19bddade1785ac9687b656cb"
    "f64685a2e6e6b4f04d9aad23cd00",
    "mixHash": "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
    "nonce": "0x0000000000000000",
}
QBFT_TESTS_ON_CHAIN_HASH = "0x8d8736980278155e486cf0543c0a53cd3a3c961c3b976c6a4ac7dc5310dad88d"
QBFT_TESTS_COMMITTED_SEAL_HASH = "0xb1d26d018658f2556a2c3f0080596055cb0d05bcab91397f8ae8f01ea831559c"

#: datachainlab/besu-qbft-elc elc/src/header.rs, test_parse_header / test_verify_committed_seals: block 7528 of a
#: Besu QBFT network (round 1, four validators, three commit seals), as its RLP header, and the hash its seals sign
#: (the keccak of the same header with the seals emptied, given there as a second RLP).
BESU_QBFT_BLOCK_7528_RLP = (
    "f9033fa00af93e70b1c6d3974a88a42eb70bb61adbd523bfac0c83027ba4637c52746a0fa01dcc4de8dec75d7aab85b567b6ccd41ad3"
    "12451b948a7413f0a142fd40d4934794ee3353e587cfa91625a1adaef308a726de3803d3a0166ed98eea93ab2b6f6b1a425526994adc"
    "2d675bf9a0d77d600ed1e02d8f77dfa056e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421a056e81f171b"
    "cc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421b90100" + "00" * 256 + "01821d688347b76080846640618bb9"
    "0147f90144a00000000000000000000000000000000000000000000000000000000000000000f85494647bfdd19655e51e69d35454ff"
    "3a92f8828e630294a5c8416b9d13417b45b45ada76408f39d1e504ef94b92e91f4dcc9d28503be521afa2a8fbf3c1acf6094ee3353e5"
    "87cfa91625a1adaef308a726de3803d3c001f8c9b841bc7633fd65570f610a595086e9a34e5bf6aacfb67b8f8cd01852e6b285147f04"
    "6a50577b49378b86723ac9b456ef59ef7ab57cda7139d807f10f58e8cb10c67600b841ad1defc2b0b4a48158cff24778bb5ba4d9f373"
    "c171022ab0a42e37bdb0d4025718434d303a8d94df56ef9ad5219be9f27b2f67179a7fb82d3323dde29546f9f701b841e233d3670dd9"
    "7c715f72b440eeb1ccb1e22c8c23f6ab470c46c99c2d0ee6509f0341a42e0e4569782557e93c3815e8ca4294043595f69a90f73f135d"
    "e8ecf41e00a063746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365880000000000000000"
)
BESU_QBFT_BLOCK_7528_SEAL_HASH = "0x75ea184f58cd3f0ef89032a069df01f07ec524ef3a85cf6d3e424d62130c0a32"
BESU_QBFT_BLOCK_7528_VALIDATORS = [
    "647bfdd19655e51e69d35454ff3a92f8828e6302",
    "a5c8416b9d13417b45b45ada76408f39d1e504ef",
    "b92e91f4dcc9d28503be521afa2a8fbf3c1acf60",
    "ee3353e587cfa91625a1adaef308a726de3803d3",
]

_NAMES = ("parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
          "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce")  # fmt: skip
_INTS = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp"}


def _json_block(header_rlp: str) -> dict[str, Any]:
    """A pre-London RLP header as the JSON-RPC fields a node returns."""
    fields = rlp.decode(bytes.fromhex(header_rlp))
    return {
        name: hex(int.from_bytes(value, "big")) if name in _INTS else _hex(value)
        for name, value in zip(_NAMES, fields, strict=True)
    }


def test_besu_extra_data_vector_decodes() -> None:
    extra = bft_extra(bytes.fromhex(BESU_EXTRA_DATA[2:]))
    assert extra.vanity == bytes(range(1, 33))
    assert extra.validators == (bytes(19) + b"\x01", bytes(19) + b"\x02")
    assert extra.vote == [bytes(19) + b"\x01", b"\xff"]
    assert int.from_bytes(extra.round, "big") == 0xFEDCBA
    r_s_v = [(int.from_bytes(s[:32], "big"), int.from_bytes(s[32:64], "big"), s[64]) for s in extra.seals]
    assert r_s_v == [(1, 10, 0), (10, 1, 0)]


def test_qbft_tests_header_vector_follows_the_ibft2_rule() -> None:
    block = {**QBFT_TESTS_HEADER, "hash": QBFT_TESTS_ON_CHAIN_HASH}
    assert _hex(header_hash(block, "ibft2")) == QBFT_TESTS_ON_CHAIN_HASH
    assert _hex(commit_seal_hash(block, "ibft2")) == QBFT_TESTS_COMMITTED_SEAL_HASH
    assert sorted(recover_committers(block, "ibft2")) == sorted(
        k.public_key.to_canonical_address() for k in validator_keys(4)
    )
    # The current QBFT layout hashes a different list: the rule a package states matters.
    assert _hex(header_hash(block, "qbft")) != QBFT_TESTS_ON_CHAIN_HASH
    assert header_rule(block) == "ibft2"


def test_real_besu_qbft_block_seals() -> None:
    block = _json_block(BESU_QBFT_BLOCK_7528_RLP)
    assert int(block["number"], 16) == 7528
    assert _hex(commit_seal_hash(block, "qbft")) == BESU_QBFT_BLOCK_7528_SEAL_HASH
    extra = bft_extra(bytes.fromhex(block["extraData"][2:]))
    assert [v.hex() for v in extra.validators] == BESU_QBFT_BLOCK_7528_VALIDATORS
    signers = recover_committers(block, "qbft")
    assert len(set(signers)) == len(signers) == 3 >= quorum(len(extra.validators))
    assert set(signers) <= set(extra.validators)
    # The other layout's sealed hash is not what these validators signed.
    assert not set(recover_committers(block, "ibft2")) & set(extra.validators)


def test_besu_on_chain_layout() -> None:
    """The QBFT block hash is the header's with the extraData Besu's QbftExtraDataCodecTest
    (extraDataCanBeEncodedWithoutCommitSealsOrRoundNumber) expects: vanity, validators, vote, writeNull(), []."""
    block = _json_block(BESU_QBFT_BLOCK_7528_RLP)
    fields = rlp.decode(bytes.fromhex(BESU_QBFT_BLOCK_7528_RLP))
    on_chain_extra = rlp.encode([*rlp.decode(fields[12])[:3], b"", []])
    assert on_chain_extra.hex().endswith("80c0")  # round 0 as 0x80, the seals as 0xc0
    assert header_hash(block, "qbft") == keccak(rlp.encode([*fields[:12], on_chain_extra, *fields[13:]]))
    assert header_hash(block, "qbft") != header_hash(block, "ethereum")


# ------------------------------------------------------------------------------------------------ sealed here


def test_a_block_sealed_as_besu_does() -> None:
    validators = validator_keys(4)
    sealed = besu_seal(_BLOCK, validators, round_=3)
    assert _hex(header_hash(sealed, "qbft")) == sealed["hash"]
    assert header_rule(sealed) == "qbft"
    assert recover_committers(sealed) == [k.public_key.to_canonical_address() for k in validators]
    # The round is outside the block hash and inside what the seals sign.
    resealed = besu_seal(_BLOCK, validators, round_=0)
    assert resealed["hash"] == sealed["hash"]
    assert commit_seal_hash(resealed) != commit_seal_hash(sealed)


def test_genesis_is_hashed_as_it_is() -> None:
    genesis = {**_BLOCK, "number": "0x0", "extraData": "0x" + "ab" * 40}  # not even a BFT list
    assert header_hash(genesis, "qbft") == header_hash(genesis, "ethereum") == header_hash(genesis, "ibft2")


@pytest.mark.parametrize(("validators", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (7, 5), (10, 7)])
def test_quorum(validators: int, needed: int) -> None:
    assert quorum(validators) == needed


def test_build_package_records_the_rule() -> None:
    sealed = besu_seal(_BLOCK, validator_keys(4))
    package = build_package(case={}, deployment={}, certificates=[{"block": sealed}])
    assert package["chain"]["header_rule"] == "qbft"
    plain = {**_BLOCK, "hash": _hex(header_hash(_BLOCK))}
    assert build_package(case={}, deployment={}, certificates=[{"block": plain}])["chain"]["header_rule"] == "ethereum"


def _bad_block(case: str) -> dict[str, Any]:
    sealed = besu_seal(_BLOCK, validator_keys(4))
    if case == "a hash no rule gives":
        return {**sealed, "hash": "0x" + "00" * 32}
    if case == "a field changed after the hash":
        return {**sealed, "timestamp": hex(int(sealed["timestamp"], 16) + 1)}
    if case == "an extraData that is not the BFT list":
        return {**sealed, "extraData": "0x" + "ab" * 40}
    if case == "an ethereum hash and a QBFT one in one package":
        return {**_BLOCK, "hash": _hex(header_hash(_BLOCK))}
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "a hash no rule gives",
        "a field changed after the hash",
        "an extraData that is not the BFT list",
        "an ethereum hash and a QBFT one in one package",
    ],
)
def test_build_package_refuses_a_block_no_rule_reproduces(case: str) -> None:
    blocks = [_bad_block(case)]
    if case == "an ethereum hash and a QBFT one in one package":
        blocks.append(besu_seal(_BLOCK, validator_keys(4)))
    with pytest.raises(HeaderRuleUnknown) as raised:
        build_package(case={}, deployment={}, certificates=[{"block": b} for b in blocks])
    assert raised.value.code == "HEADER_RULE_UNKNOWN"


@pytest.mark.parametrize("rule", ["clique", "", "QBFT"])
def test_an_unknown_rule_is_refused(rule: str) -> None:
    with pytest.raises(HeaderRuleUnknown) as raised:
        header_hash(_BLOCK, rule)
    assert raised.value.code == "HEADER_RULE_UNKNOWN"


@pytest.mark.parametrize(
    ("seal", "why"),
    [
        (b"\x01" * 64, "not 65 bytes"),
        (b"\x01" * 64 + b"\x1b", "recovery id"),  # v = 27: Besu stores the recovery id, 0 or 1
        (bytes(64) + b"\x00", "recovers to no key"),
    ],
)
def test_an_unreadable_seal_is_named(seal: bytes, why: str) -> None:
    sealed = besu_seal(_BLOCK, validator_keys(4))
    extra = rlp.decode(bytes.fromhex(sealed["extraData"][2:]))
    broken = _with_extra(sealed, [*extra[:4], [seal]])
    with pytest.raises(BftExtraInvalid, match=why) as raised:
        recover_committers(broken)
    assert raised.value.code == "BFT_EXTRA_INVALID"
