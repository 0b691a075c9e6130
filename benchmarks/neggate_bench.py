"""NegGate's scoring time beside NegLabel's on the same inputs (the registry's call, as the
pipeline makes it): random unit embeddings, N images, K ID labels, M negatives, CPU float32,
best of 3, both in one process. NegGate is two log-sum-exps per image; NegLabel the grouped
softmax of Eq. 6 (n_g = 100).

    python benchmarks/neggate_bench.py
"""

from __future__ import annotations

import time

import numpy as np
from _util import print_table

from neglabel_core.ood import methods as registry

N, K, M, D = 20_000, 1_000, 10_000, 512


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    rng = np.random.default_rng(0)
    x, id_text, neg = unit(rng.normal(size=(N, D))), unit(rng.normal(size=(K, D))), unit(rng.normal(size=(M, D)))
    params = {"tau": 0.01, "n_groups": 100, "seed": 0, "neggate_weight": 0.5}
    registry.method_scores(x[:256], id_text, neg, params, ("neggate", "neglabel"))  # warm-up
    rows, seconds = [], {}
    for method in ("neglabel", "neggate", "energy"):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            registry.method_scores(x, id_text, neg, params, (method,))
            times.append(time.perf_counter() - start)
        seconds[method] = min(times)
    for method, s in seconds.items():
        rows.append([registry.label(method), f"{s:.3f}", f"{s / seconds['neglabel']:.2f}"])
    print_table(f"Scoring time, N={N:,} images, K={K:,}, M={M:,}, D={D} (similarity matmuls included)",
                ["method", "seconds (best of 3)", "ratio to NegLabel"], rows)


if __name__ == "__main__":
    main()
