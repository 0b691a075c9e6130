"""Chapter 08's figures (NegLabel beside its successors): each draws one figure from the tables
of :mod:`.tables` and :mod:`.successors` and returns it; the notebook shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def average_dots(average: pd.DataFrame, equal: Mapping[str, Any] | None) -> Figure:
    """Every method's mean over the OOD sets with its interval, AUROC left and FPR95 right, with
    NegLabel at CSP's bank size (``equal``, :func:`tables.equal_bank_gap`) where it ran, and
    NegLabel's value as a dashed line."""
    shown = average if equal is None else pd.concat([average, equal["table"].query("ood_set == 'average'").set_index("method")
                                                     .rename(index={"neglabel": "neglabel_at_csp_m"})])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9), sharey=True)
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        ax.errorbar(shown[metric], shown["label"], fmt="o", color="C0",
                    xerr=[shown[metric] - shown[f"{metric}_lo"], shown[f"{metric}_hi"] - shown[metric]])
        ax.axvline(average.loc["neglabel", metric], color="0.6", lw=1, ls="--")
        ax.set_xlabel(f"{metric} (%), mean over OOD sets, " + ("higher is better" if metric == "AUROC" else "lower is better"))
    axes[0].set_ylabel("")
    plt.tight_layout()
    return fig


def near_far_dots(near_table: pd.DataFrame) -> Figure:
    """Every method's near- and far-OOD averages on the near-OOD profile, with intervals."""
    rows = near_table[(near_table["kind"] == "summary") & (near_table["ood_set"] != "average")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        for offset, (kind, part) in zip((-0.15, 0.15), rows.groupby("ood_set", sort=False)):
            y = np.arange(len(part)) + offset
            ax.errorbar(part[metric], y, xerr=[part[metric] - part[f"{metric}_lo"], part[f"{metric}_hi"] - part[metric]],
                        fmt="o", label=kind)
        ax.set_yticks(np.arange(len(part)), part["label"])
        ax.set_xlabel(f"{metric} (%)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=2, frameon=False)
    plt.tight_layout(rect=(0, 0, 1, 0.92))
    return fig
