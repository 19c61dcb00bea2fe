"""The registry's command line under test: the world's registry served over real HTTP, the ``tracecert`` command
run in-process, and a local data directory on the session's node for the onboarding and operators' commands. What
the tests of every audience share (test_lab.py, test_retries.py, test_inputs.py, test_regulator.py,
test_operator.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from registry.api import create_app
from registry.config import ensure_local_secret
from registry.core import RegistryCore
from tests.conftest import free_port
from tests.registry.conftest import LabWorld, lab_record
from tracecert.chain.client import ChainClient
from tracecert.chain.local import ensure_local_deployment
from tracecert.chain.node import AnvilNode
from tracecert_app.cli import app
from tracecert_app.up import serve_in_thread

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the API's own tests cover PostgreSQL; here the command line is under test."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@contextmanager
def served(core: RegistryCore, *, run_worker: bool = True) -> Iterator[str]:
    """The registry app of ``core`` (with its anchoring worker, unless ``run_worker`` is false: the test drains it
    itself) served by uvicorn on a free port."""
    port = free_port()
    app = create_app(core.settings, core=core, run_worker=run_worker)
    server = serve_in_thread("registry", app, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def registry_url(world: LabWorld) -> Iterator[str]:
    """The world's registry over real HTTP."""
    with served(world.core) as url:
        yield url


def record_for(
    code: str,
    number: str,
    name: str = "杭州市计量检定测试院",
    *,
    standard: dict[str, Any] | None = None,
    today: dt.date | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A VERIFICATION record of the lab with ``code`` (see :func:`tests.registry.conftest.lab_record`)."""
    return lab_record(code, name, number, standard=standard, today=today, **changes)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """``tracecert ARGS``, run in-process."""
    return runner.invoke(app, list(args), env=env)


def outcome(result: Result) -> dict[str, Any]:
    """The ``--json`` summary of ``tracecert issue``."""
    return dict(json.loads(result.stdout))


def error_code(result: Result) -> str:
    """The code of the ``error CODE: message`` line on stderr."""
    match = re.search(r"error ([A-Z_]+):", result.stderr)
    assert match, result.stderr
    return match.group(1)


def run_issue(registry_url: str, token: str, *paths: Path, extra: tuple[str, ...] = ()) -> Result:
    """``tracecert issue PATHS`` to ``registry_url`` with ``token``, and ``extra`` options."""
    return invoke("issue", *map(str, paths), "--registry", registry_url, "--token", token, *extra)


def write_record(path: Path, record: dict[str, Any]) -> Path:
    """``record`` as a JSON file at ``path``."""
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return path


# ====================================================================== a local data directory


@pytest.fixture
def local(client: ChainClient, anvil: AnvilNode, data_dir: Path) -> tuple[Path, str]:
    """A data directory deployed on the session's node (its development national authority), with a secret."""
    ensure_local_deployment(client, data_dir)
    ensure_local_secret(data_dir)
    return data_dir, anvil.url


def lab_cli(local: tuple[Path, str], *args: str, env: dict[str, str] | None = None) -> Result:
    """``tracecert ARGS`` on the ``local`` data directory and node."""
    data_dir, url = local
    return invoke(*args, "--data-dir", str(data_dir), "--rpc-url", url, env=env)
