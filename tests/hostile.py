"""Helpers for hostile-input tests: a service in a process of its own (so a crash shows as a dead process, not a
dead test run), the inputs that once crashed one, and a registry impostor that answers such inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.conftest import free_port

#: 100,000 nested arrays: overflowed the C stack of ``json.loads`` once ``py_ecc`` had raised the recursion limit.
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
#: The same depth as a JSON object (what a file upload is taken for: it starts with ``{``).
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
#: An integer of 5,000 digits: Python refuses to convert it (``sys.set_int_max_str_digits``), a ValueError.
HUGE_INT = "9" * 5_000
#: 100,000 nested XML elements.
DEEP_XML = b"<a>" * 100_000 + b"</a>" * 100_000


@contextmanager
def service(
    args: list[str], env: dict[str, str], *, log: Path, timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``python -m tracecert_app.cli ARGS --port P`` until it answers ``/health``; yield its URL and process.

    The process is killed at the end; its output goes to ``log`` (shown when it fails to start).
    """
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRACECERT_")} | env
    full_env["PYTHONUNBUFFERED"] = "1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracecert_app.cli", *args, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{args} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{args}: no /health within {timeout}s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield url, process
    finally:
        process.kill()
        process.wait(timeout=30)


def assert_alive(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """The service still runs and answers."""
    assert process.poll() is None, f"the service died ({process.returncode}):\n{log.read_text(errors='replace')}"
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


@contextmanager
def impostor(body: bytes, content_type: str = "application/json") -> Iterator[str]:
    """An HTTP server that answers every GET with ``body`` (a registry URL that serves hostile JSON)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
