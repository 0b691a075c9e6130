"""Same numbers under other CPU configurations: `neglabel evaluate --json` of the embedded default,
each in a fresh cache, with the process started as a different machine or shell would start it.
Prints one row per configuration: the SHA-256 of the JSON (all keys but wall time and the
configuration record), ID top-1, NegLabel's average and the numerics in force.

    python benchmarks/numerics_check.py [--train]    # --train: train the checkpoint instead of installing it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "as started": {},
    "scalar kernels, 1 thread, MKL compatible": {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1",
                                                 "MKL_NUM_THREADS": "1", "MKL_CBWR": "COMPATIBLE"},
    "4 threads, oneDNN unrestricted": {"OMP_NUM_THREADS": "4", "ONEDNN_MAX_CPU_ISA": "ALL"},
}
IGNORED = {"wall_s", "numerics"}


def run(name: str, env: dict[str, str], data: str, train: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="numerics-") as cache:
        full = {**os.environ, "NEGLABEL_CACHE": cache, "NEGLABEL_DATA": data, **env}
        neglabel = [sys.executable, "-m", "neglabel_core.cli"]
        start = time.perf_counter()
        if train:
            subprocess.run([*neglabel, "train", "--force", "--quiet"], env=full, check=True, capture_output=True)
        out = subprocess.run([*neglabel, "evaluate", "--json", "--quiet"], env=full, check=True, capture_output=True,
                             text=True).stdout
        result = json.loads(out)
        kept = {k: v for k, v in result.items() if k not in IGNORED}
        kept["model"] = {k: v for k, v in kept["model"].items() if k != "numerics"}
        checkpoint = Path(cache) / "models" / result["model"]["pretrained"]
        manifest = json.loads(checkpoint.with_suffix(".json").read_text())
        return {"config": name, "json_sha256": hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16],
                "state_sha256": manifest["state_sha256"][:16], "id_top1": result["id_top1"],
                "neglabel": result["results"]["average"]["neglabel"], "in force": result["numerics"],
                "s": round(time.perf_counter() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--configs", nargs="*", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--data", default=str(Path.home() / ".cache" / "neglabel"),
                        help="a cache root holding the prepared emoji benchmark (NEGLABEL_DATA)")
    args = parser.parse_args()
    rows = [run(name, CONFIGS[name], args.data, args.train) for name in args.configs]
    print(f"{'configuration':<42} {'evaluate --json':<17} {'model state':<17} {'ID top-1':>9} "
          f"{'NegLabel AUROC/FPR95':>21} {'s':>5}  in force")
    for r in rows:
        f = r["in force"]
        print(f"{r['config']:<42} {r['json_sha256']:<17} {r['state_sha256']:<17} {100 * r['id_top1']:>8.2f}% "
              f"{r['neglabel']['auroc']:>10.2f}/{r['neglabel']['fpr95']:<10.2f} {r['s']:>5}  "
              f"{f['cpu_capability']}, {f['threads']} threads, MKL_CBWR={f['MKL_CBWR']}")
    same = len({(r["json_sha256"], r["state_sha256"]) for r in rows}) == 1
    print("identical in every configuration" if same else "DIFFERENT between configurations")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
