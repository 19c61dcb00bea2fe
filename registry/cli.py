"""Command line of the registry: onboarding (``tracecert regulator|lab ...``), issuing (``tracecert issue``,
``publish``, ``revoke``, ``status``) and running it (``tracecert registry serve|worker``).

Onboarding commands act on the chain with an account: a development account of the data directory
(``--as ROLE``, e.g. ``national-authority``, ``regulator-330000``, ``lab-admin-<code>``; local chain only) or an
encrypted keystore (``--keystore FILE``, passphrase from ``$TRACECERT_KEYSTORE_PASSPHRASE``). ``lab onboard`` and
``lab token`` also open the registry's database and key custody, so they run where the registry runs.
Issuing commands talk to the registry's HTTP API with a lab's token.

Errors go to stderr as ``error CODE: message``; exit code 1 for refusals and failures, 2 for usage errors.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from registry.client import DEFAULT_REGISTRY_URL, RegistryClient, RegistryClientError, RegistryUnreachable
from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.custody import CustodyError
from registry.errors import RegistryError
from registry.onboarding import (
    CHINA,
    InvalidScope,
    OnboardingError,
    authorize_lab,
    connect,
    default_regulator_role,
    dev_sender,
    ensure_lab,
    ensure_regulator,
    lab_number,
    lab_state,
    lab_view,
    onboard_lab,
    parent_regulator_role,
    parse_scope,
    registry_settings,
    regulator_info,
    require_may_verify,
)
from tracecert.certificate.canonical import certificate_digest, from_hex, parse_json, record_to_json, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.dcc import DCC_MEDIA_TYPE, DccOverrides, import_dcc
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import Kind, record_from_json
from tracecert.certificate.signing import SigningKey, load_key_file, read_key_file_public
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.errors import ChainError, ContractReverted
from tracecert.chain.local import DevKeyring, load_keystore
from tracecert.chain.sender import FileJournal, TransactionSender
from tracecert.chain.types import LabKind, RevocationReason
from tracecert.human import local_time, speaks_chinese
from tracecert.instruments import category_label

__all__ = ["CliError", "register", "reporting_errors"]

console = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

KEYSTORE_PASSPHRASE_ENV = "TRACECERT_KEYSTORE_PASSPHRASE"  # noqa: S105 - a variable name
KEY_PASSPHRASE_ENV = "TRACECERT_KEY_PASSPHRASE"  # noqa: S105 - a variable name


# ====================================================================== errors and output


class CliError(Exception):
    """A failure the command line reports as ``error CODE: message`` and exits with ``exit_code``."""

    def __init__(self, code: str, message: str, *, details: Any = None, exit_code: int = 1) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details
        self.exit_code = exit_code


def _usage(message: str) -> CliError:
    return CliError("USAGE", message, exit_code=2)


def revert_code(error: str) -> str:
    """A contract custom error as a machine code: ``TrustRegistryLabExists`` → ``LAB_EXISTS``."""
    for prefix in ("TrustRegistry", "CertificateRegistry"):
        if error.startswith(prefix) and len(error) > len(prefix):
            error = error[len(prefix) :]
            break
    return re.sub(r"(?<!^)(?=[A-Z])", "_", error).upper()


def _print_error(code: str, message: str, details: Any = None) -> None:
    err.print(f"error {code}: {message}", markup=False)
    for line in _detail_lines(details):
        err.print(f"  {line}", markup=False)


def _detail_lines(details: Any) -> list[str]:
    if isinstance(details, list):
        out = []
        for d in details[:20]:
            if isinstance(d, Mapping) and "field" in d:
                out.append(f"{d['field']}: {d.get('message', '')} [{d.get('rule', '')}]")
            else:
                out.append(json.dumps(d, ensure_ascii=False) if not isinstance(d, str) else d)
        return out
    if isinstance(details, Mapping):
        return [f"{k}: {v}" for k, v in details.items()]
    return []


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn the errors of every layer into ``error CODE: message`` and an exit code."""
    try:
        yield
    except CliError as exc:
        _print_error(exc.code, exc.message, exc.details)
        raise typer.Exit(exc.exit_code) from exc
    except InvalidScope as exc:  # a malformed --scope is a usage error
        _print_error("USAGE", exc.message)
        raise typer.Exit(2) from exc
    except OnboardingError as exc:
        _print_error(exc.code, exc.message)
        raise typer.Exit(1) from exc
    except ContractReverted as exc:
        _print_error(revert_code(exc.error), f"the contract refused: {exc}")
        raise typer.Exit(1) from exc
    except ChainError as exc:
        _print_error(exc.code, str(exc))
        raise typer.Exit(1) from exc
    except RegistryError as exc:
        _print_error(exc.code, exc.message, exc.details)
        raise typer.Exit(1) from exc
    except RegistryClientError as exc:
        _print_error(exc.code, exc.message, exc.details)
        raise typer.Exit(1) from exc
    except CertificateError as exc:
        _print_error(exc.code, exc.message, [e.to_dict() for e in exc.errors])
        raise typer.Exit(2) from exc
    except CustodyError as exc:
        _print_error(exc.code, str(exc))
        raise typer.Exit(1) from exc


# ====================================================================== time


def parse_time(value: str, *, end_of_day: bool = False) -> int:
    """A Unix time from ``YYYY-MM-DD`` (midnight in China; the next midnight with ``end_of_day``), an ISO 8601
    date-time (China time unless it has an offset) or Unix seconds.

    Raises:
        CliError: USAGE for anything else.
    """
    text = value.strip()
    if re.fullmatch(r"\d{9,}", text):
        return int(text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if end_of_day else 0)
            return int(dt.datetime.combine(day, dt.time(), CHINA).timestamp())
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise _usage(f"{value!r} is not a date (YYYY-MM-DD), an ISO date-time or Unix seconds") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return int(moment.timestamp())


def _reason_text(reason: Any) -> str:
    """A revocation reason by its names (证书内容有误 / error in content), never a bare number."""
    return RevocationReason.named(int(reason)) if isinstance(reason, int) else "reason not given"


def _show_time(ts: int | None) -> str:
    if not ts:
        return "-"
    if ts >= 2**63 - 1 or ts >= 253402300799:
        return "open-ended"
    return local_time(ts)


def _category(code: str) -> str:
    return category_label(code, zh=speaks_chinese())


# ====================================================================== options and the acting account

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default $TRACECERT_DATA_DIR or .tracecert).")
]
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="TRACECERT_CHAIN_RPC_URL", help="JSON-RPC URL (default: the local node)."),
]
ActAs = Annotated[
    str | None,
    typer.Option("--as", help="Development account that acts (local chain), e.g. regulator-330000."),
]
Keystore = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        exists=True,
        dir_okay=False,
        help=f"Encrypted JSON keystore of the acting account (production); passphrase from ${KEYSTORE_PASSPHRASE_ENV}.",
    ),
]


def _actor(
    contracts: ChainContracts, settings: RegistrySettings, keystore: Path | None, role: str | None, default: str
) -> tuple[TransactionSender, str]:
    """The acting account: a keystore (production) or a development role; returns it and how it is named."""
    if keystore is not None:
        passphrase = os.environ.get(KEYSTORE_PASSPHRASE_ENV) or typer.prompt("Keystore passphrase", hide_input=True)
        try:
            account = load_keystore(keystore, passphrase)
        except ValueError as exc:
            raise CliError("KEYSTORE_INVALID", f"cannot decrypt {keystore} (wrong passphrase?)", exit_code=2) from exc
        journal = FileJournal(settings.data_dir / "journal" / f"{account.address}.jsonl")
        return TransactionSender(contracts.client, account, journal), f"keystore {keystore.name}"
    name = role or default
    return dev_sender(contracts, settings.data_dir, name), f"development account {name}"


def _lab_ref(value: str) -> tuple[bytes, str | None]:
    """A lab given as its id (0x + 64 hex) or its code: ``(lab id, code or None)``."""
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        return from_hex(value), None
    try:
        return derive_lab_id(value), value
    except CertificateError as exc:
        raise _usage(f"--lab: {exc.message}") from exc


def _kind(value: str) -> LabKind:
    aliases = {"NMI": "NMI", "LEGAL": "LEGAL_METROLOGY_INSTITUTE", "AUTHORIZED": "AUTHORIZED_BODY"}
    name = value.strip().upper().replace("-", "_")
    name = aliases.get(name, name)
    if name == "ACCREDITED":
        name = "ACCREDITED_LAB"
    try:
        return LabKind[name]
    except KeyError:
        raise _usage(f"--kind must be one of {', '.join(k.name for k in LabKind)}") from None


# ====================================================================== tracecert regulator ...

regulator_app = typer.Typer(help="Regulators: register them on chain, give them API tokens.", no_args_is_help=True)


@regulator_app.command("register")
def regulator_register(
    jurisdiction: Annotated[int, typer.Option(help="GB/T 2260 code, e.g. 330000 (province) or 330100 (city).")],
    name: Annotated[str, typer.Option(help="E.g. 浙江省市场监督管理局.")],
    account: Annotated[
        str | None, typer.Option(help="Its chain account (default: the development account regulator-<code>).")
    ] = None,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """Register a regulator under the acting one (default: the development regulator one level up)."""
    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        parent, who = _actor(contracts, settings, keystore, as_role, parent_regulator_role(jurisdiction))
        address = account or DevKeyring(settings.data_dir).funded(contracts.client, f"regulator-{jurisdiction}").address
        new = ensure_regulator(contracts, parent, address, jurisdiction, name)
        console.print(f"regulator    {name} ({jurisdiction})")
        console.print(f"account      {address}")
        console.print(f"registered   {'now, by ' + who if new else 'already'}")


@regulator_app.command("token")
def regulator_token(
    account: Annotated[
        str | None, typer.Option(help="The regulator's chain account (default: development regulator-<code>).")
    ] = None,
    jurisdiction: Annotated[int | None, typer.Option(help="Pick the development regulator of this code.")] = None,
    label: Annotated[str, typer.Option(help="A note on the token.")] = "",
    hold_account: Annotated[
        bool,
        typer.Option(
            "--hold-account", help="Let the registry hold the development account to revoke on the regulator's order."
        ),
    ] = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Issue a regulator's API token (shown once): it reads its labs' certificates and orders revocations."""
    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url)
        if account is None and jurisdiction is None:
            raise _usage("give --account or --jurisdiction")
        role = f"regulator-{jurisdiction}"
        address = account or DevKeyring(settings.data_dir).account(role).address
        core = RegistryCore.open(settings, connect(settings))
        if not regulator_info(core.chain, address)["exists"]:
            raise CliError("NOT_REGULATOR", f"{address} is not a regulator on chain")
        if hold_account:
            if account is not None:
                raise _usage("--hold-account holds a development account; give --jurisdiction instead of --account")
            core.add_regulator_account(bytes(DevKeyring(settings.data_dir).account(role).key))
        token_id, token = core.issue_token("REGULATOR", regulator_address=address, label=label)
        console.print(f"regulator    {address}")
        console.print(f"token id     {token_id}")
        console.print(f"token        {token}")
        err.print("keep the token now: it is stored only hashed and cannot be shown again", markup=False)


# ====================================================================== tracecert lab ...

lab_app = typer.Typer(
    help="Labs: register and authorize on chain, onboard with the registry, tokens.", no_args_is_help=True
)
token_app = typer.Typer(help="A lab's API tokens.", no_args_is_help=True)
lab_app.add_typer(token_app, name="token")

LabOption = Annotated[str, typer.Option("--lab", help="The lab: its code, or its id (0x + 64 hex).")]


def _window(valid_from: str | None, valid_until: str, now: int) -> tuple[int, int]:
    today = dt.datetime.fromtimestamp(now, CHINA).date().isoformat()
    start = parse_time(valid_from or today)
    end = parse_time(valid_until, end_of_day=True)
    if end <= start:
        raise _usage("--valid-until must be after --valid-from")
    return start, end


@lab_app.command("register")
def lab_register(
    code: Annotated[
        str, typer.Option(help="Stable lab code, e.g. its unified social credit code; the lab id derives from it.")
    ],
    name: Annotated[str, typer.Option(help="E.g. 杭州市计量检定测试院.")],
    kind: Annotated[str, typer.Option(help="NMI, LEGAL_METROLOGY_INSTITUTE, AUTHORIZED_BODY or ACCREDITED_LAB.")],
    jurisdiction: Annotated[int, typer.Option(help="GB/T 2260 code of the lab's region, e.g. 330100.")],
    authorization_number: Annotated[str, typer.Option(help="授权证书号, e.g. (浙)法计(2026)01001号.")],
    valid_until: Annotated[str, typer.Option(help="Last day of the authorization (YYYY-MM-DD, inclusive).")],
    scope: Annotated[list[str], typer.Option(help="CATEGORY=VERIFY,CALIBRATE, repeatable (e.g. JJG443=VERIFY).")],
    valid_from: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD; default today).")] = None,
    admin: Annotated[
        str | None, typer.Option(help="The lab admin's account (default: development account lab-admin-<code>).")
    ] = None,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator registers a lab on chain and records its authorization and scope.

    The acting regulator defaults to the development regulator over the lab's jurisdiction (the national
    authority for an NMI).
    """
    with reporting_errors():
        lab_kind = _kind(kind)
        activities = parse_scope(scope)
        require_may_verify(lab_kind, activities)  # before the lab is registered: nothing half done
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        default = default_regulator_role(contracts, settings.data_dir, jurisdiction, lab_kind)
        regulator, who = _actor(contracts, settings, keystore, as_role, default)
        lab = derive_lab_id(code)
        if lab_number(contracts, lab):
            raise CliError(
                "LAB_EXISTS", f"lab {code} is registered already; use `tracecert lab authorize` for a new authorization"
            )
        admin_address = admin or DevKeyring(settings.data_dir).funded(contracts.client, f"lab-admin-{code}").address
        start, end = _window(valid_from, valid_until, contracts.client.block_timestamp())
        ensure_lab(contracts, regulator, lab, lab_kind, jurisdiction, admin_address, name)
        index = authorize_lab(contracts, regulator, lab, authorization_number, start, end, activities)
        console.print(f"lab          {name} ({lab_kind.name}, jurisdiction {jurisdiction})")
        console.print(f"lab id       {to_hex(lab)}")
        console.print(f"admin        {admin_address}")
        console.print(f"authorized   {authorization_number} #{index}: {_show_time(start)} .. {_show_time(end)}")
        for category, bits in activities.items():
            console.print(f"  scope      {_category(category)}: {bits.name or int(bits)}")
        console.print(f"by           {who}")


@lab_app.command("authorize")
def lab_authorize(
    lab: LabOption,
    authorization_number: Annotated[str, typer.Option(help="授权证书号.")],
    valid_until: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD, inclusive).")],
    scope: Annotated[list[str], typer.Option(help="CATEGORY=VERIFY,CALIBRATE, repeatable.")],
    valid_from: Annotated[str | None, typer.Option(help="First day (default today).")] = None,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """Record a new authorization (renewal or changed scope) of a registered lab; earlier ones stay on record."""
    with reporting_errors():
        lab_id, _ = _lab_ref(lab)
        activities = parse_scope(scope)
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        state = lab_state(contracts, lab_id)
        default = default_regulator_role(contracts, settings.data_dir, state["jurisdiction"], None)
        regulator, who = _actor(contracts, settings, keystore, as_role, default)
        start, end = _window(valid_from, valid_until, contracts.client.block_timestamp())
        index = authorize_lab(contracts, regulator, lab_id, authorization_number, start, end, activities)
        console.print(
            f"authorized   {to_hex(lab_id)} {authorization_number} #{index}: {_show_time(start)} .. {_show_time(end)}"
        )
        console.print(f"by           {who}")


KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        exists=True,
        dir_okay=False,
        help="The lab's own key file (`tracecert key generate`): lab-signing mode. Else the registry holds a key.",
    ),
]


@lab_app.command("onboard")
def lab_onboard(
    code: Annotated[str, typer.Option(help="The lab's code (as registered on chain).")],
    name: Annotated[str, typer.Option(help="The lab's name.")],
    key_file: KeyFile = None,
    label: Annotated[str, typer.Option(help="A note on the API token, e.g. LIMS.")] = "",
    no_token: Annotated[bool, typer.Option("--no-token", help="Do not issue an API token.")] = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """Onboard a registered lab with this registry: writer account, signing key on chain, API token (shown once).

    Acts on chain as the lab's admin (default: the development account lab-admin-<code>). Run it again to finish
    an interrupted onboarding; done steps are skipped.
    """
    with reporting_errors():
        public_key = read_key_file_public(key_file)[0] if key_file is not None else None
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        admin, who = _actor(contracts, settings, keystore, as_role, f"lab-admin-{code}")
        core = RegistryCore.open(settings, contracts)
        try:
            done = onboard_lab(core, admin, code, name, public_key=public_key, fund_writer=keystore is None)
            token = None if no_token else core.issue_token("LAB", lab_id=done.lab_id, label=label)
        finally:
            core.engine.dispose()
        console.print(f"lab id       {done.lab_id}")
        console.print(
            f"writer       {done.writer_address} ({'added now' if done.writer_added else 'already a writer'})"
        )
        mode = "registry-held key (registry signs)" if done.key_held else "the lab's own key (lab signs)"
        console.print(
            f"signing key  {done.key_id} [{mode}, {'registered now' if done.key_registered else 'on chain already'}]"
        )
        console.print(f"by           {who}")
        for note in done.notes:
            err.print(f"note: {note}", markup=False)
        if token is not None:
            console.print(f"token id     {token[0]}")
            console.print(f"token        {token[1]}")
            err.print("keep the token now: it is stored only hashed and cannot be shown again", markup=False)


@token_app.command("issue")
def token_issue(
    lab: LabOption,
    label: Annotated[str, typer.Option(help="A note on the token, e.g. LIMS.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Issue a new API token for a lab (shown once)."""
    with reporting_errors():
        lab_id, _ = _lab_ref(lab)
        core = _core_without_chain(registry_settings(data_dir))
        token_id, token = core.issue_token("LAB", lab_id=to_hex(lab_id), label=label)
        console.print(f"token id     {token_id}")
        console.print(f"token        {token}")
        err.print("keep the token now: it is stored only hashed and cannot be shown again", markup=False)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (`tracecert lab token list`).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke an API token for good."""
    with reporting_errors():
        core = _core_without_chain(registry_settings(data_dir))
        core.revoke_token(token_id)
        console.print(f"token {token_id} revoked")


@token_app.command("list")
def token_list(lab: LabOption, data_dir: DataDir = None) -> None:
    """List a lab's tokens (ids, labels, dates; never the tokens)."""
    from registry.db import ApiToken

    with reporting_errors():
        lab_id, _ = _lab_ref(lab)
        core = _core_without_chain(registry_settings(data_dir))
        with core.sessions() as s:
            rows = list(s.scalars(select(ApiToken).where(ApiToken.lab_id == to_hex(lab_id)).order_by(ApiToken.id)))
        table = Table("id", "label", "created", "revoked")
        for r in rows:
            table.add_row(str(r.id), r.label, r.created_at.isoformat(timespec="seconds"), _iso(r.revoked_at))
        console.print(table)


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _core_without_chain(settings: RegistrySettings) -> RegistryCore:
    """The registry core for database-only commands (tokens): the chain is not needed."""
    return RegistryCore.open_offline(settings)


def _status_change(
    lab: str,
    reason: int,
    suspend: bool,
    data_dir: Path | None,
    rpc_url: str | None,
    as_role: str | None,
    keystore: Path | None,
) -> None:
    with reporting_errors():
        lab_id, _ = _lab_ref(lab)
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        state = lab_state(contracts, lab_id)
        default = default_regulator_role(contracts, settings.data_dir, state["jurisdiction"], LabKind[state["kind"]])
        regulator, who = _actor(contracts, settings, keystore, as_role, default)
        if suspend:
            contracts.suspend_lab(regulator, lab_id, reason)
        else:
            contracts.reinstate_lab(regulator, lab_id)
        console.print(f"lab          {to_hex(lab_id)}")
        console.print(f"status       {lab_state(contracts, lab_id)['status']} (was {state['status']})")
        console.print(f"by           {who}")


@lab_app.command("suspend")
def lab_suspend(
    lab: LabOption,
    reason: Annotated[int, typer.Option(help="Reason code recorded on chain (1..255).")] = 1,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator suspends a lab: the registry refuses its certificates (LAB_SUSPENDED) until reinstated."""
    _status_change(lab, reason, True, data_dir, rpc_url, as_role, keystore)


@lab_app.command("reinstate")
def lab_reinstate(
    lab: LabOption,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator reinstates a suspended lab."""
    _status_change(lab, 0, False, data_dir, rpc_url, as_role, keystore)


@lab_app.command("show")
def lab_show(
    lab: LabOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Show a lab: its state and authorizations on chain, and what this registry holds for it."""
    with reporting_errors():
        lab_id, _ = _lab_ref(lab)
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        view = lab_view(contracts, settings, lab_id)
        if as_json:
            typer.echo(json.dumps(view, ensure_ascii=False, default=str))
            return
        console.print(f"lab id       {view['lab_id']}")
        console.print(f"kind         {view['kind']}, jurisdiction {view['jurisdiction']}")
        console.print(f"status       {view['status']}")
        console.print(f"admin        {view['admin']}")
        for a in view["authorizations"]:
            console.print(
                f"authorization #{a['index']} {a['number']}: {_show_time(a['valid_from'])} .. "
                f"{_show_time(a['valid_until'])}"
            )
            for category, activity in a["scope"].items():
                console.print(f"  scope      {_category(category)}: {activity}")
        registry = view.get("registry")
        if registry is None:
            console.print("registry     not onboarded with this registry")
            return
        console.print(f"registry     {registry['name']} ({registry['code']})")
        console.print(f"writer       {registry['writer_address']} (on chain: {registry['writer_enabled']})")
        for key in registry["held_keys"]:
            console.print(f"held key     {key}")
        console.print(f"tokens       {registry['active_tokens']} active")
        counts = ", ".join(f"{k} {v}" for k, v in registry["certificates"].items()) or "none"
        console.print(f"certificates {counts}")


# ====================================================================== tracecert issue

RegistryUrl = Annotated[
    str,
    typer.Option("--registry", envvar="TRACECERT_REGISTRY_URL", help="The registry's URL."),
]
Token = Annotated[str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="The lab's API token.")]

#: Record fields that are booleans (CSV cells ``true``/``false``, ``yes``/``no``, ``1``/``0``, ``是``/``否``).
BOOLEAN_PATHS = frozenset({"customer.mandatory_verification"})
_TRUE = {"true", "yes", "1", "是", "y"}
_FALSE = {"false", "no", "0", "否", "n"}


@dataclass
class Item:
    """One certificate to send, and where it came from (``file``, ``file:line`` or ``file#index``)."""

    source: str
    record: dict[str, Any] | None = None
    document: bytes | None = None
    filename: str | None = None
    signature: dict[str, str] | None = None
    # outcome
    outcome: str = "pending"  # accepted | existing | refused | pending
    digest: str | None = None
    lab_id: str | None = None
    status: str | None = None
    public: bool | None = None
    code: str | None = None
    message: str | None = None
    details: Any = None

    @property
    def number(self) -> str:
        value = (self.record or {}).get("certificate_number")
        return value if isinstance(value, str) else ""

    def refuse(self, code: str, message: str, details: Any = None) -> None:
        self.outcome, self.code, self.message, self.details = "refused", code, message, details

    def answer(self, result: Mapping[str, Any]) -> None:
        self.outcome = "accepted" if result.get("created", True) or result.get("requeued") else "existing"
        self.digest = result.get("digest")
        self.lab_id = result.get("lab_id")
        self.status = result.get("status")
        self.public = result.get("public")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "certificate_number": self.number, "outcome": self.outcome}
        for name in ("digest", "lab_id", "status", "public", "code", "message", "details"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: dict[str, Any] = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"column {path!r} conflicts with column {part!r}")
        node = child
    if parts[-1] in node:
        raise ValueError(f"column {path!r} is given twice")
    node[parts[-1]] = value


def _lists(value: Any) -> Any:
    """Turn objects whose keys are all indexes (``persons.0.name``) into arrays, in index order."""
    if isinstance(value, dict):
        converted = {k: _lists(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            indexes = sorted(int(k) for k in converted)
            if indexes != list(range(len(indexes))):
                raise ValueError(f"array indexes must be 0, 1, 2, ... without gaps, got {indexes}")
            return [converted[str(i)] for i in indexes]
        return converted
    return value


def csv_records(text: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Records from CSV text whose header row names fields by dotted path; yields ``(line, record, error)``.

    Empty cells are left out; array elements are numbered (``persons.0.name``); boolean fields take
    ``true``/``false`` (also ``yes``/``no``, ``1``/``0``, ``是``/``否``).
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    bad = [h for h in header if not h or any(not p for p in h.split("."))]
    if bad:
        yield 1, None, f"header: column names must be dotted paths, got {bad!r}"
        return
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            yield line, None, f"{len(row)} cells but {len(header)} columns"
            continue
        record: dict[str, Any] = {}
        try:
            for path, cell in zip(header, row, strict=False):
                value = cell.strip()
                if not value:
                    continue
                if re.sub(r"\.\d+", "", path) in BOOLEAN_PATHS:
                    if value.lower() not in _TRUE | _FALSE:
                        raise ValueError(f"{path}: {value!r} is not true or false")
                    _set_path(record, path, value.lower() in _TRUE)
                else:
                    _set_path(record, path, value)
            yield line, _lists(record), None
        except ValueError as exc:
            yield line, None, str(exc)


def _collect(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in (".json", ".xml", ".csv") and not p.name.startswith(".")
                )
            )
        elif path.exists():
            files.append(path)
        else:
            raise _usage(f"{path} does not exist")
    return files


def read_items(paths: Sequence[Path], overrides: DccOverrides) -> list[Item]:
    """Every certificate in ``paths`` (files and folders, recursively): JSON records (one object or an array),
    DCC XML files (imported with ``overrides``; the XML is sent along) and CSV files. Unreadable inputs come back
    as refused items naming their file and code."""
    items: list[Item] = []
    for path in _collect(paths):
        name = str(path)
        suffix = path.suffix.lower()
        try:
            data = path.read_bytes()
        except OSError as exc:
            item = Item(name)
            item.refuse("FILE_UNREADABLE", str(exc))
            items.append(item)
            continue
        if suffix == ".xml":
            item = Item(name, document=data, filename=path.name)
            try:
                imported = import_dcc(data, overrides)
                item.record = record_to_json(imported.record)
            except CertificateError as exc:
                item.refuse(exc.code, exc.message, [e.to_dict() for e in exc.errors] or None)
            items.append(item)
        elif suffix == ".csv":
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                item = Item(name)
                item.refuse("CSV_INVALID", "not UTF-8 text")
                items.append(item)
                continue
            for line, record, problem in csv_records(text):
                item = Item(f"{name}:{line}", record=record)
                if problem is not None:
                    item.refuse("CSV_INVALID", problem)
                items.append(item)
        elif suffix == ".json":
            try:
                parsed = parse_json(data)
            except CertificateError as exc:
                item = Item(name)
                item.refuse("JSON_INVALID", exc.message)
                items.append(item)
                continue
            records = parsed if isinstance(parsed, list) else [parsed]
            for i, record in enumerate(records):
                item = Item(f"{name}#{i}" if isinstance(parsed, list) else name)
                if isinstance(record, dict):
                    item.record = record
                else:
                    item.refuse("JSON_INVALID", "a record is a JSON object")
                items.append(item)
        else:
            item = Item(name)
            item.refuse("UNSUPPORTED_FILE", "give .json records, .xml DCC files or .csv tables")
            items.append(item)
    return items


def sign_items(items: Sequence[Item], key: SigningKey) -> None:
    """Sign each record's digest with the lab's key (lab-signing mode); invalid records are refused here."""
    kid = to_hex(key.key_id)
    for item in items:
        if item.record is None or item.outcome == "refused":
            continue
        try:
            digest = certificate_digest(record_from_json(item.record))
        except CertificateError as exc:
            item.refuse(exc.code, exc.message, [e.to_dict() for e in exc.errors] or None)
            continue
        item.signature = {"key_id": kid, "value": to_hex(key.sign(digest))}


class Patience:
    """How long ``tracecert issue`` keeps retrying while the registry answers 503 (CHAIN_UNAVAILABLE: the chain
    could not be asked, nothing was accepted): waiting what Retry-After says (else 1, 2, 4... s, at most 30), for
    at most ``retry_for`` seconds from the first refusal; a success starts the count again. Retrying is safe:
    certificates already accepted are answered as existing."""

    def __init__(self, retry_for: float) -> None:
        self.retry_for = retry_for
        self._deadline: float | None = None
        self._backoff = 1.0

    def wait(self, code: str, message: str, retry_after: float | None, what: str) -> bool:
        """Say why and sleep before the next try; False (no sleep) once the bound is reached."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.retry_for
        left = self._deadline - now
        if left <= 0:
            return False
        delay = min(retry_after if retry_after is not None else self._backoff, left)
        self._backoff = min(self._backoff * 2, 30.0)
        err.print(f"registry: {code} ({message}); retrying {what} in {delay:g} s (for up to {self.retry_for:g} s)")
        time.sleep(delay)
        return True

    def reset(self) -> None:
        """A request went through: the next refusal gets the whole ``retry_for`` again."""
        self._deadline, self._backoff = None, 1.0

    def gave_up(self, code: str, status: int | None = 503) -> RegistryClientError:
        """The error to stop with once the bound is reached."""
        return RegistryClientError(
            code,
            f"the registry could not ask the chain for {self.retry_for:g} s, so the certificates not yet accepted "
            "were not sent (see the summary); it is safe to run again: those already accepted are answered as "
            "existing",
            status=status,
        )


def _with_retries(call: Callable[[], Any], attempts: int = 4, *, patience: Patience | None = None) -> Any:
    """``call()``, retried when the registry is unreachable or answers 502/504 (``attempts`` times in all), and on
    503 as ``patience`` allows (without it, like the others)."""
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            result = call()
        except RegistryClientError as exc:
            if patience is not None and exc.status == 503:
                if patience.wait(exc.code, exc.message, exc.retry_after, "the request"):
                    continue
                raise patience.gave_up(exc.code) from exc
            retryable = isinstance(exc, RegistryUnreachable) or exc.status in (502, 503, 504)
            if not retryable or attempt >= attempts:
                raise
            time.sleep(delay)
            delay *= 2
            continue
        if patience is not None:
            patience.reset()
        return result


_FATAL = ("UNAUTHORIZED", "NOT_A_LAB")


def send_items(
    client: RegistryClient,
    items: Sequence[Item],
    *,
    chunk_size: int,
    advance: Callable[[int], None],
    public: bool = False,
    retry_for: float = 120.0,
) -> None:
    """Send every item not yet refused: DCC files one by one (multipart, the XML attached), records in bulk
    chunks. Fills in each item's outcome. With ``public`` every certificate is published (also those the registry
    had already). While the registry cannot ask the chain (503, or CHAIN_UNAVAILABLE for some items) the same
    requests (those items) are sent again, for at most ``retry_for`` seconds (see :class:`Patience`).

    Raises:
        RegistryClientError: the registry is unreachable, refuses the credential, or could not ask the chain for
            ``retry_for`` seconds (nothing more is sent; the items not accepted stay ``pending``).
    """
    patience = Patience(retry_for)
    todo = [i for i in items if i.outcome == "pending"]
    advance(len(items) - len(todo))
    for item in (i for i in todo if i.document is not None):
        assert item.record is not None
        try:
            answer = _with_retries(
                lambda it=item: client.issue_with_document(  # type: ignore[misc]
                    it.record,
                    it.document,
                    filename=it.filename or "document.xml",
                    media_type=DCC_MEDIA_TYPE,
                    signature=it.signature,
                    public=public,
                ),
                patience=patience,
            )
            item.answer(answer)
        except RegistryUnreachable:
            raise
        except RegistryClientError as exc:
            if exc.code in _FATAL:
                raise
            item.refuse(exc.code, exc.message, exc.details)
        advance(1)
    records = [i for i in todo if i.document is None]
    for start in range(0, len(records), chunk_size):
        chunk = records[start : start + chunk_size]
        unsent = chunk
        while unsent:
            unsent = _send_bulk(client, unsent, public, patience)
            if unsent and not patience.wait(
                _CHAIN_UNAVAILABLE, "for some certificates", None, f"{len(unsent)} certificates"
            ):
                raise patience.gave_up(_CHAIN_UNAVAILABLE)
        advance(len(chunk))


_CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"


def _send_bulk(client: RegistryClient, chunk: Sequence[Item], public: bool, patience: Patience) -> list[Item]:
    """One bulk request of ``chunk``; fills in the outcomes and returns the items to send again (those the
    registry answered CHAIN_UNAVAILABLE for, still ``pending``)."""
    body = [
        {
            "record": i.record,
            **({"signature": i.signature} if i.signature else {}),
            **({"public": True} if public else {}),
        }
        for i in chunk
    ]
    try:
        answer = _with_retries(lambda: client.issue_bulk(body), patience=patience)
    except RegistryUnreachable:
        raise
    except RegistryClientError as exc:
        if exc.code in _FATAL or exc.status == 503:
            raise
        for item in chunk:
            item.refuse(exc.code, exc.message, exc.details)
        return []
    again = []
    for result in answer.get("results", []):
        item = chunk[int(result["index"])]
        error = result.get("error") or {}
        if result.get("ok"):
            item.answer(result)
        elif error.get("code") == _CHAIN_UNAVAILABLE:
            again.append(item)
        else:
            item.refuse(str(error.get("code", "REFUSED")), str(error.get("message", "")), error.get("details"))
    for item in chunk:
        if item.outcome == "pending" and item not in again:
            item.refuse("NO_ANSWER", "the registry's bulk answer has no result for this record")
    return again


def wait_anchored(
    client: RegistryClient, items: Sequence[Item], timeout: float, on_progress: Callable[[int], None]
) -> None:
    """Poll the registry until every accepted item is anchored (or failed); set each item's ``status`` (a
    certificate still ``waiting`` at the timeout, e.g. its lab suspended, keeps the reason as its ``message``)."""
    waiting = {i.digest: i for i in items if i.digest and i.outcome in ("accepted", "existing")}
    labs = {i.lab_id for i in waiting.values() if i.lab_id}
    deadline = time.monotonic() + timeout
    remaining = {d for d, i in waiting.items() if i.status != "anchored"}
    on_progress(len(waiting) - len(remaining))
    while remaining:
        pending: set[str] = set()
        failed: dict[str, str | None] = {}
        for lab in labs:
            for status in ("pending", "waiting", "failed"):
                for row in _listing(client, lab, status):
                    if status == "failed":
                        failed[row["digest"]] = (row.get("reason") or {}).get("message") or row.get("error")
                        continue
                    pending.add(row["digest"])
                    if status == "waiting" and row["digest"] in waiting:
                        waiting[row["digest"]].status = "waiting"
                        waiting[row["digest"]].message = (row.get("reason") or {}).get("message")
        for digest in list(remaining):
            if digest in failed:
                waiting[digest].status = "failed"
                waiting[digest].message = failed[digest]
                remaining.discard(digest)
            elif digest not in pending:
                waiting[digest].status = "anchored"
                remaining.discard(digest)
        on_progress(len(waiting) - len(remaining))
        if not remaining or time.monotonic() > deadline:
            break
        time.sleep(0.3)


def _listing(client: RegistryClient, lab_id: str, status: str) -> Iterator[dict[str, Any]]:
    cursor: Any = None
    while True:
        page = client.certificates(lab_id=lab_id, status=status, cursor=cursor, limit=1000)
        yield from page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _passphrase() -> bytes:
    env = os.environ.get(KEY_PASSPHRASE_ENV)
    if env:
        return env.encode("utf-8")
    text: str = typer.prompt("Key passphrase", hide_input=True)
    return text.encode("utf-8")


def _date_option(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _usage(f"{option} must be YYYY-MM-DD") from None


def issue(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Record JSON files, DCC XML files, CSV files, or folders (searched recursively)."),
    ],
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    sign_with: Annotated[
        Path | None,
        typer.Option(
            "--sign-with",
            exists=True,
            dir_okay=False,
            help=f"Sign locally with the lab's key file (lab-signing mode); passphrase from ${KEY_PASSPHRASE_ENV}.",
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Publish every certificate (anyone may download its proof bundle): for reference standards' "
            "certificates. Also publishes those the registry had already; never unpublishes.",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every certificate is anchored.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 300.0,
    chunk_size: Annotated[int, typer.Option(min=1, max=1000, help="Records per bulk request.")] = 500,
    retry_for: Annotated[
        float,
        typer.Option(
            min=0,
            help="While the registry cannot ask the chain (503 CHAIN_UNAVAILABLE), retry for at most this many "
            "seconds, waiting what its Retry-After says.",
        ),
    ] = 120.0,
    lab_code: Annotated[str | None, typer.Option(help="DCC: the issuing lab's code (lab id derives from it).")] = None,
    lab_name: Annotated[
        str | None,
        typer.Option(help="DCC: the issuing lab's name as registered on chain, if the DCC writes it otherwise."),
    ] = None,
    issue_date: Annotated[str | None, typer.Option(help="DCC: issue date YYYY-MM-DD (a DCC has none).")] = None,
    category_code: Annotated[str | None, typer.Option(help="DCC: instrument category code.")] = None,
    kind: Annotated[str | None, typer.Option(help="DCC: record kind (default CALIBRATION).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="DCC: YYYY-MM-DD.")] = None,
    authorization_number: Annotated[str | None, typer.Option(help="DCC: 授权证书号.")] = None,
    customer_usci: Annotated[str | None, typer.Option(help="DCC: customer's unified social credit code.")] = None,
    method_reference: Annotated[str | None, typer.Option(help="DCC: e.g. JJF 1033-2023.")] = None,
    mandatory_verification: Annotated[
        bool | None, typer.Option("--mandatory-verification/--not-mandatory", help="DCC: 强检 or not.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome of every certificate as JSON.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every certificate, not only refusals.")
    ] = False,
) -> None:
    """Issue certificates through the registry: records are sent in bulk, DCC files one by one with the XML.

    \b
    Inputs:
      *.json  one record object, or an array of records
      *.xml   a PTB DCC (3.0.0, 3.1.1, 3.1.2), imported with the --lab-code, --issue-date, ... options
      *.csv   one record per row; the header row names record fields by dotted path, arrays by index:
                certificate_number,kind,dates.performance_begin,dates.performance_end,dates.issue_date,
                item.name,item.category_code,item.serial_number,customer.name,lab.lab_id,lab.name,
                persons.0.name,persons.0.role,method.reference,results.0.quantity,results.0.value,results.0.unit,
                results.0.expanded_uncertainty,results.0.coverage_factor,...
              empty cells are left out; every value is text (numbers as written, e.g. 0.10), except
              customer.mandatory_verification: true/false. Refusals name the file and line.

    Without --sign-with the registry signs with the key it holds for the lab. With --public anyone may download
    the certificates' proof bundles (certificates of reference standards, which verifiers of the certificates
    they calibrate must fetch). While the registry cannot ask the chain (503) the requests are sent again, as its
    Retry-After says, for at most --retry-for seconds; running the command again is always safe (certificates
    already accepted come back as existing, failed ones are queued again). Exit code 1 when any certificate was
    refused or not sent (or, with --wait, not anchored).
    """
    with reporting_errors():
        if not token:
            raise _usage("give the lab's API token: --token or $TRACECERT_TOKEN")
        if kind is not None and kind not in Kind.__members__:
            raise _usage(f"--kind must be one of {', '.join(Kind.__members__)}")
        overrides = DccOverrides(
            kind=Kind(kind) if kind else None,
            issue_date=_date_option(issue_date, "--issue-date"),
            valid_until=_date_option(valid_until, "--valid-until"),
            category_code=category_code,
            lab_code=lab_code,
            lab_name=lab_name,
            authorization_number=authorization_number,
            customer_usci=customer_usci,
            mandatory_verification=mandatory_verification,
            method_reference=method_reference,
        )
        items = read_items(paths, overrides)
        if not items:
            raise _usage("no certificates found (.json, .xml or .csv)")
        if sign_with is not None:
            sign_items(items, load_key_file(sign_with, _passphrase()))
        fatal: RegistryClientError | None = None
        with RegistryClient(registry, token) as client, _progress() as progress:
            task = progress.add_task("issuing", total=len(items))
            try:
                send_items(
                    client,
                    items,
                    chunk_size=chunk_size,
                    advance=lambda n: progress.advance(task, n),
                    public=public,
                    retry_for=retry_for,
                )
            except RegistryClientError as exc:
                fatal = exc
            if wait and fatal is None:
                waited = sum(1 for i in items if i.digest)
                anchor_task = progress.add_task("anchoring", total=waited)
                try:
                    wait_anchored(
                        client, items, wait_timeout, lambda done: progress.update(anchor_task, completed=done)
                    )
                except RegistryClientError as exc:
                    fatal = exc
        _report(items, as_json=as_json, verbose=verbose, waited=wait)
        if fatal is not None:
            raise CliError(fatal.code, fatal.message, details=fatal.details)
        refused = any(i.outcome == "refused" for i in items)
        unanchored = wait and any(i.digest and i.status != "anchored" for i in items)
        if refused or unanchored:
            raise typer.Exit(1)


def _report(items: Sequence[Item], *, as_json: bool, verbose: bool, waited: bool) -> None:
    counts = {k: sum(1 for i in items if i.outcome == k) for k in ("accepted", "existing", "refused", "pending")}
    if as_json:
        summary = {
            "accepted": counts["accepted"],
            "existing": counts["existing"],
            "refused": counts["refused"],
            "not_sent": counts["pending"],
            "items": [i.to_dict() for i in items],
        }
        if waited:
            summary["anchored"] = sum(1 for i in items if i.status == "anchored")
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title="tracecert issue", show_header=False)
    table.add_row("accepted", str(counts["accepted"]))
    table.add_row("already there", str(counts["existing"]))
    table.add_row("refused", str(counts["refused"]))
    published = sum(1 for i in items if i.public)
    if published:
        table.add_row("public", str(published))
    if counts["pending"]:
        table.add_row("not sent", str(counts["pending"]))
    if waited:
        table.add_row("anchored", str(sum(1 for i in items if i.status == "anchored")))
        failed = sum(1 for i in items if i.digest and i.status != "anchored")
        if failed:
            table.add_row("not anchored", str(failed))
    console.print(table)
    refused = [i for i in items if i.outcome == "refused"]
    if refused:
        console.print("refused (source, certificate number, code: reason):", markup=False)
        for item in refused:
            console.print(f"  {item.source}  {item.number or '-'}  {item.code}: {item.message}", markup=False)
            for line in _detail_lines(item.details)[:5]:
                console.print(f"      {line}", markup=False)
    if verbose:
        rows = Table("source", "certificate", "outcome", "digest", "status", title="certificates")
        for item in items:
            if item.outcome != "refused":
                rows.add_row(item.source, item.number, item.outcome, item.digest or "", item.status or "")
        console.print(rows)


# ====================================================================== tracecert publish / revoke / status

_DIGEST = re.compile(r"0x[0-9a-f]{64}")
_PUBLISH_FATAL = ("UNAUTHORIZED", "REGISTRY_UNREACHABLE")


def publish(
    digests: Annotated[list[str], typer.Argument(help="Certificate digests (0x + 64 hex).")],
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome of every digest as JSON.")] = False,
) -> None:
    """Publish certificates (their lab, or a regulator over the lab): anyone may then download their proof
    bundles, e.g. the certificates of reference standards that others' certificates cite. Publishing again changes
    nothing; a published certificate is never made private again. Exit code 1 when any digest was refused."""
    with reporting_errors():
        if not token:
            raise _usage("give an API token: --token or $TRACECERT_TOKEN")
        wanted = list(dict.fromkeys(d.strip().lower() for d in digests))
        bad = [d for d in wanted if not _DIGEST.fullmatch(d)]
        if bad:
            raise _usage(f"not a certificate digest (0x + 64 hex): {', '.join(bad)}")
        outcomes: list[dict[str, Any]] = []
        with RegistryClient(registry, token) as client:
            for digest in wanted:
                try:
                    view = _with_retries(lambda d=digest: client.publish(d))  # type: ignore[misc]
                except RegistryClientError as exc:
                    if exc.code in _PUBLISH_FATAL:
                        raise
                    outcomes.append({"digest": digest, "outcome": "refused", **exc.to_dict()})
                    continue
                outcomes.append({"digest": digest, "outcome": "published", "status": view.get("status")})
        refused = [o for o in outcomes if o["outcome"] == "refused"]
        if as_json:
            summary = {"published": len(outcomes) - len(refused), "refused": len(refused), "items": outcomes}
            typer.echo(json.dumps(summary, ensure_ascii=False))
        else:
            for o in outcomes:
                if o["outcome"] == "published":
                    console.print(f"published    {o['digest']} ({o['status']})", markup=False)
                else:
                    _print_error(o["code"], f"{o['digest']}: {o['message']}", o.get("details"))
        if refused:
            raise typer.Exit(1)


def parse_reason(value: str) -> RevocationReason:
    """A revocation reason by name (``error-in-content``, ``FRAUD``) or code (``1``).

    Raises:
        CliError: USAGE for an unknown reason.
    """
    text = value.strip().upper().replace("-", "_")
    try:
        return RevocationReason(int(text)) if text.isdigit() else RevocationReason[text]
    except (KeyError, ValueError):
        names = ", ".join(r.name for r in RevocationReason)
        raise _usage(f"--reason must be one of {names}") from None


def revoke(
    digest: Annotated[str, typer.Argument(help="The certificate digest (0x + 64 hex).")],
    reason: Annotated[
        str,
        typer.Option(
            help="ERROR_IN_CONTENT, KEY_COMPROMISE, SUPERSEDED, FRAUD, INSTRUMENT_WITHDRAWN, LAB_REQUEST, "
            "REGULATOR_ORDER (or its code)."
        ),
    ],
    effective_time: Annotated[
        str | None,
        typer.Option(help="From when it is void: YYYY-MM-DD, ISO date-time or Unix seconds (default: now)."),
    ] = None,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Revoke a certificate (its lab, or a regulator over the lab); the registry puts it on chain."""
    with reporting_errors():
        if not token:
            raise _usage("give an API token: --token or $TRACECERT_TOKEN")
        why = parse_reason(reason)
        when = parse_time(effective_time) if effective_time else None
        with RegistryClient(registry, token) as client:
            answer = client.revoke(digest.lower(), why.name, when)
        if as_json:
            typer.echo(json.dumps(answer, ensure_ascii=False))
            return
        console.print(f"revocation   {digest.lower()}: {why.name} ({answer.get('state', 'pending')})")


def status(
    digest: Annotated[str | None, typer.Argument(help="The certificate digest.")] = None,
    lab: Annotated[str | None, typer.Option("--lab", help="With --number: the lab's id or code.")] = None,
    number: Annotated[str | None, typer.Option("--number", help="The certificate number.")] = None,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry's answer as JSON.")] = False,
) -> None:
    """Show a certificate's status in the registry: by digest, or by --lab and --number."""
    with reporting_errors():
        if (digest is None) == (lab is None or number is None):
            raise _usage("give a DIGEST, or --lab and --number")
        with RegistryClient(registry, token) as client:
            if digest is not None:
                view = client.certificate(digest.lower())
            else:
                assert lab is not None and number is not None
                view = client.certificate_by_number(to_hex(_lab_ref(lab)[0]), number)
        if as_json:
            typer.echo(json.dumps(view, ensure_ascii=False))
            return
        for line in status_lines(view):
            console.print(line, markup=False)


def status_lines(view: Mapping[str, Any]) -> list[str]:
    """A certificate view as plain lines. The status says what the certificate is worth now: a certificate revoked
    or substituted on chain reads so, not "anchored" (that it was anchored follows on the batch line)."""
    op = view.get("lifecycle")
    status = str(view.get("status"))
    if op and op.get("state") == "done" and op.get("op") in ("revoke", "substitute"):
        effective = op.get("effective_time")
        now = dt.datetime.now(dt.UTC).timestamp()
        if not effective or effective <= now:
            status = "revoked" if op["op"] == "revoke" else "substituted"
            if op["op"] == "revoke":
                status += f" ({_reason_text(op.get('reason'))})"
            status += f" — was {view.get('status')}"
    lines = [
        f"digest       {view.get('digest')}",
        f"certificate  {view.get('certificate_number') or '(withheld)'} ({view.get('kind')}, category "
        + _category(str(view.get("category_code")))
        + (f", serial {view['serial_number']}" if view.get("serial_number") else "")
        + ")",
        f"lab          {view.get('lab_id')}",
        f"issued       {view.get('issue_date')}",
        f"status       {status}" + (f" ({view['error']})" if view.get("error") else ""),
    ]
    reason = view.get("reason")
    if isinstance(reason, Mapping) and reason.get("message"):
        lines.append(f"reason       {reason['message']}")
    if view.get("superseded_by"):
        lines.append(f"superseded   by {view['superseded_by']} (same number; this one never reached the chain)")
    if "public" in view:
        lines.append(f"public       {'yes (anyone may download its bundle)' if view['public'] else 'no'}")
    batch = view.get("batch")
    if batch:
        lines.append(
            f"batch        {batch.get('root')} leaf {batch.get('leaf_index')} of {batch.get('size')}"
            + (f", block {batch['block_number']}" if batch.get("block_number") is not None else "")
        )
        if batch.get("tx_hash"):
            lines.append(f"anchor tx    {batch['tx_hash']} at {_show_time(batch.get('block_timestamp'))}")
    if view.get("replaces"):
        lines.append(f"replaces     {view['replaces']}")
    if op:
        what = "revoked" if op.get("op") == "revoke" else "substituted"
        text = f"{what:<12} {_reason_text(op.get('reason')) if op.get('op') == 'revoke' else ''}".rstrip()
        if op.get("replaced_by"):
            text += f" by {op['replaced_by']}"
        if op.get("effective_time"):
            text += f", effective {_show_time(op['effective_time'])}"
        text += f" [{op.get('state')}" + (f", tx {op['tx_hash']}" if op.get("tx_hash") else "") + "]"
        lines.append(text)
    lines.append(f"signed by    {view.get('signed_by')} (key {view.get('key_id')})")
    return lines


# ====================================================================== tracecert registry serve|worker

registry_app = typer.Typer(
    help="Run the registry: the HTTP API (with the anchoring worker) or the worker alone.", no_args_is_help=True
)


@registry_app.command("serve")
def registry_serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: settings, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings, 8000).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Run the API only (run `registry worker` apart).")
    ] = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Serve the registry API with uvicorn (settings from $TRACECERT_REGISTRY_*), with the anchoring worker."""
    import uvicorn

    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url, run_worker=not no_worker)
        _require_secret(settings)
        from registry.api import create_app

        core = RegistryCore.open(settings, connect(settings))
        app = create_app(settings, core=core, run_worker=not no_worker)
        uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


@registry_app.command("worker")
def registry_worker(data_dir: DataDir = None, rpc_url: RpcUrl = None) -> None:
    """Run the anchoring worker alone until Ctrl-C (one per database)."""
    from registry.anchoring import AnchoringWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url)
        _require_secret(settings)
        core = RegistryCore.open(settings, connect(settings))
        worker = AnchoringWorker(core)

        def _stop(*_: object) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        console.print(f"anchoring worker running on {settings.database.split('@')[-1]}; Ctrl-C stops it")
        worker.run()
        core.engine.dispose()
        console.print("anchoring worker stopped")


def _require_secret(settings: RegistrySettings) -> None:
    try:
        settings.secret_bytes()
    except ValueError as exc:
        raise CliError("SECRET_MISSING", str(exc), exit_code=2) from exc


# ====================================================================== registration


def register(root: typer.Typer) -> None:
    """Add the registry's commands to the ``tracecert`` application."""
    root.add_typer(regulator_app, name="regulator")
    root.add_typer(lab_app, name="lab")
    root.command("issue")(issue)
    root.command("publish")(publish)
    root.command("revoke")(revoke)
    root.command("status")(status)
    root.add_typer(registry_app, name="registry")
