// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title ITrustRegistry
 * @notice What the CertificateRegistry asks the TrustRegistry: may this lab anchor now, who administers it, and is
 * an account a regulator over it.
 */
interface ITrustRegistry {
    /**
     * @notice Reverts unless lab `labNumber` (whose id `labId` is named in the errors) may anchor certificates now:
     * it is ACTIVE (TrustRegistryLabNotActive) and its latest authorization window covers the current block time
     * (TrustRegistryAuthorizationExpired). Reads one storage slot.
     */
    function requireCanAnchor(uint32 labNumber, bytes32 labId) external view;

    /// @notice Compact number of a lab (reverts TrustRegistryUnknownLab for an unknown lab).
    function labNumberOf(bytes32 labId) external view returns (uint32);

    /// @notice Lab id of a compact number (reverts TrustRegistryUnknownLabNumber).
    function labIdOf(uint32 labNumber) external view returns (bytes32);

    /// @notice The account that manages the lab's keys and writers.
    function labAdmin(uint32 labNumber) external view returns (address);

    /// @notice Whether `account` is an active regulator (it and every regulator above it) covering the lab.
    function isRegulatorOver(address account, uint32 labNumber) external view returns (bool);

    /// @notice Whether `account` is an active regulator whose jurisdiction covers the GB/T 2260 region `region`.
    function isRegulatorOfRegion(address account, uint32 region) external view returns (bool);

    /**
     * @notice Whether `account` is an active regulator that may undo a decision of `decidedBy`: it is that
     * regulator, or its jurisdiction covers that regulator's (true when `decidedBy` is no regulator).
     */
    function isAtOrAbove(address account, address decidedBy) external view returns (bool);
}
