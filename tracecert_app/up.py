"""``tracecert up``: the whole local system in one process — chain, contracts, registry (with its anchoring
worker), verifier, and the demo data — until Ctrl-C.

State lives in the data directory: the chain (``anvil-state.json``), the deployment, the registry's database and
key-custody secret, and the demo's tokens. A second ``up`` finds all of it again. While it runs,
``<data_dir>/up.json`` says where everything listens (other commands and tests read it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.console import Console

from tracecert.chain.config import ChainSettings
from tracecert.serving import settle_heap
from verifier.api import create_app as create_verifier_app
from verifier.bootstrap import SERVED_CHAIN_VIEW
from verifier.config import VerifierSettings

__all__ = ["Served", "chain_timing", "register", "serve_in_thread", "up"]

logger = logging.getLogger(__name__)

console = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@dataclass
class Served:
    """A uvicorn server running in a thread."""

    name: str
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def serve_in_thread(name: str, app: Any, host: str, port: int, timeout: float = 30.0) -> Served:
    """Serve an ASGI app with uvicorn in a thread; return once it listens.

    Raises:
        RuntimeError: the server did not start (its error is logged by uvicorn).
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"{name}-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the {name} did not start on {host}:{port}")
        time.sleep(0.05)
    return Served(name, server, thread)


def up(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default $TRACECERT_DATA_DIR or .tracecert).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address the registry and verifier listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Registry port (default 8000).")] = None,
    verifier_port: Annotated[int, typer.Option(help="Verifier port.")] = 8001,
    chain_port: Annotated[int | None, typer.Option(help="Port of the local chain node (default 8545).")] = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Seed the demo data (once).")] = True,
    block_time: Annotated[
        float | None,
        typer.Option(
            "--block-time",
            min=0,
            help="Seconds between blocks of the local chain, mined on a clock as a real network does (default "
            "$TRACECERT_CHAIN_BLOCK_TIME; 0 or unset: a block per transaction).",
        ),
    ] = None,
    confirmations: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Blocks a transaction's block needs, itself included, before the registry counts it done and the "
            "verifier reads it (default $TRACECERT_CHAIN_CONFIRMATIONS or 1).",
        ),
    ] = None,
) -> None:
    """Start everything locally: chain, contracts, registry with its worker, verifier, demo data; Ctrl-C stops it.

    The chain's state, the deployment, the registry's database and the demo data stay in the data directory, so
    the next `tracecert up` finds them again. A node left running by `tracecert chain up --detach` is reused.
    With --block-time the chain mines on a clock, and with --confirmations N the registry's worker and the verifier
    wait for N blocks, as they would on a production network; a data directory may be restarted with other values.
    """
    from registry.cli import CliError, reporting_errors
    from registry.config import ensure_local_secret
    from registry.core import RegistryCore
    from registry.onboarding import registry_settings
    from tracecert.chain.client import ChainClient
    from tracecert.chain.contracts import ChainContracts
    from tracecert.chain.local import ensure_local_deployment
    from tracecert.chain.node import AnvilNode

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with reporting_errors():
        settings = registry_settings(data_dir)
        if settings.chain.rpc_url:
            raise CliError(
                "NOT_LOCAL",
                "tracecert up runs the local chain; unset TRACECERT_CHAIN_RPC_URL (or use `registry serve`)",
                exit_code=2,
            )
        root = settings.data_dir
        root.mkdir(parents=True, exist_ok=True)
        registry_port = port or settings.port
        for what, number in (("registry", registry_port), ("verifier", verifier_port)):
            if not _port_free(host, number):
                raise CliError("PORT_IN_USE", f"the {what} port {host}:{number} is taken", exit_code=2)

        chain = chain_timing(settings.chain, block_time=block_time, confirmations=confirmations)
        node = AnvilNode(
            root,
            host=chain.anvil_host,
            port=chain_port or chain.anvil_port,
            chain_id=chain.chain_id,
            block_time=chain.block_time,
        )
        running = AnvilNode.detached_url(root)
        # Started in its own session, so a terminal's Ctrl-C reaches us and we stop it last, after the worker.
        url = running or node.start(detach=True)
        served: list[Served] = []
        core: RegistryCore | None = None
        try:
            client = ChainClient(url)
            deployment, new_deployment = ensure_local_deployment(client, root)
            secret_file = settings.secret_file
            if settings.secret is None and secret_file is None:
                secret_file = ensure_local_secret(root)
            registry_url = f"http://{host}:{registry_port}"
            verifier_url = f"http://{host}:{verifier_port}"
            settings = settings.model_copy(
                update={
                    "secret_file": secret_file,
                    "host": host,
                    "port": registry_port,
                    "verifier_url": verifier_url,
                    "chain": chain.model_copy(update={"rpc_url": url, "data_dir": root}),
                    # A local system: enterprises' webhooks may point at a receiver on this machine.
                    "webhook_allow_private": True,
                }
            )
            core = RegistryCore.open(settings, ChainContracts(client, deployment))
            # The verifier (settings from TRACECERT_VERIFIER_* for what is not given here) finds this system's chain
            # and registry; it fetches proof bundles from the registry, which gives them to regulators over the
            # lab: locally it reads them as the national authority. It verifies from its own event index (kept up
            # to date by a thread), not RPC round trips.
            verifier_settings = VerifierSettings(
                data_dir=root,
                rpc_url=url,
                registry_urls=[registry_url],
                registry_token=SecretStr(_national_token(core, root, deployment.national_authority)),
                chain_view=SERVED_CHAIN_VIEW,
                confirmations=chain.confirmations,
            )
            summary = None
            if demo:
                from tracecert_app.demo import seed_demo

                if not (root / "demo" / "demo.json").exists():
                    err.print("seeding the demo data (once) ...", markup=False)
                summary = seed_demo(core, root)  # a DemoError is a RegistryError: reported as the others are

            from registry.api import create_app

            served.append(
                serve_in_thread("registry", create_app(settings, core=core, run_worker=True), host, registry_port)
            )
            served.append(serve_in_thread("verifier", create_verifier_app(verifier_settings), host, verifier_port))
            verifier = verifier_url

            info = {
                "pid": os.getpid(),
                "chain": url,
                "chain_id": deployment.chain_id,
                "registry": registry_url,
                "verifier": verifier,
                "data_dir": str(root),
                "block_time": chain.block_time,
                "confirmations": chain.confirmations,
            }
            _write_json(root / "up.json", info)
            _print_banner(info, deployment, new_deployment, running is not None, summary)
            settle_heap()  # what the services keep is built: the collector leaves it alone from now on

            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(0.5):
                dead = [s.name for s in served if not s.thread.is_alive()]
                if dead:
                    raise CliError("SERVER_STOPPED", f"the {', '.join(dead)} stopped unexpectedly")
        finally:
            for s in reversed(served):
                s.stop()
            if core is not None:
                core.engine.dispose()
            (root / "up.json").unlink(missing_ok=True)
            if running is None:
                node.stop()
                node.pid_file.unlink(missing_ok=True)
        console.print(
            "stopped; chain state saved" if running is None else "stopped; the detached chain node keeps running",
            markup=False,
        )


def chain_timing(chain: ChainSettings, *, block_time: float | None, confirmations: int | None) -> ChainSettings:
    """``chain`` with the command line's block time and confirmations (None keeps the setting; a block time of 0 is
    a block per transaction), and a receipt timeout long enough for them: ten times the blocks a confirmed receipt
    takes (one to be mined, then the confirmations), never shorter than the configured one."""
    update: dict[str, Any] = {}
    if block_time is not None:
        update["block_time"] = block_time or None
    if confirmations is not None:
        update["confirmations"] = confirmations
    chain = chain.model_copy(update=update)
    if chain.block_time:
        patience = 10 * chain.block_time * (chain.confirmations + 1)
        chain = chain.model_copy(update={"receipt_timeout": max(chain.receipt_timeout, patience)})
    return chain


def _national_token(core: Any, root: Path, address: str) -> str:
    """A REGULATOR token of the national authority for the local verifier, kept in the data directory (0600)."""
    from registry.errors import RegistryError

    path = root / "keys" / "verifier-registry-token"
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        try:
            core.authenticate(token)
            return token
        except RegistryError:
            pass
    _, token = core.issue_token("REGULATOR", regulator_address=address, label="local verifier")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token)
    return str(token)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def _print_banner(info: dict[str, Any], deployment: Any, new: bool, reused: bool, summary: Any) -> None:
    out = console.print
    out("TraceCert is up", markup=False)
    mining = f"a block every {info['block_time']:g} s" if info.get("block_time") else "a block per transaction"
    if reused:
        mining = "reused running node, mining as it was started"
    out(
        f"  chain        {info['chain']} (chain id {info['chain_id']}; {mining}; "
        f"{info['confirmations']} confirmation{'s' if info['confirmations'] != 1 else ''})",
        markup=False,
    )
    out(
        f"  contracts    TrustRegistry {deployment.trust_registry}, CertificateRegistry "
        f"{deployment.certificate_registry} ({'deployed now' if new else 'found'})",
        markup=False,
    )
    out(f"  registry     {info['registry']}  (API docs {info['registry']}/docs)", markup=False)
    out(f"  verifier     {info['verifier']}", markup=False)
    out(f"  data         {info['data_dir']}", markup=False)
    if summary is not None:
        _print_demo(info["registry"], info["verifier"], summary)
    out("Press Ctrl-C to stop (the chain state is kept).", markup=False)


def _print_demo(registry: str, verifier: str | None, summary: Any) -> None:
    out = console.print
    out("", markup=False)
    out(f"Demo data ({'seeded now' if summary.created else 'found'}; story dated {summary.date})", markup=False)
    out("  regulators:", markup=False)
    for key, reg in summary.regulators.items():
        out(f"    {_pad(reg['name'], 22)} {key:<9} account {reg['address']}", markup=False)
        if reg.get("token"):
            out(f"    {'':<32} token   {reg['token']}", markup=False)
    out("  labs:", markup=False)
    for lab in summary.labs.values():
        out(f"    {_pad(lab['name'], 22)} {lab['kind']:<26} lab id {lab['lab_id']}", markup=False)
        out(f"    {'':<49} token  {lab['token']}", markup=False)
    out("  certificates:", markup=False)
    for name, c in summary.certificates.items():
        out(f"    {name:<18} {c['certificate_number']:<20} {c['digest']}  {c['title']}", markup=False)
    fraud = summary.fraud_signal
    out(
        f"  fraud signal       {fraud['kind']} of {fraud['certificate_number']} "
        f"(attempted {fraud['attempted_digest']})",
        markup=False,
    )
    for entry in summary.credit:
        out(
            f"  credit record      {entry['name']}: {entry['kind']} ({entry['reason']}), {entry['case_number']}"
            + (f", lifted ({entry['lifted']})" if entry["lifted"] else "")
            + f"; grade {entry['grade']}",
            markup=False,
        )
    if summary.draw:
        drawn = ", ".join(summary.draw["drawn"])
        out(f"  双随机 draw         {summary.draw['purpose']}: {drawn} (of {summary.draw['of']})", markup=False)
    out("  enterprises:", markup=False)
    for ent in summary.enterprises.values():
        out(f"    {_pad(ent['name'], 30)} {ent['usci']}  token {ent['token']}", markup=False)
    out(f"  NMI key file       {summary.nmi_key_file} (passphrase {summary.nmi_key_passphrase})", markup=False)
    dispenser = summary.certificates["fuel_dispenser"]
    city = summary.labs["city"]
    regulator = summary.regulators["330100"]
    out("", markup=False)
    out("Try:", markup=False)
    if verifier:
        out(f"  open {verifier}/c/{dispenser['digest']}  (the verifier's page; QR codes point there)", markup=False)
    out(f"  curl -s {registry}/v1/certificates/{dispenser['digest']}", markup=False)
    out(
        f"  curl -s -H 'Authorization: Bearer {city['token']}' {registry}/v1/certificates/{dispenser['digest']}/bundle",
        markup=False,
    )
    out(f"  curl -s -o qr.png {registry}/v1/certificates/{dispenser['digest']}/qr.png", markup=False)
    out(f"  curl -s -H 'Authorization: Bearer {regulator['token']}' {registry}/v1/fraud-signals", markup=False)
    out(f"  open {registry}/regulator  (the regulators' page: sign in with a regulator's token above)", markup=False)
    if verifier:
        out(f"  open {verifier}/labs  (the lab directory, 机构名录, and each lab's credit record)", markup=False)
    out(f"  tracecert scan --registry {registry} --token {regulator['token']}", markup=False)
    out(f"  tracecert status {summary.certificates['revoked']['digest']} --registry {registry}", markup=False)
    out(f"  TRACECERT_TOKEN={city['token']} tracecert issue RECORDS... --registry {registry}", markup=False)
    station = summary.enterprises.get("fuel_station")
    if station:
        out(f"  curl -s -H 'Authorization: Bearer {station['token']}' {registry}/v1/instruments  "
            "(a gas station's register: due dates)", markup=False)  # fmt: skip
        out(f"  curl -s -H 'Authorization: Bearer {regulator['token']}' '{registry}/v1/coverage?region=330100'  "
            "(检定率)", markup=False)  # fmt: skip
        for site in station.get("sites", []):
            out(f"  open {registry}/s/{site['id']}  ({site['name']}'s 强制检定合格公示; poster: "
                f"{registry}/v1/sites/{site['id']}/poster.pdf)", markup=False)  # fmt: skip


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal cells (CJK characters take two)."""
    from rich.cells import cell_len

    return text + " " * max(0, width - cell_len(text))


def register(root: typer.Typer) -> None:
    """Add ``tracecert up`` to the ``tracecert`` application."""
    root.command("up")(up)
