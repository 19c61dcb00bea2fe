"""Running a service as several processes on one port: the supervisor both services use.

Python verifies and accepts certificates one core at a time, so a service uses more cores by running more
processes. The supervisor listens on the port itself and hands each accepted connection, in turn, to one of the
server processes that is ready (:class:`Acceptor`: the descriptor passed over a Unix socket, ``SCM_RIGHTS``), as
Envoy's exact connection balance does. Keep-alive clients are then split evenly: with ``SO_REUSEPORT`` the kernel
hashed 16 benchmark connections 10 and 6 (or 12 and 4) over two processes, and the busier process's queue set the
latency; one listening socket shared by the processes (uvicorn's ``--workers``) was no better (11 and 5), as the
process that happens to be accepting takes a whole burst. A service may add processes of other kinds beside its
servers (the registry's anchoring worker).

The :class:`Supervisor` starts the processes, restarts one that dies (backing off while processes die young), and
stops them all on SIGINT or SIGTERM; a process also stops when the supervisor dies (Linux's parent-death signal,
:func:`die_with`). Server processes run uvicorn (:func:`serve_handed`); this module knows no web framework.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import errno
import functools
import gc
import logging
import multiprocessing
import os
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["GC_THRESHOLDS", "Acceptor", "Process", "Supervisor", "bind", "die_with", "serve_handed", "settle_heap"]

logger = logging.getLogger(__name__)

#: Seconds before a dead process is started again; doubled (up to the maximum) while processes die within
#: YOUNG_SECONDS of their start.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
YOUNG_SECONDS = 10.0
#: How long stopping processes get after SIGTERM before SIGKILL.
STOP_SECONDS = 20.0
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
#: Accepted connections the acceptor holds while no server process takes them (beyond them it closes new ones).
PENDING_CONNECTIONS = 1024
#: How often the acceptor offers waiting connections again, and how long it leaves the port when out of descriptors.
RETRY_SECONDS = 0.05
#: The acceptor's send buffer on a channel: about twenty handed connections a process has not taken yet (a
#: message with a descriptor takes some 760 bytes of it). Beyond them the process is passed over.
CHANNEL_BUFFER_BYTES = 16 * 1024
#: What a server process sends the acceptor once it serves; what each handed connection comes with; what a
#: stopping process gives connections back with.
_READY, _HANDED, _GIVEN_BACK = b"r", b"c", b"b"
#: What a handed connection's transport holds within one turn of the event loop before it writes at once.
COALESCE_BYTES = 64 * 1024
#: The collector's thresholds in a service process (CPython's default: 700, 10, 10). A bulk of 1,000 certificates
#: allocates millions of objects; at 700 the collector ran 350 times per 5,000 certificates, 3 of them full
#: collections over every object of the process: a quarter of the registry's CPU at acceptance.
GC_THRESHOLDS = (10_000, 10, 10)


def bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket, not listening yet (``proto`` set, so asyncio turns TCP_NODELAY on for accepted
    connections). The server (or the supervisor's :class:`Acceptor`) listens on it once a process can serve, so that
    a client is refused rather than kept waiting while the service starts.

    Raises:
        OSError: the address is taken (by anything at all: an older instance's processes included).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    the supervisor's pid for :func:`die_with`; a ``server`` gets ``target(*args, channel, parent)``, ``channel``
    the socket its connections come over (for :func:`serve_handed`). ``target`` must be importable (a
    module-level function). ``name`` is also the process's name in ``ps`` (its first 15 bytes)."""

    name: str
    target: Callable[..., None]
    args: tuple[Any, ...] = ()
    server: bool = False


def _enter(name: str, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    """A supervised process's first step: its name in ``ps`` and ``/proc/<pid>/comm``, then its target."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15])
    target(*args)


class Acceptor:
    """Accepts a service's connections and hands each to one of its server processes, in turn.

    A thread of the supervisor. Each server process has a ``SOCK_SEQPACKET`` channel to it (:meth:`channel`);
    once it serves it says so over the channel, and from then on gets one accepted connection per message (the
    descriptor, ``SCM_RIGHTS``), the ready processes taking turns. The port listens from the moment the first
    process is ready, so a client is refused, not kept waiting, while the service starts.

    What is never lost or left hanging:

    - a process whose channel closes (it died) gets no more; one that is stopping gives back, over its channel,
      the connections it had not taken yet, and they go to the others;
    - a channel holds a few connections only (:data:`CHANNEL_BUFFER_BYTES`): a stuck process is passed over
      once it holds about twenty it has not taken;
    - connections no process takes at once (none ready, all full) wait, oldest first, and are offered again every
      :data:`RETRY_SECONDS` and whenever a process is ready; at most :data:`PENDING_CONNECTIONS` of them, fewer
      when the process may open fewer files;
    - out of file descriptors, the port is left alone for :data:`RETRY_SECONDS` rather than asked again at once.

    Args:
        listener: the bound socket (:func:`bind`), not listening yet; the acceptor owns it from now on.
        on_failure: called if the acceptor itself fails (a defect): the service cannot take connections any more,
            so the supervisor stops rather than run on deaf.
    """

    def __init__(self, listener: socket.socket, on_failure: Callable[[], None] | None = None) -> None:
        self._listener = listener
        self._on_failure = on_failure
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._added: list[socket.socket] = []  # channels the supervisor opened, for the thread to watch
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._ready: list[socket.socket] = []
        self._turn = 0
        self._pending: collections.deque[socket.socket] = collections.deque()
        self._pending_limit = _pending_limit()
        self._listening = False
        self._paused_until = 0.0  # out of descriptors: the port is not watched until then
        self._stopped = False
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="acceptor", daemon=True)
        self._thread.start()

    def channel(self) -> socket.socket:
        """A new server process's end of a channel (give it to the process, then close it here).

        Raises:
            OSError: no descriptor is left for it.
        """
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine.setblocking(False)
        mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHANNEL_BUFFER_BYTES)
        with self._lock:
            self._added.append(mine)
        self._wake_w.send(b"x")
        return theirs

    def close(self) -> None:
        """Stop accepting and close the port and the channels (the processes keep the connections they hold)."""
        self._stopped = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(5)

    def _run(self) -> None:
        try:
            while not self._stopped:
                waiting = self._pending or self._paused_until
                for key, _ in self._selector.select(RETRY_SECONDS if waiting else None):
                    if self._stopped:
                        break
                    sock = key.fileobj
                    if sock is self._wake_r:
                        self._drain_wake()
                    elif sock is self._listener:
                        self._accept()
                    else:
                        assert isinstance(sock, socket.socket)
                        self._heard(sock)
                if self._paused_until and time.monotonic() >= self._paused_until:
                    self._paused_until = 0.0
                    self._selector.register(self._listener, selectors.EVENT_READ)
                self._hand_pending()
        except Exception:  # a defect here would leave the service deaf: say so, loudly, and stop it
            logger.exception("acceptor failed: the service stops")
            if self._on_failure is not None:
                self._on_failure()
            raise
        finally:
            watched = [key.fileobj for key in self._selector.get_map().values()]
            self._selector.close()
            for sock in {self._listener, *watched, *self._pending, *self._added, self._wake_w}:
                if isinstance(sock, socket.socket):
                    sock.close()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            added, self._added = self._added, []
        for channel in added:
            self._selector.register(channel, selectors.EVENT_READ)

    def _heard(self, channel: socket.socket) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 16, 64)
        except BlockingIOError:
            return
        except OSError:
            message, fds = b"", []
        if message == _READY:
            self._ready.append(channel)
            if not self._listening:
                self._listener.listen(1024)
                self._listener.setblocking(False)
                self._selector.register(self._listener, selectors.EVENT_READ)
                self._listening = True
        elif message.startswith(_GIVEN_BACK):  # the process is stopping: its untaken connections go to the others
            self._leave(channel)
            for fd in fds:
                self._wait(socket.socket(fileno=fd))
        elif not message:  # the process is gone
            self._leave(channel)
            self._selector.unregister(channel)
            channel.close()
        else:
            for fd in fds:  # nothing else carries descriptors: none may stay open here
                os.close(fd)

    def _leave(self, channel: socket.socket) -> None:
        if channel in self._ready:
            self._ready.remove(channel)

    def _accept(self) -> None:
        for _ in range(64):  # what is waiting, a bounded number at a time
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # The port stays readable: asking again at once would spin. Leave it for a moment.
                    logger.warning("acceptor: out of descriptors (%s); accepting again in %.1f s", exc, RETRY_SECONDS)
                    self._selector.unregister(self._listener)
                    self._paused_until = time.monotonic() + RETRY_SECONDS
                return  # (a connection reset before it was accepted: the next readiness brings the rest)
            self._wait(conn)

    def _wait(self, conn: socket.socket) -> None:
        """Hand ``conn`` on now if nothing waits before it, else queue it behind the others (or drop it when the
        queue is full)."""
        if not self._pending and self._hand(conn):
            conn.close()  # the process has its own descriptor now
        elif len(self._pending) < self._pending_limit:
            self._pending.append(conn)
        else:
            conn.close()

    def _hand_pending(self) -> None:
        while self._pending and self._hand(self._pending[0]):
            self._pending.popleft().close()

    def _hand(self, conn: socket.socket) -> bool:
        """Give ``conn`` to the next ready process that takes it; False when none does."""
        for _ in range(len(self._ready)):
            self._turn = (self._turn + 1) % len(self._ready)
            channel = self._ready[self._turn]
            try:
                socket.send_fds(channel, [_HANDED], [conn.fileno()], socket.MSG_DONTWAIT)
                return True
            except (BlockingIOError, InterruptedError):  # full: the process is busy or stuck; the next one
                continue
            except OSError:  # closed for reading (stopping) or gone: no more for it
                self._leave(channel)
                return self._hand(conn)
        return False


def _pending_limit() -> int:
    """:data:`PENDING_CONNECTIONS`, or fewer: at most a quarter of the files this process may open."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return PENDING_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return PENDING_CONNECTIONS
    return max(16, min(PENDING_CONNECTIONS, soft // 4))


class _CoalescingTransport:
    """A transport whose writes within one turn of the event loop leave in one ``send``, at the end of the turn:
    uvicorn writes an answer's head and its body apart, two system calls and two packets (TCP_NODELAY) where one
    does. Measured with ``scripts/bench_verifier.py --index`` (2026-12-07, three runs each way, alternated):
    0.662–0.679 ms of server CPU per verification against 0.676–0.719 without, p99 10.4–11.5 ms against
    11.8–14.1. Past :data:`COALESCE_BYTES` held, a write leaves at once, so that the transport's flow control
    (``pause_writing``) still sees a large answer as it is written. Everything but writing, closing and the
    buffer's size is the transport's own."""

    __slots__ = ("_held", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._held = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._held += len(data)
        if self._held > COALESCE_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._held = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._held + self._transport.get_write_buffer_size()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _coalescing(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``protocol`` writing through a :class:`_CoalescingTransport`."""

    class Coalescing(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(_CoalescingTransport(transport, asyncio.get_running_loop()))  # type: ignore[arg-type]

    return Coalescing


def _received(channel: socket.socket) -> Iterator[int | None]:
    """The descriptors waiting on a server process's channel (None once the supervisor's end is closed)."""
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 16, 4)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            message, fds = b"", []
        if not message and not fds:
            yield None
            return
        yield from fds


def _give_back(channel: socket.socket) -> None:
    """A stopping server process's last word: no more connections (the acceptor's sends now fail and it moves
    on), and those it had not taken yet go back to the acceptor, for the other processes."""
    with contextlib.suppress(OSError):
        channel.shutdown(socket.SHUT_RD)
    for fd in _received(channel):
        if fd is None:
            return
        try:
            socket.send_fds(channel, [_GIVEN_BACK], [fd], socket.MSG_DONTWAIT)
        except OSError as exc:  # the acceptor is gone or not reading: the client sees the connection close
            logger.warning("a connection could not be given back: %s", exc)
        finally:
            os.close(fd)


def serve_handed(server: type[Any], config: Any, channel: socket.socket) -> None:
    """Run ``server`` (``uvicorn.Server``, given by the service: this module imports no web server) with
    ``config`` on the connections the supervisor's :class:`Acceptor` hands over ``channel``, until SIGINT or
    SIGTERM, or until the supervisor is gone. The process says it is ready once its app has started (lifespan), so
    that no connection waits on a process still starting. What it uses of uvicorn: ``startup`` with no sockets
    (the app's lifespan, no listener), the protocol it would give its own listener, and ``shutdown``."""

    class _Handed(server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])  # the app's start-up, no listening socket of its own
            if not self.started:
                return
            config = self.config
            protocol = functools.partial(  # what uvicorn's own startup gives its listening server
                _coalescing(config.http_protocol_class),
                config=config,  # type: ignore[call-arg]
                server_state=self.server_state,
                app_state=self.lifespan.state,
            )
            loop = asyncio.get_running_loop()
            channel.setblocking(False)
            loop.add_reader(channel.fileno(), self._take, loop, protocol)
            channel.send(_READY)

        def _take(self, loop: asyncio.AbstractEventLoop, protocol: Callable[[], asyncio.Protocol]) -> None:
            for fd in _received(channel):
                if fd is None:  # the supervisor is gone: stop (die_with's signal may come too)
                    loop.remove_reader(channel.fileno())
                    self.should_exit = True
                    return
                conn = socket.socket(fileno=fd)
                conn.set_inheritable(False)
                with contextlib.suppress(OSError):  # (a client already gone: uvloop sees it as such)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = loop.create_task(loop.connect_accepted_socket(protocol, conn))
                tasks.add(task)
                task.add_done_callback(_connected)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(channel.fileno())
            _give_back(channel)
            await super().shutdown(sockets)

    tasks: set[asyncio.Task[Any]] = set()

    def _connected(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("a handed connection could not be served: %s", task.exception())

    _Handed(config).run()


class Supervisor:
    """Starts ``processes``, restarts those that die (backing off while they die young), stops them all on a
    signal.

    Args:
        service: the name logged (``verifier``, ``registry``).
        processes: what to run; a process that dies is started again with the same arguments.
    """

    def __init__(self, service: str, processes: Sequence[Process], *, listener: socket.socket | None = None) -> None:
        if not processes:
            raise ValueError("nothing to supervise")
        if any(spec.server for spec in processes) and listener is None:
            raise ValueError("server processes need the listener")
        self.service = service
        self.processes = list(processes)
        self._listener = listener
        self._acceptor: Acceptor | None = None
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._running: list[BaseProcess] = []

    def _start(self, spec: Process) -> BaseProcess:
        channel = self._acceptor.channel() if spec.server and self._acceptor is not None else None
        args = (*spec.args, channel, os.getpid()) if channel is not None else (*spec.args, os.getpid())
        process = self._context.Process(
            target=_enter, args=(spec.name, spec.target, args), name=f"tracecert-{spec.name}", daemon=False
        )
        try:
            process.start()
        finally:
            if channel is not None:
                channel.close()  # the process has its own; the acceptor sees the channel close when it dies
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
        if self._listener is not None:
            self._acceptor = Acceptor(self._listener, on_failure=self.stop)
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
                        try:
                            self._running[i], started[i], due[i] = self._start(self.processes[i]), now, None
                        except OSError as exc:  # out of descriptors or processes: try again later
                            delays[i] = min(MAX_RESTART_DELAY, delays[i] * 2)
                            due[i] = now + delays[i]
                            logger.error(
                                "%s: cannot start %s (%s); trying again in %.0f s",
                                self.service,
                                self.processes[i].name,
                                exc,
                                delays[i],
                            )
        finally:
            if self._acceptor is not None:
                self._acceptor.close()
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
