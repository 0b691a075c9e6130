"""Whether two rankings agree: Kendall's rank correlation, vectorised over bootstrap replicates.

The cross-model chapter ranks the same methods under two vision-language models and asks whether
the order holds. Kendall's tau-b (Kendall, 1945, the form that corrects for ties) counts the pairs
of methods that the two rankings order alike against those they order oppositely:

    tau_b = sum_{i<j} sgn(x_i - x_j) sgn(y_i - y_j) / sqrt(n_x n_y),

with ``n_x`` (``n_y``) the pairs not tied in ``x`` (``y``). +1: the same order, -1: reversed,
about 0: unrelated. Computed on each bootstrap replicate of the methods' metrics, it gets a
percentile interval as any other statistic.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def kendall_tau_b(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Kendall's tau-b between ``x`` and ``y`` along their last axis (``(..., n)`` each, n >= 2):
    one value per leading index (a float for 1-D input). NaN where either side is all tied."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"x has shape {a.shape} and y {b.shape}; expected the same shape")
    if a.ndim == 0 or a.shape[-1] < 2:
        raise ValueError(f"x and y have shape {a.shape}; expected at least two items along the last axis")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("x and y must be finite")
    i, j = np.triu_indices(a.shape[-1], k=1)
    sx, sy = np.sign(a[..., i] - a[..., j]), np.sign(b[..., i] - b[..., j])
    pairs = np.sqrt(np.abs(sx).sum(-1) * np.abs(sy).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (sx * sy).sum(-1) / np.where(pairs > 0, pairs, 1), np.nan)[()]
