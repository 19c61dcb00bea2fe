// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ITrustRegistry} from "./interfaces/ITrustRegistry.sol";

/**
 * @title CertificateRegistry
 * @notice Lab signing keys, lab writer accounts, anchored certificate batches and certificate status.
 *
 * A batch is the RFC 6962 Merkle root over certificate digests (leaf = sha256(0x00 ‖ digest), node =
 * sha256(0x01 ‖ left ‖ right)); the contract records the lab, key, size, block time and a global batch index.
 *
 * Certificate status (revoked, substituted) is recorded under a lab: it is that lab's statement about its own
 * certificate, made by one of its writers or by a regulator over it. A verifier reads the status under the lab that
 * anchored the certificate, so no other lab can revoke, substitute or block it (as with one OpenAttestation
 * document store per issuer, here in one contract). This needs no Merkle proof on chain, which keeps a revocation
 * under 60,000 gas whatever the batch size. Nothing is erased: key windows only close, a status is set once.
 */
contract CertificateRegistry is Multicall {
    uint8 public constant STATE_NONE = 0;
    uint8 public constant STATE_REVOKED = 1;
    uint8 public constant STATE_SUBSTITUTED = 2;

    /// @dev Reason code recorded for a substitution.
    uint8 public constant REASON_SUPERSEDED = 3;

    uint64 private constant _OPEN = type(uint64).max;

    /// @dev One slot: read by every anchor.
    struct Key {
        uint32 labNumber;
        uint32 keyNumber;
        uint64 validFrom;
        uint64 validUntil; // exclusive
        uint64 registeredAt;
    }

    /// @dev One slot per batch: anchoring writes exactly one new slot plus the counter.
    struct Batch {
        uint64 timestamp;
        uint64 blockNumber;
        uint32 labNumber;
        uint32 keyNumber;
        uint32 count;
        uint32 index;
    }

    struct Status {
        uint8 state;
        uint8 reason;
        uint64 effectiveTime;
        uint64 recordedAt;
    }

    /// @notice Where a certificate digest sits in an anchored batch.
    struct Inclusion {
        bytes32 root;
        uint256 index;
        bytes32[] proof;
    }

    /// @notice Everything a verifier needs about one certificate, returned by {checkCertificate}.
    struct CertificateView {
        bool anchored; // the batch exists and the proof includes the digest
        bytes32 labId;
        bytes32 keyId;
        uint32 batchIndex;
        uint32 batchSize;
        uint64 anchoredAt;
        uint64 blockNumber;
        uint8 state; // status under the anchoring lab
        uint8 reason;
        uint64 effectiveTime;
        uint64 recordedAt;
        bytes32 substitutedBy;
    }

    ITrustRegistry public immutable TRUST_REGISTRY;

    mapping(address account => bytes32 labId) private _writerLab; // zero: not an enabled writer
    mapping(address account => uint32 labNumber) private _writerLabNumber;
    mapping(bytes32 keyId => Key) private _keys;
    mapping(bytes32 keyId => bytes32) private _publicKeys;
    bytes32[] private _keyIds; // keyNumber - 1 => keyId
    mapping(bytes32 root => Batch) private _batches;
    /// @dev Next batch index + 1. Non-zero from construction, so that every anchor (the first one too) updates a
    /// non-zero slot and costs the same.
    uint32 private _batchSeq = 1;
    mapping(bytes32 labId => mapping(bytes32 digest => Status)) private _statuses;
    mapping(bytes32 labId => mapping(bytes32 digest => bytes32)) private _substitutedBy;

    /// @notice `account` may now anchor and revoke for the lab.
    event WriterAdded(bytes32 indexed labId, address indexed account, address by);
    /// @notice `account` may no longer write for the lab.
    event WriterRemoved(bytes32 indexed labId, address indexed account, address by);
    /// @notice An Ed25519 public key was registered for a lab with window [validFrom, validUntil).
    event KeyRegistered(
        bytes32 indexed labId,
        bytes32 indexed keyId,
        bytes32 publicKey,
        uint32 keyNumber,
        uint64 validFrom,
        uint64 validUntil
    );
    /// @notice A key's window was closed at `validUntil` (rotation, retirement or compromise).
    event KeyWindowClosed(bytes32 indexed labId, bytes32 indexed keyId, uint64 validUntil, uint8 reason, address by);
    /// @notice A batch of `count` certificates was anchored under `root`.
    event BatchAnchored(bytes32 indexed root, bytes32 indexed labId, bytes32 indexed keyId, uint32 count, uint32 index);
    /// @notice The lab's certificate `digest` was revoked with effect from `effectiveTime`.
    event CertificateRevoked(bytes32 indexed labId, bytes32 indexed digest, uint8 reason, uint64 effectiveTime);
    /// @notice The lab's certificate `digest` was substituted by `newDigest` (a replacement with a new number).
    event CertificateSubstituted(bytes32 indexed labId, bytes32 indexed digest, bytes32 indexed newDigest);

    error CertificateRegistryZeroAddress();
    error CertificateRegistryNotLabAdmin(address account, bytes32 labId);
    error CertificateRegistryNotIssuerOrRegulator(address account, bytes32 labId);
    error CertificateRegistryWriterExists(address account);
    error CertificateRegistryUnknownWriter(address account);
    error CertificateRegistryUnauthorizedWriter(address account);
    error CertificateRegistryInvalidPublicKey();
    error CertificateRegistryKeyExists(bytes32 keyId);
    error CertificateRegistryUnknownKey(bytes32 keyId);
    error CertificateRegistryInvalidKeyWindow(uint64 validFrom, uint64 validUntil);
    error CertificateRegistryKeyNotOfLab(bytes32 keyId);
    error CertificateRegistryKeyNotValid(bytes32 keyId, uint64 time);
    error CertificateRegistryInvalidBatch(bytes32 root, uint256 count);
    error CertificateRegistryRootAlreadyAnchored(bytes32 root);
    error CertificateRegistryUnknownBatch(bytes32 root);
    error CertificateRegistryInvalidReason(uint8 reason);
    error CertificateRegistryStatusAlreadySet(bytes32 digest, uint8 state);
    error CertificateRegistryInvalidSubstitution(bytes32 digest, bytes32 newDigest);

    constructor(ITrustRegistry trustRegistry) {
        if (address(trustRegistry) == address(0)) revert CertificateRegistryZeroAddress();
        TRUST_REGISTRY = trustRegistry;
    }

    // ---------------------------------------------------------------- writers

    /**
     * @notice Allow `account` to anchor and revoke for a lab. An account writes for one lab only.
     * Requirements: the caller is the lab's admin (a regulator withdraws writers, it never chooses them);
     * `account` is not an enabled writer. Emits {WriterAdded}.
     */
    function addWriter(bytes32 labId, address account) external {
        uint32 labNumber = TRUST_REGISTRY.labNumberOf(labId);
        if (msg.sender != TRUST_REGISTRY.labAdmin(labNumber)) revert CertificateRegistryNotLabAdmin(msg.sender, labId);
        if (account == address(0)) revert CertificateRegistryZeroAddress();
        if (_writerLab[account] != bytes32(0)) revert CertificateRegistryWriterExists(account);
        _writerLab[account] = labId;
        _writerLabNumber[account] = labNumber;
        emit WriterAdded(labId, account, msg.sender);
    }

    /**
     * @notice Withdraw a writer account. Requirements: the caller is the lab's admin or a regulator over it;
     * `account` is an enabled writer of the lab. Emits {WriterRemoved}.
     */
    function removeWriter(bytes32 labId, address account) external {
        _requireAdminOrRegulator(labId);
        if (_writerLab[account] != labId) revert CertificateRegistryUnknownWriter(account);
        _writerLab[account] = bytes32(0);
        emit WriterRemoved(labId, account, msg.sender);
    }

    // ---------------------------------------------------------------- keys

    /**
     * @notice Register an Ed25519 public key of a lab; its key id is sha256(publicKey).
     * `validFrom` 0 means now; `validUntil` 0 means open-ended. A key cannot start in the past, so no signature
     * can be made valid retroactively.
     * Requirements: the caller is the lab's admin; the key is new; now ≤ validFrom < validUntil.
     * Emits {KeyRegistered}.
     */
    function registerKey(bytes32 labId, bytes32 publicKey, uint64 validFrom, uint64 validUntil)
        external
        returns (bytes32 keyId)
    {
        uint32 labNumber = TRUST_REGISTRY.labNumberOf(labId);
        if (msg.sender != TRUST_REGISTRY.labAdmin(labNumber)) revert CertificateRegistryNotLabAdmin(msg.sender, labId);
        if (publicKey == bytes32(0)) revert CertificateRegistryInvalidPublicKey();
        if (validFrom == 0) validFrom = uint64(block.timestamp);
        if (validUntil == 0) validUntil = _OPEN;
        if (validFrom < block.timestamp || validFrom >= validUntil) {
            revert CertificateRegistryInvalidKeyWindow(validFrom, validUntil);
        }
        keyId = sha256(abi.encodePacked(publicKey));
        if (_keys[keyId].keyNumber != 0) revert CertificateRegistryKeyExists(keyId);
        _keyIds.push(keyId);
        uint32 keyNumber = uint32(_keyIds.length);
        _keys[keyId] = Key(labNumber, keyNumber, validFrom, validUntil, uint64(block.timestamp));
        _publicKeys[keyId] = publicKey;
        emit KeyRegistered(labId, keyId, publicKey, keyNumber, validFrom, validUntil);
    }

    /**
     * @notice Close a key's window at `validUntil` (0 means now). Used for rotation, retirement and compromise;
     * a compromise may close the window in the past, which invalidates signatures made after that time.
     * Requirements: the caller is the lab's admin or a regulator over it; the window only shrinks.
     * Emits {KeyWindowClosed}.
     */
    function closeKey(bytes32 keyId, uint64 validUntil, uint8 reason) external {
        Key storage k = _keys[keyId];
        if (k.keyNumber == 0) revert CertificateRegistryUnknownKey(keyId);
        bytes32 labId = TRUST_REGISTRY.labIdOf(k.labNumber);
        _requireAdminOrRegulator(labId);
        if (validUntil == 0) validUntil = uint64(block.timestamp);
        if (validUntil >= k.validUntil) revert CertificateRegistryInvalidKeyWindow(k.validFrom, validUntil);
        if (validUntil < k.validFrom) validUntil = k.validFrom;
        k.validUntil = validUntil;
        emit KeyWindowClosed(labId, keyId, validUntil, reason, msg.sender);
    }

    // ---------------------------------------------------------------- batches

    /**
     * @notice Anchor a batch: the RFC 6962 Merkle root over `count` certificate digests signed with `keyId`.
     * Requirements: the caller is an enabled writer of a lab that is ACTIVE and authorized now; the key belongs to
     * that lab and is valid now; root non-zero, count > 0; the root was never anchored.
     * Emits {BatchAnchored}.
     */
    function anchor(bytes32 root, uint32 count, bytes32 keyId) external returns (uint32 index) {
        bytes32 labId = _writerLab[msg.sender];
        if (labId == bytes32(0)) revert CertificateRegistryUnauthorizedWriter(msg.sender);
        uint32 labNumber = _writerLabNumber[msg.sender];
        Key memory k = _keys[keyId];
        if (k.keyNumber == 0) revert CertificateRegistryUnknownKey(keyId);
        if (k.labNumber != labNumber) revert CertificateRegistryKeyNotOfLab(keyId);
        if (block.timestamp < k.validFrom || block.timestamp >= k.validUntil) {
            revert CertificateRegistryKeyNotValid(keyId, uint64(block.timestamp));
        }
        if (root == bytes32(0) || count == 0) revert CertificateRegistryInvalidBatch(root, count);
        if (_batches[root].count != 0) revert CertificateRegistryRootAlreadyAnchored(root);
        TRUST_REGISTRY.requireCanAnchor(labNumber, labId);
        uint32 seq = _batchSeq;
        index = seq - 1;
        _batchSeq = seq + 1;
        _batches[root] = Batch(uint64(block.timestamp), uint64(block.number), labNumber, k.keyNumber, count, index);
        emit BatchAnchored(root, labId, keyId, count, index);
    }

    // ---------------------------------------------------------------- certificate status

    /**
     * @notice Revoke the lab's certificate `digest` with a reason code, effective from `effectiveTime` (0 means
     * now; an earlier time says the certificate was not to be relied on from then). A suspended lab may still
     * revoke: revocation only ever lowers trust.
     * Requirements: the caller is an enabled writer of `labId` or an active regulator over it; reason non-zero;
     * the certificate has no status under the lab yet.
     * Emits {CertificateRevoked}.
     */
    function revoke(bytes32 labId, bytes32 digest, uint8 reason, uint64 effectiveTime) external {
        if (reason == 0) revert CertificateRegistryInvalidReason(reason);
        _requireWriterOrRegulator(labId);
        Status storage st = _statuses[labId][digest];
        if (st.state != STATE_NONE) revert CertificateRegistryStatusAlreadySet(digest, st.state);
        if (effectiveTime == 0) effectiveTime = uint64(block.timestamp);
        _statuses[labId][digest] = Status(STATE_REVOKED, reason, effectiveTime, uint64(block.timestamp));
        emit CertificateRevoked(labId, digest, reason, effectiveTime);
    }

    /**
     * @notice Mark the lab's certificate `digest` as substituted by `newDigest` (a replacement certificate with
     * a new number, which says which one it replaces), effective now.
     * Requirements: as {revoke}; the digests differ; neither has a status under the lab yet.
     * Emits {CertificateSubstituted}.
     */
    function substitute(bytes32 labId, bytes32 digest, bytes32 newDigest) external {
        if (digest == newDigest || newDigest == bytes32(0)) {
            revert CertificateRegistryInvalidSubstitution(digest, newDigest);
        }
        _requireWriterOrRegulator(labId);
        uint8 state = _statuses[labId][digest].state;
        if (state != STATE_NONE) revert CertificateRegistryStatusAlreadySet(digest, state);
        state = _statuses[labId][newDigest].state;
        if (state != STATE_NONE) revert CertificateRegistryStatusAlreadySet(newDigest, state);
        uint64 nowTs = uint64(block.timestamp);
        _statuses[labId][digest] = Status(STATE_SUBSTITUTED, REASON_SUPERSEDED, nowTs, nowTs);
        _substitutedBy[labId][digest] = newDigest;
        emit CertificateSubstituted(labId, digest, newDigest);
    }

    // ---------------------------------------------------------------- views

    /**
     * @notice One call for a verifier: is `digest` in the anchored batch named by `inclusion`, by which lab and key,
     * when, and its status under that lab. `anchored` is false when the batch is unknown or the proof fails.
     */
    function checkCertificate(bytes32 digest, Inclusion calldata inclusion)
        external
        view
        returns (CertificateView memory v)
    {
        Batch memory b = _batches[inclusion.root];
        if (b.count == 0) return v;
        v.anchored = _verifyInclusion(digest, inclusion.index, b.count, inclusion.proof, inclusion.root);
        v.labId = TRUST_REGISTRY.labIdOf(b.labNumber);
        v.keyId = _keyIds[b.keyNumber - 1];
        v.batchIndex = b.index;
        v.batchSize = b.count;
        v.anchoredAt = b.timestamp;
        v.blockNumber = b.blockNumber;
        Status memory s = _statuses[v.labId][digest];
        v.state = s.state;
        v.reason = s.reason;
        v.effectiveTime = s.effectiveTime;
        v.recordedAt = s.recordedAt;
        v.substitutedBy = _substitutedBy[v.labId][digest];
    }

    /**
     * @notice An anchored batch (reverts CertificateRegistryUnknownBatch).
     * @return labId issuing lab
     * @return keyId signing key
     * @return count number of certificates
     * @return index global batch index
     * @return timestamp block time of anchoring
     * @return blockNumber block of anchoring
     */
    function batch(bytes32 root)
        external
        view
        returns (bytes32 labId, bytes32 keyId, uint32 count, uint32 index, uint64 timestamp, uint64 blockNumber)
    {
        Batch memory b = _batches[root];
        if (b.count == 0) revert CertificateRegistryUnknownBatch(root);
        return (TRUST_REGISTRY.labIdOf(b.labNumber), _keyIds[b.keyNumber - 1], b.count, b.index, b.timestamp, b.blockNumber);
    }

    /// @notice Number of batches anchored so far.
    function batchCount() external view returns (uint32) {
        return _batchSeq - 1;
    }

    /**
     * @notice Status of the lab's certificate `digest`: state (0 none, 1 revoked, 2 substituted), reason, effective
     * and recording times, and the replacement's digest when substituted.
     */
    function status(bytes32 labId, bytes32 digest)
        external
        view
        returns (uint8 state, uint8 reason, uint64 effectiveTime, uint64 recordedAt, bytes32 substitutedBy)
    {
        Status memory s = _statuses[labId][digest];
        return (s.state, s.reason, s.effectiveTime, s.recordedAt, _substitutedBy[labId][digest]);
    }

    /// @notice A key and its window (reverts CertificateRegistryUnknownKey).
    function key(bytes32 keyId)
        external
        view
        returns (bytes32 labId, bytes32 publicKey, uint64 validFrom, uint64 validUntil, uint64 registeredAt)
    {
        Key memory k = _keys[keyId];
        if (k.keyNumber == 0) revert CertificateRegistryUnknownKey(keyId);
        return (TRUST_REGISTRY.labIdOf(k.labNumber), _publicKeys[keyId], k.validFrom, k.validUntil, k.registeredAt);
    }

    /// @notice Whether `keyId` belongs to `labId` and its window [validFrom, validUntil) contains `t`.
    function keyValidAt(bytes32 labId, bytes32 keyId, uint64 t) external view returns (bool) {
        Key memory k = _keys[keyId];
        if (k.keyNumber == 0 || TRUST_REGISTRY.labIdOf(k.labNumber) != labId) return false;
        return k.validFrom <= t && t < k.validUntil;
    }

    /// @notice The lab an account writes for (zero when it is not an enabled writer).
    function writerLab(address account) external view returns (bytes32) {
        return _writerLab[account];
    }

    /// @notice RFC 9162 inclusion proof check against an explicit tree size and root, for anyone to call.
    function verifyInclusion(bytes32 digest, uint256 index, uint256 size, bytes32[] calldata proof, bytes32 root)
        external
        view
        returns (bool)
    {
        return _verifyInclusion(digest, index, size, proof, root);
    }

    // ---------------------------------------------------------------- internals

    function _requireAdminOrRegulator(bytes32 labId) private view returns (uint32 labNumber) {
        labNumber = TRUST_REGISTRY.labNumberOf(labId);
        if (msg.sender != TRUST_REGISTRY.labAdmin(labNumber) && !TRUST_REGISTRY.isRegulatorOver(msg.sender, labNumber)) {
            revert CertificateRegistryNotLabAdmin(msg.sender, labId);
        }
    }

    function _requireWriterOrRegulator(bytes32 labId) private view {
        if (_writerLab[msg.sender] == labId && labId != bytes32(0)) return;
        if (!TRUST_REGISTRY.isRegulatorOver(msg.sender, TRUST_REGISTRY.labNumberOf(labId))) {
            revert CertificateRegistryNotIssuerOrRegulator(msg.sender, labId);
        }
    }

    /// @dev RFC 9162 section 2.1.3.2, with leaf = sha256(0x00 ‖ digest) and node = sha256(0x01 ‖ l ‖ r), in
    /// assembly because revocation pays for it (about 250 gas per proof level instead of about 550).
    function _verifyInclusion(bytes32 digest, uint256 index, uint256 size, bytes32[] calldata proof, bytes32 root)
        private
        view
        returns (bool ok)
    {
        if (index >= size) return false;
        assembly ("memory-safe") {
            let m := mload(0x40) // scratch beyond the free memory pointer, never allocated
            mstore8(m, 0x00)
            mstore(add(m, 1), digest)
            if iszero(staticcall(gas(), 0x02, m, 33, m, 0x20)) { revert(0, 0) }
            let r := mload(m)
            let fn := index
            let sn := sub(size, 1)
            ok := 1
            let p := proof.offset
            for { let end := add(p, shl(5, proof.length)) } lt(p, end) { p := add(p, 0x20) } {
                if iszero(sn) {
                    ok := 0
                    break
                }
                mstore8(m, 0x01)
                switch or(and(fn, 1), eq(fn, sn))
                case 1 {
                    mstore(add(m, 1), calldataload(p))
                    mstore(add(m, 33), r)
                    for {} and(iszero(and(fn, 1)), iszero(iszero(fn))) {} {
                        fn := shr(1, fn)
                        sn := shr(1, sn)
                    }
                }
                default {
                    mstore(add(m, 1), r)
                    mstore(add(m, 33), calldataload(p))
                }
                if iszero(staticcall(gas(), 0x02, m, 65, m, 0x20)) { revert(0, 0) }
                r := mload(m)
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            if ok { ok := and(iszero(sn), eq(r, root)) }
        }
    }
}
