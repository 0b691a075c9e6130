"""The one bootstrap engine behind every interval: scores sorted once, resamples as multiplicities.

A bootstrap resample of n samples is given by its multiplicities ``w`` (how often each sample was
drawn). Sort each arm's ID and OOD scores together once, from high to low; a tie block ``b`` is a
run of equal scores. With ``W_id(>= b)`` / ``W_ood(>= b)`` the ID / OOD weight at or above block
``b`` and ``W_id(> b)`` the ID weight strictly above it, every metric of a resample is a weighted
cumulative sum over that one order, computed for many replicates at once:

    AUROC    = sum_j w_j (W_id(> b_j) + W_id(>= b_j)) / 2 / (W_id W_ood)      (j over OOD samples)
    FPR@tpr  = W_ood(>= b*) / W_ood, b* the block :func:`metrics.fpr_at_tpr` picks from W_id(>= b)
    AUPR-In  = sum_b (W_id(= b) / W_id) W_id(>= b) / (W_id(>= b) + W_ood(>= b))
    AUPR-Out = the same with OOD as positive, read from the bottom up

Each equals the plain metric of :mod:`metrics` on the resample drawn out (tested): a sample drawn
0 times adds nothing, and a tie block of absent samples adds a term of zero. The weights are whole
numbers, so AUROC's sums and the FPR's counts are exact; AUROC is the correctly rounded ratio,
where :func:`metrics.auroc`'s trapezoid may differ from it in the last bits.

Resamples are drawn by :class:`Resampler` exactly as the plain per-replicate loop drew them (one
``rng.integers`` call per set and replicate, in the caller's order), so a seed gives the same
replicates whichever engine scores them. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_METRICS = ("AUROC", "FPR95", "AUPR-In", "AUPR-Out")

# Replicates are scored in chunks of at most this many (replicate, sample) cells per arm: a few
# float64 arrays of this size (16 MB each) bound the working memory whatever the set sizes.
CHUNK_CELLS = 1 << 21


class Resampler:
    """How one set of n samples is resampled: its units (e.g. concepts) drawn with replacement,
    every sample of a drawn unit kept; with no units each sample is its own unit."""

    def __init__(self, n: int, units: Sequence | np.ndarray | None = None):
        if units is None:
            self.unit_of, self.n_units = None, n
        else:
            _, inverse = np.unique(np.asarray(units), return_inverse=True)
            self.unit_of, self.n_units = inverse.ravel(), int(inverse.max()) + 1

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One resample's draw: ``n_units`` unit indices (in ``np.unique`` order of the units)."""
        return rng.integers(0, self.n_units, self.n_units)

    def weights(self, draws: np.ndarray) -> np.ndarray:
        """Multiplicities (replicates x n) of the samples for draws (replicates x n_units)."""
        counts = unit_counts(draws, self.n_units)
        return counts if self.unit_of is None else counts[:, self.unit_of]


def unit_counts(draws: np.ndarray, n_units: int) -> np.ndarray:
    """How often each unit was drawn, per replicate: (replicates x n_units) from (replicates x d)."""
    draws = np.atleast_2d(draws)
    offsets = np.arange(len(draws))[:, None] * n_units
    return np.bincount((draws + offsets).ravel(), minlength=len(draws) * n_units).reshape(len(draws), n_units)


class _SortedArm:
    """One arm's ID and OOD scores sorted together once (high to low, stable) with its tie blocks."""

    def __init__(self, id_scores: np.ndarray, ood_scores: np.ndarray):
        self.n1 = len(id_scores)
        scores = np.concatenate([id_scores, ood_scores])
        self.order = np.argsort(-scores, kind="mergesort")
        ranked = scores[self.order]
        self.is_id = self.order < self.n1
        n = len(scores)
        starts = np.ones(n, bool)
        starts[1:] = ranked[1:] != ranked[:-1]
        block_end_mask = np.r_[starts[1:], True]  # the last position of each tie block
        self.block_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        self.block_end = np.minimum.accumulate(np.where(block_end_mask, np.arange(n), n)[::-1])[::-1]
        self.ood_positions = np.flatnonzero(~self.is_id)
        self.ends = np.flatnonzero(block_end_mask)


class SortedArms:
    """Several arms (methods, corpora, severities) scored on the same ``n1`` ID and ``n0`` OOD
    samples: ``id_scores`` (arms x n1), ``ood_scores`` (arms x n0), each arm sorted once.
    :meth:`evaluate` scores many resamples of the samples (their multiplicities) on every arm."""

    def __init__(self, id_scores: np.ndarray, ood_scores: np.ndarray):
        id_scores, ood_scores = np.atleast_2d(id_scores), np.atleast_2d(ood_scores)
        if len(id_scores) != len(ood_scores):
            raise ValueError(f"{len(id_scores)} arms of ID scores but {len(ood_scores)} of OOD scores; "
                             "expected one of each per arm")
        self.n1, self.n0 = id_scores.shape[1], ood_scores.shape[1]
        self.arms = [_SortedArm(a, b) for a, b in zip(id_scores, ood_scores)]

    def evaluate(self, w_id: np.ndarray, w_ood: np.ndarray, metrics: Sequence[str] = BOOTSTRAP_METRICS, *,
                 tpr: float = 0.95, fpr_rule: str = "at_least") -> dict[str, np.ndarray]:
        """Each metric (fractions) of every resample on every arm: ``{metric: (replicates x arms)}``
        for multiplicities ``w_id`` (replicates x n1) and ``w_ood`` (replicates x n0). "FPR95"
        is the FPR at ``tpr`` by ``fpr_rule`` (see :func:`metrics.fpr_at_tpr`)."""
        unknown = [m for m in metrics if m not in BOOTSTRAP_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; expected some of {list(BOOTSTRAP_METRICS)}")
        if fpr_rule not in ("at_least", "closest"):
            raise ValueError(f"unknown FPR rule {fpr_rule!r}; expected one of ['at_least', 'closest']")
        w_id, w_ood = np.atleast_2d(w_id), np.atleast_2d(w_ood)
        if w_id.shape[1] != self.n1 or w_ood.shape[1] != self.n0 or len(w_id) != len(w_ood):
            raise ValueError(f"multiplicities of shape {w_id.shape} and {w_ood.shape}; expected "
                             f"(replicates, {self.n1}) and (replicates, {self.n0})")
        n_rep = len(w_id)
        out = {m: np.empty((n_rep, len(self.arms))) for m in metrics}
        step = max(1, CHUNK_CELLS // (self.n1 + self.n0))
        for lo in range(0, n_rep, step):
            weights = np.concatenate([w_id[lo:lo + step], w_ood[lo:lo + step]], axis=1).astype(np.int64)
            for a, arm in enumerate(self.arms):
                for m, values in _arm_metrics(arm, weights[:, arm.order], metrics, tpr, fpr_rule).items():
                    out[m][lo:lo + step, a] = values
        return out


def _arm_metrics(arm: _SortedArm, w: np.ndarray, metrics: Sequence[str], tpr: float, rule: str) -> dict[str, np.ndarray]:
    """The metrics of one arm for multiplicities ``w`` (replicates x samples, integers) in the
    arm's order. Counts are cumulated as integers (exact) and read at the tie blocks' ends only."""
    id_w = w * arm.is_id  # the ID samples' weights, 0 at OOD positions
    cum_id, cum_all = np.cumsum(id_w, axis=1), np.cumsum(w, axis=1)
    ends = arm.ends
    tp = cum_id[:, ends]  # ID weight at or above each block
    fp = cum_all[:, ends] - tp  # OOD weight at or above each block
    total_id, total_ood = tp[:, -1].astype(np.float64), fp[:, -1].astype(np.float64)
    rows = np.arange(len(w))
    out = {}
    if "AUROC" in metrics:
        j = arm.ood_positions
        at_or_above = cum_id[:, arm.block_end[j]]
        above = cum_id[:, arm.block_start[j]] - id_w[:, arm.block_start[j]]
        pairs = np.einsum("rj,rj->r", w[:, j].astype(np.float64), (above + at_or_above).astype(np.float64))
        out["AUROC"] = pairs / 2 / (total_id * total_ood)  # whole numbers below 2^53: exact
    if "FPR95" in metrics:
        if rule == "closest":
            # The official rule: from the first block whose recall reaches 1 back to the top, the
            # candidate closest to tpr; among equals the lowest threshold (most false positives).
            first_full = (tp < tp[:, -1:]).sum(axis=1)
            distance = np.abs(tp / total_id[:, None] - tpr)
            distance[np.arange(tp.shape[1]) > first_full[:, None]] = np.inf
            pick = tp.shape[1] - 1 - np.argmin(distance[:, ::-1], axis=1)
        else:
            k = np.maximum(np.ceil(tpr * total_id - 1e-9), 1)
            pick = (tp < k[:, None]).sum(axis=1)  # the first block whose ID weight reaches k
        out["FPR95"] = fp[rows, pick] / total_ood
    if "AUPR-In" in metrics or "AUPR-Out" in metrics:
        starts = arm.block_start[ends]
        above_id = cum_id[:, starts] - id_w[:, starts]
        above_all = cum_all[:, starts] - w[:, starts]
        above_ood = above_all - above_id
        tp, fp, above_id, above_ood = (x.astype(np.float64) for x in (tp, fp, above_id, above_ood))
        if "AUPR-In" in metrics:
            out["AUPR-In"] = _average_precision(tp - above_id, tp, fp, total_id)
        if "AUPR-Out" in metrics:  # OOD positive, thresholds from the lowest score up
            tp_out, fp_out = total_ood[:, None] - above_ood, total_id[:, None] - above_id
            out["AUPR-Out"] = _average_precision(fp - above_ood, tp_out, fp_out, total_ood)
    return out


def _average_precision(gain: np.ndarray, tp: np.ndarray, fp: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """sum_b (gain_b / P) tp_b / (tp_b + fp_b) per row: a block that adds no positive adds nothing
    (also where nothing lies at or above it yet)."""
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=gain > 0)
    # a running sum, left to right: the same value whatever the number of rows scored together
    return np.cumsum(gain * precision, axis=1)[:, -1] / positives


def draw_replicates(rng: np.random.Generator, resamplers: Sequence[Resampler], n_bootstrap: int) -> list[np.ndarray]:
    """``n_bootstrap`` draws of each resampler, replicate by replicate in the given order (the
    order the plain loop drew them), as one (n_bootstrap x n_units) array per resampler."""
    draws = [np.empty((n_bootstrap, r.n_units), dtype=np.int64) for r in resamplers]
    for i in range(n_bootstrap):
        for r, out in zip(resamplers, draws):
            out[i] = r.draw(rng)
    return draws
