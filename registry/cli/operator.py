"""Operators' commands: ``tracecert registry serve|worker``."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from registry.cli.common import (
    CliError,
    DataDir,
    RpcUrl,
    console,
    reporting_errors,
)
from registry.config import RegistrySettings
from registry.core import RegistryCore
from registry.onboarding import (
    connect,
    registry_settings,
)

__all__ = ["registry_app"]

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
