"""Operators' commands, run where the registry runs (its database and key custody): ``tracecert registry
serve|worker``, ``tracecert lab onboard`` (the lab admin's onboarding with this registry) and ``tracecert lab
token issue|revoke|list``."""

from __future__ import annotations

import datetime as dt
import logging
import signal
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
    LabOption,
    RpcUrl,
    acting_account,
    console,
    err,
    lab_ref,
    reporting_errors,
)
from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.onboarding import connect, onboard_lab, registry_settings
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.signing import read_key_file_public
from tracecert.serving import settle_heap

__all__ = ["lab_onboard", "registry_serve", "registry_worker", "token_issue", "token_list", "token_revoke"]

# ====================================================================== tracecert registry serve|worker


def registry_serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: settings, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings, 8000).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Run the API only (run `registry worker` apart).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="API processes sharing the port (SO_REUSEPORT), the anchoring worker then in a process of its own; "
            "one per core serves most.",
            min=1,
        ),
    ] = 1,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Serve the registry API with uvicorn (settings from $TRACECERT_REGISTRY_*), with the anchoring worker."""
    from registry.server import serve

    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url, run_worker=not no_worker)
        _require_secret(settings)
        serve(
            host or settings.host,
            port or settings.port,
            workers=workers,
            run_worker=not no_worker,
            data_dir=data_dir,
            rpc_url=rpc_url,
        )


def registry_worker(data_dir: DataDir = None, rpc_url: RpcUrl = None) -> None:
    """Run the anchoring worker alone until Ctrl-C (one per database)."""
    from registry.anchoring import AnchoringWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url)
        _require_secret(settings)
        core = RegistryCore.open(settings, connect(settings, wait=60.0))
        worker = AnchoringWorker(core)
        settle_heap()

        def _stop(*_: object) -> None:
            worker.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        console.print(f"anchoring worker running on {settings.database.split('@')[-1]}; Ctrl-C stops it")
        worker.run()
        core.engine.dispose()
        console.print("anchoring worker stopped")


def _require_secret(settings: RegistrySettings) -> None:
    """Refuse to start without the key-custody secret (SECRET_MISSING, a usage error)."""
    try:
        settings.secret_bytes()
    except ValueError as exc:
        raise CliError("SECRET_MISSING", str(exc), exit_code=2) from exc


# ====================================================================== tracecert lab onboard

KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        exists=True,
        dir_okay=False,
        help="The lab's own key file (`tracecert key generate`): lab-signing mode. Else the registry holds a key.",
    ),
]


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


# ====================================================================== tracecert lab token ...


def token_issue(
    lab: LabOption,
    label: Annotated[str, typer.Option(help="A note on the token, e.g. LIMS.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Issue a new API token for a lab (shown once)."""
    with reporting_errors():
        lab_id, _ = lab_ref(lab)
        core = _core_without_chain(registry_settings(data_dir))
        token_id, token = core.issue_token("LAB", lab_id=to_hex(lab_id), label=label)
        console.print(f"token id     {token_id}")
        console.print(f"token        {token}")
        err.print("keep the token now: it is stored only hashed and cannot be shown again", markup=False)


def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (`tracecert lab token list`).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke an API token for good."""
    with reporting_errors():
        core = _core_without_chain(registry_settings(data_dir))
        core.revoke_token(token_id)
        console.print(f"token {token_id} revoked")


def token_list(lab: LabOption, data_dir: DataDir = None) -> None:
    """List a lab's tokens (ids, labels, dates; never the tokens)."""
    from registry.db import ApiToken

    with reporting_errors():
        lab_id, _ = lab_ref(lab)
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
