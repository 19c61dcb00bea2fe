"""Running the registry: its API in one or several processes on one port, and its anchoring worker.

Accepting certificates is CPU work in Python (parsing, the rulebook's checks, canonical form and digest), so one API
process uses one core. With ``workers > 1`` the supervisor listens on the port and hands the API processes the
connections in turn, and the anchoring worker runs in a process of its own (there is one worker per database: it holds
the accounts' nonces), all under :class:`tracecert.serving.Supervisor`. Sending transactions is the worker's alone, so
API processes never share a nonce; what they share is the database. Settings come from the environment
(``TRACECERT_REGISTRY_*``), with the data directory and chain URL given to :func:`serve`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

from tracecert.serving import Process, Supervisor, bind, die_with, serve_handed, settle_heap

__all__ = ["serve"]

logger = logging.getLogger(__name__)

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Every process of a serving registry, started while its chain node (re)starts, waits this long for the node rather
# than dying: a supervisor (systemd, Kubernetes, `tracecert registry serve --workers N`) that restarts the API during
# a node's restart must find it up. A node that is there without our deployment still fails at once.
_CHAIN_WAIT_SECONDS = 60.0


def _settings(data_dir: Path | None, rpc_url: str | None, **overrides: Any) -> Any:
    from registry.onboarding import registry_settings

    return registry_settings(data_dir, rpc_url, **overrides)


def _app(data_dir: Path | None, rpc_url: str | None, *, run_worker: bool) -> Any:
    from registry.api import create_app
    from registry.core import RegistryCore
    from registry.onboarding import connect

    settings = _settings(data_dir, rpc_url, run_worker=run_worker)
    core = RegistryCore.open(settings, connect(settings, wait=_CHAIN_WAIT_SECONDS))
    return create_app(settings, core=core, run_worker=run_worker)


def _yield_to_the_worker(app: Any) -> None:
    """Lower this API process's CPU priority by ``api_niceness`` (see :class:`registry.config.RegistrySettings`):
    the anchoring worker beside it goes first when the cores are short."""
    niceness = app.state.settings.api_niceness
    if niceness:
        os.nice(niceness)
        logger.info("API process %d runs at niceness +%d below the anchoring worker", os.getpid(), niceness)


def _api(log_level: str, data_dir: Path | None, rpc_url: str | None, channel: socket.socket, parent: int) -> None:
    """One API process (no anchoring worker) on the connections the supervisor hands it, until SIGINT or SIGTERM."""
    import uvicorn

    die_with(parent)
    logging.basicConfig(level=log_level.upper(), format=_LOG_FORMAT)
    app = _app(data_dir, rpc_url, run_worker=False)
    _yield_to_the_worker(app)
    settle_heap()
    serve_handed(uvicorn.Server, uvicorn.Config(app, log_level=log_level, lifespan="on"), channel)


def _worker(log_level: str, data_dir: Path | None, rpc_url: str | None, parent: int) -> None:
    """The anchoring worker's process, until SIGINT or SIGTERM."""
    from registry.anchoring import AnchoringWorker
    from registry.core import RegistryCore
    from registry.onboarding import connect

    die_with(parent)
    logging.basicConfig(level=log_level.upper(), format=_LOG_FORMAT)
    settings = _settings(data_dir, rpc_url)
    core = RegistryCore.open(settings, connect(settings, wait=_CHAIN_WAIT_SECONDS))
    worker = AnchoringWorker(core)
    settle_heap()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    worker.run()
    core.engine.dispose()


def serve(
    host: str,
    port: int,
    *,
    workers: int = 1,
    run_worker: bool = True,
    log_level: str = "info",
    data_dir: Path | None = None,
    rpc_url: str | None = None,
) -> None:
    """Serve the registry on ``host:port`` until SIGINT or SIGTERM.

    Args:
        workers: API processes; 1 serves in this process (with the anchoring worker as a thread of it), more run
            under a supervisor, the anchoring worker in a process of its own (one per core is the rule).
        run_worker: run the anchoring worker (False: ``tracecert registry worker`` runs it elsewhere).

    Raises:
        OSError: the address cannot be bound.
        ValueError: ``workers`` < 1.
        ChainUnavailable: no node answered within a minute (each process waits for a node that is restarting).
        DeploymentNotFound: the node has no deployment of ours.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    # Fail here, in the foreground, when anything holds the port (an older instance's processes included): at once,
    # not after the wait for the chain.
    listener = bind(host, port)
    if workers == 1:
        listener.close()
        import uvicorn

        logging.basicConfig(level=log_level.upper(), format=_LOG_FORMAT)  # "chain node not reachable yet" is seen
        app = _app(data_dir, rpc_url, run_worker=run_worker)
        settle_heap()
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # Likewise when the chain has no deployment of ours, rather than in each process.
    from registry.onboarding import connect

    try:
        connect(_settings(data_dir, rpc_url), wait=_CHAIN_WAIT_SECONDS).client.chain_id  # noqa: B018 (asks once)
    except BaseException:
        listener.close()
        raise
    processes = [Process("registry-api", _api, (log_level, data_dir, rpc_url), server=True)] * workers
    if run_worker:
        processes.append(Process("registry-worker", _worker, (log_level, data_dir, rpc_url)))
    Supervisor("registry", processes, listener=listener).run()
