"""The registry of OOD methods: one entry per method, as OpenOOD's postprocessor registry.

A method is its name, the label tables and figures print, a score function with one call shape
(ID cosines ``(N, K)``, negative-label cosines ``(N, M)``, the profile's parameters) -> one score
per image, higher = more in-distribution, the parameters it reads, and what it needs:
``"id"`` (the ID label similarities alone), ``"negatives"`` (the mined negative labels too).
The pipeline, the CLI's table and JSON, ``results_table`` and the notebooks iterate this
registry; adding a method is one :func:`register` call plus its score function in ``scores``.
A profile may list the methods it runs (``"methods"``); without it, those with ``main_table``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from . import scores

ScoreFunction = Callable[[torch.Tensor, torch.Tensor, Mapping[str, Any]], torch.Tensor]
NEEDS = ("id", "negatives")


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    score: ScoreFunction
    params: tuple[str, ...] = ()
    needs: str = "id"
    main_table: bool = True  # run by default and shown in the main tables


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (its name must be new)."""
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is registered already")
    if method.needs not in NEEDS:
        raise ValueError(f"method {method.name!r} needs {method.needs!r}; expected one of {list(NEEDS)}")
    REGISTRY[method.name] = method
    return method


def default_methods() -> tuple[str, ...]:
    """The methods a profile runs unless it lists its own: every ``main_table`` method."""
    return tuple(name for name, m in REGISTRY.items() if m.main_table)


def check_methods(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple, after checking each is registered."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {unknown or list(names)}; expected some of {list(REGISTRY)}")
    return tuple(names)


def label(name: str) -> str:
    return REGISTRY[name].label if name in REGISTRY else name


register(Method("neglabel", "NegLabel", lambda ids, negs, p: scores.neglabel_score(
    ids, negs, tau=p["tau"], n_groups=p["n_groups"], seed=p["seed"], perm_device=p.get("perm_device_used", "cpu")),
    params=("tau", "n_groups", "seed", "perm_device"), needs="negatives"))
register(Method("mcm", "MCM", lambda ids, negs, p: scores.mcm_score(ids, tau=p.get("mcm_tau", 1.0)), params=("mcm_tau",)))
register(Method("max_cos", "max cosine", lambda ids, negs, p: scores.max_cos_score(ids)))
register(Method("energy", "energy", lambda ids, negs, p: scores.energy_score(ids, tau=p.get("energy_tau", 0.01)),
                params=("energy_tau",)))
# The official code's n_g = 1 path (not Eq. 6): shown beside NegLabel in the n_g sweep only.
register(Method("neglabel_official_ng1", "official code, n_g = 1 (sum of ID logits)",
                lambda ids, negs, p: scores.official_ungrouped_score(ids, tau=p["tau"]), params=("tau",),
                main_table=False))
