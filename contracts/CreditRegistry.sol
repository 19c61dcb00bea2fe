// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ITrustRegistry} from "./interfaces/ITrustRegistry.sol";

/**
 * @title CreditRegistry
 * @notice The metrology credit record (计量信用记录) and blacklist (失信黑名单): sanctions regulators record against
 * labs and enterprises. Anyone reads it (一公开); only an active regulator over the subject writes it; nothing is
 * ever changed or erased: a lifting is a new entry naming the entry it lifts.
 *
 * It also keeps the commitments of regulators' random inspection draws (双随机): a regulator commits to a draw's
 * inputs before anyone can know the seed, which is the hash of the block after the commitment's block.
 *
 * A lab is named by its lab id and answers to the regulators the TrustRegistry puts over it. An enterprise is named
 * by its unified social credit code (USCI, GB 32100): its subject id is keccak256 of the 18 characters, and its
 * region is the GB/T 2260 code the USCI carries in characters 3 to 8, which the contract reads itself.
 */
contract CreditRegistry is Multicall {
    uint8 public constant SUBJECT_LAB = 1;
    uint8 public constant SUBJECT_ENTERPRISE = 2;

    uint8 public constant KIND_WARNING = 1;
    uint8 public constant KIND_RECTIFICATION = 2;
    uint8 public constant KIND_FINE = 3;
    uint8 public constant KIND_SUSPENSION = 4;
    uint8 public constant KIND_BLACKLIST = 5;
    uint8 public constant KIND_LIFTING = 6;

    uint8 private constant _MAX_REASON = 10;

    struct Entry {
        uint8 subjectKind;
        uint8 kind;
        uint8 reason;
        uint32 region; // an enterprise's region; 0 for a lab
        uint32 lifts; // for a lifting: 1 + the index of the entry it lifts; else 0
        uint64 effectiveFrom;
        uint64 effectiveUntil; // exclusive; type(uint64).max when open-ended
        uint64 recordedAt;
        address recordedBy;
        bytes32 decisionDigest; // SHA-256 of the decision document (处罚决定书)
        string caseNumber;
    }

    ITrustRegistry public immutable TRUST;

    mapping(bytes32 subject => Entry[]) private _entries;
    mapping(bytes32 commitment => uint64 blockNumber) private _draws;

    /// @notice Entry `index` of `subject` was recorded (the whole entry, so an index needs no further call).
    event SanctionRecorded(bytes32 indexed subject, uint256 index, Entry entry);

    error CreditNotRegulatorOver(address account, bytes32 subject);
    error CreditInvalidKind(uint8 kind);
    error CreditInvalidReason(uint8 reason);
    error CreditInvalidWindow(uint64 effectiveFrom, uint64 effectiveUntil);
    error CreditInvalidUsci(string usci);
    error CreditMissingCaseNumber();
    error CreditUnknownEntry(bytes32 subject, uint256 index);
    error CreditNotLiftable(bytes32 subject, uint256 index);
    /// @dev Lifting an entry `recordedBy` recorded, whose jurisdiction the caller's does not cover.
    error CreditDecisionOfHigherAuthority(bytes32 subject, uint256 index, address recordedBy);
    error CreditDrawExists(bytes32 commitment);

    /// @notice A regulator committed to a draw's inputs (their SHA-256 digest) in this block.
    event DrawCommitted(address indexed regulator, uint32 jurisdiction, bytes32 indexed commitment);

    constructor(ITrustRegistry trust) {
        TRUST = trust;
    }

    /**
     * @notice Record a sanction (not a lifting) against the lab `labId`, by an active regulator over it.
     * @param effectiveUntil end of the sanction (exclusive), or 0 for open-ended.
     */
    function recordLabSanction(
        bytes32 labId,
        uint8 kind,
        uint8 reason,
        string calldata caseNumber,
        bytes32 decisionDigest,
        uint64 effectiveFrom,
        uint64 effectiveUntil
    ) external returns (uint256) {
        if (!TRUST.isRegulatorOver(msg.sender, TRUST.labNumberOf(labId))) {
            revert CreditNotRegulatorOver(msg.sender, labId);
        }
        return _record(
            labId, _entry(SUBJECT_LAB, 0, kind, reason, 0, caseNumber, decisionDigest, effectiveFrom, effectiveUntil)
        );
    }

    /**
     * @notice Record a sanction (not a lifting) against the enterprise with unified social credit code `usci`, by an
     * active regulator whose jurisdiction covers the region the code carries.
     */
    function recordEnterpriseSanction(
        string calldata usci,
        uint8 kind,
        uint8 reason,
        string calldata caseNumber,
        bytes32 decisionDigest,
        uint64 effectiveFrom,
        uint64 effectiveUntil
    ) external returns (uint256) {
        uint32 region = regionOf(usci);
        bytes32 subject = keccak256(bytes(usci));
        if (!TRUST.isRegulatorOfRegion(msg.sender, region)) revert CreditNotRegulatorOver(msg.sender, subject);
        return _record(
            subject,
            _entry(SUBJECT_ENTERPRISE, region, kind, reason, 0, caseNumber, decisionDigest, effectiveFrom, effectiveUntil)
        );
    }

    /**
     * @notice Lift entry `index` of `subject` from `effectiveFrom` on: a new LIFTING entry, by an active regulator over
     * the subject that recorded the entry or whose jurisdiction covers its recorder's (a city does not lift the
     * national authority's sanction). Liftings and entries already lifted cannot be lifted.
     */
    function lift(
        bytes32 subject,
        uint256 index,
        uint8 reason,
        string calldata caseNumber,
        bytes32 decisionDigest,
        uint64 effectiveFrom
    ) external returns (uint256) {
        Entry memory e = _liftable(subject, index);
        return _record(
            subject,
            _entry(e.subjectKind, e.region, KIND_LIFTING, reason, uint32(index + 1), caseNumber, decisionDigest,
                effectiveFrom, 0)
        );
    }

    /**
     * @notice Commit to a random inspection draw: `commitment` is the digest of its inputs (population, size,
     * inspectors, purpose). Only an active regulator covering `jurisdiction` (its own, or one below it); a
     * commitment is recorded once. The draw's seed is the hash of the next block, unknown when this is sent.
     */
    function commitDraw(bytes32 commitment, uint32 jurisdiction) external {
        if (!TRUST.isRegulatorOfRegion(msg.sender, jurisdiction)) revert CreditNotRegulatorOver(msg.sender, commitment);
        if (_draws[commitment] != 0) revert CreditDrawExists(commitment);
        _draws[commitment] = uint64(block.number);
        emit DrawCommitted(msg.sender, jurisdiction, commitment);
    }

    /// @notice The block a draw commitment was recorded in (0: never).
    function drawBlock(bytes32 commitment) external view returns (uint64) {
        return _draws[commitment];
    }

    /// @notice Number of entries recorded for `subject`.
    function entryCount(bytes32 subject) external view returns (uint256) {
        return _entries[subject].length;
    }

    /// @notice Entry `index` of `subject`.
    function entry(bytes32 subject, uint256 index) external view returns (Entry memory) {
        if (index >= _entries[subject].length) revert CreditUnknownEntry(subject, index);
        return _entries[subject][index];
    }

    /// @notice Every entry of `subject`, oldest first.
    function entries(bytes32 subject) external view returns (Entry[] memory) {
        return _entries[subject];
    }

    /// @notice The GB/T 2260 region a USCI carries (characters 3 to 8); reverts CreditInvalidUsci if malformed.
    function regionOf(string calldata usci) public pure returns (uint32 region) {
        bytes calldata raw = bytes(usci);
        if (raw.length != 18) revert CreditInvalidUsci(usci);
        for (uint256 i = 2; i < 8; i++) {
            uint8 c = uint8(raw[i]);
            if (c < 0x30 || c > 0x39) revert CreditInvalidUsci(usci);
            region = region * 10 + (c - 0x30);
        }
        if (region < 100_000) revert CreditInvalidUsci(usci);
    }

    function _entry(
        uint8 subjectKind,
        uint32 region,
        uint8 kind,
        uint8 reason,
        uint32 lifts,
        string memory caseNumber,
        bytes32 decisionDigest,
        uint64 effectiveFrom,
        uint64 effectiveUntil
    ) private view returns (Entry memory e) {
        if (kind == 0 || kind > KIND_LIFTING || (kind == KIND_LIFTING) != (lifts != 0)) revert CreditInvalidKind(kind);
        if (reason == 0 || reason > _MAX_REASON) revert CreditInvalidReason(reason);
        if (bytes(caseNumber).length == 0) revert CreditMissingCaseNumber();
        uint64 until = effectiveUntil == 0 ? type(uint64).max : effectiveUntil;
        if (until <= effectiveFrom) revert CreditInvalidWindow(effectiveFrom, effectiveUntil);
        e = Entry(subjectKind, kind, reason, region, lifts, effectiveFrom, until, uint64(block.timestamp), msg.sender,
            decisionDigest, caseNumber);
    }

    function _record(bytes32 subject, Entry memory e) private returns (uint256 index) {
        index = _entries[subject].length;
        _entries[subject].push(e);
        emit SanctionRecorded(subject, index, e);
    }

    /// @dev Entry `index` of `subject`, which the caller may lift.
    function _liftable(bytes32 subject, uint256 index) private view returns (Entry memory lifted) {
        Entry[] storage list = _entries[subject];
        if (index >= list.length) revert CreditUnknownEntry(subject, index);
        lifted = list[index];
        if (lifted.kind == KIND_LIFTING || _isLifted(list, index)) revert CreditNotLiftable(subject, index);
        bool over = lifted.subjectKind == SUBJECT_LAB
            ? TRUST.isRegulatorOver(msg.sender, TRUST.labNumberOf(subject))
            : TRUST.isRegulatorOfRegion(msg.sender, lifted.region);
        if (!over) revert CreditNotRegulatorOver(msg.sender, subject);
        if (!TRUST.isAtOrAbove(msg.sender, lifted.recordedBy)) {
            revert CreditDecisionOfHigherAuthority(subject, index, lifted.recordedBy);
        }
    }

    function _isLifted(Entry[] storage list, uint256 index) private view returns (bool) {
        for (uint256 i = index + 1; i < list.length; i++) {
            if (list[i].lifts == index + 1) return true;
        }
        return false;
    }
}
