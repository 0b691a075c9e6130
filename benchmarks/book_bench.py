"""Warm re-execution of every chapter, side by side: a baseline commit's code against this
working tree's, one chapter after the other in one run, on the same warm caches.

For each notebook it runs the baseline's notebook with the baseline's ``neglabel_core`` (a
``git worktree`` of ``--baseline``, imported through ``PYTHONPATH``), then this tree's notebook
with this tree's code, each in its own kernel as ``neglabel book`` runs them; it prints the
seconds of both, their ratio, and whether every visible output (text, tables, glued values) is
the same. Then the bootstrap engine alone: ``metrics.summarize`` of both versions on the same
inputs (the shape of one results table of the embedded default).

    python benchmarks/book_bench.py --baseline 185147d               # every chapter
    python benchmarks/book_bench.py --baseline 185147d 08_successors  # some
    python benchmarks/book_bench.py --current-only                    # this tree's times only

The profile's data, model and embeddings must be cached first (``make book`` once).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import print_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neglabel_core.site.build import NOTEBOOKS  # noqa: E402

RUN = """
import sys, time
from pathlib import Path
from neglabel_core.site import build
src, out, profile = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
print(build._run_notebook(src.stem, src, out, {"profile": profile, "overrides": {}}, "bench", "python3",
                          build.CELL_TIMEOUT_S, build.KERNEL_START_TIMEOUT_S))
"""

ENGINE = """
import json, sys, time
import numpy as np
from neglabel_core.ood import metrics
rng = np.random.default_rng(0)
units = np.sort(rng.integers(0, 290, 575))
id_s = np.round(rng.normal(1, 1, 575), 3)
ood = {f"set{i}": np.round(rng.normal(0, 1, n), 3) for i, n in enumerate((434, 525, 430, 164, 310, 749))}
ood_units = {k: np.sort(rng.integers(0, len(v) // 3, len(v))) for k, v in ood.items()}
start = time.perf_counter()
table = metrics.summarize(id_s, ood, id_units=units, ood_units=ood_units, n_bootstrap=1000, seed=0, fpr_rule="closest")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "table": table.round(10).to_dict()}))
"""

# What a page shows of a cell's outputs and every glued value, with volatile parts (memory
# addresses, timings) masked and Markdown's backslash escapes removed (an escaped name shows the same).
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>&~$=:'\"])")
_VOLATILE = re.compile(r"0x[0-9a-f]+|\d+(\.\d+)?\s?(s|ms)\b|\d+(\.\d+)?it/s")
# Outputs that are timings as a whole (chapter 10's cost table and sentence): every decimal masked
_TIMINGS = ("seconds (best of", "NegLabel's time")
_DECIMAL = re.compile(r"\d+\.\d+")


def _masked(text: str) -> str:
    text = _VOLATILE.sub("#", text)
    return _DECIMAL.sub("#", text) if any(t in text for t in _TIMINGS) else text


def visible_outputs(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    shown = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                continue  # progress bars
            data = output.get("data", {})
            for kind in ("text/plain", "text/html", "text/markdown", "application/papermill.record/text/plain",
                         "application/papermill.record/text/markdown"):  # the glued values too
                if kind in data:
                    text = "".join(data[kind]) if isinstance(data[kind], list) else data[kind]
                    shown.append(_masked(_ESCAPED.sub(r"\1", text)))
            if "text" in output:
                shown.append(_masked("".join(output["text"])))
    return shown


def run_notebook(code_root: Path, name: str, out_dir: Path, profile: str) -> float:
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    done = subprocess.run([sys.executable, "-c", RUN, str(code_root / "notebooks" / f"{name}.ipynb"), str(out_dir), profile],
                          cwd=code_root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed under {code_root}:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def engine(code_root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    done = subprocess.run([sys.executable, "-c", ENGINE], cwd=code_root, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", default=list(NOTEBOOKS))
    parser.add_argument("--baseline", default="185147d", help="the commit to compare with")
    parser.add_argument("--current-only", action="store_true", help="time this tree's notebooks only")
    parser.add_argument("--profile", default="emoji-tiny")
    parser.add_argument("--keep", default="", help="copy both executed notebooks of each chapter into this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="book-bench-") as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        if not args.current_only:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.baseline], check=True)
        try:
            rows, totals = [], [0.0, 0.0]
            for name in args.notebooks:
                # One folder below each tree's root, as book/ is: the chapters read ../data/.
                now_dir, base_dir = ROOT / ".bench-out", base / ".bench-out"
                before = None if args.current_only else run_notebook(base, name, base_dir, args.profile)
                after = run_notebook(ROOT, name, now_dir, args.profile)
                same = "-" if before is None else \
                    str(visible_outputs(base_dir / f"{name}.ipynb") == visible_outputs(now_dir / f"{name}.ipynb"))
                totals[0] += before or 0.0
                totals[1] += after
                rows.append([name, "-" if before is None else f"{before:.1f}", f"{after:.1f}",
                             "-" if before is None else f"{before / after:.1f}x", same])
                print(*rows[-1], sep="\t", flush=True)
                if args.keep:
                    keep = Path(args.keep)
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(now_dir / f"{name}.ipynb", keep / f"{name}.current.ipynb")
                    if before is not None:
                        shutil.copy(base_dir / f"{name}.ipynb", keep / f"{name}.baseline.ipynb")
            rows.append(["all notebooks", "-" if args.current_only else f"{totals[0]:.1f}", f"{totals[1]:.1f}",
                         "-" if args.current_only else f"{totals[0] / totals[1]:.1f}x", ""])
            print_table(f"Warm re-execution per chapter ({args.profile}; baseline {args.baseline}, seconds, "
                        f"{time.strftime('%Y-%m-%d')})", ["notebook", "baseline", "this tree", "speed-up", "same outputs"], rows)
            if not args.current_only:
                old, new = engine(base), engine(ROOT)
                print_table("Bootstrap engine: metrics.summarize, 575 ID images (290 concepts), 6 OOD sets, 1,000 replicates, "
                            "4 metrics", ["engine", "seconds"],
                            [[f"baseline {args.baseline} (sort per replicate)", f"{old['seconds']:.2f}"],
                             ["this tree (one sort, replicate weights)", f"{new['seconds']:.2f}"],
                             [f"speed-up {old['seconds'] / new['seconds']:.1f}x; same table to 1e-10: "
                              f"{old['table'] == new['table']}", ""]])
        finally:
            shutil.rmtree(ROOT / ".bench-out", ignore_errors=True)
            if not args.current_only:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
