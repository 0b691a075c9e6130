"""Chapter 03's figures (does the corpus matter?): each draws one figure and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def corpus_dots(ablation: pd.DataFrame) -> Figure:
    """NegLabel's mean AUROC with each corpus large enough for the profile's M, against max cosine."""
    neg = ablation[ablation["method"] == "neglabel"]
    full_m = neg[neg["m"] == neg["m"].max()].sort_values("AUROC")
    baseline = ablation[ablation["method"] == "max_cos"]["AUROC"].iloc[0]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(full_m) + 1.2))
    ax.plot(full_m["AUROC"], full_m["corpus"], "o", color="tab:blue", label="NegLabel")
    ax.axvline(baseline, color="tab:red", ls="--", label="max cosine (no negatives)")
    ax.set(xlabel="mean AUROC over the OOD sets (%)", ylabel="", title=f"NegLabel by corpus at M = {int(neg['m'].max()):,}")
    ax.margins(y=0.15)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def selection_curves(control: pd.DataFrame) -> Figure:
    """NegLabel's mean AUROC (left) and FPR95 over M per selection rule (:func:`corpora.selection_control`)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharex=True)
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        for rule, part in control.groupby("negatives", sort=False):
            ax.plot(part["M"], part[metric], marker="o", label=rule)
        ax.set(xscale="log", xlabel="M (negative labels)", ylabel=f"NegLabel {metric} (%), mean over OOD sets")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, frameon=False, fontsize=9)
    plt.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
