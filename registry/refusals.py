"""Why a certificate is not on chain: the chain's refusals of an anchoring, sorted into those that pass (the batch
*waits* and is anchored once the lab may anchor again) and those for good (the batch *fails*), each with a stable
code and a message the lab can act on.

A batch waits while the lab is suspended, the registry's writer account is not enabled for it, its authorization
does not cover now (a renewal lets it go on) or its key's window has not started; the worker checks such batches now
and then with a read (a simulated ``anchor`` call, no transaction) and anchors them once it would pass. A batch fails
when the lab is revoked or unknown on chain, or the key's window is over (sending the certificate again re-signs and
re-queues it), and a certificate fails when it waited so long that verifiers would call it backdated (ANCHOR_LAG).
A failed certificate never reached the chain: its number may be issued again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry.core import RegistryCore
from registry.db import Batch, CertificateStatus
from tracecert.certificate.canonical import from_hex
from tracecert.chain.errors import ContractReverted
from tracecert.chain.types import LabStatus

__all__ = ["REASONS", "Reason", "classify", "reason_view", "would_anchor"]


@dataclass(frozen=True)
class Reason:
    """Why a batch is not on chain: ``retrying`` (the worker anchors it once the cause is gone) or for good."""

    code: str
    retrying: bool
    message: str


_SEND_AGAIN = "it never reached the chain: send it again to queue it, or issue its number with corrected content"

#: Every code a waiting or failed certificate may carry, with what the lab can do about it.
REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason(
            "LAB_SUSPENDED",
            True,
            "the lab is suspended on chain; the certificate waits and is anchored once the lab is reinstated",
        ),
        Reason(
            "LAB_NOT_AUTHORIZED",
            True,
            "the lab's authorization on chain does not cover now; the certificate waits and is anchored once a "
            "renewal is recorded",
        ),
        Reason(
            "WRITER_NOT_ENABLED",
            True,
            "the registry's writer account is not enabled for the lab on chain; the certificate waits and is "
            "anchored once the lab's admin adds it again (tracecert lab onboard)",
        ),
        Reason(
            "KEY_NOT_YET_VALID",
            True,
            "the signing key's window on chain has not started; the certificate waits and is anchored once it has",
        ),
        Reason(
            "LAB_REVOKED",
            False,
            "the lab is revoked on chain: nothing can be anchored for it any more, so the certificate never "
            "reached the chain (it is not retried)",
        ),
        Reason(
            "LAB_NOT_REGISTERED",
            False,
            "the lab is not registered on chain: nothing can be anchored for it, so the certificate never "
            "reached the chain (it is not retried)",
        ),
        Reason(
            "KEY_NOT_VALID",
            False,
            "the signing key's window on chain is over: send the certificate again (without a signature the "
            "registry signs it with a key valid now, or sign it with one) and it is queued again; " + _SEND_AGAIN,
        ),
        Reason("UNKNOWN_KEY", False, "the signing key is not a registered key of the lab on chain; " + _SEND_AGAIN),
        Reason(
            "ANCHOR_LAG",
            False,
            "the certificate could not be anchored within the days verifiers allow between its issue date and its "
            "anchoring (e.g. its lab stayed suspended): anchored now it would be judged backdated (ANCHOR_LAG). It "
            "never reached the chain: issue its number again with a current issue date",
        ),
    )
}

#: Contract errors whose meaning does not depend on the chain's state.
_BY_ERROR = {
    "CertificateRegistryUnauthorizedWriter": "WRITER_NOT_ENABLED",
    "TrustRegistryAuthorizationExpired": "LAB_NOT_AUTHORIZED",
    "CertificateRegistryUnknownKey": "UNKNOWN_KEY",
    "CertificateRegistryKeyNotOfLab": "UNKNOWN_KEY",
}


def classify(core: RegistryCore, batch: Batch, exc: ContractReverted) -> Reason:
    """The reason of the chain's refusal to anchor ``batch``: waiting (``retrying``) or for good.

    Raises:
        ChainError: the key's window could not be read (for ``CertificateRegistryKeyNotValid``).
    """
    if exc.error == "TrustRegistryLabNotActive":
        status = exc.args_decoded[1] if len(exc.args_decoded) > 1 else LabStatus.SUSPENDED
        code = {LabStatus.NONE: "LAB_NOT_REGISTERED", LabStatus.REVOKED: "LAB_REVOKED"}.get(
            LabStatus(status), "LAB_SUSPENDED"
        )
        return REASONS[code]
    if exc.error == "CertificateRegistryKeyNotValid":
        key = core.chain.key(from_hex(batch.key_id))
        return REASONS["KEY_NOT_YET_VALID" if core.chain.client.block_timestamp() < key.valid_from else "KEY_NOT_VALID"]
    if exc.error in _BY_ERROR:
        return REASONS[_BY_ERROR[exc.error]]
    return Reason(exc.error[:64], False, f"the chain refused the anchoring ({exc}); " + _SEND_AGAIN)


def would_anchor(core: RegistryCore, batch: Batch) -> ContractReverted | None:
    """Ask the chain whether anchoring ``batch`` would pass now: a simulated call from the lab's writer account,
    no transaction. Returns the refusal, or None.

    Raises:
        ChainError: the node could not be asked.
    """
    chain = core.chain
    data = chain.certificates.encode_abi("anchor", [from_hex(batch.root), batch.size, from_hex(batch.key_id)])
    call = {"from": core.lab(batch.lab_id).writer_address, "to": chain.certificates.address, "data": data}
    try:
        chain.client.rpc("eth_call", [call, "latest"])
    except ContractReverted as exc:
        return exc
    return None


def reason_view(status: str, error: str | None) -> dict[str, Any] | None:
    """The ``reason`` of a certificate's status answer: ``{code, message, retrying}`` while it waits, after it
    failed (also once superseded), else None."""
    if (
        status not in (CertificateStatus.WAITING, CertificateStatus.FAILED, CertificateStatus.SUPERSEDED)
        or error is None
    ):
        return None
    known = REASONS.get(error)
    if known is None:  # failed before reasons had codes: the contract error's name
        return {
            "code": error,
            "message": f"the chain refused the anchoring ({error}); {_SEND_AGAIN}",
            "retrying": False,
        }
    return {"code": known.code, "message": known.message, "retrying": status == CertificateStatus.WAITING}
