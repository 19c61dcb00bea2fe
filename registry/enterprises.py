"""Enterprise accounts (企业账户) and the regions they and their sites are in.

An enterprise has an account keyed by its unified social credit code (USCI). It registers itself (and waits for a
regulator over its region to confirm it) or a regulator onboards it; only a confirmed enterprise writes. Its region
is the USCI's 3rd-8th characters (the registering authority's GB/T 2260 code); which regulators are over a region is
the chain's answer (``TrustRegistry.isRegulatorOfRegion``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from registry.core import Principal, RegistryCore
from registry.db import utcnow
from registry.db_enterprises import Enterprise, EnterpriseState
from registry.errors import ChainUnavailableError, Conflict, Forbidden, InvalidRequest, NotFound
from registry.onboarding import regulator_info
from tracecert.certificate.model import is_valid_usci
from tracecert.chain.errors import ChainError
from tracecert.chain.types import NATIONAL
from tracecert.human import local_time

__all__ = [
    "check_usci",
    "confirm_enterprise",
    "confirmed_enterprise",
    "enterprise_view",
    "list_enterprises",
    "region_bounds",
    "region_valid",
    "register_enterprise",
    "require_regulator_of",
    "usci_region",
]

#: GB/T 2260's provinces (the first two digits of a region code).
_PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66), 71, 81, 82]
)


def usci_region(usci: str) -> int:
    """The GB/T 2260 code of the authority that registered a USCI (its 3rd-8th characters)."""
    return int(usci[2:8])


def region_valid(code: int) -> bool:
    """Whether ``code`` is a six-digit region code of a GB/T 2260 province, city or district."""
    return 110000 <= code <= 829999 and code // 10000 in _PROVINCES


def region_bounds(region: int) -> tuple[int, int] | None:
    """The range of six-digit codes a jurisdiction covers (``covers`` as a range), None for the nation."""
    if region == NATIONAL:
        return None
    if region % 10000 == 0:
        return region, region + 9999
    if region % 100 == 0:
        return region, region + 99
    return region, region


# ---------------------------------------------------------------------------------------------- enterprises


def enterprise_view(row: Enterprise) -> dict[str, Any]:
    """An enterprise account as the API answers it."""
    return {
        "usci": row.usci,
        "name": row.name,
        "region": row.region,
        "state": row.state,
        "state_name": {"zh": "已确认", "en": "confirmed"}
        if row.state == EnterpriseState.CONFIRMED
        else {"zh": "待监管部门确认", "en": "waiting for a regulator's confirmation"},
        "registered_at": local_time(row.registered_at),
        "confirmed_by": row.confirmed_by,
        "confirmed_at": local_time(row.confirmed_at) if row.confirmed_at else None,
    }


def check_usci(usci: str) -> None:
    """Refuse (USCI_INVALID) a code with a wrong check character or a region code GB/T 2260 does not have."""
    if not is_valid_usci(usci):
        raise InvalidRequest(
            f"{usci!r} is not a unified social credit code (18 characters with a correct check character)",
            code="USCI_INVALID",
            details=[{"field": "usci", "rule": "usci_checksum", "message": "GB 32100-2015"}],
        )
    if not region_valid(usci_region(usci)):
        raise InvalidRequest(
            f"{usci!r}: characters 3-8 are not a GB/T 2260 region code",
            code="USCI_INVALID",
            details=[{"field": "usci", "rule": "usci_region", "message": "characters 3-8 name the region"}],
        )


def require_regulator_of(core: RegistryCore, principal: Principal, region: int) -> str:
    """The calling regulator's account, if it is over ``region`` on chain.

    Raises:
        Forbidden: NOT_A_REGULATOR, NOT_REGULATOR_OF_REGION.
    """
    if principal.role != "REGULATOR" or principal.regulator_address is None:
        raise Forbidden("only a regulator may do this", code="NOT_A_REGULATOR")
    if not core.regulator_of_region(principal.regulator_address, region):
        raise Forbidden(f"this regulator has no jurisdiction over region {region}", code="NOT_REGULATOR_OF_REGION")
    return principal.regulator_address


def register_enterprise(
    core: RegistryCore, principal: Principal | None, usci: str, name: str
) -> tuple[dict[str, Any], str | None, bool]:
    """Register an enterprise: by itself (no token: PENDING, with a token it uses once a regulator confirms it)
    or by a regulator over its region (CONFIRMED; a PENDING one is confirmed). Return its view, a new token (shown
    once) or None, and whether the account is new.

    Raises:
        InvalidRequest: USCI_INVALID, NAME_INVALID. Forbidden: NOT_A_REGULATOR (another role's token),
        NOT_REGULATOR_OF_REGION. Conflict: ENTERPRISE_EXISTS (registering oneself twice).
    """
    check_usci(usci)
    name = name.strip()
    if not name or len(name) > 256:
        raise InvalidRequest("an enterprise's name is 1-256 characters", code="NAME_INVALID")
    region = usci_region(usci)
    regulator = require_regulator_of(core, principal, region) if principal is not None else None
    for attempt in range(2):
        try:
            view, created = _register_enterprise_once(core, usci, name, region, regulator)
            break
        except IntegrityError:
            # Two registrations of the same enterprise at once: the other inserted it first. Asked again, this one
            # sees it (ENTERPRISE_EXISTS for itself, a confirmation for a regulator).
            if attempt:
                raise
    token = None
    if created:
        _, token = core.issue_token("ENTERPRISE", usci=usci, label=f"enterprise {usci}")
    return view, token, created


def _register_enterprise_once(
    core: RegistryCore, usci: str, name: str, region: int, regulator: str | None
) -> tuple[dict[str, Any], bool]:
    with core.sessions.begin() as s:
        row = s.get(Enterprise, usci)
        created = row is None
        if row is None:
            row = Enterprise(usci=usci, name=name, region=region, state=EnterpriseState.PENDING, registered_at=utcnow())
            s.add(row)
        elif regulator is None:
            raise Conflict(f"enterprise {usci} is already registered", code="ENTERPRISE_EXISTS")
        if regulator is not None and row.state != EnterpriseState.CONFIRMED:
            row.state, row.confirmed_by, row.confirmed_at = EnterpriseState.CONFIRMED, regulator, utcnow()
        s.flush()
        return enterprise_view(row), created


def confirm_enterprise(core: RegistryCore, principal: Principal, usci: str) -> dict[str, Any]:
    """A regulator over the enterprise's region confirms a self-registered enterprise (idempotent).

    Raises:
        NotFound: UNKNOWN_ENTERPRISE. Forbidden: NOT_A_REGULATOR, NOT_REGULATOR_OF_REGION.
    """
    with core.sessions() as s:
        row = s.get(Enterprise, usci)
        if row is None:
            raise NotFound(f"no enterprise {usci}", code="UNKNOWN_ENTERPRISE")
        region = row.region
    regulator = require_regulator_of(core, principal, region)
    with core.sessions.begin() as s:
        row = s.get(Enterprise, usci)
        assert row is not None
        if row.state != EnterpriseState.CONFIRMED:
            row.state, row.confirmed_by, row.confirmed_at = EnterpriseState.CONFIRMED, regulator, utcnow()
        return enterprise_view(row)


def list_enterprises(core: RegistryCore, principal: Principal, state: str | None = None) -> list[dict[str, Any]]:
    """The enterprises a regulator is over (its queue of self-registrations with ``state="PENDING"``): those of
    the regions its jurisdiction on chain covers, read as a range (what ``covers`` decides), while it is active.

    Raises:
        Forbidden: NOT_A_REGULATOR. ChainUnavailableError: the chain could not be asked.
    """
    if principal.role != "REGULATOR" or principal.regulator_address is None:
        raise Forbidden("only a regulator lists enterprises", code="NOT_A_REGULATOR")
    try:
        info = regulator_info(core.chain, principal.regulator_address)
    except ChainError as exc:
        raise ChainUnavailableError("the chain node is unreachable; retry") from exc
    if not info["active"]:
        return []
    query = select(Enterprise).order_by(Enterprise.registered_at, Enterprise.usci)
    if state is not None:
        query = query.where(Enterprise.state == state)
    bounds = region_bounds(int(info["jurisdiction"]))
    if bounds is not None:  # the nation's regulator: every region
        query = query.where(Enterprise.region.between(*bounds))
    with core.sessions() as s:
        rows = list(s.scalars(query))
    return [enterprise_view(r) for r in rows]


def confirmed_enterprise(core: RegistryCore, principal: Principal) -> str:
    """The USCI of the confirmed enterprise calling.

    Raises:
        Forbidden: NOT_AN_ENTERPRISE, ENTERPRISE_NOT_CONFIRMED.
    """
    if principal.role != "ENTERPRISE" or principal.usci is None:
        raise Forbidden("only an enterprise registers instruments", code="NOT_AN_ENTERPRISE")
    with core.sessions() as s:
        row = s.get(Enterprise, principal.usci)
    if row is None or row.state != EnterpriseState.CONFIRMED:
        raise Forbidden(
            "a regulator has not confirmed this enterprise yet; it may read, not write", code="ENTERPRISE_NOT_CONFIRMED"
        )
    return principal.usci
