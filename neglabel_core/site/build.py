"""Building the book: papermill executes the notebooks with a profile's parameters into ``book/``,
Jupyter Book 1 renders them (warnings are errors), MathJax is served from a vendored copy.

Top layer (beside the CLI): it runs the notebooks; it never imports them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.fetch import NpmPackage, extract, npm_pack
from ..files import atomic_write_bytes, atomic_write_text, cache_root, code_text, full_disk_reported
from .csp import protect_site
from .page_tables import soften_site

log = logging.getLogger(__name__)

NOTEBOOKS: tuple[str, ...] = (
    "00_benchmark",
    "01_negmining",
    "02_scores",
    "03_corpus_ablation",
    "04_hyperparameters",
    "05_domain_shift",
    "06_findings",
    "07_explorer",
    "08_successors",
    "09_vlm_strength",
    "10_neggate",
    "11_cross_vlm",
    "paper_profile",
)
MATHJAX = NpmPackage("mathjax", "3.2.2",
                     "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==")
# The static explorer's plotting library (Vega-Lite through vega-embed), served from the book's own folder.
VEGA = (
    NpmPackage("vega", "5.33.1",
               "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw=="),
    NpmPackage("vega-lite", "5.23.0",
               "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA=="),
    NpmPackage("vega-embed", "6.29.0",
               "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q=="),
    # Vega's expressions without eval (the pages' Content-Security-Policy allows none)
    NpmPackage("vega-interpreter", "1.2.1",
               "sha512-EMHLGxJ+SWfh1K/fHDRlHEZtLA/2ZNAXItYb5e8CxuAIm/Ha/3DHX/8VlvbTGIciUpuwmcKx4tVhJWlKreQ/Yw=="),
)
# The book's own scripts (the static explorer's drawing code), copied beside the vendored Vega
BOOK_SCRIPTS = Path(__file__).with_name("static")
HIDDEN_TAGS = ("parameters", "injected-parameters")


# Every notebook execution is bounded: a cell that runs longer, or a kernel that does not answer
# within the start timeout, fails with the notebook and the cell named (never a silent hang).
CELL_TIMEOUT_S = 3600
KERNEL_START_TIMEOUT_S = 120


class NotebookFailedError(RuntimeError):
    """A notebook raised, timed out or could not start its kernel while papermill executed it."""


class CellTimeoutError(TimeoutError):
    """A cell ran past the per-cell timeout."""


class KernelStartError(RuntimeError):
    """The kernel did not start, or did not answer, within the start timeout."""


@functools.lru_cache(maxsize=None)
def _engine() -> str:
    """Register (once per process) and name the papermill engine the book runs on: nbclient without its
    front-end mimic of ipywidgets' Output widget.

    Why: for every output that lands in an Output widget (``widgets.interactive`` draws into
    one), nbclient's mimic sends a ``comm_msg`` on the shell channel from its IOPub task while
    the reply task is waiting on the same zmq.asyncio socket. Under CPU load that send can eat
    the socket's edge-triggered wake-up, so the cell's ``execute_reply`` sits unread in the
    queue: the kernel is idle, the client waits forever (with a timeout it resumes only when the
    timeout's poll fires). The book drops widget state anyway (the static page shows the plain
    outputs), so the client never mimics widgets and sends nothing while a cell runs.
    """
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellTimeoutError as NbclientCellTimeout
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    name = "neglabel-book"

    class BookClient(PapermillNotebookClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.widget_registry = {}  # no Output-widget mimic: no shell sends during a cell

        async def async_start_new_kernel_client(self) -> Any:
            try:
                return await super().async_start_new_kernel_client()
            except RuntimeError as exc:  # jupyter_client: "Kernel didn't respond in N seconds"
                raise KernelStartError(f"the kernel did not start within {self.startup_timeout} s ({exc})") from None

        start_new_kernel_client = run_sync(async_start_new_kernel_client)

        async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
            except NbclientCellTimeout:
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                raise CellTimeoutError(f"cell {cell_index} ({first[:70]!r}) did not finish within "
                                       f"{self.timeout} s") from None

        execute_cell = run_sync(async_execute_cell)  # nbclient binds its sync wrappers at class level

    class BookEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            kwargs = {k: v for k, v in kwargs.items() if k not in {"input_path", "timeout", "startup_timeout"}}
            return BookClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                              kernel_name=kernel_name, log=log, log_output=log_output, stdout_file=stdout_file,
                              stderr_file=stderr_file, **kwargs).execute()

    papermill_engines.register(name, BookEngine)
    return name


def code_fingerprint(root: Path | None = None) -> str:
    """SHA-256 over the project's code and pins: every module (docstrings and comments aside,
    :func:`.files.code_text`), profile, model config and script of the ``neglabel_core`` package,
    and ``pyproject.toml`` where it sits beside the package."""
    package = Path(__file__).parents[1]
    files = sorted(f for f in package.rglob("*") if f.suffix in {".py", ".json", ".js"} and "__pycache__" not in f.parts)
    pins = (root or package.parent) / "pyproject.toml"
    digest = hashlib.sha256()
    for f in [*files, *([pins] if pins.is_file() else [])]:
        digest.update(str(f.relative_to(package.parent)).encode() + b"\0" + code_text(f) + b"\0")
    return digest.hexdigest()


def execution_key(source: Any, params: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """What a notebook's outputs depend on: its code cells (markdown is prose and does not count),
    the parameters papermill injects, and ``context`` (e.g. the resolved profile, the model's
    identity, the code fingerprint)."""
    code = [cell.source for cell in source.cells if cell.cell_type == "code"]
    blob = json.dumps({"code": code, "params": params, "context": context}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _hide(cell: Any) -> None:
    """Tag the parameter cells ``remove-cell``: Jupyter Book leaves them out of the page."""
    tags = cell.metadata.get("tags", [])
    if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
        cell.metadata["tags"] = [*tags, "remove-cell"]


def _write_atomically(nb: Any, path: Path) -> None:
    import nbformat

    atomic_write_text(path, nbformat.writes(nb))


def _postprocess(path: Path, key: str) -> None:
    """Hide the parameter cells, drop widget state (its JavaScript would be fetched from a CDN;
    the static page shows the initial output instead) and record the execution key."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        _hide(cell)
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["neglabel"] = {"execution_key": key}
    _write_atomically(nb, path)


def _with_new_prose(source: Any, executed: Any) -> Any | None:
    """The executed notebook with the source's current markdown cells and cell metadata: code
    cells keep their outputs from ``executed``, in order, and papermill's injected-parameters
    cell stays after the parameters cell. ``None`` when the code cells do not line up (then the
    notebook must run again)."""
    import copy

    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    ran = [c for c in executed.cells if c.cell_type == "code" and all(c is not i for i in injected)]
    wanted = [c for c in source.cells if c.cell_type == "code"]
    if len(ran) != len(wanted) or any(a.source != b.source for a, b in zip(ran, wanted)):
        return None
    out = copy.deepcopy(executed)
    out.cells, ran_cells = [], iter(ran)
    for cell in source.cells:
        new = copy.deepcopy(cell)
        if cell.cell_type == "code":
            old = copy.deepcopy(next(ran_cells))
            new.outputs, new.execution_count = old.outputs, old.execution_count
            new.metadata = {**old.metadata, **new.metadata}
        _hide(new)
        out.cells.append(new)
        if "parameters" in cell.metadata.get("tags", []):
            out.cells.extend(copy.deepcopy(injected))
    return out


def _visible(nb: Any) -> list[tuple[str, str, list[str]]]:
    """What a page shows of each cell, outputs aside: type, source, tags."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def default_jobs() -> int:
    """Notebooks run at once: one per ``numerics.THREADS`` cores. Each kernel computes with the
    pinned thread count, so running several side by side changes no number; on a 2-core machine
    two at a time were slower than one after the other (two 2-thread kernels on two cores: the
    corpus and hyperparameter chapters took 225 s and 200 s side by side, 77 s and 75 s alone)."""
    from ..numerics import THREADS

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // THREADS)


def _run_notebook(name: str, source_path: Path, out_dir: Path, params: dict[str, Any], key: str, kernel: str,
                  cell_timeout: int, kernel_start_timeout: int) -> float:
    """Execute one notebook into ``out_dir/<name>.ipynb`` (through a partial copy, atomically);
    returns the seconds it took. Raises :class:`NotebookFailedError`."""
    import papermill

    partial = out_dir / f".{name}.running.ipynb"
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(source_path), str(partial), parameters=params, kernel_name=kernel,
                                   cwd=str(out_dir), progress_bar=False, log_output=False, engine_name=_engine(),
                                   execution_timeout=cell_timeout, start_timeout=kernel_start_timeout)
    except papermill.PapermillExecutionError as exc:
        raise NotebookFailedError(f"notebook {name} failed: {exc.ename}: {exc.evalue} "
                                  f"(the executed copy is {partial})") from None
    except (CellTimeoutError, KernelStartError) as exc:
        raise NotebookFailedError(f"notebook {name}: {exc} (the executed copy is {partial})") from None
    except KeyboardInterrupt:
        partial.unlink(missing_ok=True)  # an interrupted run leaves nothing half-executed
        raise
    _postprocess(partial, key)
    partial.replace(out_dir / f"{name}.ipynb")
    return time.perf_counter() - start


def execute_notebooks(
    profile: str,
    out_dir: Path,
    *,
    source_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    notebooks: Sequence[str] = NOTEBOOKS,
    kernel: str = "python3",
    context: Mapping[str, Any] | None = None,
    force: bool = False,
    cell_timeout: int = CELL_TIMEOUT_S,
    kernel_start_timeout: int = KERNEL_START_TIMEOUT_S,
    jobs: int = 1,
) -> dict[str, str]:
    """Run each notebook with papermill (parameters ``profile``, ``overrides`` and ``extra[name]``)
    into ``out_dir``, ``jobs`` at a time (each in its own process and kernel), stopping at the
    first failure (notebooks not yet started are not run). Outputs are written atomically: a
    failed notebook leaves the previous good copy, never a half-run one.

    A notebook whose :func:`execution_key` (code cells, parameters, ``context``) equals the one
    stored in its executed copy is not run again; edited markdown is carried into that copy.
    ``force`` runs every notebook. A cell running past ``cell_timeout`` seconds, or a kernel not
    answering within ``kernel_start_timeout``, fails the notebook naming it and the cell.
    Returns ``{name: "executed" | "prose updated" | "current"}``, in the order of ``notebooks``.
    """
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    status: dict[str, str] = {}
    todo = []
    for name in notebooks:
        source_path = source_dir / f"{name}.ipynb"
        if not source_path.is_file():
            raise FileNotFoundError(f"notebook {source_path} does not exist; expected one of {list(NOTEBOOKS)}")
        target = out_dir / f"{name}.ipynb"
        params = {"profile": profile, "overrides": dict(overrides or {}), **dict((extra or {}).get(name, {}))}
        source = nbformat.read(source_path, as_version=4)
        key = execution_key(source, params, context or {})
        if not force and target.is_file():
            executed = nbformat.read(target, as_version=4)
            updated = (_with_new_prose(source, executed)
                       if executed.metadata.get("neglabel", {}).get("execution_key") == key else None)
            if updated is not None:
                status[name] = "current" if _visible(updated) == _visible(executed) else "prose updated"
                if status[name] == "prose updated":
                    _write_atomically(updated, target)
                log.info("%s: code, parameters and inputs unchanged (%s)", name, status[name])
                continue
        status[name] = "pending"
        todo.append((name, source_path, out_dir, params, key, kernel, cell_timeout, kernel_start_timeout))
    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            log.info("executed %s in %.0f s", job[0], _run_notebook(*job))
            status[job[0]] = "executed"
        return status
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_notebook, *job): job[0] for job in todo}
        for future in as_completed(futures):  # each reported as it finishes
            if future.exception() is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise future.exception()
            log.info("executed %s in %.0f s", futures[future], future.result())
            status[futures[future]] = "executed"
    return status


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


def vendor_vega(dest: Path) -> Path:
    """vega, vega-interpreter, vega-lite and vega-embed (npm, pinned and verified): their minified
    UMD builds in ``dest``, once; and the book's own scripts (:data:`BOOK_SCRIPTS`), at every call."""
    dest.mkdir(parents=True, exist_ok=True)
    for script in sorted(BOOK_SCRIPTS.glob("*.js")):
        text, target = script.read_bytes(), dest / script.name
        if not target.is_file() or target.read_bytes() != text:
            atomic_write_bytes(target, text)
    for package in VEGA:
        target = dest / f"{package.name}.min.js"
        if target.is_file():
            continue
        tarball = npm_pack(package, cache_root() / "downloads")
        staging = dest.parent / f".{package.name}-unpacked"
        shutil.rmtree(staging, ignore_errors=True)
        extract(tarball, staging, lambda p, name=package.name: p == f"build/{name}.min.js")
        dest.mkdir(parents=True, exist_ok=True)
        (staging / "build" / f"{package.name}.min.js").replace(target)
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _finish_site(folder: Path) -> None:
    """What every built site gets before it is swapped in: long header words made breakable
    (:mod:`.page_tables`), then the Content-Security-Policy on every page (:mod:`.csp`)."""
    soften_site(folder)
    protect_site(folder)


def build_html(root: Path, *, out_dir: Path | None = None) -> Path:
    """``jupyter-book build`` of the book whose ``_config.yml``/``_toc.yml`` sit in ``root``, with
    warnings as errors. Returns the HTML folder, ``<out_dir>/_build/html`` (default ``book/``).

    Sphinx works in ``book/.sphinx`` (kept, so the next build is incremental); only a build that
    succeeds is copied to the HTML folder and swapped in whole, so a failed build leaves the last
    complete site (or none), never a half-written one."""
    out_dir = out_dir or root / "book"
    vendor_mathjax(root / "book" / "_vendor" / "mathjax")
    vendor_vega(root / "book" / "_vendor" / "vega")
    work = root / "book" / ".sphinx"
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb if jb.exists() else "jupyter-book"), "build", str(root), "--path-output", str(work), "-W",
               "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    html = out_dir / "_build" / "html"
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        kept = f"the last complete build is left at {html}" if (html / "index.html").is_file() else "no HTML was written"
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}; {kept}):\n{tail}")
    built = work / "_build" / "html"
    (built / "build-info.json").write_text(json.dumps({"built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
    swap_in(built, html, prepare=_finish_site)
    return html


def swap_in(source: Path, target: Path, *, prepare: Callable[[Path], Any] | None = None) -> None:
    """Copy the folder ``source`` to ``target`` whole: into a temporary sibling first (``prepare``
    runs on it there), then two renames (the old site out of the way, the new one in), so
    ``target`` is always one complete build. The old one is removed last."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.pid{os.getpid()}.new")
    old = target.with_name(f".{target.name}.pid{os.getpid()}.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    with full_disk_reported(target.parent):
        try:
            shutil.copytree(source, staging)
            if prepare is not None:
                prepare(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if target.exists():
        target.replace(old)
    staging.replace(target)
    shutil.rmtree(old, ignore_errors=True)
