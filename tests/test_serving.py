"""What both services' servers share (tracecert.serving): the collector kept off what a server process builds once
(run in a fresh interpreter: freezing the test process's heap would keep its fixtures), and the acceptor that hands
the port's connections to the server processes in turn."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tracecert.serving import COALESCE_BYTES, GC_THRESHOLDS, Acceptor, _CoalescingTransport, _give_back, bind

_PROBE = """
import gc, json
from tracecert.serving import settle_heap
kept = [[i] for i in range(10_000)]  # what a server builds once
before = (gc.get_threshold(), gc.get_freeze_count())
settle_heap()
cycle = []
cycle.append(cycle)  # garbage made afterwards, in a cycle: still collected
del cycle
after = (gc.get_threshold(), gc.get_freeze_count(), gc.collect())
print(json.dumps({"before": before, "after": after}))
"""


def test_settle_heap_freezes_what_is_built_and_still_collects_later_cycles() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    probe = json.loads(out)
    (threshold, frozen), (settled, frozen_after, collected) = probe["before"], probe["after"]
    assert tuple(threshold) == (700, 10, 10) and frozen == 0
    assert tuple(settled) == GC_THRESHOLDS and frozen_after >= 10_000
    assert collected >= 1


def _receive(channel: socket.socket, timeout: float = 5) -> socket.socket:
    """The next connection handed over ``channel``."""
    channel.settimeout(timeout)
    message, fds, _, _ = socket.recv_fds(channel, 16, 1)
    assert message == b"c" and len(fds) == 1
    return socket.socket(fileno=fds[0])


def _connect(port: int, tag: bytes) -> socket.socket:
    """A client that sent ``tag``, once the port listens (the acceptor listens once it heard a process is ready)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    client.sendall(tag)
    return client


class _Port:
    """An :class:`Acceptor` on a free port of this machine, and the clients a test connects to it."""

    def __init__(self) -> None:
        listener = bind("127.0.0.1", 0)
        self.port = listener.getsockname()[1]
        self.acceptor = Acceptor(listener)
        self.clients: list[socket.socket] = []

    def connect(self, *tags: int) -> None:
        """A client for each tag, each having sent its tag."""
        self.clients += [_connect(self.port, bytes([tag])) for tag in tags]


@pytest.fixture
def port() -> Iterator[_Port]:
    running = _Port()
    try:
        yield running
    finally:
        running.acceptor.close()
        for client in running.clients:
            client.close()


def test_the_acceptor_hands_connections_in_turn_to_the_ready_processes_only(port: _Port) -> None:
    first, second, third = (port.acceptor.channel() for _ in range(3))
    with pytest.raises(ConnectionRefusedError):  # nothing ready: the port does not listen yet
        socket.create_connection(("127.0.0.1", port.port), timeout=5)
    for channel in (first, second, third):
        channel.send(b"r")
    port.connect(*range(6))
    held = [[_receive(channel).recv(1)[0] for _ in range(2)] for channel in (first, second, third)]
    assert sorted(tag for pair in held for tag in pair) == list(range(6))  # two each, none lost
    second.close()  # that process died: the others take its turns
    time.sleep(0.2)
    port.connect(10, 11, 12, 13)
    got = sorted(_receive(ch).recv(1)[0] for ch in (first, third) for _ in range(2))
    assert got == [10, 11, 12, 13]
    port.acceptor.close()
    with pytest.raises(ConnectionRefusedError):  # the port closed with the acceptor
        socket.create_connection(("127.0.0.1", port.port), timeout=5)


def test_connections_accepted_while_no_process_is_ready_wait_for_one(port: _Port) -> None:
    old, new = port.acceptor.channel(), port.acceptor.channel()
    old.send(b"r")
    port.connect(1)
    assert _receive(old).recv(1) == b"\x01"
    old.close()  # the only ready process dies; a connection comes meanwhile
    time.sleep(0.2)
    port.connect(2)
    time.sleep(0.2)
    new.send(b"r")  # its replacement is ready: it gets the connection that waited
    assert _receive(new).recv(1) == b"\x02"


class _Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 7


def test_writes_of_one_turn_of_the_loop_leave_together_and_closing_sends_what_is_left() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes], bool, int]:
        inner = _Recorder()
        transport = _CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"{}")
        before = list(inner.sent)  # nothing sent within the turn
        await asyncio.sleep(0)
        after_turn = list(inner.sent)
        transport.write(b"tail")
        transport.close()
        return before, after_turn, inner.sent, inner.closed, transport.get_write_buffer_size()

    before, after_turn, at_close, closed, size = asyncio.run(scenario())
    assert before == [] and after_turn == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    assert at_close == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"tail"] and closed
    assert size == 7  # the rest is the transport's own


def _tags(channel: socket.socket, count: int, timeout: float = 5) -> list[int]:
    """The tags sent by the clients of ``count`` connections handed over ``channel``."""
    return [_receive(channel, timeout).recv(1)[0] for _ in range(count)]


def test_connections_no_process_takes_at_once_are_offered_again_until_one_does(port: _Port) -> None:
    """A ready process that does not read its channel for a while (busy): once the channel is full, the others
    wait in the acceptor, and reach the process as soon as it reads again (no new ready message needed)."""
    busy = port.acceptor.channel()
    busy.send(b"r")
    port.connect(*range(60))  # more than the channel holds
    time.sleep(0.3)
    assert sorted(_tags(busy, 60)) == list(range(60))


def test_a_stopping_process_gives_back_what_it_had_not_taken_and_gets_no_more(port: _Port) -> None:
    stopping, staying = port.acceptor.channel(), port.acceptor.channel()
    stopping.send(b"r")
    staying.send(b"r")
    port.connect(*range(6))
    time.sleep(0.2)  # three wait on each channel, untaken
    stopping.setblocking(False)
    _give_back(stopping)
    port.connect(10, 11, 12)
    assert sorted(_tags(staying, 9)) == [0, 1, 2, 3, 4, 5, 10, 11, 12]


class _OutOfDescriptors(socket.socket):
    """A listening socket whose accept always fails as a process out of descriptors does; it counts the calls."""

    calls = 0

    def accept(self) -> tuple[socket.socket, Any]:
        type(self).calls += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_out_of_descriptors_the_acceptor_leaves_the_port_for_a_moment_instead_of_spinning() -> None:
    listener = _OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    acceptor = Acceptor(listener)
    client = None
    try:
        channel = acceptor.channel()
        channel.send(b"r")
        client = _connect(port, b"x")  # the port stays readable: the connection is never accepted
        time.sleep(0.5)
        assert 1 <= _OutOfDescriptors.calls <= 20  # once per RETRY_SECONDS at most, not in a loop
    finally:
        acceptor.close()
        if client is not None:
            client.close()


def test_a_large_answer_is_written_at_once_so_that_flow_control_sees_it() -> None:
    async def scenario() -> tuple[list[bytes], int, int]:
        inner = _Recorder()
        transport = _CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"h" * 100)
        held = transport.get_write_buffer_size()  # the held bytes count as buffered
        transport.write(b"x" * (COALESCE_BYTES + 1))
        return list(inner.sent), held, transport.get_write_buffer_size()

    sent, held, after = asyncio.run(scenario())
    assert sent == [b"h" * 100 + b"x" * (COALESCE_BYTES + 1)]  # within the turn, not at its end
    assert held == 100 + 7 and after == 7
