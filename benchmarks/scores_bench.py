"""Grouped NegLabel scoring: vectorised + chunked (neglabel_core) vs the official per-group loop.

N=50,000 images, K=1,000 ID labels, M=10,000 negatives, 100 groups, random cosines, CPU float32.
Each variant runs in its own process so peak RSS is its own; the inputs alone take
(N x (K + M)) x 4 bytes = 2.2 GB. "Working memory" = peak RSS during scoring minus the RSS
just before it (interpreter + inputs): what the scoring itself needed.

    python benchmarks/scores_bench.py [--n 50000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import current_rss_mb, peak_rss_mb, print_table, run_child

K, M, GROUPS, TAU = 1000, 10000, 100, 0.01


def official_loop(id_sims, neg_sims, tau=TAU, n_groups=GROUPS, seed=0):
    """The official code's shape: per group, concatenate ID and group sims, softmax, sum the ID mass."""
    import torch

    from neglabel_core.ood.scores import group_permutation

    groups = group_permutation(neg_sims.shape[1], n_groups, seed)
    total = torch.zeros(id_sims.shape[0])
    for g in groups:
        logits = torch.cat([id_sims, neg_sims[:, g]], dim=1) / tau
        total += torch.softmax(logits, dim=1)[:, : id_sims.shape[1]].sum(dim=1)
    return total / n_groups


def child(method: str, n: int, chunk: int) -> None:
    import torch

    from neglabel_core.ood.scores import neglabel_score

    gen = torch.Generator().manual_seed(0)
    id_sims = torch.rand(n, K, generator=gen).mul_(0.2).add_(0.15)  # in place: no temporaries
    neg_sims = torch.rand(n, M, generator=gen).mul_(0.2).add_(0.15)
    if method == "official-loop":
        run = lambda x, y: official_loop(x, y)
    else:
        run = lambda x, y: neglabel_score(x, y, tau=TAU, n_groups=GROUPS, chunk_size=chunk)
    run(id_sims[:64], neg_sims[:64])  # warm-up (thread pool, allocator), same for both
    base = current_rss_mb()
    start = time.perf_counter()
    out = run(id_sims, neg_sims)
    elapsed = time.perf_counter() - start
    peak = peak_rss_mb()
    print(json.dumps({"s": elapsed, "peak_mb": peak, "extra_mb": peak - base, "checksum": float(out.double().sum())}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    runs = [("official-loop", 0), ("neglabel_core", 64), ("neglabel_core", 256), ("neglabel_core", 1024), ("neglabel_core", 4096)]
    results = [(m, c, run_child(__file__, m, str(args.n), str(c))) for m, c in runs]
    ref = results[0][2]
    rows = [
        [m, c or "-", r["s"], ref["s"] / r["s"], r["peak_mb"], r["extra_mb"], abs(r["checksum"] - ref["checksum"]) / args.n]
        for m, c, r in results
    ]
    print_table(
        f"NegLabel scoring, N={args.n:,}, K={K:,}, M={M:,}, {GROUPS} groups",
        ["method", "chunk", "seconds", "speed-up vs loop", "peak RSS MB", "working memory MB", "mean |diff|"],
        rows,
    )


if __name__ == "__main__":
    main()
