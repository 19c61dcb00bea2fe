"""Onboarding regulators and labs on chain and with this registry, shared by the command line and the demo.

Every step is idempotent (a step already done is skipped), so an interrupted onboarding is finished by running it
again. Nothing here parses options or prints; :mod:`registry.cli` turns :class:`OnboardingError` into its output.

Exceptions (see :mod:`registry.errors` for the whole registry's tree)::

    registry.errors.RegistryError
    └── OnboardingError          code: REGULATOR_EXISTS, LAB_NOT_REGISTERED, KEY_OF_OTHER_LAB, ...
        └── InvalidScope         also a ValueError; code INVALID_SCOPE (the command line: a usage error, exit 2)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from registry.config import RegistrySettings, load_settings
from registry.core import RegistryCore
from registry.errors import RegistryError
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.signing import key_id
from tracecert.chain.config import ChainSettings
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import client_for, wait_for_deployment
from tracecert.chain.errors import ContractReverted
from tracecert.chain.local import DevKeyring
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import FileJournal, TransactionSender
from tracecert.chain.types import VERIFYING_KINDS, Activity, LabKind, LabStatus, category_from_bytes

__all__ = [
    "CHINA",
    "InvalidScope",
    "Onboarded",
    "OnboardingError",
    "authorize_lab",
    "chain_url",
    "connect",
    "default_regulator_role",
    "dev_roles",
    "dev_sender",
    "ensure_lab",
    "ensure_regulator",
    "lab_number",
    "lab_state",
    "lab_view",
    "onboard_lab",
    "parent_regulator_role",
    "parse_scope",
    "registry_settings",
    "regulator_info",
    "require_may_verify",
]

logger = logging.getLogger(__name__)

#: Dates on the command line and in records are Chinese calendar dates (UTC+8).
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")

_DEV_WRITER_FUNDS = 10**22


# ====================================================================== errors


class OnboardingError(RegistryError):
    """An onboarding step refused: ``code`` is a stable machine code, ``message`` says why to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class InvalidScope(OnboardingError, ValueError):
    """A scope item is not ``CATEGORY=VERIFY,CALIBRATE`` (code INVALID_SCOPE)."""

    exit_code = 2  # a malformed --scope is a usage error

    def __init__(self, message: str) -> None:
        super().__init__("INVALID_SCOPE", message)


# ====================================================================== settings, chain and development accounts


def registry_settings(data_dir: Path | None = None, rpc_url: str | None = None, **overrides: Any) -> RegistrySettings:
    """The registry's settings from the environment, with the data directory and chain URL of the command line.

    Without a configured key-custody secret, the local installation's secret file (``tracecert up`` creates it)
    is used when it exists.
    """
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = load_settings(**overrides)
    chain: ChainSettings = settings.chain
    update: dict[str, Any] = {}
    if data_dir is not None or chain.data_dir != settings.data_dir:
        update["data_dir"] = settings.data_dir
    if rpc_url:
        update["rpc_url"] = rpc_url
    if update:
        settings = settings.model_copy(update={"chain": chain.model_copy(update=update)})
    local_secret = settings.data_dir / "keys" / "registry-secret"
    if settings.secret is None and settings.secret_file is None and local_secret.exists():
        settings = settings.model_copy(update={"secret_file": local_secret})
    return settings


def chain_url(chain: ChainSettings) -> str:
    """The configured node, else a local node of the data directory (``chain up -d`` or ``up``), else the default."""
    return chain.rpc_url or AnvilNode.detached_url(chain.data_dir) or f"http://{chain.anvil_host}:{chain.anvil_port}"


def connect(settings: RegistrySettings, *, wait: float = 0.0) -> ChainContracts:
    """The deployed contracts of the data directory's deployment; a long-running service gives ``wait`` (seconds)
    to wait for a node that is (re)starting, a one-shot command fails at once.

    Raises:
        ChainUnavailable, DeploymentNotFound: no node, or no deployment of ours on it.
    """
    client = client_for(chain_url(settings.chain), settings.chain.deployment_file)
    return ChainContracts(client, wait_for_deployment(client, settings.chain.deployment_file, wait))


def dev_roles(data_dir: Path) -> set[str]:
    """The development account roles already created in ``data_dir`` (without creating any)."""
    path = DevKeyring(data_dir).path
    return set(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else set()


def dev_sender(contracts: ChainContracts, data_dir: Path, role: str) -> TransactionSender:
    """The funded development account ``role`` of ``data_dir`` as a sender journaled in the data directory."""
    account = DevKeyring(data_dir).funded(contracts.client, role)
    journal = FileJournal(Path(data_dir) / "journal" / f"{role}.jsonl")
    return TransactionSender(contracts.client, account, journal)


# ====================================================================== scope and acting regulators


def parse_scope(items: Sequence[str]) -> dict[str, Activity]:
    """``["JJG443=VERIFY", "JJG52=VERIFY,CALIBRATE"]`` → ``{category: activities}``.

    Raises:
        InvalidScope: a malformed item.
    """
    scope: dict[str, Activity] = {}
    for item in items:
        category, sep, activities = item.partition("=")
        if not sep or not category.strip() or not activities.strip():
            raise InvalidScope(f"--scope {item!r}: write CATEGORY=VERIFY,CALIBRATE")
        bits = Activity(0)
        for word in activities.split(","):
            try:
                bits |= Activity[word.strip().upper()]
            except KeyError:
                raise InvalidScope(f"--scope {item!r}: activities are VERIFY and CALIBRATE") from None
        if len(category.strip().encode()) > 32:
            raise InvalidScope(f"--scope {item!r}: a category code has at most 32 bytes")
        scope[category.strip()] = scope.get(category.strip(), Activity(0)) | bits
    return scope


def _covering_jurisdictions(jurisdiction: int) -> list[int]:
    """The jurisdiction itself, its city and its province, most specific first (GB/T 2260)."""
    chain = [jurisdiction, jurisdiction // 100 * 100, jurisdiction // 10000 * 10000]
    return list(dict.fromkeys(j for j in chain if j))


def default_regulator_role(contracts: ChainContracts, data_dir: Path, jurisdiction: int, kind: LabKind | None) -> str:
    """The development regulator over ``jurisdiction``: the most specific one that exists, else the national one."""
    if kind == LabKind.NMI:
        return "national-authority"
    roles = dev_roles(data_dir)
    for j in _covering_jurisdictions(jurisdiction):
        role = f"regulator-{j}"
        if role in roles:
            address = DevKeyring(data_dir).account(role).address
            if regulator_info(contracts, address)["exists"]:
                return role
    return "national-authority"


def parent_regulator_role(jurisdiction: int) -> str:
    """The development role one level above ``jurisdiction``: the national authority over a province, the
    province's regulator over a city, the city's over a district."""
    if jurisdiction % 10000 == 0:
        return "national-authority"
    if jurisdiction % 100 == 0:
        return f"regulator-{jurisdiction // 10000 * 10000}"
    return f"regulator-{jurisdiction // 100 * 100}"


# ====================================================================== onboarding steps


def regulator_info(contracts: ChainContracts, account: str) -> dict[str, Any]:
    """A regulator's on-chain record: jurisdiction, active, exists, parent. ``active`` is whether it may act: it
    and every regulator above it are active (a deactivated province silences its cities)."""
    jurisdiction, _own, exists, parent = contracts.call(contracts.trust, "regulator", account)
    active = bool(contracts.call(contracts.trust, "isActiveRegulator", account))
    return {"jurisdiction": jurisdiction, "active": active, "exists": exists, "parent": parent}


def ensure_regulator(
    contracts: ChainContracts, parent: TransactionSender, account: str, jurisdiction: int, name: str
) -> bool:
    """Register ``account`` as the regulator of ``jurisdiction`` under ``parent``, unless it is one; True if new.

    Raises:
        OnboardingError: REGULATOR_EXISTS when the account is a regulator of another jurisdiction.
        ContractReverted: the parent may not (TrustRegistryOutsideJurisdiction, ...).
    """
    info = regulator_info(contracts, account)
    if info["exists"]:
        if info["jurisdiction"] != jurisdiction:
            raise OnboardingError(
                "REGULATOR_EXISTS", f"{account} is already the regulator of jurisdiction {info['jurisdiction']}"
            )
        return False
    contracts.register_regulator(parent, account, jurisdiction, name)
    return True


def lab_number(contracts: ChainContracts, lab: bytes) -> int:
    """The lab's on-chain number (0 when not registered)."""
    try:
        return int(contracts.call(contracts.trust, "labNumberOf", lab))
    except ContractReverted:
        return 0


def ensure_lab(
    contracts: ChainContracts,
    regulator: TransactionSender,
    lab: bytes,
    kind: LabKind,
    jurisdiction: int,
    admin: str,
    name: str,
) -> bool:
    """Register the lab on chain unless it is registered; True if new.

    Raises:
        ContractReverted: the regulator may not (e.g. TrustRegistryOutsideJurisdiction).
    """
    if lab_number(contracts, lab):
        return False
    contracts.register_lab(regulator, lab, kind, jurisdiction, admin, name)
    return True


def require_may_verify(kind: LabKind, scope: Mapping[str, Activity]) -> None:
    """Only legal metrology verifies: VERIFY in the scope of another kind of lab is refused before any transaction
    (the contract refuses it too, with ``TrustRegistryKindMayNotVerify``).

    Raises:
        OnboardingError: KIND_MAY_NOT_VERIFY, naming the categories.
    """
    verify = sorted(category for category, activity in scope.items() if activity & Activity.VERIFY)
    if kind not in VERIFYING_KINDS and verify:
        raise OnboardingError(
            "KIND_MAY_NOT_VERIFY",
            f"a lab of kind {kind.name} ({kind.zh}) may calibrate but not verify (检定 is legal metrology): "
            f"drop VERIFY from {', '.join(verify)}",
        )


def authorize_lab(
    contracts: ChainContracts,
    regulator: TransactionSender,
    lab: bytes,
    number: str,
    valid_from: int,
    valid_until: int,
    scope: Mapping[str, Activity],
    *,
    only_if_none: bool = False,
) -> int | None:
    """Record an authorization (number, window, scope); return its index (None when skipped with
    ``only_if_none`` because the lab has one).

    Raises:
        OnboardingError: KIND_MAY_NOT_VERIFY, VERIFY granted to an accredited lab (checked before any transaction;
            the contract refuses it too, with ``TrustRegistryKindMayNotVerify``).
    """
    if only_if_none and int(contracts.call(contracts.trust, "authorizationCount", lab)):
        return None
    require_may_verify(LabKind(int(contracts.call(contracts.trust, "lab", lab)[1])), scope)
    receipt = contracts.authorize_lab(regulator, lab, number, valid_from, valid_until, scope)
    for name, args in contracts.events(receipt):
        if name == "LabAuthorized":
            return int(args["authIndex"])
    return None


@dataclass
class Onboarded:
    """What onboarding did for a lab with this registry."""

    lab_id: str
    writer_address: str
    writer_added: bool
    key_id: str
    key_registered: bool
    key_held: bool
    notes: list[str] = field(default_factory=list)


def onboard_lab(
    core: RegistryCore,
    admin: TransactionSender,
    code: str,
    name: str,
    *,
    public_key: bytes | None = None,
    fund_writer: bool = False,
) -> Onboarded:
    """Onboard a lab registered on chain with this registry; every step is skipped when already done.

    1. the registry creates the lab's writer account (held encrypted);
    2. the lab admin (``admin``) adds it as a writer of the lab on chain (``fund_writer`` tops it up on a local
       development chain);
    3. the lab admin registers the lab's Ed25519 key: ``public_key`` of a key the lab holds (lab-signing mode),
       or a key generated and held by the registry (registry-signing mode) when ``public_key`` is None.

    Raises:
        OnboardingError: LAB_NOT_REGISTERED (not on chain), KEY_OF_OTHER_LAB.
        ContractReverted: e.g. CertificateRegistryNotLabAdmin when ``admin`` is not the lab's admin.
    """
    contracts = core.chain
    lab = derive_lab_id(code)
    if not lab_number(contracts, lab):
        raise OnboardingError("LAB_NOT_REGISTERED", f"lab {code} ({to_hex(lab)}) is not registered on chain")
    row = core.add_lab(code, name)
    notes: list[str] = []
    writer_added = False
    if bytes(contracts.call(contracts.certificates, "writerLab", row.writer_address)) != lab:
        contracts.add_writer(admin, lab, row.writer_address)
        writer_added = True
    if fund_writer and contracts.client.balance(row.writer_address) < _DEV_WRITER_FUNDS // 2:
        contracts.client.set_balance(row.writer_address, _DEV_WRITER_FUNDS)
    elif not fund_writer and contracts.client.balance(row.writer_address) == 0:
        notes.append(f"the writer account {row.writer_address} has no funds: fund it unless gas is free")

    key_registered = False
    if public_key is not None:
        kid = to_hex(key_id(public_key))
        info = core.key_info(kid)
        if info is not None and to_hex(info.lab_id) != row.lab_id:
            raise OnboardingError("KEY_OF_OTHER_LAB", f"key {kid} is registered for lab {to_hex(info.lab_id)}")
        if info is None:
            contracts.register_key(admin, lab, public_key)
            key_registered = True
        held = False
    else:
        kid, key_registered = _ensure_held_key(core, admin, lab, row.lab_id)
        held = True
    core.forget_chain_answers()
    return Onboarded(row.lab_id, row.writer_address, writer_added, kid, key_registered, held, notes)


def _ensure_held_key(core: RegistryCore, admin: TransactionSender, lab: bytes, lab_hex: str) -> tuple[str, bool]:
    """A registry-held signing key of the lab valid on chain, registering or creating one if needed: (key id, new)."""
    from registry.db import HeldKey

    with core.sessions() as s:
        held = list(
            s.scalars(
                select(HeldKey)
                .where(HeldKey.lab_id == lab_hex, HeldKey.kind == "SIGNING")
                .order_by(HeldKey.created_at.desc())
            )
        )
    for row in held:
        info = core.key_info(row.id)
        if info is not None and info.valid_until > core.chain_now():
            return row.id, False
    for row in held:  # held but never registered (interrupted onboarding): register it now
        if core.key_info(row.id) is None:
            core.chain.register_key(admin, lab, from_hex(row.public))
            return row.id, True
    key = core.new_held_signing_key(lab_hex)
    core.chain.register_key(admin, lab, key.public_key)
    return to_hex(key.key_id), True


# ====================================================================== a lab's state


def lab_state(contracts: ChainContracts, lab: bytes) -> dict[str, Any]:
    """A registered lab's state on chain: status, kind, jurisdiction, authorization window, admin.

    Raises:
        OnboardingError: LAB_NOT_REGISTERED.
    """
    if not lab_number(contracts, lab):
        raise OnboardingError("LAB_NOT_REGISTERED", f"lab {to_hex(lab)} is not registered on chain")
    status, kind, jurisdiction, auth_from, auth_until, admin = contracts.call(contracts.trust, "lab", lab)
    return {
        "status": LabStatus(status).name,
        "kind": LabKind(kind).name,
        "jurisdiction": jurisdiction,
        "authorization_from": auth_from,
        "authorization_until": auth_until,
        "admin": admin,
    }


def lab_view(contracts: ChainContracts, settings: RegistrySettings, lab: bytes) -> dict[str, Any]:
    """A lab's state and authorizations on chain, with what this registry holds for it (``registry``) when its
    database can be read.

    Raises:
        OnboardingError: LAB_NOT_REGISTERED.
    """
    state = lab_state(contracts, lab)
    authorizations = []
    for index in range(int(contracts.call(contracts.trust, "authorizationCount", lab))):
        number, valid_from, valid_until, recorded_at, granted_by, categories = contracts.call(
            contracts.trust, "authorization", lab, index
        )
        scope = {}
        for category in categories:
            bits = Activity(int(contracts.call(contracts.trust, "scopeOf", lab, index, category)))
            scope[category_from_bytes(category)] = "|".join(a.name for a in Activity if a in bits and a.name)
        authorizations.append(
            {
                "index": index,
                "number": number,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "recorded_at": recorded_at,
                "granted_by": granted_by,
                "scope": scope,
            }
        )
    view: dict[str, Any] = {"lab_id": to_hex(lab), **state, "authorizations": authorizations}
    try:
        settings.secret_bytes()
    except ValueError:
        return view
    from registry.db import ApiToken, Certificate, HeldKey, Lab, make_engine

    if settings.database_url is None and not (settings.data_dir / "registry.db").exists():
        return view
    engine = make_engine(settings.database)
    try:
        with engine.connect() as conn, conn.begin():
            from sqlalchemy.orm import Session

            s = Session(bind=conn)
            row = s.get(Lab, to_hex(lab))
            if row is None:
                return view
            held = [
                r.id for r in s.scalars(select(HeldKey).where(HeldKey.lab_id == row.lab_id, HeldKey.kind == "SIGNING"))
            ]
            tokens = s.scalar(
                select(func.count())
                .select_from(ApiToken)
                .where(ApiToken.lab_id == row.lab_id, ApiToken.revoked_at.is_(None))
            )
            counts = dict(
                s.execute(
                    select(Certificate.status, func.count())
                    .where(Certificate.lab_id == row.lab_id)
                    .group_by(Certificate.status)
                ).all()
            )
    except Exception:
        logger.debug("no registry database to read", exc_info=True)
        return view
    finally:
        engine.dispose()
    writer_lab = bytes(contracts.call(contracts.certificates, "writerLab", row.writer_address))
    view["registry"] = {
        "code": row.code,
        "name": row.name,
        "writer_address": row.writer_address,
        "writer_enabled": writer_lab == lab,
        "held_keys": held,
        "active_tokens": int(tokens or 0),
        "certificates": {str(k).lower(): int(v) for k, v in counts.items()},
    }
    return view
