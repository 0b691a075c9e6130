"""Chapter 10's figures (NegGate): each function draws one figure from the tables of
:mod:`.ours` and returns it; the notebook shows it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .chapter import interval_bars, method_label
from .ours import COMPARED


def gap_intervals(gaps: pd.DataFrame) -> Figure:
    """NegGate minus each compared method per OOD set with its paired interval, AUROC above and
    FPR95 below (MCM left out: it trails by far more than the others; it is in the tables)."""
    sets = list(dict.fromkeys(gaps["ood_set"]))
    shown = [m for m in COMPARED if m != "mcm"]
    fig, axes = plt.subplots(2, 1, figsize=(8, 8.5), sharex=False)
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        for k, m in enumerate(shown):
            part = gaps[gaps["method"] == m].set_index("ood_set").loc[sets]
            y = np.arange(len(sets)) + (k - (len(shown) - 1) / 2) * 0.13
            interval_bars(ax, y, part[f"{metric} diff"], part[f"{metric} lo"], part[f"{metric} hi"], horizontal=True,
                          color=f"C{k}", label=method_label(m), size=4)
        ax.axvline(0, color="0.4", lw=1)
        ax.set_yticks(np.arange(len(sets)), sets, fontsize=10)
        ax.set_xlabel(f"NegGate minus the method, {metric} (points; " + ("right" if metric == "AUROC" else "left")
                      + " of zero: NegGate better)", fontsize=10)
        ax.invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=3, frameon=False, fontsize=10)
    plt.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def strength_curves(strength: pd.DataFrame) -> Figure:
    """NegGate minus each method (:func:`ours.strength`) against the snapshot's ID top-1, with
    paired intervals, AUROC left and FPR95 right."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        for k, (label, part) in enumerate(strength.groupby("label", sort=False)):
            x = part["id_top1"] + (k - 1) * 0.8
            ax.plot(x, part[f"{metric} diff"], color=f"C{k}", lw=1)
            interval_bars(ax, x, part[f"{metric} diff"], part[f"{metric} lo"], part[f"{metric} hi"], color=f"C{k}",
                          label=f"NegGate − {label}")
        ax.axhline(0, color="0.4", lw=1)
        ax.set(xlabel="zero-shot ID top-1 (%) of the image tower", ylabel=f"NegGate minus the method, {metric} (points)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False, fontsize=9)
    plt.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
