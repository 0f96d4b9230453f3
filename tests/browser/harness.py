"""Real-browser harness, plain functions (the pytest fixtures in ``conftest.py`` and
``benchmarks/bench_wafermap.py`` both use it): JupyterLab on 127.0.0.1 with a random
token and every network lookup off, Debian's Chromium driven by Playwright, and
:class:`Lab` to drive one notebook through the real UI.

Example (needs Chromium and a free port, so not a doctest)::

    from tests.browser.harness import Lab, chromium_context, jupyterlab, write_notebook
    with jupyterlab(Path("/tmp/lab")) as server, chromium_context(Path("/tmp/prof")) as ctx:
        write_notebook(server.root / "a.ipynb", ["print(1)"])
        lab = Lab(ctx.new_page(), server, Path("/tmp/shots"))
        lab.open("a.ipynb")
        lab.run_all()
        print(lab.output_text(0))
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SERVER_START_S = 90
KERNEL_WAIT_MS = int(os.environ.get("FABNB_KERNEL_WAIT_MS", "120000"))
#: the notebook in the visible tab (other tabs' notebooks stay in the DOM, hidden)
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
UI_WAIT_MS = int(os.environ.get("FABNB_UI_WAIT_MS", "60000"))

# JupyterLab user settings: no news/update checks, every cell kept in the DOM (the
# default windowing would detach off-screen cells while the test looks for them).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
DISABLED_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a Python 3 notebook whose code cells are ``cells`` (kernelspec set, so
    JupyterLab starts the kernel without asking)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, path)
    return path


class Server:
    def __init__(self, root: Path, port: int, token: str, proc: subprocess.Popen, log: Path):
        self.root, self.port, self.token, self.proc, self.log = root, port, token, proc, log
        self.base_url = f"http://127.0.0.1:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early; log:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(server.url("/api/status"), timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S} s; log:\n"
                       f"{server.log.read_text()[-3000:]}")


@contextmanager
def jupyterlab(base: Path):
    """Start JupyterLab with everything (notebook root, config, data, runtime, settings)
    under ``base``; yield its :class:`Server`; stop it on exit."""
    root = base / "notebooks"
    settings = base / "user-settings"
    config = base / "config"
    for folder in (root, settings, config / "labconfig", base / "data", base / "runtime",
                   base / "workspaces", base / "ipython"):
        folder.mkdir(parents=True, exist_ok=True)
    for name, body in LAB_SETTINGS.items():
        plugin, file = name.rsplit("/", 1)
        (settings / plugin).mkdir(parents=True, exist_ok=True)
        (settings / plugin / file).write_text(json.dumps(body))
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {p: True for p in DISABLED_PLUGINS}}))

    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "MPLBACKEND": "Agg",
        # kernels inherit it: widgets expose their test hooks (die positions, timings)
        "FABNB_WIDGET_DEBUG": "1",
    }
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
    ]
    if os.geteuid() == 0:  # containers and CI runners often run as root
        cmd.append("--allow-root")
    log = base / "jupyterlab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    server = Server(root, port, token, proc, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class ChromiumMissing(RuntimeError):
    """Debian's Chromium is not installed."""


@contextmanager
def chromium_context(profile: Path):
    """Playwright's persistent context on ``/usr/bin/chromium`` with a fresh profile."""
    if not CHROMIUM.exists():
        raise ChromiumMissing(f"{CHROMIUM} is missing: run `make browser` (apt-get install "
                              "chromium) before the browser tests; `make test` does this for you.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(UI_WAIT_MS)
        try:
            yield context
        finally:
            context.close()


class Lab:
    """Drive one notebook in JupyterLab through the real UI."""

    def __init__(self, page, server: Server, artifacts: Path):
        self.page, self.server, self.artifacts = page, server, artifacts
        self.shots = 0

    def shot(self, name: str, element=None) -> Path:
        """Screenshot of the page (or of one element, e.g. a widget further down the
        notebook than the viewport) as ``NN-name.png`` in the artifacts folder."""
        self.shots += 1
        path = self.artifacts / f"{self.shots:02d}-{name}.png"
        (element or self.page).screenshot(path=str(path))
        return path

    def open(self, notebook: str) -> None:
        """Open ``notebook`` alone in a fresh workspace (no tabs restored from a previous
        test) and wait for its kernel."""
        workspace = f"test-{Path(notebook).stem}-{secrets.token_hex(3)}"
        self.page.goto(f"{self.server.base_url}/lab/workspaces/{workspace}/tree/{notebook}"
                       f"?reset&token={self.server.token}")
        self.page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for()
        self.wait_idle()

    def wait_idle(self) -> None:
        """Wait until the notebook has its kernel (status bar: "Python 3 (ipykernel) | Idle")
        and the toolbar's execution indicator says idle."""
        self.page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle").first.wait_for(
            timeout=KERNEL_WAIT_MS)
        indicator = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator"
        self.page.locator(f"{indicator}[data-status='idle']").wait_for(timeout=KERNEL_WAIT_MS)

    def run_all(self) -> None:
        """Run menu -> Run All Cells, then wait until every cell has an execution count.

        A cell that raises stops Run All: the test then fails at once with the
        traceback shown in the notebook, instead of waiting for the timeout."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        self.page.wait_for_function(
            """sel => {
                const nb = document.querySelector(sel);
                if (nb && /Traceback \\(most recent call last\\)/.test(nb.textContent)) return true;
                const prompts = [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            arg=NOTEBOOK, timeout=KERNEL_WAIT_MS)
        self.wait_idle()
        failed = self.page.locator(f"{NOTEBOOK} .jp-OutputArea-output",
                                   has_text="Traceback (most recent call last)")
        if failed.count():
            raise AssertionError("a notebook cell raised:\n" + failed.first.inner_text()[-3000:])

    def cell(self, index: int):
        return self.page.locator(f"{NOTEBOOK} .jp-Cell").nth(index)

    def run_cell(self, index: int) -> None:
        """Select cell ``index``, run it in place (Ctrl+Enter) and wait for its new
        execution count."""
        prompt = self.cell(index).locator(".jp-InputPrompt")
        before = prompt.inner_text()
        prompt.click()
        self.page.keyboard.press("Control+Enter")
        handle = prompt.element_handle()
        self.page.wait_for_function(
            "([el, before]) => /\\[\\d+\\]/.test(el.textContent) && el.textContent !== before",
            arg=[handle, before], timeout=KERNEL_WAIT_MS)
        self.wait_idle()

    def output_text(self, index: int) -> str:
        return self.cell(index).locator(".jp-OutputArea").inner_text()
