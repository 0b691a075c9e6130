"""Notebook execution cannot hang: widget cells under CPU load, a cell past its timeout, a kernel
that never answers. Each failure names the notebook and the cell."""

import json
import multiprocessing
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from neglabel_core.site.build import NotebookFailedError, execute_notebooks

# The explorer's pattern: widgets.interactive draws a figure and prints into its Output widget.
WIDGET_SETUP = """import matplotlib.pyplot as plt
import numpy as np
import ipywidgets as widgets

def show(a=1.0):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.hist(np.random.default_rng(0).normal(size=500) * a, bins=30)
    plt.show()
    print("shown", a)
"""


def _write(folder, name, cells, kernel="python3"):
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}})
    nbformat.write(nb, folder / f"{name}.ipynb")


def _busy(core: int) -> None:  # pragma: no cover - runs in a child process
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    while True:
        pass


@pytest.fixture
def cpu_load():
    """Two busy processes on the cores this process may use: the condition the hang needed."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0, 1]
    procs = [multiprocessing.get_context("spawn").Process(target=_busy, args=(cores[i % len(cores)],), daemon=True)
             for i in range(2)]
    for p in procs:
        p.start()
    yield
    for p in procs:
        p.kill()
        p.join()


@pytest.mark.slow
def test_widget_cells_execute_twenty_times_under_load_without_hanging(tmp_path, cpu_load):
    cells = [WIDGET_SETUP, *(f"widgets.interactive(show, a=widgets.FloatSlider(value={i + 1}.0))" for i in range(4))]
    _write(tmp_path / "src", "widgets", cells)
    for run in range(20):
        # 30 s per cell: a lost reply fails the run instead of waiting forever
        status = execute_notebooks("x", tmp_path / "out", source_dir=tmp_path / "src", notebooks=["widgets"],
                                   force=True, cell_timeout=30)
        assert status == {"widgets": "executed"}, run
        nb = nbformat.read(tmp_path / "out" / "widgets.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code" and "interactive" in c.source]
        # No front-end mimic: what show() prints and draws is the cell's own output, not widget state.
        for i, cell in enumerate(code):
            texts = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert f"shown {i + 1}.0" in texts, (run, i, cell.outputs)
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), (run, i)


def test_a_cell_past_its_timeout_fails_naming_notebook_and_cell(tmp_path):
    _write(tmp_path / "src", "slow", ["x = 1", "import time\ntime.sleep(60)"])
    with pytest.raises(NotebookFailedError, match=r"^notebook slow: cell \d+ \('import time'\) did not finish "
                                                  r"within 2 s \(the executed copy is .*\.slow\.running\.ipynb\)$"):
        execute_notebooks("x", tmp_path / "out", source_dir=tmp_path / "src", notebooks=["slow"], cell_timeout=2)
    assert not (tmp_path / "out" / "slow.ipynb").exists()


def test_a_kernel_that_never_answers_fails_within_the_start_timeout(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / "mute"
    spec.mkdir(parents=True)
    # a "kernel" that starts and never opens its sockets
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import time; time.sleep(120)", "{connection_file}"],
        "display_name": "mute", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    _write(tmp_path / "src", "mute", ["x = 1"], kernel="mute")
    with pytest.raises(NotebookFailedError, match=r"^notebook mute: the kernel did not start within 3 s"):
        execute_notebooks("x", tmp_path / "out", source_dir=tmp_path / "src", notebooks=["mute"], kernel="mute",
                          kernel_start_timeout=3)


def test_two_at_a_time_runs_every_notebook_and_stops_at_a_failure(tmp_path):
    """jobs=2: each notebook in its own process and kernel; the statuses come back in the given
    order; a failure is raised with its notebook named, and a notebook not yet started is not run."""
    for i in range(3):
        _write(tmp_path / "ok", f"nb{i}", [f"import os\nprint(os.getpid())\nvalue = {i}"])
    status = execute_notebooks("x", tmp_path / "out", source_dir=tmp_path / "ok", notebooks=["nb2", "nb0", "nb1"],
                               jobs=2)
    assert list(status.items()) == [("nb2", "executed"), ("nb0", "executed"), ("nb1", "executed")]
    kernels = {next(c for c in nbformat.read(tmp_path / "out" / f"nb{i}.ipynb", as_version=4).cells
                    if "getpid" in c.source).outputs[0]["text"] for i in range(3)}
    assert len(kernels) == 3  # three kernels

    _write(tmp_path / "bad", "first", ["raise ValueError('broken on purpose')"])
    _write(tmp_path / "bad", "slow", ["import time\ntime.sleep(3)"])
    _write(tmp_path / "bad", "later", ["x = 1"])
    with pytest.raises(NotebookFailedError, match=r"^notebook first failed: ValueError: broken on purpose"):
        execute_notebooks("x", tmp_path / "out2", source_dir=tmp_path / "bad", notebooks=["first", "slow", "later"],
                          jobs=2)
    assert not (tmp_path / "out2" / "first.ipynb").exists()


def test_two_builds_started_together_both_finish(tmp_path):
    """Two separate runs at once on one machine (two users, or `make book` beside `make test`), each
    with widget cells and a short cell timeout, so this test cannot hang: the hang fixed above must
    not come back when two runs compete for the cores."""
    cells = [WIDGET_SETUP, *(f"widgets.interactive(show, a=widgets.FloatSlider(value={i + 1}.0))" for i in range(3))]
    _write(tmp_path / "src", "widgets", cells)
    script = ("import sys\nfrom pathlib import Path\nfrom neglabel_core.site.build import execute_notebooks\n"
              "print(execute_notebooks('x', Path(sys.argv[1]), source_dir=Path(sys.argv[2]), notebooks=['widgets'], force=True,"
              " cell_timeout=30))")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"out{i}"), str(tmp_path / "src")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0 and "'widgets': 'executed'" in out, err[-2000:]
    for i in range(2):
        nb = nbformat.read(tmp_path / f"out{i}" / "widgets.ipynb", as_version=4)
        assert sum("shown" in "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code") == 3
