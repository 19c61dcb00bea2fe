"""The fault-injecting proxy itself, against a tiny local HTTP echo server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests import faultproxy
from tests.faultproxy import Fault, FaultProxy


class _Echo(BaseHTTPRequestHandler):
    """Answers a POST with its body; counts the requests it received."""

    received = 0
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with _Echo.lock:
            _Echo.received += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, int]]:
    """The echo server's address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[FaultProxy]:
    """A proxy in front of the echo server."""
    with FaultProxy(*echo) as p:
        yield p


def _post(url: str, body: bytes = b"hello", *, timeout: float = 2.0, session: requests.Session | None = None) -> bytes:
    response = (session or requests).post(url, data=body, timeout=timeout)
    return response.content


def test_pass_forwards_both_ways(proxy: FaultProxy) -> None:
    assert _post(proxy.url, b"ping") == b"ping"
    assert proxy.accepted == 1
    assert proxy.faulted == 0


# Each fault a client sees as a failure: the exception the client gets, and whether the server got the request.
FAILING = [
    pytest.param(Fault.RESET, requests.exceptions.ConnectionError, False, id="reset"),
    pytest.param(Fault.BLACKHOLE, requests.exceptions.ReadTimeout, False, id="blackhole"),
    pytest.param(Fault.SEVER, requests.exceptions.ConnectionError, True, id="sever"),
    pytest.param(Fault.REFUSE, requests.exceptions.ConnectionError, False, id="refuse"),
]


@pytest.mark.parametrize(("fault", "error", "reaches_server"), FAILING)
def test_a_fault_fails_the_client_then_pass_heals(
    proxy: FaultProxy, fault: Fault, error: type[Exception], reaches_server: bool
) -> None:
    before = _Echo.received
    proxy.set_fault(fault)
    with pytest.raises(error):
        _post(proxy.url, timeout=0.5)
    time.sleep(0.1)
    assert (_Echo.received > before) is reaches_server
    proxy.set_fault(Fault.PASS)
    assert _post(proxy.url, b"again") == b"again"


@pytest.mark.parametrize("fault", [Fault.RESET, Fault.BLACKHOLE, Fault.SEVER, Fault.REFUSE], ids=lambda f: f.value)
def test_a_fault_hits_a_kept_alive_connection(proxy: FaultProxy, fault: Fault) -> None:
    with requests.Session() as session:
        assert _post(proxy.url, b"one", session=session) == b"one"
        proxy.set_fault(fault)
        with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout)):
            _post(proxy.url, b"two", session=session, timeout=0.5)
    assert proxy.accepted >= 1


def test_delay_holds_each_request(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault.DELAY, delay_ms=300)
    started = time.monotonic()
    assert _post(proxy.url, b"slow") == b"slow"
    assert time.monotonic() - started >= 0.3
    assert proxy.faulted >= 1


def test_only_limits_the_fault_to_matching_requests(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault.RESET, only=b"poison")
    assert _post(proxy.url, b"harmless") == b"harmless"
    with pytest.raises(requests.exceptions.ConnectionError):
        _post(proxy.url, b"a poison pill")


def test_refuse_stops_listening_and_pass_listens_on_the_same_port(proxy: FaultProxy) -> None:
    port = proxy.port
    proxy.set_fault(Fault.REFUSE)
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        _post(proxy.url)
    assert "refused" in str(info.value).lower()
    proxy.set_fault(Fault.PASS)
    assert proxy.port == port
    assert _post(proxy.url, b"back") == b"back"


def test_to_url_and_close(echo: tuple[str, int]) -> None:
    proxy = FaultProxy.to_url(f"http://{echo[0]}:{echo[1]}")
    assert proxy.target == echo
    with proxy:
        url = proxy.url
        assert _post(url, b"x") == b"x"
    with pytest.raises(requests.exceptions.ConnectionError):
        _post(url)


def test_a_connection_closed_while_its_thread_starts_closes_cleanly(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REFUSE closes every open connection from the caller's thread; one just accepted may not have started its
    thread yet. Joining a thread not yet started raises (this failed a chaos run), so close must wait for it."""
    errors: list[BaseException] = []
    client, accepted = socket.socketpair()
    conn = faultproxy._Connection(proxy, accepted)
    real_start = threading.Thread.start

    def close_from_elsewhere() -> None:
        try:
            conn.close(rst=True)
        except BaseException as exc:  # the test reports whatever the close raised
            errors.append(exc)

    def start_after_a_close(thread: threading.Thread) -> None:
        if thread.name == "faultproxy-conn":  # a close arrives between the connection's spawn and its thread's start
            closer = threading.Thread(target=close_from_elsewhere)
            real_start(closer)
            closer.join(timeout=0.5)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_after_a_close)
    conn.start()
    monkeypatch.undo()
    assert conn.closed.wait(timeout=5)
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in conn._threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors == []
    assert not any(t.is_alive() for t in conn._threads)
    client.close()
