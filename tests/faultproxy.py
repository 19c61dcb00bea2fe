"""A small fault-injecting TCP proxy for tests: put it between a client and a server, then switch what it does.

:class:`FaultProxy` listens on ``127.0.0.1`` (a free port by default) and forwards every connection to one target.
Its fault can be changed at any time, and applies to the next chunk of request bytes on every connection, new or
kept alive:

- ``PASS``: forward both ways;
- ``DELAY``: hold each request chunk ``delay_ms`` before forwarding it;
- ``RESET``: close the client's connection with a TCP RST (``SO_LINGER`` 0), nothing forwarded;
- ``BLACKHOLE``: accept and read, never forward, never answer (the client times out);
- ``SEVER``: forward the request, swallow the answer and reset the client: the server acted, the client saw a failure;
- ``REFUSE``: stop listening (connections are refused) and reset every open connection.

With ``only``, a fault applies only to request chunks containing those bytes (e.g. ``b"eth_sendRawTransaction"``);
the others pass. Usage::

    with FaultProxy("127.0.0.1", 8545) as proxy:
        proxy.set_fault(Fault.BLACKHOLE)
        ...  # a client of proxy.url times out
        proxy.set_fault(Fault.PASS)
"""

from __future__ import annotations

import contextlib
import enum
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["Fault", "FaultProxy"]

_CHUNK = 65536
_POLL = 0.05


class Fault(enum.Enum):
    """What the proxy does to traffic."""

    PASS = "pass"
    DELAY = "delay"
    RESET = "reset"
    BLACKHOLE = "blackhole"
    SEVER = "sever"
    REFUSE = "refuse"


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Connection:
    """One accepted client and its upstream socket, pumped by two threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()
        self.blackholed = False
        self.severed = False
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn(self._run, "faultproxy-conn")

    def close(self, *, rst: bool = False) -> None:
        """Close both sides (the client's with a RST when ``rst``). Called from outside the connection's threads,
        returns once they stopped: the kernel closes a socket only when no thread polls it any more, so only then
        has the client been told."""
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
            if rst:
                _reset(self.client)
            else:
                self.client.close()
            if self.upstream is not None:
                self.upstream.close()
        self.proxy._forget(self)
        if threading.current_thread() not in self._threads:
            for thread in list(self._threads):
                thread.join(timeout=2)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        """Start a pump thread, unless the connection is already closed. Under the lock, so :meth:`close` joins
        only threads that have started (joining one not yet started raises) and none starts after it."""
        with self._lock:
            if self.closed.is_set():
                return
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        try:
            upstream = socket.create_connection(self.proxy.target, timeout=5)
        except OSError:
            self.close(rst=True)
            return
        with self._lock:
            if self.closed.is_set():  # closed while connecting: nobody else will close this socket
                upstream.close()
                return
            self.upstream = upstream
        self._spawn(self._pump_back, "faultproxy-back")
        self._pump_forward()

    def _pump_forward(self) -> None:
        """Client to upstream, applying the fault of the moment to each chunk."""
        while not self.closed.is_set():
            data = self._recv(self.client)
            if data is None:
                continue
            if not data:
                self.close()
                return
            self.proxy._count("requests")
            if self.blackholed:
                continue
            fault, delay_ms, only = self.proxy._snapshot()
            if fault is not Fault.PASS and (only is None or only in data):
                self.proxy._count("faulted")
                if fault in (Fault.RESET, Fault.REFUSE):
                    self.close(rst=True)
                    return
                if fault is Fault.BLACKHOLE:
                    self.blackholed = True
                    continue
                if fault is Fault.DELAY:
                    time.sleep(delay_ms / 1000)
                if fault is Fault.SEVER:
                    self.severed = True
            if not self._send(self.upstream, data):
                return

    def _pump_back(self) -> None:
        """Upstream to client; a severed connection drops the answer and resets the client."""
        while not self.closed.is_set():
            data = self._recv(self.upstream)
            if data is None:
                continue
            if not data:
                self.close()
                return
            if self.severed:
                self.close(rst=True)
                return
            if self.blackholed:
                continue
            if not self._send(self.client, data):
                return

    def _recv(self, sock: socket.socket | None) -> bytes | None:
        """Bytes read, ``b""`` at end of stream or on error, None when nothing came within the poll interval."""
        if sock is None:
            return b""
        try:
            ready, _, _ = select.select([sock], [], [], _POLL)
            if not ready:
                return None
            return sock.recv(_CHUNK)
        except (OSError, ValueError):
            return b""

    def _send(self, sock: socket.socket | None, data: bytes) -> bool:
        try:
            assert sock is not None
            sock.sendall(data)
            return True
        except (OSError, AssertionError):
            self.close(rst=True)
            return False


class FaultProxy:
    """A threaded TCP proxy from ``host:port`` (a free port when 0) to ``target_host:target_port``, whose fault can
    be switched at runtime with :meth:`set_fault`. A context manager: entering starts it, leaving closes every socket.

    Attributes:
        requests: request chunks received from clients.
        faulted: request chunks (or connections, reset as they come) a fault was applied to.
        accepted: connections accepted.
    """

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self.requests = 0
        self.faulted = 0
        self.accepted = 0
        self._fault = Fault.PASS
        self._delay_ms = 0
        self._only: bytes | None = None
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[_Connection] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def to_url(cls, url: str) -> FaultProxy:
        """A proxy (not started) in front of an ``http://host:port`` URL."""
        hostport = url.split("://", 1)[-1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        return cls(host, int(port))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the proxy (valid once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def fault(self) -> Fault:
        """The fault in force."""
        return self._fault

    def start(self) -> FaultProxy:
        """Listen and start accepting; return self."""
        self._listen()
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stopped.set()
        self._unlisten()
        for conn in list(self._connections):
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def set_fault(self, fault: Fault, *, delay_ms: int = 0, only: bytes | None = None) -> None:
        """Apply ``fault`` from now on (``delay_ms`` for DELAY; ``only``: just to request chunks containing it).

        REFUSE closes the listening socket and resets every open connection; leaving REFUSE listens again on the
        same port.
        """
        with self._lock:
            self._fault, self._delay_ms, self._only = fault, delay_ms, only
        if fault is Fault.REFUSE:
            self._unlisten()
            for conn in list(self._connections):
                conn.close(rst=True)
        elif self._listener is None and not self._stopped.is_set():
            self._listen()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _snapshot(self) -> tuple[Fault, int, bytes | None]:
        with self._lock:
            return self._fault, self._delay_ms, self._only

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock

    def _unlisten(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # stops listening at once, even while the accept loop polls it
            sock.close()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            sock = self._listener
            if sock is None:
                time.sleep(_POLL)
                continue
            try:
                ready, _, _ = select.select([sock], [], [], _POLL)
                if not ready:
                    continue
                client, _ = sock.accept()
            except (OSError, ValueError):
                continue  # closed under us (REFUSE or close)
            self._count("accepted")
            fault, _, only = self._snapshot()
            if fault in (Fault.RESET, Fault.REFUSE) and only is None:
                self._count("faulted")
                _reset(client)
                continue
            conn = _Connection(self, client)
            with self._lock:
                self._connections.add(conn)
            conn.start()
