"""Regulators' commands: ``tracecert regulator register|token`` (regulators on chain, their API tokens) and what a
regulator does to a lab: ``tracecert lab register|authorize|suspend|reinstate``, and ``lab show`` (anyone may read it).
They act on chain with an account (:func:`~registry.cli.common.acting_account`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from registry.cli.common import (
    ActAs,
    CliError,
    DataDir,
    Keystore,
    LabOption,
    RpcUrl,
    acting_account,
    category,
    choices_help,
    console,
    err,
    lab_ref,
    named,
    parse_choice,
    parse_lab_kind,
    parse_time,
    reporting_errors,
    show_time,
    usage_error,
)
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
    parent_regulator_role,
    parse_scope,
    registry_settings,
    regulator_info,
    require_may_verify,
)
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.chain.errors import ContractReverted
from tracecert.chain.local import DevKeyring
from tracecert.chain.types import LabKind, SanctionReason

__all__ = [
    "lab_authorize",
    "lab_register",
    "lab_reinstate",
    "lab_show",
    "lab_suspend",
    "regulator_register",
    "regulator_token",
]

# ====================================================================== tracecert regulator ...


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


# ====================================================================== tracecert lab ... (a regulator's)


def _window(valid_from: str | None, valid_until: str, now: int) -> tuple[int, int]:
    """An authorization's first and last moment from --valid-from (default: the chain's today) and --valid-until."""
    today = dt.datetime.fromtimestamp(now, CHINA).date().isoformat()
    start = parse_time(valid_from or today)
    end = parse_time(valid_until, end_of_day=True)
    if end <= start:
        raise usage_error("--valid-until must be after --valid-from")
    return start, end


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
        for category_code, bits in activities.items():
            console.print(f"  scope      {category(category_code)}: {bits.name or int(bits)}")
        console.print(f"by           {who}")


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


def _status_change(
    lab: str,
    reason: int,
    suspend: bool,
    data_dir: Path | None,
    rpc_url: str | None,
    as_role: str | None,
    keystore: Path | None,
) -> None:
    """Suspend (with ``reason``) or reinstate a lab as the acting regulator; print the status before and after."""
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
            try:
                contracts.reinstate_lab(regulator, lab_id)
            except ContractReverted as exc:
                if exc.error != "TrustRegistryDecisionOfHigherAuthority":
                    raise
                author, jurisdiction = exc.args_decoded[0], int(exc.args_decoded[1])
                level = "the national authority (国家)" if jurisdiction == 0 else f"jurisdiction {jurisdiction}"
                raise CliError(
                    "DECISION_OF_HIGHER_AUTHORITY",
                    f"the lab was suspended by regulator {author}, of {level}; only that regulator or one whose "
                    f"jurisdiction covers it may reinstate the lab (act as it with --as or --keystore)",
                ) from exc
        console.print(f"lab          {to_hex(lab_id)}")
        console.print(f"status       {lab_state(contracts, lab_id)['status']} (was {state['status']})")
        if suspend:
            console.print(f"reason       {reason_name(reason)}")
        console.print(f"by           {who}")


def parse_suspension_reason(value: str) -> int:
    """A suspension's reason: a regulator's reason by name or number (``false-certificate``, ``1``; see
    :class:`~tracecert.chain.types.SanctionReason`), or any other code the chain records (up to 255).

    Raises:
        CliError: USAGE naming the reasons, for anything else.
    """
    text = value.strip()
    if text.isdigit() and 1 <= int(text) <= 255:
        return int(text)
    return int(parse_choice(tuple(SanctionReason), text, "--reason", numbered=True))


def reason_name(reason: int) -> str:
    """A suspension's reason as a person reads it: its names (zh / en), or its bare code when it has none."""
    try:
        return f"{named(SanctionReason(reason))} ({reason})"
    except ValueError:
        return f"reason code {reason} (no name)"


def lab_suspend(
    lab: LabOption,
    reason: Annotated[
        str,
        typer.Option(
            help=f"Why (required: a suspension without a reason is not one a lab can answer), by name or number: "
            f"{choices_help(tuple(SanctionReason), numbered=True)} (other codes up to 255 are recorded as given)."
        ),
    ],
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator suspends a lab: the registry refuses its certificates (LAB_SUSPENDED) until reinstated."""
    with reporting_errors():
        code = parse_suspension_reason(reason)
    _status_change(lab, code, True, data_dir, rpc_url, as_role, keystore)


def lab_reinstate(
    lab: LabOption,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator reinstates a suspended lab."""
    _status_change(lab, 0, False, data_dir, rpc_url, as_role, keystore)


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
            for category_code, activity in a["scope"].items():
                console.print(f"  scope      {category(category_code)}: {activity}")
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
