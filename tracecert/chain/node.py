"""A local Anvil node, started and managed for the user, with its state persisted in the data directory.

Anvil's ``--state FILE`` loads the chain on start and dumps it on exit; ``--state-interval`` also dumps it every
second, so a crash loses at most about a second of blocks. Stop the node with SIGINT/SIGTERM so it dumps.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from tracecert.chain.compile import PROJECT_ROOT
from tracecert.chain.errors import NodeStartFailed

__all__ = ["AnvilNode", "find_anvil", "rpc_ready"]

logger = logging.getLogger(__name__)


def find_anvil() -> Path:
    """The Anvil binary: ``$TRACECERT_ANVIL_BIN``, the project's ``node_modules/.bin/anvil``, or PATH.

    Raises:
        NodeStartFailed: no Anvil binary found (run the set-up command).
    """
    candidates = [
        os.environ.get("TRACECERT_ANVIL_BIN"),
        str(PROJECT_ROOT / "node_modules" / ".bin" / "anvil"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise NodeStartFailed("anvil not found: run the set-up command (npm install brings @foundry-rs/anvil)")


def rpc_ready(url: str, timeout: float = 1.0) -> int | None:
    """The chain id if a JSON-RPC node answers at ``url``, else None."""
    try:
        response = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout
        )
        return int(response.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


class AnvilNode:
    """A managed Anvil process whose chain state persists in ``data_dir/anvil-state.json``.

    Use as a context manager, or :meth:`start` / :meth:`stop`. ``detach=True`` starts it in its own session so it
    outlives this process; :meth:`stop_detached` stops it later by its pid file. The state is dumped every
    ``state_interval`` seconds (and on a graceful stop): a node killed in between comes back without its last
    blocks.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8545,
        chain_id: int = 31337,
        block_time: float | None = None,
        persist: bool = True,
        state_interval: int = 1,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.block_time = block_time
        self.persist = persist
        self.state_interval = state_interval
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        """Where the chain state is loaded from and dumped to."""
        return self.data_dir / "anvil-state.json"

    @property
    def pid_file(self) -> Path:
        """Pid and URL of a detached node."""
        return self.data_dir / "anvil.json"

    def command(self) -> list[str]:
        """The Anvil command line."""
        cmd = [
            str(find_anvil()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            "1",
            "--silent",
        ]
        if self.persist:
            cmd += ["--state", str(self.state_file), "--state-interval", str(self.state_interval)]
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        return cmd

    def start(self, *, detach: bool = False, timeout: float = 20.0) -> str:
        """Start the node and wait until it answers; return its URL.

        Raises:
            NodeStartFailed: the port is taken by another chain, or Anvil exited or did not answer in time.
        """
        running = rpc_ready(self.url)
        if running is not None:
            raise NodeStartFailed(f"something already answers JSON-RPC at {self.url} (chain id {running})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "anvil.log").open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NodeStartFailed(
                    f"anvil exited with code {self._process.returncode}; see {self.data_dir}/anvil.log"
                )
            if rpc_ready(self.url, timeout=0.5) == self.chain_id:
                if detach:
                    self.pid_file.write_text(json.dumps({"pid": self._process.pid, "url": self.url}))
                logger.info("anvil started at %s (state %s)", self.url, self.state_file if self.persist else "none")
                return self.url
            time.sleep(0.05)
        self.stop()
        raise NodeStartFailed(f"anvil did not answer at {self.url} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the node gracefully (SIGINT, so Anvil dumps its state), killing it after ``timeout``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kill the node abruptly (SIGKILL), as a crash would: state since the last periodic dump is lost."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    @classmethod
    def stop_detached(cls, data_dir: Path, timeout: float = 10.0) -> bool:
        """Stop a node started with ``detach=True`` in ``data_dir``; False if none was running."""
        pid_file = Path(data_dir) / "anvil.json"
        if not pid_file.exists():
            return False
        pid = int(json.loads(pid_file.read_text())["pid"])
        pid_file.unlink()
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True

    @classmethod
    def detached_url(cls, data_dir: Path) -> str | None:
        """URL of a detached node of ``data_dir`` that still answers, else None."""
        pid_file = Path(data_dir) / "anvil.json"
        if not pid_file.exists():
            return None
        url = str(json.loads(pid_file.read_text())["url"])
        return url if rpc_ready(url) is not None else None

    def __enter__(self) -> AnvilNode:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
