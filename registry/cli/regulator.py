"""Regulators' commands: ``tracecert regulator register|token`` and ``tracecert lab register|authorize|onboard|
token|suspend|reinstate|show`` (what a regulator does to a lab, and a lab admin's onboarding with the registry)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from registry.cli.common import (
    ActAs,
    CliError,
    DataDir,
    Keystore,
    RpcUrl,
    acting_account,
    category,
    console,
    err,
    lab_ref,
    parse_lab_kind,
    parse_time,
    reporting_errors,
    show_time,
    usage_error,
)
from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.onboarding import (
    CHINA,
    authorize_lab,
    connect,
    default_regulator_role,
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
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.signing import read_key_file_public
from tracecert.chain.local import DevKeyring
from tracecert.chain.types import LabKind

__all__ = ["lab_app", "regulator_app"]

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
        parent, who = acting_account(contracts, settings, keystore, as_role, parent_regulator_role(jurisdiction))
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
            raise usage_error("give --account or --jurisdiction")
        role = f"regulator-{jurisdiction}"
        address = account or DevKeyring(settings.data_dir).account(role).address
        core = RegistryCore.open(settings, connect(settings))
        if not regulator_info(core.chain, address)["exists"]:
            raise CliError("NOT_REGULATOR", f"{address} is not a regulator on chain")
        if hold_account:
            if account is not None:
                raise usage_error(
                    "--hold-account holds a development account; give --jurisdiction instead of --account"
                )
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
        raise usage_error("--valid-until must be after --valid-from")
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
        lab_kind = parse_lab_kind(kind)
        activities = parse_scope(scope)
        require_may_verify(lab_kind, activities)  # before the lab is registered: nothing half done
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        default = default_regulator_role(contracts, settings.data_dir, jurisdiction, lab_kind)
        regulator, who = acting_account(contracts, settings, keystore, as_role, default)
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
        console.print(f"authorized   {authorization_number} #{index}: {show_time(start)} .. {show_time(end)}")
        for code, bits in activities.items():
            console.print(f"  scope      {category(code)}: {bits.name or int(bits)}")
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
        lab_id, _ = lab_ref(lab)
        activities = parse_scope(scope)
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        state = lab_state(contracts, lab_id)
        default = default_regulator_role(contracts, settings.data_dir, state["jurisdiction"], None)
        regulator, who = acting_account(contracts, settings, keystore, as_role, default)
        start, end = _window(valid_from, valid_until, contracts.client.block_timestamp())
        index = authorize_lab(contracts, regulator, lab_id, authorization_number, start, end, activities)
        console.print(
            f"authorized   {to_hex(lab_id)} {authorization_number} #{index}: {show_time(start)} .. {show_time(end)}"
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
        admin, who = acting_account(contracts, settings, keystore, as_role, f"lab-admin-{code}")
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
        lab_id, _ = lab_ref(lab)
        core = core_without_chain(registry_settings(data_dir))
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
        core = core_without_chain(registry_settings(data_dir))
        core.revoke_token(token_id)
        console.print(f"token {token_id} revoked")


@token_app.command("list")
def token_list(lab: LabOption, data_dir: DataDir = None) -> None:
    """List a lab's tokens (ids, labels, dates; never the tokens)."""
    from registry.db import ApiToken

    with reporting_errors():
        lab_id, _ = lab_ref(lab)
        core = core_without_chain(registry_settings(data_dir))
        with core.sessions() as s:
            rows = list(s.scalars(select(ApiToken).where(ApiToken.lab_id == to_hex(lab_id)).order_by(ApiToken.id)))
        table = Table("id", "label", "created", "revoked")
        for r in rows:
            table.add_row(str(r.id), r.label, r.created_at.isoformat(timespec="seconds"), iso_time(r.revoked_at))
        console.print(table)


def iso_time(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def core_without_chain(settings: RegistrySettings) -> RegistryCore:
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
        lab_id, _ = lab_ref(lab)
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        state = lab_state(contracts, lab_id)
        default = default_regulator_role(contracts, settings.data_dir, state["jurisdiction"], LabKind[state["kind"]])
        regulator, who = acting_account(contracts, settings, keystore, as_role, default)
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
        lab_id, _ = lab_ref(lab)
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
                f"authorization #{a['index']} {a['number']}: {show_time(a['valid_from'])} .. "
                f"{show_time(a['valid_until'])}"
            )
            for code, activity in a["scope"].items():
                console.print(f"  scope      {category(code)}: {activity}")
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
