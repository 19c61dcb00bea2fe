"""Running a service as several processes on one port: the supervisor both services use.

Python verifies and accepts certificates one core at a time, so a service uses more cores by running more
processes. Each server process binds the port with ``SO_REUSEPORT`` on a socket of its own, and the kernel spreads
incoming connections over them. (uvicorn's own ``--workers`` shares one listening socket, and the process that
happens to be accepting takes every connection of a burst: with keep-alive clients, one core then serves them
all.) A service may add processes of other kinds beside its servers (the registry's anchoring worker).

The :class:`Supervisor` starts the processes, restarts one that dies (backing off while processes die young), and
stops them all on SIGINT or SIGTERM; a process also stops when the supervisor dies (Linux's parent-death signal,
:func:`die_with`). This module knows no web framework: each service gives the function its processes run.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["GC_THRESHOLDS", "Process", "Supervisor", "bind", "die_with", "settle_heap"]

logger = logging.getLogger(__name__)

#: Seconds before a dead process is started again; doubled (up to the maximum) while processes die within
#: YOUNG_SECONDS of their start.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
YOUNG_SECONDS = 10.0
#: How long stopping processes get after SIGTERM before SIGKILL.
STOP_SECONDS = 20.0
_PR_SET_PDEATHSIG = 1
#: The collector's thresholds in a service process (CPython's default: 700, 10, 10). A bulk of 1,000 certificates
#: allocates millions of objects; at 700 the collector ran 350 times per 5,000 certificates, 3 of them full
#: collections over every object of the process: a quarter of the registry's CPU at acceptance.
GC_THRESHOLDS = (10_000, 10, 10)


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket, not listening yet (``proto`` set, so asyncio turns TCP_NODELAY on for accepted
    connections). The server listens on it once its app has started, so that the kernel sends no connection to a
    process still starting.

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


def die_with(parent: int) -> None:
    """Ask Linux to send SIGTERM to this process when the supervisor ``parent`` dies, even by SIGKILL. The first
    call of every supervised process."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os._exit(1)


def settle_heap() -> None:
    """Call once a service process has built what it keeps (its app, settings, schemas, caches, imported modules):
    every object alive then leaves the cyclic collector's reach for good (``gc.freeze``), and the collector runs
    less often (:data:`GC_THRESHOLDS`). Reference counting still frees what is dropped; only cycles among the
    frozen objects would stay, and those are built once. Measured on the registry's acceptance of 5,000
    certificates (2026-12-07): time in the collector 108 µs per certificate before, 13 µs after. For a server's
    process, not a library's caller (a test process would keep what its fixtures left behind)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class Process:
    """One supervised process: ``target(*args, parent)`` in a fresh interpreter (``spawn``), where ``parent`` is
    the supervisor's pid for :func:`die_with`. ``target`` must be importable (a module-level function)."""

    name: str
    target: Callable[..., None]
    args: tuple[Any, ...] = ()


class Supervisor:
    """Starts ``processes``, restarts those that die (backing off while they die young), stops them all on a
    signal.

    Args:
        service: the name logged (``verifier``, ``registry``).
        processes: what to run; a process that dies is started again with the same arguments.
    """

    def __init__(self, service: str, processes: Sequence[Process]) -> None:
        if not processes:
            raise ValueError("nothing to supervise")
        self.service = service
        self.processes = list(processes)
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._running: list[BaseProcess] = []

    def _start(self, spec: Process) -> BaseProcess:
        process = self._context.Process(
            target=spec.target, args=(*spec.args, os.getpid()), name=f"tracecert-{spec.name}", daemon=False
        )
        process.start()
        return process

    def stop(self) -> None:
        """Ask :meth:`run` to stop every process and return (what SIGINT and SIGTERM do)."""
        self._stop.set()

    def run(self) -> None:
        """Supervise until a signal or :meth:`stop`; then stop every process (SIGTERM, then SIGKILL after
        ``STOP_SECONDS``)."""
        in_main = threading.current_thread() is threading.main_thread()
        previous = (
            {sig: signal.signal(sig, lambda *_: self._stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
            if in_main
            else {}
        )
        try:
            started: list[float] = []
            for spec in self.processes:
                self._running.append(self._start(spec))
                started.append(time.monotonic())
            logger.info("%s: %s", self.service, ", ".join(spec.name for spec in self.processes))
            delays = [RESTART_DELAY] * len(self.processes)
            due: list[float | None] = [None] * len(self.processes)
            while not self._stop.wait(0.5):
                now = time.monotonic()
                for i, process in enumerate(self._running):
                    if due[i] is None and not process.is_alive():
                        # A process that dies young (a bad setting, the port taken) is restarted ever more slowly.
                        young = now - started[i] < YOUNG_SECONDS
                        delays[i] = min(MAX_RESTART_DELAY, delays[i] * 2) if young else RESTART_DELAY
                        due[i] = now + delays[i]
                        logger.warning(
                            "%s: %s (pid %s) exited (code %s); restarting in %.0f s",
                            self.service,
                            self.processes[i].name,
                            process.pid,
                            process.exitcode,
                            delays[i],
                        )
                    if (when := due[i]) is not None and now >= when:
                        self._running[i], started[i], due[i] = self._start(self.processes[i]), now, None
        finally:
            for process in self._running:
                if process.is_alive():
                    process.terminate()
            deadline = time.monotonic() + STOP_SECONDS
            for process in self._running:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()
                    process.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
