"""Detection metrics with ID as the positive class (higher score = more in-distribution).

All single metrics return fractions in [0, 1]; :func:`summarize` reports percent, as papers do.
Pure numpy (plus pandas for the table); scikit-learn serves only as the tests' reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .validation import ArrayLike, as_float_tensor, check_count, check_open_unit


def _scores(x: ArrayLike, name: str) -> np.ndarray:
    return as_float_tensor(x, name, ndim=1).detach().cpu().double().numpy()


def _ranked(id_scores: np.ndarray, ood_scores: np.ndarray):
    """Thresholds from high to low and the cumulative ID / OOD counts at or above each."""
    scores = np.concatenate([id_scores, ood_scores])
    is_id = np.concatenate([np.ones(len(id_scores)), np.zeros(len(ood_scores))])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_id = scores[order], is_id[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(is_id)[last_of_tie]
    fp = np.cumsum(1 - is_id)[last_of_tie]
    return scores[last_of_tie], tp, fp


def auroc(id_scores: ArrayLike, ood_scores: ArrayLike) -> float:
    """Area under the ROC curve: P(S_id > S_ood) + 0.5 P(S_id = S_ood) (Mann-Whitney U / (n m))."""
    a, b = _scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores")
    _, tp, fp = _ranked(a, b)
    tpr = np.r_[0.0, tp / len(a)]
    fpr = np.r_[0.0, fp / len(b)]
    return float(np.trapezoid(tpr, fpr))


def fpr_at_tpr(id_scores: ArrayLike, ood_scores: ArrayLike, tpr: float = 0.95) -> float:
    """FPR at ``tpr`` (FPR95 for 0.95): the share of OOD scores at or above the threshold
    lambda, where lambda is the largest threshold with P(S_id >= lambda) >= tpr."""
    check_open_unit(tpr, "tpr")
    a, b = _scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores")
    # lambda = the ceil(tpr * n)-th largest ID score (with a tolerance for tpr * n landing on an integer).
    k = int(np.ceil(tpr * len(a) - 1e-9))
    threshold = np.sort(a)[::-1][max(k, 1) - 1]
    return float(np.mean(b >= threshold))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision with ``pos`` as the positive class (step-wise, as scikit-learn)."""
    _, tp, fp = _ranked(pos, neg)
    precision = tp / (tp + fp)
    recall = tp / len(pos)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def aupr_in(id_scores: ArrayLike, ood_scores: ArrayLike) -> float:
    """Area under the precision-recall curve with ID as positive (average precision)."""
    return _average_precision(_scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores"))


def aupr_out(id_scores: ArrayLike, ood_scores: ArrayLike) -> float:
    """Area under the precision-recall curve with OOD as positive and the score negated."""
    return _average_precision(-_scores(ood_scores, "ood_scores"), -_scores(id_scores, "id_scores"))


METRICS = {"AUROC": auroc, "FPR95": fpr_at_tpr, "AUPR-In": aupr_in, "AUPR-Out": aupr_out}


def _resample(scores: np.ndarray, units: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """One bootstrap resample: draw units (e.g. concepts) with replacement, keep all their samples."""
    if units is None:
        return scores[rng.integers(0, len(scores), len(scores))]
    uniq, inverse = np.unique(units, return_inverse=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    drawn = rng.integers(0, len(uniq), len(uniq))
    return scores[np.concatenate([members[i] for i in drawn])]


def summarize(
    id_scores: ArrayLike,
    ood_scores: Mapping[str, ArrayLike],
    *,
    id_units: Sequence | None = None,
    ood_units: Mapping[str, Sequence] | None = None,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Results table: one row per OOD set plus ``average``, metric columns in percent.

    For each metric ``X`` the table has ``X`` and, when ``n_bootstrap > 0``, ``X_lo`` / ``X_hi``:
    a percentile bootstrap ``ci`` interval. Each replicate resamples the ID set and the OOD set
    independently; with ``id_units`` / ``ood_units`` (e.g. concept ids, one per sample) whole
    units are drawn with replacement, so correlated samples of one concept move together.
    ``average`` is the mean over OOD sets, its interval from the per-replicate means.
    """
    if not ood_scores:
        raise ValueError("ood_scores is empty; expected at least one OOD set")
    check_count(n_bootstrap, "n_bootstrap", low=0, high=10**7, high_name="the limit")
    check_open_unit(ci, "ci")
    a = _scores(id_scores, "id_scores")
    a_units = None if id_units is None else np.asarray(id_units)
    if a_units is not None and len(a_units) != len(a):
        raise ValueError(f"id_units has {len(a_units)} entries but id_scores has {len(a)}; expected one per sample")
    rng = np.random.default_rng(seed)
    rows, boot = {}, {}
    for name, scores in ood_scores.items():
        b = _scores(scores, f"ood_scores[{name!r}]")
        b_units = None if not ood_units or name not in ood_units else np.asarray(ood_units[name])
        if b_units is not None and len(b_units) != len(b):
            raise ValueError(
                f"ood_units[{name!r}] has {len(b_units)} entries but its scores have {len(b)}; expected one per sample"
            )
        rows[name] = {m: 100 * f(a, b) for m, f in METRICS.items()}
        reps = np.empty((n_bootstrap, len(METRICS)))
        for r in range(n_bootstrap):
            ra, rb = _resample(a, a_units, rng), _resample(b, b_units, rng)
            reps[r] = [100 * f(ra, rb) for f in METRICS.values()]
        boot[name] = reps
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["average"] = table.mean(axis=0)
    if n_bootstrap:
        alpha = (1 - ci) / 2
        boot["average"] = np.mean([boot[n] for n in ood_scores], axis=0)
        for j, metric in enumerate(METRICS):
            table[f"{metric}_lo"] = [np.quantile(boot[n][:, j], alpha) for n in table.index]
            table[f"{metric}_hi"] = [np.quantile(boot[n][:, j], 1 - alpha) for n in table.index]
    table.index.name = "ood_set"
    return table
