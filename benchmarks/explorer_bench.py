"""One explorer step on the embedded default (emoji-tiny, cached embeddings): the time from a
moved control to new scores and AUROC/FPR95, by the previous path (the full pipeline per step,
``pipeline.score`` on a fresh corpus view) and by ``analysis.explorer.explore`` (views, mining and
similarities cached per (corpus, eta, M)), side by side in one process. Goal: < 0.5 s for an
n_g or tau step.

    python benchmarks/explorer_bench.py
"""

from __future__ import annotations

import time

import numpy as np
from _util import print_table

from neglabel_core import pipeline as ex
from neglabel_core.analysis import chapter, corpora, explorer


def previous_step(emb, corpus: str, **params) -> float:
    """The explorer before the caches: a fresh corpus view and the whole pipeline every step."""
    idx = corpora.wordnet_variants(emb)[corpus]
    view = corpora.with_corpus(emb, np.asarray(emb.corpus_emb)[idx], emb.corpus.subset(idx, corpus))
    scored = ex.score(view, {**params, "pos_fraction": None}, methods=("neglabel",))
    return ex.results(scored)["pooled"]["neglabel"]["auroc"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    emb = chapter.load("emoji-tiny")
    corpus = "WordNet nouns + adjectives"
    base = {"eta": 0.05, "m": 10000, "n_groups": 100, "tau": 0.01}
    steps = [("first view (corpus, eta, M new)", base), ("n_g 100 -> 10", {**base, "n_groups": 10}),
             ("tau 0.01 -> 0.02", {**base, "n_groups": 10, "tau": 0.02}),
             ("M 10000 -> 20000", {**base, "m": 20000}), ("back to M 10000", base)]
    rows = []
    for label, params in steps:
        old = min(timed(lambda p=params: previous_step(emb, corpus, **p)) for _ in range(2))
        new = timed(lambda p=params: explorer.explore(emb, corpus=corpus, **p))
        rows.append([label, f"{old:.2f}", f"{new:.2f}", f"{old / new:.1f}x"])
    print_table("explorer step on emoji-tiny", ["step", "previous path (s)", "explore, cached (s)",
                                                               "speed-up"], rows)


if __name__ == "__main__":
    main()
