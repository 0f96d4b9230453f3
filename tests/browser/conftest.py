"""Real-browser fixtures: JupyterLab on 127.0.0.1 driven by Playwright with Debian's Chromium
(the machinery is in :mod:`harness`, shared with ``benchmarks/bench_wafermap.py``).

Fixtures
--------
jupyter_server (session)
    A JupyterLab server on a free port with a random token, its root a temporary folder,
    isolated config/data/runtime/settings folders, and every network lookup off (news,
    update check, announcements plugin, PyPI extension manager).  Torn down at the end.
browser_context (session)
    Playwright's Chromium at ``/usr/bin/chromium`` with a fresh user-data-dir.  Missing
    Chromium is a test FAILURE that says to run ``make browser``: CI must not skip.
page (function)
    A new tab; console errors and page errors are collected on ``page.fabnb_errors``.
artifacts (function)
    ``tests/_artifacts/browser/<test name>/``, where screenshots of each step go.

Helpers (in :mod:`harness`): :func:`write_notebook`, :class:`Lab` (open a notebook, run
all cells from the Run menu, wait for the kernel to be idle, run one cell, read outputs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .harness import ChromiumMissing, chromium_context, jupyterlab

ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts" / "browser"


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    with jupyterlab(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    try:
        with chromium_context(tmp_path_factory.mktemp("chromium-profile")) as context:
            yield context
    except ChromiumMissing as err:
        pytest.fail(str(err), pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can see a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def artifacts(request):
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(browser_context, artifacts, request):
    """A new tab; on failure its last state is saved as ``failure.png`` + console log."""
    page = browser_context.new_page()
    page.fabnb_errors = []
    page.fabnb_console = []
    page.on("console", lambda m: page.fabnb_console.append(f"{m.type}: {m.text}"))
    page.on("console", lambda m: m.type == "error" and page.fabnb_errors.append(m.text))
    page.on("pageerror", lambda e: page.fabnb_errors.append(f"pageerror: {e}"))
    yield page
    (artifacts / "console.log").write_text("\n".join(page.fabnb_console))
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
    page.close()
