"""Many comparisons at once: a p-value for each paired bootstrap gap and Holm's step-down correction.

A chapter that counts the gaps "clear of zero" among many (method, OOD set) pairs finds some by
chance alone: at a 95% level about 5% of the pairs where nothing differs. Holm's procedure keeps
the chance of *any* false "clear" (the family-wise error rate) at ``alpha`` for every pattern of
true and null gaps, without assuming the comparisons independent (Holm, 1979).

The p-value of a gap comes from its bootstrap standard error (a Wald test on the replicates):
percentile counts cannot resolve the p-values Holm needs (below ``alpha / m``: 0.0012 for 42
pairs, under two replicates in 1,000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .validation import check_open_unit


def wald_p(diff: float, se: float) -> float:
    """Two-sided p-value of ``diff`` against zero with standard error ``se``:
    ``p = erfc(|diff / se| / sqrt(2))`` (= 2 (1 - Phi(|z|))). A gap with no spread at all
    (``se == 0``) has p 1 when it is zero and 0 otherwise."""
    if not (math.isfinite(diff) and math.isfinite(se)) or se < 0:
        raise ValueError(f"diff={diff!r} and se={se!r}; expected a finite gap and a finite standard error >= 0")
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    return math.erfc(abs(diff / se) / math.sqrt(2))


def bootstrap_se(replicates: np.ndarray) -> float:
    """The standard error of a statistic from its bootstrap replicates: their standard deviation
    (``ddof=1``; 0 for a single replicate)."""
    return float(np.std(replicates, ddof=1 if len(replicates) > 1 else 0))


def holm_wald(diffs: Sequence[float], ses: Sequence[float], alpha: float = 0.05) -> np.ndarray:
    """:func:`holm` over the :func:`wald_p` of each (gap, standard error) pair, in their order."""
    return holm([wald_p(float(d), float(se)) for d, se in zip(diffs, ses, strict=True)], alpha)


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> np.ndarray:
    """Holm's step-down rejections: sort the m p-values, p_(1) <= ... <= p_(m); reject the
    hypotheses of p_(1) .. p_(k-1), k the first rank with p_(k) > alpha / (m - k + 1). Returns a
    boolean array in the order of ``pvalues`` (True: clear after the correction)."""
    check_open_unit(alpha, "alpha")
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"pvalues={list(pvalues)!r}; expected a flat sequence of p-values in [0, 1]")
    m = len(p)
    reject = np.zeros(m, dtype=bool)
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        if p[index] > alpha / (m - rank):
            break
        reject[index] = True
    return reject
