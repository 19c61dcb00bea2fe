"""What the browser tests of both services share: Debian's Chromium driven by Playwright (its own browser download
does not work here), a page that records every request, console message and error, and the patterns a page a person
reads must not show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "ARGS",
    "CHROMIUM",
    "ENGLISH_PROSE",
    "REFUSED",
    "UNIX_TIME",
    "launch",
    "recording_page",
    "skip_without_chromium",
]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A unix time in seconds (2020..2033) standing alone: what a person must never be shown.
UNIX_TIME = re.compile(r"(?<![0-9a-fA-Fx])1[6-9]\d{8}(?!\d)")
#: Three or more lower-case English words in a row: prose the Chinese view must not show.
ENGLISH_PROSE = re.compile(r"\b[a-z]{3,}(?: [a-z]{2,}){2,}")
#: What Chromium logs for an answer the page shows as an error (a refusal is not a fault of the page).
REFUSED = re.compile(r"status of 4\d\d")

#: For a module's ``pytestmark``: its tests need the browser.
skip_without_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium fonts-wqy-microhei)",
)


@contextmanager
def launch() -> Iterator[Any]:
    """Chromium, headless, for a module's tests (skipped with a reason when it or Playwright is missing)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium fonts-wqy-microhei)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def recording_page(browser: Any, **context: Any) -> Iterator[Any]:
    """A fresh page (China's locale, a desktop window) whose ``requests``, ``console`` and ``errors`` lists record
    every request URL, every console message and every error the page met; closed afterwards."""
    ctx = browser.new_context(**({"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"} | context))
    page = ctx.new_page()
    page.requests, page.console, page.errors = [], [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("console", lambda m: page.console.append(m.text))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    try:
        yield page
    finally:
        ctx.close()
