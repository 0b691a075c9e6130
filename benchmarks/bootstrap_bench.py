"""The shared bootstrap of the robustness chapter (``metrics.arm_replicates``): every replicate's
AUROC and FPR95 for every arm, by the plain path (draw the resample, then ``auroc`` /
``fpr_at_tpr`` per arm: one sort per arm and replicate) and by the bootstrap engine
(``bootstrap.SortedArms``: one joint sort per arm, then the replicates' multiplicities scored all
at once), side by side in one process on the same draws. Shape of one graded shift of the chapter on emoji-tiny: 49 arms
(7 methods x 7 severities and controls), 575 ID images of 290 concepts, 6 OOD sets of 164-749
images, random scores with ties.

    python benchmarks/bootstrap_bench.py
"""

from __future__ import annotations

import time

import numpy as np
from _util import print_table

from neglabel_core.ood import bootstrap, metrics

N_ARMS, N_ID, N_UNITS, OOD_SIZES, REPLICATES = 49, 575, 290, (434, 525, 430, 164, 310, 749), 200


def main() -> None:
    rng = np.random.default_rng(0)
    units = np.sort(rng.integers(0, N_UNITS, N_ID))
    members = [np.flatnonzero(units == u) for u in np.unique(units)]
    id_scores = np.round(rng.normal(1, 1, (N_ARMS, N_ID)), 2)
    ood_scores = [np.round(rng.normal(0, 1, (N_ARMS, n)), 2) for n in OOD_SIZES]
    draws = []
    for _ in range(REPLICATES):
        drawn = rng.integers(0, len(members), len(members))
        draws.append((np.concatenate([members[u] for u in drawn]), [rng.integers(0, n, n) for n in OOD_SIZES]))
    rows, results = [], {}
    for name in ("plain (sort per arm and replicate)", "bootstrap engine (one sort per arm, replicates at once)"):
        start = time.perf_counter()
        out = np.empty((REPLICATES, len(OOD_SIZES), 2, N_ARMS))
        if name.startswith("plain"):
            for r, (i, js) in enumerate(draws):
                for s, j in enumerate(js):
                    for a in range(N_ARMS):
                        out[r, s, 0, a] = metrics.auroc(id_scores[a, i], ood_scores[s][a, j])
                        out[r, s, 1, a] = metrics.fpr_at_tpr(id_scores[a, i], ood_scores[s][a, j], rule="closest")
        else:
            w_id = np.stack([np.bincount(i, minlength=N_ID) for i, _ in draws])
            for s, n in enumerate(OOD_SIZES):
                w_ood = np.stack([np.bincount(js[s], minlength=n) for _, js in draws])
                values = bootstrap.SortedArms(id_scores, ood_scores[s]).evaluate(w_id, w_ood, ["AUROC", "FPR95"],
                                                                                 fpr_rule="closest")
                out[:, s, 0], out[:, s, 1] = values["AUROC"], values["FPR95"]
        seconds = time.perf_counter() - start
        results[name] = out
        rows.append([name, f"{seconds:.2f}", f"{seconds / REPLICATES * 1000:.1f}"])
    plain, weighted = results.values()
    ratio = float(rows[0][1]) / float(rows[1][1])
    rows.append([f"speed-up: {ratio:.1f}x", "", ""])
    rows.append([f"max abs AUROC difference {np.abs(plain[:, :, 0] - weighted[:, :, 0]).max():.1e}, "
                 f"FPR95 identical: {bool(np.array_equal(plain[:, :, 1], weighted[:, :, 1]))}", "", ""])
    print_table(f"Shared bootstrap: {REPLICATES} replicates x {len(OOD_SIZES)} OOD sets x {N_ARMS} arms, AUROC and FPR95 "
                "(closest rule)", ["path", "seconds", "ms per replicate"], rows)


if __name__ == "__main__":
    main()
