"""Input checks shared by the pure math modules (scores, negmining, metrics).

A leaf module: it imports nothing of ours, so the math modules stay at the bottom of
the dependency graph. Every check raises ``ValueError`` naming the bad value and what
was expected.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def as_float_tensor(x: ArrayLike, name: str, *, ndim: int) -> torch.Tensor:
    """Return ``x`` as a floating torch tensor on its own device (numpy -> CPU, no copy).

    Integer inputs become float32; float64 stays float64. Raises ``ValueError`` when the
    number of dimensions is not ``ndim``, when it is empty, or when it holds NaN/inf.
    """
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        t = x
    else:
        t = torch.as_tensor(np.asarray(x))
    if t.is_complex():
        raise ValueError(f"{name} has complex dtype {t.dtype}; expected real numbers (cosine similarities or scores)")
    if t.dtype == torch.bool:
        raise ValueError(f"{name} has dtype bool; expected real numbers (cosine similarities or scores)")
    if t.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); expected at least one value")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    # NaN propagates through amax/amin and +-inf shows in them: two reductions, no N-sized mask.
    if not (bool(torch.isfinite(t.amax())) and bool(torch.isfinite(t.amin()))):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s); expected finite numbers")
    return t


def check_open_unit(value: float, name: str) -> None:
    """Require ``0 < value < 1``."""
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")


def check_positive(value: float, name: str) -> None:
    """Require ``value > 0`` (and finite)."""
    if not (np.isfinite(value) and float(value) > 0.0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


# Temperatures below this make the logits a/tau (|a| <= 1 for cosines) so large that float32
# scores lose all resolution and, far below it, overflow to inf/NaN.
MIN_TAU = 1e-6


def check_tau(value: float, name: str = "tau") -> None:
    """Require a finite temperature ``MIN_TAU <= value``."""
    check_positive(value, name)
    if float(value) < MIN_TAU:
        raise ValueError(f"{name} must lie in [{MIN_TAU:g}, inf), got {value!r}: smaller temperatures overflow the "
                         "logits a/tau")


def check_count(value: int, name: str, *, low: int, high: int, high_name: str) -> None:
    """Require an integer ``low <= value <= high``; ``high_name`` says what bounds it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if value > high:
        raise ValueError(f"{name}={value} is larger than {high_name} ({high})")
