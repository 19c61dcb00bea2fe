"""``tracecert chain ...``: start a local chain, deploy the contracts, show where they are."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tracecert.chain.client import ChainClient
from tracecert.chain.config import ChainSettings
from tracecert.chain.deploy import Deployment, deploy, find_deployment
from tracecert.chain.errors import ChainError
from tracecert.chain.local import ensure_local_deployment, load_keystore
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import FileJournal, TransactionSender

__all__ = ["register"]

app = typer.Typer(
    help="The chain: start a local node, deploy the contracts, show the deployment.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default $TRACECERT_DATA_DIR or .tracecert)")
]


def _settings(data_dir: Path | None) -> ChainSettings:
    settings = ChainSettings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings


def _fail(exc: ChainError) -> typer.Exit:
    err.print(f"[red]error[/red] {exc.code}: {exc}")
    return typer.Exit(1)


def _print_deployment(url: str, deployment: Deployment, new: bool) -> None:
    console.print(f"chain        {url} (chain id {deployment.chain_id})")
    console.print(f"deployment   {'deployed now' if new else 'found existing'} at block {deployment.block_number}")
    console.print(f"TrustRegistry        {deployment.trust_registry}")
    console.print(f"CertificateRegistry  {deployment.certificate_registry}")
    console.print(f"national authority   {deployment.national_authority}")


@app.command("up")
def up(
    data_dir: DataDir = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Leave the node running in the background")] = False,
    port: Annotated[int | None, typer.Option(help="Port of the local node")] = None,
) -> None:
    """Start the local Anvil chain (state kept in the data directory) and deploy the contracts if needed.

    Runs until Ctrl-C, or with --detach returns and leaves the node running (stop it with `tracecert chain down`).
    """
    settings = _settings(data_dir)
    node = AnvilNode(
        settings.data_dir,
        host=settings.anvil_host,
        port=port or settings.anvil_port,
        chain_id=settings.chain_id,
        block_time=settings.block_time,
    )
    try:
        running = AnvilNode.detached_url(settings.data_dir)
        url = running or node.start(detach=detach)
        deployment, new = ensure_local_deployment(ChainClient(url), settings.data_dir)
    except ChainError as exc:
        node.stop()
        raise _fail(exc) from exc
    _print_deployment(url, deployment, new)
    if running or detach:
        console.print(
            f"node         running in the background{' (already)' if running else ''}; "
            "stop it with `tracecert chain down`"
        )
        return
    console.print("node         running; press Ctrl-C to stop (state is kept)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        console.print("node         stopped; state saved")


@app.command("down")
def down(data_dir: DataDir = None) -> None:
    """Stop a local node started with `tracecert chain up --detach`."""
    settings = _settings(data_dir)
    stopped = AnvilNode.stop_detached(settings.data_dir)
    console.print("node stopped; state saved" if stopped else "no detached node was running")


@app.command("deploy")
def deploy_command(
    rpc_url: Annotated[str, typer.Option(envvar="TRACECERT_CHAIN_RPC_URL", help="JSON-RPC URL of the node")],
    keystore: Annotated[Path, typer.Option(help="Encrypted JSON keystore of the deploying account")],
    national_authority: Annotated[str, typer.Option(help="Address of the national regulator (root of trust)")],
    data_dir: DataDir = None,
) -> None:
    """Deploy the contracts to any EVM node and write the deployment file.

    The keystore passphrase is read from $TRACECERT_KEYSTORE_PASSPHRASE or asked for.
    """
    settings = _settings(data_dir)
    passphrase = os.environ.get("TRACECERT_KEYSTORE_PASSPHRASE") or typer.prompt("Keystore passphrase", hide_input=True)
    try:
        account = load_keystore(keystore, passphrase)
    except ValueError as exc:
        err.print("[red]error[/red] KEYSTORE_INVALID: cannot decrypt the keystore (wrong passphrase?)")
        raise typer.Exit(2) from exc
    client = ChainClient(rpc_url)
    try:
        sender = TransactionSender(
            client,
            account,
            FileJournal(settings.data_dir / "journal" / "deployer.jsonl"),
            confirmations=settings.confirmations,
            receipt_timeout=settings.receipt_timeout,
        )
        deployment = deploy(client, sender, national_authority=national_authority)
    except ChainError as exc:
        raise _fail(exc) from exc
    deployment.save(settings.deployment_file)
    _print_deployment(rpc_url, deployment, True)


@app.command("status")
def status(
    data_dir: DataDir = None,
    rpc_url: Annotated[str | None, typer.Option(envvar="TRACECERT_CHAIN_RPC_URL")] = None,
) -> None:
    """Check the recorded deployment against the chain."""
    settings = _settings(data_dir)
    url = rpc_url or AnvilNode.detached_url(settings.data_dir) or f"http://{settings.anvil_host}:{settings.anvil_port}"
    try:
        client = ChainClient(url)
        deployment = find_deployment(client, settings.deployment_file)
    except ChainError as exc:
        raise _fail(exc) from exc
    _print_deployment(url, deployment, False)


def register(root: typer.Typer) -> None:
    """Add the ``chain`` command group to the ``tracecert`` application."""
    root.add_typer(app, name="chain")
