"""Operators' commands as processes: ``tracecert registry serve`` and ``registry worker`` on a local data
directory, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port
from tests.faultproxy import Fault, FaultProxy


def _process(*args: str, data_dir: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TRACECERT_REGISTRY_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tracecert_app.cli", *args, "--data-dir", str(data_dir), "--rpc-url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def test_registry_serve_and_worker_processes(local: tuple[Path, str]) -> None:
    data_dir, url = local
    port = free_port()
    serve = _process("registry", "serve", "--port", str(port), "--no-worker", data_dir=data_dir, url=url)
    worker = _process("registry", "worker", data_dir=data_dir, url=url)
    try:
        health = _health(serve, port)
        assert health["status"] == "ok" and health["chain_id"] == 31337
    finally:
        serve_code, serve_out = _stop(serve)
        worker_code, worker_out = _stop(worker)
    assert serve_code == 0, serve_out
    assert worker_code == 0 and "anchoring worker stopped" in worker_out, worker_out


def test_registry_serve_started_while_its_node_restarts_waits_for_it(local: tuple[Path, str]) -> None:
    """A supervisor restarts the API while the chain node is away (the chaos run's kills do): the API waits for
    the node, saying so, and answers once the node is back, instead of exiting with CHAIN_UNAVAILABLE."""
    data_dir, url = local
    port = free_port()
    with FaultProxy.to_url(url) as proxy:
        proxy.set_fault(Fault.RESET)  # every request reset: the node is not there
        serve = _process("registry", "serve", "--port", str(port), "--no-worker", data_dir=data_dir, url=proxy.url)
        try:
            deadline = time.monotonic() + 30
            while proxy.faulted < 2 and time.monotonic() < deadline:  # refused, and asked again
                assert serve.poll() is None, serve.communicate()[0]
                time.sleep(0.1)
            assert proxy.faulted >= 2, "the API did not ask the node again"
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)  # nothing served before the chain is there
            proxy.set_fault(Fault.PASS)
            health = _health(serve, port)
            assert health["status"] == "ok" and health["chain_id"] == 31337
        finally:
            code, out = _stop(serve)
    assert code == 0, out
    assert "chain node not reachable yet" in out, out


def _health(serve: subprocess.Popen[str], port: int, timeout: float = 60) -> dict[str, object]:
    """``GET /health`` of a starting ``registry serve`` once it answers (failing with its output if it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return dict(httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json())
        except httpx.HTTPError:
            assert serve.poll() is None, serve.communicate()[0]
            time.sleep(0.2)
    raise AssertionError("registry serve did not answer")


def _children(
    supervisor: psutil.Process, port: int, timeout: float = 60
) -> tuple[list[psutil.Process], psutil.Process]:
    """Wait until two API processes of the supervisor and a third, the worker, run ("registry-api" and
    "registry-worker" in ``ps``), and the supervisor listens on the port (as it does once an API process is
    ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [c for c in supervisor.children() if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        apis = [c for c in alive if c.name() == "registry-api"]
        workers = [c for c in alive if c.name() == "registry-worker"]
        listening = any(n.status == psutil.CONN_LISTEN and n.laddr.port == port for n in supervisor.net_connections())
        if len(apis) == 2 and len(workers) == 1 and listening:
            return apis, workers[0]
        time.sleep(0.2)
    raise AssertionError(f"two API processes and a worker did not come up on port {port}")


def test_registry_serve_with_two_api_processes_and_its_worker(local: tuple[Path, str]) -> None:
    """`tracecert registry serve --workers 2`: two API processes, handed the connections in turn by the
    supervisor, the anchoring worker in a third at a higher CPU priority; a worker that dies is replaced; SIGINT stops
    everything."""
    data_dir, url = local
    port = free_port()
    serve = _process("registry", "serve", "--port", str(port), "--workers", "2", data_dir=data_dir, url=url)
    try:
        supervisor = psutil.Process(serve.pid)
        try:
            apis, worker = _children(supervisor, port)
        except AssertionError:
            raise AssertionError(_stop(serve)[1]) from None
        for _ in range(8):  # a connection each, to each process in turn: both answer
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
            assert health["status"] == "ok" and health["chain_id"] == 31337
        # The API processes yield the cores to the anchoring worker (api_niceness, default 3).
        assert [api.nice() - worker.nice() for api in apis] == [3, 3]
        worker.kill()
        worker.wait(timeout=30)
        again, replaced = _children(supervisor, port)
        assert replaced.pid != worker.pid and {p.pid for p in again} == {p.pid for p in apis}
    finally:
        code, out = _stop(serve)
    assert code == 0, out
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in [*again, replaced])
