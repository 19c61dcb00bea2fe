"""Running the verifier service: one or several worker processes on one port.

Verification is CPU work in Python, so one process uses one core. With ``workers > 1`` each worker is a process
of its own that binds the port with ``SO_REUSEPORT``: the kernel spreads incoming connections over the workers'
sockets. (uvicorn's own ``--workers`` shares one listening socket, and the worker that happens to be accepting
takes every connection of a burst: with keep-alive clients, one core then serves them all.) The workers share the
verifier's index file (:class:`verifier.index.Index` lets several processes follow one chain in turn).

A supervisor starts the workers, restarts one that dies (backing off while workers die young), and stops them all
on SIGINT or SIGTERM; a worker also stops when the supervisor dies (Linux's parent-death signal). Settings come
from the environment (``TRACECERT_VERIFIER_*``, :class:`verifier.config.VerifierSettings`), and from ``settings``
overrides given to :func:`serve`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["bind", "serve"]

logger = logging.getLogger(__name__)

#: Seconds before a dead worker is started again; doubled (up to the maximum) while workers die within
#: YOUNG_SECONDS of their start.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
YOUNG_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket, not listening yet (``proto`` set, so asyncio turns TCP_NODELAY on for accepted
    connections). uvicorn's server listens on it once the app has started, so that the kernel sends no connection
    to a worker still catching up with the chain.

    Raises:
        OSError: the address is taken (by another program, or, without ``reuse_port``, by anything at all).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _die_with(parent: int) -> None:
    """Ask Linux to send SIGTERM to this worker when the supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os._exit(1)


def _uvicorn_config(log_level: str, settings: dict[str, Any]) -> Any:
    import uvicorn

    from verifier.api import create_app
    from verifier.config import VerifierSettings

    def app() -> Any:  # built in the worker, once its event loop runs (uvicorn's factory)
        return create_app(VerifierSettings(**settings))

    return uvicorn.Config(app, factory=True, log_level=log_level, access_log=False, lifespan="on")


def _worker(host: str, port: int, log_level: str, settings: dict[str, Any], parent: int) -> None:
    """One worker process: its own socket on the shared port, one uvicorn server until SIGINT/SIGTERM."""
    import uvicorn

    _die_with(parent)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = bind(host, port, reuse_port=True)
    uvicorn.Server(_uvicorn_config(log_level, settings)).run(sockets=[sock])


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

        sock = bind(host, port, reuse_port=False)
        uvicorn.Server(_uvicorn_config(log_level, overrides)).run(sockets=[sock])
        return
    # Fail here, in the foreground, when anything holds the port (an older instance's workers included), rather
    # than in each worker or, worse, beside that instance.
    bind(host, port, reuse_port=False).close()
    _Supervisor(host, port, workers, log_level, overrides).run()


class _Supervisor:
    """Starts ``workers`` processes, restarts those that die (backing off while they die young), stops them all on
    a signal."""

    def __init__(self, host: str, port: int, workers: int, log_level: str, settings: dict[str, Any]) -> None:
        self.host, self.port, self.workers, self.log_level = host, port, workers, log_level
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._processes: list[BaseProcess] = []

    def _start(self) -> BaseProcess:
        process = self._context.Process(
            target=_worker,
            args=(self.host, self.port, self.log_level, self.settings, os.getpid()),
            name="tracecert-verifier",
            daemon=False,
        )
        process.start()
        return process

    def run(self) -> None:
        """Supervise until a signal; then stop every worker (SIGTERM, then SIGKILL after 20 s)."""
        previous = {sig: signal.signal(sig, lambda *_: self._stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            started: list[float] = []
            for _ in range(self.workers):
                self._processes.append(self._start())
                started.append(time.monotonic())
            logger.info("verifier: %d workers on %s:%d", self.workers, self.host, self.port)
            delays = [RESTART_DELAY] * self.workers
            due: list[float | None] = [None] * self.workers
            while not self._stop.wait(0.5):
                now = time.monotonic()
                for i, process in enumerate(self._processes):
                    if due[i] is None and not process.is_alive():
                        # A worker that dies young (a bad setting, the port taken) is restarted ever more slowly.
                        young = now - started[i] < YOUNG_SECONDS
                        delays[i] = min(MAX_RESTART_DELAY, delays[i] * 2) if young else RESTART_DELAY
                        due[i] = now + delays[i]
                        logger.warning(
                            "verifier worker %s exited (code %s); restarting in %.0f s",
                            process.pid,
                            process.exitcode,
                            delays[i],
                        )
                    if (when := due[i]) is not None and now >= when:
                        self._processes[i], started[i], due[i] = self._start(), now, None
        finally:
            for process in self._processes:
                if process.is_alive():
                    process.terminate()
            deadline = time.monotonic() + 20
            for process in self._processes:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()
                    process.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
