"""Building the book: papermill executes the notebooks with a profile's parameters into ``book/``,
Jupyter Book 1 renders them (warnings are errors), MathJax is served from a vendored copy.

Top layer (beside the CLI): it runs the notebooks; it never imports them.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .fetch import NpmPackage, extract, npm_pack
from .files import cache_root

log = logging.getLogger(__name__)

NOTEBOOKS: tuple[str, ...] = (
    "01_negmining",
    "02_scores",
    "03_corpus_ablation",
    "04_hyperparameters",
    "05_domain_shift",
    "06_findings",
    "07_explorer",
)
MATHJAX = NpmPackage("mathjax", "3.2.2",
                     "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==")
HIDDEN_TAGS = ("parameters", "injected-parameters")


class NotebookFailedError(RuntimeError):
    """A notebook raised while papermill executed it."""


def _postprocess(path: Path) -> None:
    """Hide the parameter cells in the rendered page and drop widget state (its JavaScript would be
    fetched from a CDN; the static page shows the initial output instead)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            data.pop("application/vnd.jupyter.widget-view+json", None)
    nb.metadata.pop("widgets", None)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)


def execute_notebooks(
    profile: str,
    out_dir: Path,
    *,
    source_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    notebooks: Sequence[str] = NOTEBOOKS,
    kernel: str = "python3",
) -> list[Path]:
    """Run each notebook with papermill (parameters ``profile``, ``overrides`` and ``extra[name]``)
    into ``out_dir``, in order, stopping at the first failure. Outputs are written atomically: a
    failed notebook leaves the previous good copy, never a half-run one."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in notebooks:
        source = source_dir / f"{name}.ipynb"
        if not source.is_file():
            raise FileNotFoundError(f"notebook {source} does not exist; expected one of {list(NOTEBOOKS)}")
        target = out_dir / f"{name}.ipynb"
        partial = out_dir / f".{name}.running.ipynb"
        params = {"profile": profile, "overrides": dict(overrides or {}), **dict((extra or {}).get(name, {}))}
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(source), str(partial), parameters=params, kernel_name=kernel,
                                       cwd=str(out_dir), progress_bar=False, log_output=False)
        except papermill.PapermillExecutionError as exc:
            raise NotebookFailedError(f"notebook {name} failed: {exc.ename}: {exc.evalue} "
                                      f"(the executed copy is {partial})") from None
        _postprocess(partial)
        partial.replace(target)
        log.info("executed %s in %.0f s", name, time.perf_counter() - start)
        written.append(target)
    return written


def vendor_mathjax(dest: Path) -> Path:
    """MathJax 3 (npm, pinned and verified) unpacked at ``dest`` (its ``es5`` build), once."""
    if (dest / "tex-mml-chtml.js").is_file():
        return dest
    tarball = npm_pack(MATHJAX, cache_root() / "downloads")
    staging = dest.parent / f".{dest.name}-unpacked"
    shutil.rmtree(staging, ignore_errors=True)
    extract(tarball, staging, lambda p: p.startswith("es5/"))
    shutil.rmtree(dest, ignore_errors=True)
    (staging / "es5").replace(dest)
    shutil.rmtree(staging, ignore_errors=True)
    return dest


def build_html(root: Path, *, out_dir: Path | None = None) -> Path:
    """``jupyter-book build`` of the book whose ``_config.yml``/``_toc.yml`` sit in ``root``, with
    warnings as errors. Returns the HTML folder."""
    out_dir = out_dir or root / "book"
    vendor_mathjax(root / "book" / "_vendor" / "mathjax")
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb if jb.exists() else "jupyter-book"), "build", str(root), "--path-output", str(out_dir), "-W",
               "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}):\n{tail}")
    html = out_dir / "_build" / "html"
    (html / "build-info.json").write_text(json.dumps({"built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
    return html
