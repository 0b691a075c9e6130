"""The live path: JupyterLab started on localhost, the explorer notebook opened and run in
Chromium, a widget moved, and its output redrawn in under a second; the server is stopped."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from neglabel_core.profiles import load_profile
from neglabel_core.site.browser_check import CHROMIUM_FLAGS, find_chromium

from .test_end_to_end import REAL_DATA, SMALL

ROOT = Path(__file__).resolve().parents[1]
GRID = {"eta": [0.05, 0.5], "m": [20, 100], "n_groups": [1, 10], "tau": [0.01, 0.1],
        "corpus": ["WordNet nouns + adjectives", "WordNet nouns"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer at {url} within {timeout} s")


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists(),
                    reason="Chromium is not installed (make test installs it)")
def test_explorer_widgets_redraw_live_in_jupyterlab(tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    profile = tmp_path / "small.json"
    profile.write_text(load_profile("emoji-tiny", SMALL).to_json())
    nb = nbformat.read(ROOT / "notebooks" / "07_explorer.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += f"\nprofile = {str(profile)!r}\nexplorer_grid = {json.dumps(GRID)}"
    work = tmp_path / "lab"
    work.mkdir()
    nbformat.write(nb, work / "explorer.ipynb")
    port, token = free_port(), "neglabel-test"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.open_browser=False",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.getuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")}
    server = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/api/status?token={token}", server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"{base}/lab/tree/explorer.ipynb?token={token}", timeout=60000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
            # the kernel must be connected and idle before "Run All Cells", or the request is dropped
            page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=120000)
            for _ in range(3):
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                try:  # a cell prompt turns to [*] or [1] once execution starts
                    page.wait_for_function("() => Array.from(document.querySelectorAll('.jp-InputPrompt'))"
                                           ".some(p => /\\[(\\*|1)\\]/.test(p.textContent))", timeout=20000)
                    break
                except Exception:  # noqa: BLE001 - try the menu again
                    page.keyboard.press("Escape")
            slider = page.locator(".widget-hslider").filter(has_text="n_groups")
            try:
                slider.wait_for(timeout=240000)
            except Exception:
                page.screenshot(path=str(Path(os.environ.get("NEGLABEL_TEST_SHOTS", tmp_path)) / "lab-no-widget.png"))
                raise
            output = page.locator(".jupyter-widgets-output-area, .widget-output").last
            output.locator("img").first.wait_for(timeout=120000)
            before = output.inner_html()
            readout = slider.locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("2")
            start = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_function("([el, before]) => el.innerHTML !== before && el.querySelector('img') !== null",
                                   arg=[output.element_handle(), before], timeout=10000, polling=20)
            elapsed = time.perf_counter() - start
            page.screenshot(path=str(tmp_path / "lab-after.png"))
            browser.close()
        assert elapsed < 1.0, f"the output took {elapsed:.2f} s to redraw after n_groups moved"
        assert not errors, errors
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    assert server.returncode is not None  # the server it started is stopped
