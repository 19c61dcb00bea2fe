// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ITrustRegistry} from "./interfaces/ITrustRegistry.sol";

/**
 * @title TrustRegistry
 * @notice Who may issue metrology certificates: regulators (national → provincial → municipal, each with a
 * jurisdiction), and the labs they authorize (kind, authorization number, validity window, scope, status).
 *
 * Jurisdictions are GB/T 2260 administrative division codes (six digits, e.g. 330000 Zhejiang, 330100 Hangzhou);
 * 0 is the national jurisdiction. A regulator covers its own code and every code below it.
 *
 * Nothing is ever erased: authorizations and status changes are appended, so "was lab L authorized for category C
 * and activity A at time T?" is answered for any past T by {isAuthorized}. Every change emits an event.
 *
 * Least privilege between authorities: a regulator acts only while it and every regulator above it (its parent,
 * and theirs) are active, so deactivating a province silences its cities too; a decision (a lab's suspension, a
 * regulator's deactivation) is undone only by its author or a regulator whose jurisdiction covers the author's,
 * never by a lower one; and regulators govern labs without operating them: no regulator account is ever a lab's
 * admin, and a regulator replaces a lab's admin (recovery of a lost admin key) only while the lab is suspended.
 */
contract TrustRegistry is ITrustRegistry, Multicall {
    /// @dev Activity bits of a scope entry.
    uint8 public constant ACTIVITY_VERIFY = 1;
    uint8 public constant ACTIVITY_CALIBRATE = 2;
    uint8 private constant _ACTIVITY_ALL = 3;

    /// @dev Lab kinds.
    uint8 public constant KIND_NMI = 1;
    uint8 public constant KIND_LEGAL_METROLOGY_INSTITUTE = 2;
    uint8 public constant KIND_AUTHORIZED_BODY = 3;
    uint8 public constant KIND_ACCREDITED_LAB = 4;

    /// @dev Lab statuses (0 means "no such lab").
    uint8 public constant STATUS_ACTIVE = 1;
    uint8 public constant STATUS_SUSPENDED = 2;
    uint8 public constant STATUS_REVOKED = 3;

    uint32 public constant NATIONAL = 0;

    struct Regulator {
        uint32 jurisdiction;
        bool active;
        bool exists;
        address parent;
    }

    /// @dev Current state of a lab; packed so that {requireCanAnchor} reads one slot.
    struct Lab {
        uint8 status;
        uint8 kind;
        uint32 jurisdiction;
        uint64 authFrom; // window of the most recently recorded authorization
        uint64 authUntil;
        address admin;
    }

    struct Authorization {
        string number;
        uint64 validFrom;
        uint64 validUntil;
        uint64 recordedAt;
        address grantedBy;
        bytes32[] categories;
    }

    struct StatusChange {
        uint64 since;
        uint8 status;
        uint8 reason;
        address by;
    }

    mapping(address account => Regulator) private _regulators;
    bytes32[] private _labIds; // labNumber - 1 => labId
    mapping(bytes32 labId => uint32) private _labNumbers;
    mapping(uint32 labNumber => Lab) private _labs;
    mapping(uint32 labNumber => Authorization[]) private _authorizations;
    mapping(uint32 labNumber => mapping(uint256 authIndex => mapping(bytes32 category => uint8))) private _scopes;
    mapping(uint32 labNumber => StatusChange[]) private _statusHistory;
    mapping(address account => address) private _deactivatedBy;

    /// @notice A regulator was registered under `parent` with `jurisdiction`.
    event RegulatorRegistered(address indexed account, address indexed parent, uint32 jurisdiction, string name);
    /// @notice A regulator was deactivated or reactivated by `by`.
    event RegulatorStatusChanged(address indexed account, bool active, address indexed by);
    /// @notice A lab was registered; `labNumber` is its compact internal number.
    event LabRegistered(
        bytes32 indexed labId,
        uint32 labNumber,
        uint8 kind,
        uint32 jurisdiction,
        address admin,
        address indexed regulator,
        string name
    );
    /// @notice An authorization (or accreditation) with its scope was recorded for a lab.
    event LabAuthorized(
        bytes32 indexed labId,
        uint256 authIndex,
        string number,
        uint64 validFrom,
        uint64 validUntil,
        bytes32[] categories,
        uint8[] activities,
        address indexed regulator
    );
    /// @notice A lab's status changed (suspended, reinstated or revoked).
    event LabStatusChanged(bytes32 indexed labId, uint8 status, uint8 reason, address indexed by);
    /// @notice A lab's administrator account changed.
    event LabAdminChanged(bytes32 indexed labId, address admin, address indexed by);

    error TrustRegistryZeroAddress();
    error TrustRegistryNotRegulator(address account);
    error TrustRegistryRegulatorExists(address account);
    error TrustRegistryOutsideJurisdiction(address regulator, uint32 jurisdiction);
    error TrustRegistryInvalidJurisdiction(uint32 jurisdiction);
    error TrustRegistryInvalidKind(uint8 kind);
    error TrustRegistryInvalidLabId();
    error TrustRegistryLabExists(bytes32 labId);
    error TrustRegistryUnknownLab(bytes32 labId);
    error TrustRegistryUnknownLabNumber(uint32 labNumber);
    error TrustRegistryInvalidWindow(uint64 validFrom, uint64 validUntil);
    error TrustRegistryInvalidScope(uint256 index);
    error TrustRegistryKindMayNotVerify(bytes32 labId, uint8 kind);
    error TrustRegistryInvalidStatusChange(bytes32 labId, uint8 from, uint8 to);
    error TrustRegistryLabNotActive(bytes32 labId, uint8 status);
    error TrustRegistryAuthorizationExpired(bytes32 labId, uint64 time);
    /// @dev Undoing a decision of `decidedBy` (jurisdiction `jurisdiction`), which the caller's does not cover.
    error TrustRegistryDecisionOfHigherAuthority(address decidedBy, uint32 jurisdiction);
    /// @dev A regulator account named as a lab's admin: regulators govern labs, they do not operate them.
    error TrustRegistryAdminIsRegulator(address account);
    /// @dev A regulator replaces a lab's admin only while the lab is suspended (status `status` now).
    error TrustRegistryLabNotSuspended(bytes32 labId, uint8 status);

    /**
     * @param nationalAuthority the account of the national regulator (jurisdiction 0), the root of trust.
     * @param name a human-readable name of the national authority, recorded in the event only.
     */
    constructor(address nationalAuthority, string memory name) {
        if (nationalAuthority == address(0)) revert TrustRegistryZeroAddress();
        _regulators[nationalAuthority] = Regulator(NATIONAL, true, true, address(0));
        emit RegulatorRegistered(nationalAuthority, address(0), NATIONAL, name);
    }

    // ---------------------------------------------------------------- regulators

    /**
     * @notice Register a regional regulator under the caller.
     * Requirements: the caller is an active regulator whose jurisdiction strictly covers `jurisdiction`;
     * `account` is not yet a regulator. Emits {RegulatorRegistered}.
     */
    function registerRegulator(address account, uint32 jurisdiction, string calldata name) external {
        Regulator storage parent = _activeRegulator(msg.sender);
        if (account == address(0)) revert TrustRegistryZeroAddress();
        if (!_validJurisdiction(jurisdiction)) revert TrustRegistryInvalidJurisdiction(jurisdiction);
        if (parent.jurisdiction == jurisdiction || !_covers(parent.jurisdiction, jurisdiction)) {
            revert TrustRegistryOutsideJurisdiction(msg.sender, jurisdiction);
        }
        if (_regulators[account].exists) revert TrustRegistryRegulatorExists(account);
        _regulators[account] = Regulator(jurisdiction, true, true, msg.sender);
        emit RegulatorRegistered(account, msg.sender, jurisdiction, name);
    }

    /**
     * @notice Deactivate or reactivate a regulator. A deactivated regulator can no longer act, nor can any
     * regulator below it (see {isActiveRegulator}).
     * Requirements: the caller is an active regulator whose jurisdiction strictly covers the target's; a
     * reactivation is by the regulator that deactivated it or one whose jurisdiction covers that one's
     * (TrustRegistryDecisionOfHigherAuthority). Deactivating an inactive regulator again records the caller as
     * its author only when the caller may undo the earlier deactivation. Emits {RegulatorStatusChanged}.
     */
    function setRegulatorActive(address account, bool active) external {
        Regulator storage caller = _activeRegulator(msg.sender);
        Regulator storage target = _regulators[account];
        if (!target.exists) revert TrustRegistryNotRegulator(account);
        if (caller.jurisdiction == target.jurisdiction || !_covers(caller.jurisdiction, target.jurisdiction)) {
            revert TrustRegistryOutsideJurisdiction(msg.sender, target.jurisdiction);
        }
        address author = _deactivatedBy[account];
        if (active) {
            if (!target.active) _requireAtOrAbove(caller, author);
            delete _deactivatedBy[account];
        } else if (target.active || _atOrAbove(caller, author)) {
            _deactivatedBy[account] = msg.sender;
        }
        target.active = active;
        emit RegulatorStatusChanged(account, active, msg.sender);
    }

    // ---------------------------------------------------------------- labs

    /**
     * @notice Register a lab in the caller's jurisdiction. The lab starts ACTIVE but cannot issue until it holds
     * an authorization ({authorizeLab}).
     * Requirements: the caller is an active regulator covering `jurisdiction`; only the national regulator may
     * register an NMI; `labId` is new and non-zero; `admin` is non-zero and no regulator's account.
     * Emits {LabRegistered} and {LabStatusChanged}.
     */
    function registerLab(bytes32 labId, uint8 kind, uint32 jurisdiction, address admin, string calldata name)
        external
        returns (uint32 labNumber)
    {
        Regulator storage reg = _activeRegulator(msg.sender);
        if (labId == bytes32(0)) revert TrustRegistryInvalidLabId();
        if (admin == address(0)) revert TrustRegistryZeroAddress();
        if (_regulators[admin].exists) revert TrustRegistryAdminIsRegulator(admin);
        if (kind < KIND_NMI || kind > KIND_ACCREDITED_LAB) revert TrustRegistryInvalidKind(kind);
        if (!_validJurisdiction(jurisdiction)) revert TrustRegistryInvalidJurisdiction(jurisdiction);
        if (!_covers(reg.jurisdiction, jurisdiction) || (kind == KIND_NMI && reg.jurisdiction != NATIONAL)) {
            revert TrustRegistryOutsideJurisdiction(msg.sender, jurisdiction);
        }
        if (_labNumbers[labId] != 0) revert TrustRegistryLabExists(labId);
        _labIds.push(labId);
        labNumber = uint32(_labIds.length);
        _labNumbers[labId] = labNumber;
        _labs[labNumber] = Lab(STATUS_ACTIVE, kind, jurisdiction, 0, 0, admin);
        _statusHistory[labNumber].push(StatusChange(uint64(block.timestamp), STATUS_ACTIVE, 0, msg.sender));
        emit LabRegistered(labId, labNumber, kind, jurisdiction, admin, msg.sender, name);
        emit LabStatusChanged(labId, STATUS_ACTIVE, 0, msg.sender);
    }

    /**
     * @notice Record an authorization (授权 / accreditation) of a lab: its number, validity window [validFrom,
     * validUntil) and scope (instrument category codes, each with activity bits VERIFY=1, CALIBRATE=2).
     * For any time, the most recently recorded authorization whose window covers it decides; earlier records stay.
     * Requirements: the caller is an active regulator covering the lab; validFrom < validUntil; every category is
     * non-zero with activity bits in 1..3; an accredited lab is granted no VERIFY (检定 is legal metrology).
     * Emits {LabAuthorized}.
     */
    function authorizeLab(
        bytes32 labId,
        string calldata number,
        uint64 validFrom,
        uint64 validUntil,
        bytes32[] calldata categories,
        uint8[] calldata activities
    ) external returns (uint256 authIndex) {
        uint32 labNumber = _labNumberOf(labId);
        Lab storage labState = _labs[labNumber];
        _requireRegulatorOver(msg.sender, labState);
        if (validFrom >= validUntil) revert TrustRegistryInvalidWindow(validFrom, validUntil);
        authIndex = _recordAuthorization(labNumber, number, validFrom, validUntil, categories, activities);
        // Verification (检定) is legal metrology: an accredited lab may calibrate, never verify.
        if (labState.kind == KIND_ACCREDITED_LAB && _grants(activities, ACTIVITY_VERIFY)) {
            revert TrustRegistryKindMayNotVerify(labId, labState.kind);
        }
        labState.authFrom = validFrom;
        labState.authUntil = validUntil;
        emit LabAuthorized(labId, authIndex, number, validFrom, validUntil, categories, activities, msg.sender);
    }

    /**
     * @notice Suspend an active lab: from now on it cannot anchor certificates until reinstated.
     * Requirements: the caller is an active regulator covering the lab; the lab is ACTIVE.
     * Emits {LabStatusChanged}.
     */
    function suspendLab(bytes32 labId, uint8 reason) external {
        _changeStatus(labId, STATUS_ACTIVE, STATUS_SUSPENDED, reason);
    }

    /**
     * @notice Reinstate a suspended lab. Requirements: as {suspendLab}, the lab is SUSPENDED, and the caller is
     * the regulator that suspended it or one whose jurisdiction covers that one's (a city does not lift the
     * national authority's suspension: TrustRegistryDecisionOfHigherAuthority). Emits {LabStatusChanged}.
     */
    function reinstateLab(bytes32 labId) external {
        _changeStatus(labId, STATUS_SUSPENDED, STATUS_ACTIVE, 0);
    }

    /**
     * @notice Revoke a lab for good (terminal). Requirements: as {suspendLab}, the lab is ACTIVE or SUSPENDED.
     * Emits {LabStatusChanged}.
     */
    function revokeLab(bytes32 labId, uint8 reason) external {
        uint32 labNumber = _labNumberOf(labId);
        uint8 from = _labs[labNumber].status;
        _changeStatus(labId, from == STATUS_REVOKED ? STATUS_ACTIVE : from, STATUS_REVOKED, reason);
    }

    /**
     * @notice Change the lab's administrator account (the account that manages its keys and writers).
     * Requirements: `admin` is non-zero and no regulator's account; the caller is the current admin, or an
     * active regulator covering the lab while the lab is SUSPENDED (recovering a lost admin key happens in the
     * open: suspend, name the admin, let it close the old keys and register new ones, reinstate).
     * Emits {LabAdminChanged}.
     */
    function setLabAdmin(bytes32 labId, address admin) external {
        uint32 labNumber = _labNumberOf(labId);
        Lab storage labState = _labs[labNumber];
        if (admin == address(0)) revert TrustRegistryZeroAddress();
        if (_regulators[admin].exists) revert TrustRegistryAdminIsRegulator(admin);
        if (msg.sender != labState.admin) {
            _requireRegulatorOver(msg.sender, labState);
            if (labState.status != STATUS_SUSPENDED) revert TrustRegistryLabNotSuspended(labId, labState.status);
        }
        labState.admin = admin;
        emit LabAdminChanged(labId, admin, msg.sender);
    }

    // ---------------------------------------------------------------- views for CertificateRegistry

    /// @inheritdoc ITrustRegistry
    function requireCanAnchor(uint32 labNumber, bytes32 labId) external view {
        Lab storage labState = _labs[labNumber];
        if (labState.status != STATUS_ACTIVE) revert TrustRegistryLabNotActive(labId, labState.status);
        // Fast path: the most recently recorded window (one slot). Otherwise (a renewal recorded before it starts,
        // or an older authorization recorded later) fall back to the full history, as {isAuthorized} does.
        if (block.timestamp < labState.authFrom || block.timestamp >= labState.authUntil) {
            (bool found,) = _authorizationAt(labNumber, uint64(block.timestamp));
            if (!found) revert TrustRegistryAuthorizationExpired(labId, uint64(block.timestamp));
        }
    }

    /// @inheritdoc ITrustRegistry
    function labNumberOf(bytes32 labId) external view returns (uint32) {
        return _labNumberOf(labId);
    }

    /// @inheritdoc ITrustRegistry
    function labIdOf(uint32 labNumber) external view returns (bytes32) {
        return _labIdOf(labNumber);
    }

    /// @inheritdoc ITrustRegistry
    function labAdmin(uint32 labNumber) external view returns (address) {
        _labIdOf(labNumber);
        return _labs[labNumber].admin;
    }

    /// @inheritdoc ITrustRegistry
    function isRegulatorOver(address account, uint32 labNumber) public view returns (bool) {
        Lab storage labState = _labs[labNumber];
        return labState.status != 0 && _regulates(_regulators[account], labState) && _isActive(account);
    }

    /// @inheritdoc ITrustRegistry
    function isRegulatorOfRegion(address account, uint32 region) external view returns (bool) {
        return _covers(_regulators[account].jurisdiction, region) && _isActive(account);
    }

    /// @inheritdoc ITrustRegistry
    function isAtOrAbove(address account, address decidedBy) external view returns (bool) {
        return _isActive(account) && _atOrAbove(_regulators[account], decidedBy);
    }

    /// @notice Whether `account` may act as a regulator: it and every regulator above it are active.
    function isActiveRegulator(address account) external view returns (bool) {
        return _isActive(account);
    }

    /// @notice The regulator that deactivated `account` (zero while it is active).
    function deactivatedBy(address account) external view returns (address) {
        return _deactivatedBy[account];
    }

    // ---------------------------------------------------------------- views for verifiers

    /**
     * @notice Was `labId` authorized for `category` and every bit of `activity` at time `t`?
     * True when, at `t`, the lab's status was ACTIVE and the most recently recorded authorization whose window
     * covers `t` lists the category with those activity bits. Unknown labs are not authorized.
     */
    function isAuthorized(bytes32 labId, bytes32 category, uint8 activity, uint64 t) external view returns (bool) {
        uint32 labNumber = _labNumbers[labId];
        if (labNumber == 0 || activity == 0) return false;
        if (_statusAt(labNumber, t) != STATUS_ACTIVE) return false;
        (bool found, uint256 authIndex) = _authorizationAt(labNumber, t);
        if (!found) return false;
        return _scopes[labNumber][authIndex][category] & activity == activity;
    }

    /**
     * @notice Everything a verifier needs about a lab at time `t`, in one call.
     * @return labNumber compact number (0 if unknown: the other values are then zero)
     * @return kind lab kind at registration (KIND_*)
     * @return jurisdiction GB/T 2260 code of the lab
     * @return status status at `t` (STATUS_*; before registration ACTIVE where a recorded authorization covers `t`, else 0)
     * @return authorized whether an authorization covers `t`
     * @return authIndex index of that authorization
     * @return number its authorization number
     * @return validFrom its window start
     * @return validUntil its window end (exclusive)
     */
    function labAt(bytes32 labId, uint64 t)
        external
        view
        returns (
            uint32 labNumber,
            uint8 kind,
            uint32 jurisdiction,
            uint8 status,
            bool authorized,
            uint256 authIndex,
            string memory number,
            uint64 validFrom,
            uint64 validUntil
        )
    {
        labNumber = _labNumbers[labId];
        if (labNumber == 0) return (0, 0, 0, 0, false, 0, "", 0, 0);
        Lab storage labState = _labs[labNumber];
        kind = labState.kind;
        jurisdiction = labState.jurisdiction;
        status = _statusAt(labNumber, t);
        (authorized, authIndex) = _authorizationAt(labNumber, t);
        if (authorized) {
            Authorization storage a = _authorizations[labNumber][authIndex];
            number = a.number;
            validFrom = a.validFrom;
            validUntil = a.validUntil;
        }
    }

    /// @notice The current state of a lab (reverts for an unknown lab).
    function lab(bytes32 labId) external view returns (Lab memory) {
        return _labs[_labNumberOf(labId)];
    }

    /// @notice Number of authorizations ever recorded for a lab.
    function authorizationCount(bytes32 labId) external view returns (uint256) {
        return _authorizations[_labNumberOf(labId)].length;
    }

    /// @notice One recorded authorization of a lab, with its categories.
    function authorization(bytes32 labId, uint256 authIndex) external view returns (Authorization memory) {
        return _authorizations[_labNumberOf(labId)][authIndex];
    }

    /// @notice Activity bits for `category` under authorization `authIndex` of a lab.
    function scopeOf(bytes32 labId, uint256 authIndex, bytes32 category) external view returns (uint8) {
        return _scopes[_labNumberOf(labId)][authIndex][category];
    }

    /// @notice The full status history of a lab, oldest first.
    function statusHistory(bytes32 labId) external view returns (StatusChange[] memory) {
        return _statusHistory[_labNumberOf(labId)];
    }

    /// @notice Lab status at time `t`; before registration ACTIVE where a recorded authorization covers `t`, else 0.
    function statusAt(bytes32 labId, uint64 t) external view returns (uint8) {
        return _statusAt(_labNumberOf(labId), t);
    }

    /// @notice A regulator's record (jurisdiction, active, exists, parent).
    function regulator(address account) external view returns (Regulator memory) {
        return _regulators[account];
    }

    /// @notice Number of labs ever registered.
    function labCount() external view returns (uint256) {
        return _labIds.length;
    }

    /// @notice Whether jurisdiction `parent` covers jurisdiction `child` (0 covers all; 330000 covers 3301xx...).
    function covers(uint32 parent, uint32 child) external pure returns (bool) {
        return _covers(parent, child);
    }

    // ---------------------------------------------------------------- internals

    function _recordAuthorization(
        uint32 labNumber,
        string calldata number,
        uint64 validFrom,
        uint64 validUntil,
        bytes32[] calldata categories,
        uint8[] calldata activities
    ) private returns (uint256 authIndex) {
        if (categories.length != activities.length || categories.length == 0) {
            revert TrustRegistryInvalidScope(categories.length);
        }
        authIndex = _authorizations[labNumber].length;
        Authorization storage a = _authorizations[labNumber].push();
        a.number = number;
        a.validFrom = validFrom;
        a.validUntil = validUntil;
        a.recordedAt = uint64(block.timestamp);
        a.grantedBy = msg.sender;
        mapping(bytes32 => uint8) storage scope = _scopes[labNumber][authIndex];
        for (uint256 i = 0; i < categories.length; ++i) {
            uint8 act = activities[i];
            if (categories[i] == bytes32(0) || act == 0 || act > _ACTIVITY_ALL) revert TrustRegistryInvalidScope(i);
            scope[categories[i]] = act;
            a.categories.push(categories[i]);
        }
    }

    function _grants(uint8[] calldata activities, uint8 activity) private pure returns (bool) {
        for (uint256 i = 0; i < activities.length; ++i) {
            if (activities[i] & activity != 0) return true;
        }
        return false;
    }

    function _changeStatus(bytes32 labId, uint8 from, uint8 to, uint8 reason) private {
        uint32 labNumber = _labNumberOf(labId);
        Lab storage labState = _labs[labNumber];
        _requireRegulatorOver(msg.sender, labState);
        uint8 current = labState.status;
        if (current != from) revert TrustRegistryInvalidStatusChange(labId, current, to);
        if (current == STATUS_SUSPENDED && to == STATUS_ACTIVE) {
            StatusChange[] storage history = _statusHistory[labNumber];
            _requireAtOrAbove(_regulators[msg.sender], history[history.length - 1].by);
        }
        labState.status = to;
        _statusHistory[labNumber].push(StatusChange(uint64(block.timestamp), to, reason, msg.sender));
        emit LabStatusChanged(labId, to, reason, msg.sender);
    }

    function _statusAt(uint32 labNumber, uint64 t) private view returns (uint8) {
        StatusChange[] storage history = _statusHistory[labNumber];
        for (uint256 i = history.length; i > 0; --i) {
            if (history[i - 1].since <= t) return history[i - 1].status;
        }
        // Before registration the lab was not on chain: an authorization recorded with an earlier window still
        // counts for that period (the regulator attests it), so the lab was ACTIVE where one covers t, else unknown.
        (bool covered,) = _authorizationAt(labNumber, t);
        return covered ? STATUS_ACTIVE : 0;
    }

    function _authorizationAt(uint32 labNumber, uint64 t) private view returns (bool, uint256) {
        Authorization[] storage auths = _authorizations[labNumber];
        for (uint256 i = auths.length; i > 0; --i) {
            Authorization storage a = auths[i - 1];
            if (a.validFrom <= t && t < a.validUntil) return (true, i - 1);
        }
        return (false, 0);
    }

    function _activeRegulator(address account) private view returns (Regulator storage reg) {
        reg = _regulators[account];
        if (!_isActive(account)) revert TrustRegistryNotRegulator(account);
    }

    /// @dev The account and every regulator above it are active (at most four levels: national, province, city,
    /// county, as each level's jurisdiction strictly covers the next).
    function _isActive(address account) private view returns (bool) {
        Regulator storage reg = _regulators[account];
        if (!reg.active) return false; // also an account that is no regulator
        while (reg.parent != address(0)) {
            reg = _regulators[reg.parent];
            if (!reg.active) return false;
        }
        return true;
    }

    /// @dev `reg` made the decision of `decidedBy`, or its jurisdiction covers that regulator's. A decision with
    /// no regulator as its author (none recorded) binds no one.
    function _atOrAbove(Regulator storage reg, address decidedBy) private view returns (bool) {
        Regulator storage author = _regulators[decidedBy];
        if (!author.exists || reg.jurisdiction == author.jurisdiction) return true;
        return _covers(reg.jurisdiction, author.jurisdiction);
    }

    function _requireAtOrAbove(Regulator storage reg, address decidedBy) private view {
        if (!_atOrAbove(reg, decidedBy)) {
            revert TrustRegistryDecisionOfHigherAuthority(decidedBy, _regulators[decidedBy].jurisdiction);
        }
    }

    /// @dev An active regulator covering the lab; an NMI answers to the national regulator only.
    function _requireRegulatorOver(address account, Lab storage labState) private view {
        Regulator storage reg = _activeRegulator(account);
        if (!_regulates(reg, labState)) revert TrustRegistryOutsideJurisdiction(account, labState.jurisdiction);
    }

    function _regulates(Regulator storage reg, Lab storage labState) private view returns (bool) {
        if (labState.kind == KIND_NMI) return reg.jurisdiction == NATIONAL;
        return _covers(reg.jurisdiction, labState.jurisdiction);
    }

    function _labNumberOf(bytes32 labId) private view returns (uint32 labNumber) {
        labNumber = _labNumbers[labId];
        if (labNumber == 0) revert TrustRegistryUnknownLab(labId);
    }

    function _labIdOf(uint32 labNumber) private view returns (bytes32) {
        if (labNumber == 0 || labNumber > _labIds.length) revert TrustRegistryUnknownLabNumber(labNumber);
        return _labIds[labNumber - 1];
    }

    function _validJurisdiction(uint32 code) private pure returns (bool) {
        return code >= 100_000 && code <= 999_999;
    }

    function _covers(uint32 parent, uint32 child) private pure returns (bool) {
        if (parent == NATIONAL) return true;
        if (child == NATIONAL) return false;
        if (parent % 10000 == 0) return parent / 10000 == child / 10000;
        if (parent % 100 == 0) return parent / 100 == child / 100;
        return parent == child;
    }
}
