"""The chain down while issuing (issue 9, 7): the registry answers 503 CHAIN_UNAVAILABLE with Retry-After and
accepts nothing; ``tracecert issue`` retries as it says until the chain is back, or gives up clearly after
--retry-for (the client's :class:`~registry.client.Patience`)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.cli.inputs import Item
from registry.cli.lab import send_items
from registry.client import RegistryClient, RegistryClientError
from registry.core import RegistryCore
from registry.issuance import Submission, accept
from tests.conftest import free_port
from tests.registry.cli.conftest import error_code, outcome, run_issue, served, write_record
from tests.registry.conftest import LabWorld
from tests.registry.test_api import bearer
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts


class ChainGate:
    """A port in front of the chain node: nothing listens until :meth:`open` (the node "comes back"), then every
    connection is relayed to the node."""

    def __init__(self, node_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._target = ("127.0.0.1", int(node_url.rsplit(":", 1)[1].split("/")[0]))
        self._listener: socket.socket | None = None

    def open(self) -> None:
        """Listen, and relay each connection to the node."""
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening (connections already relayed end with the test)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def gate(world: LabWorld) -> Iterator[ChainGate]:
    """A chain URL whose node is down until the test opens it."""
    gate = ChainGate(world.chain.client.url)
    yield gate
    gate.close()


@contextmanager
def served_through(world: LabWorld, gate: ChainGate) -> Iterator[str]:
    """The world's registry (database, keys) served over HTTP, asking the chain through ``gate``."""
    chain = ChainContracts(ChainClient(gate.url, timeout=2), world.chain.contracts.deployment)
    core = RegistryCore(world.core.settings, world.core.engine, chain)
    with served(core) as url:
        yield url


#: Bulk items while the node is down: what was accepted before it went down ("old"), new records, and records
#: refused without asking the chain ("bad"); the answer expected.
CHAIN_DOWN_BULKS = [
    pytest.param(["new", "new", "new"], 503, "CHAIN_UNAVAILABLE", id="all-new"),
    pytest.param(["old", "new"], 503, "CHAIN_UNAVAILABLE", id="old-and-new"),
    pytest.param(["bad", "new"], 503, "CHAIN_UNAVAILABLE", id="bad-and-new"),
    pytest.param(["new", "old", "new", "bad"], 503, "CHAIN_UNAVAILABLE", id="mixed"),
    pytest.param(["old", "old"], 200, None, id="all-already-there"),  # nothing to ask the chain
]


@pytest.mark.parametrize(("kinds", "status", "code"), CHAIN_DOWN_BULKS)
def test_bulk_while_the_chain_is_down(
    world: LabWorld, gate: ChainGate, kinds: list[str], status: int, code: str | None
) -> None:
    old = [world.record(f"JD2026-C{i:04d}") for i in range(2)]
    accept(world.core, world.core.authenticate(world.token), Submission(old[0]))
    accept(world.core, world.core.authenticate(world.token), Submission(old[1]))
    olds, new = iter(old), iter(range(100))
    records = []
    for kind in kinds:
        if kind == "old":
            records.append(next(olds))
        elif kind == "new":
            records.append(world.record(f"JD2026-D{next(new):04d}"))
        else:
            records.append(world.record(f"JD2026-E{next(new):04d}", dates__valid_until=None))
    with served_through(world, gate) as url:
        response = httpx.post(f"{url}/v1/certificates/bulk", json={"certificates": [{"record": r} for r in records]},
                              headers=bearer(world.token), timeout=30)  # fmt: skip
        assert response.status_code == status, response.json()
        if code is not None:
            assert response.json()["error"]["code"] == code
            assert int(response.headers["Retry-After"]) > 0
        else:
            assert response.json()["existing"] == len(records)
        for record in records:  # nothing new was accepted
            number = record["certificate_number"]
            found = httpx.get(f"{url}/v1/labs/{world.lab_id}/certificates/{number}").status_code
            assert found == (200 if record in old else 404), number


def test_issue_retries_until_the_chain_is_back(world: LabWorld, gate: ChainGate, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(3):
        write_record(folder / f"{i}.json", world.record(f"JD2026-F{i:04d}"))
    with served_through(world, gate) as url:
        timer = threading.Timer(3.0, gate.open)
        timer.start()
        try:
            result = run_issue(url, world.token, folder, extra=("--json", "--retry-for", "60"))
        finally:
            timer.cancel()
    assert result.exit_code == 0, result.output
    summary = outcome(result)
    assert (summary["accepted"], summary["refused"], summary["not_sent"]) == (3, 0, 0)
    assert "CHAIN_UNAVAILABLE" in result.stderr and "retrying" in result.stderr


def test_issue_gives_up_clearly_after_its_bound(world: LabWorld, gate: ChainGate, tmp_path: Path) -> None:
    path = write_record(tmp_path / "r.json", world.record("JD2026-G0001"))
    with served_through(world, gate) as url:
        started = time.monotonic()
        result = run_issue(url, world.token, path, extra=("--json", "--retry-for", "3"))
        took = time.monotonic() - started
    assert result.exit_code == 1 and error_code(result) == "CHAIN_UNAVAILABLE"
    assert "safe to run again" in result.stderr
    assert 2.5 < took < 20
    assert outcome(result)["not_sent"] == 1


def _mock_registry(answers: list[tuple[int, dict[str, Any], dict[str, str]]]) -> tuple[RegistryClient, list[Any]]:
    """A client whose registry answers ``answers`` in turn (status, body, headers); returns it and the bodies
    received."""
    received: list[Any] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        status, body, headers = queue.pop(0)
        return httpx.Response(status, json=body, headers=headers)

    return RegistryClient("http://registry.test", "t", transport=httpx.MockTransport(handle)), received


def _ok(index: int, digest: str) -> dict[str, Any]:
    return {"index": index, "ok": True, "digest": digest, "lab_id": "0x01", "status": "pending", "created": True,
            "public": False}  # fmt: skip


_DOWN = {"error": {"code": "CHAIN_UNAVAILABLE", "message": "the chain node is unreachable; retry"}}
_ITEM_DOWN = {"ok": False, "error": _DOWN["error"]}


@pytest.mark.parametrize(
    ("answers", "outcomes", "sleeps", "resent"),
    [
        pytest.param(  # a whole 503, then success: waits what Retry-After says
            [(503, _DOWN, {"Retry-After": "7"}),
             (200, {"accepted": 2, "existing": 0, "rejected": 0, "results": [_ok(0, "0xa"), _ok(1, "0xb")]}, {})],
            ["accepted", "accepted"], [7.0], [2, 2], id="503-retry-after",
        ),
        pytest.param(  # one item answered CHAIN_UNAVAILABLE: only it is sent again
            [(200, {"accepted": 1, "existing": 0, "rejected": 1,
                    "results": [_ok(0, "0xa"), {"index": 1, **_ITEM_DOWN}]}, {}),
             (200, {"accepted": 1, "existing": 0, "rejected": 0, "results": [_ok(0, "0xb")]}, {})],
            ["accepted", "accepted"], [1.0], [2, 1], id="per-item",
        ),
        pytest.param(  # a 503 without Retry-After: backs off on its own
            [(503, _DOWN, {}), (503, _DOWN, {}),
             (200, {"accepted": 2, "existing": 0, "rejected": 0, "results": [_ok(0, "0xa"), _ok(1, "0xb")]}, {})],
            ["accepted", "accepted"], [1.0, 2.0], [2, 2, 2], id="503-backoff",
        ),
        pytest.param(  # a huge Retry-After is capped by the bound: one try at the end, then a clear stop
            [(503, _DOWN, {"Retry-After": "3600"}), (503, _DOWN, {"Retry-After": "3600"})],
            ["pending", "pending"], [10.0], [2, 2], id="bound",
        ),
    ],
)  # fmt: skip
def test_issue_retry_policy(
    monkeypatch: pytest.MonkeyPatch,
    answers: list[tuple[int, dict[str, Any], dict[str, str]]],
    outcomes: list[str],
    sleeps: list[float],
    resent: list[int],
) -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr("registry.client.time.sleep", sleep)
    monkeypatch.setattr("registry.client.time.monotonic", lambda: clock[0])
    client, received = _mock_registry(answers)
    items = [Item(source=f"{i}.json", record={"certificate_number": f"N{i}"}) for i in range(2)]
    try:
        send_items(client, items, chunk_size=10, advance=lambda _n: None, retry_for=10.0)
    except RegistryClientError as exc:
        assert exc.code == "CHAIN_UNAVAILABLE" and outcomes == ["pending", "pending"]
    assert [i.outcome for i in items] == outcomes
    assert slept == sleeps
    assert [len(body["certificates"]) for body in received] == resent
