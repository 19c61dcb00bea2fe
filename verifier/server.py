"""Running the verifier service: one or several worker processes on one port.

Verification is CPU work in Python, so one process uses one core. With ``workers > 1`` each worker is a process of its
own under :class:`tracecert.serving.Supervisor`, which listens on the port and hands the workers the connections in turn
(and restarts one that dies, and stops them all on SIGINT or SIGTERM). The workers share the verifier's index file
(:class:`verifier.index.Index` lets several processes follow one chain in turn). Settings come from the environment
(``TRACECERT_VERIFIER_*``, :class:`verifier.config.VerifierSettings`), and from ``settings`` overrides given to
:func:`serve`.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from tracecert.serving import Process, Supervisor, bind, die_with, serve_handed, settle_heap

__all__ = ["bind", "serve"]


def _uvicorn_config(log_level: str, settings: dict[str, Any]) -> Any:
    import uvicorn

    from verifier.api import create_app
    from verifier.config import VerifierSettings

    def app() -> Any:  # built in the worker, once its event loop runs (uvicorn's factory)
        built = create_app(VerifierSettings(**settings))
        settle_heap()
        return built

    return uvicorn.Config(app, factory=True, log_level=log_level, access_log=False, lifespan="on")


def _worker(log_level: str, settings: dict[str, Any], channel: socket.socket, parent: int) -> None:
    """One worker process: one uvicorn server on the connections the supervisor hands it, until SIGINT/SIGTERM."""
    die_with(parent)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    serve_handed(uvicorn.Server, _uvicorn_config(log_level, settings), channel)


def serve(
    host: str, port: int, *, workers: int = 1, log_level: str = "info", settings: dict[str, Any] | None = None
) -> None:
    """Serve the verifier on ``host:port`` until SIGINT or SIGTERM.

    Args:
        workers: processes; 1 serves in this process, more run under a supervisor (one per core is the rule).
        settings: :class:`~verifier.config.VerifierSettings` fields that override the environment, in every worker.

    Raises:
        OSError: the address cannot be bound.
        ValueError: ``workers`` < 1.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    overrides = dict(settings or {})
    if workers == 1:
        import uvicorn

        sock = bind(host, port)
        uvicorn.Server(_uvicorn_config(log_level, overrides)).run(sockets=[sock])
        return
    listener = bind(host, port)  # fails here, in the foreground, when anything holds the port
    worker = Process("verifier", _worker, (log_level, overrides), server=True)
    Supervisor("verifier", [worker] * workers, listener=listener).run()
