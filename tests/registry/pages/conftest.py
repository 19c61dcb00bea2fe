"""The registry's pages under test in Chromium: the registry served over real HTTP on SQLite (the API's own tests
cover PostgreSQL), and a page that records everything and asserts that nothing left the machine and no token
reached an address or a log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import REFUSED, recording_page
from tests.registry.cli.conftest import served
from tests.registry.conftest import LabWorld


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the API's own tests cover PostgreSQL; here the page is under test."""
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def base_url(world: LabWorld) -> Iterator[str]:
    """The world's registry over real HTTP (no worker: the tests drain it themselves)."""
    with served(world.core, run_worker=False) as url:
        yield url


@pytest.fixture
def page(browser: Any, base_url: str, world: LabWorld) -> Iterator[Any]:
    """A fresh page that records every request, every console message and every page error."""
    with recording_page(browser, accept_downloads=True) as pg:
        yield pg
        # Everything the page loaded came from the registry itself; the token is in no address and no log.
        outside = [u for u in pg.requests if not u.startswith(base_url) and not u.startswith(("data:", "blob:"))]
        assert not outside, outside
        for secret in (world.regulator_token, world.token):
            assert not [u for u in pg.requests if secret in u]
            assert not [m for m in pg.console if secret in m]
        assert not [e for e in pg.errors if not REFUSED.search(e)], pg.errors
