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

from tests.conftest import free_port


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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                assert serve.poll() is None, serve.communicate()[0]
                time.sleep(0.2)
        else:
            raise AssertionError("registry serve did not answer")
        assert health["status"] == "ok" and health["chain_id"] == 31337
    finally:
        serve_code, serve_out = _stop(serve)
        worker_code, worker_out = _stop(worker)
    assert serve_code == 0, serve_out
    assert worker_code == 0 and "anchoring worker stopped" in worker_out, worker_out
