"""Chapter 04's figures (the hyperparameters): each draws one figure and returns it; the notebook shows it."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .. import pipeline
from .chapter import method_label
from .sweeps import PARAM_LABELS
from .tables import evaluate_params


def parameter_curves(emb: pipeline.Embedded, by_param: Mapping[str, pd.DataFrame]) -> Figure:
    """NegLabel's mean AUROC (top) and FPR95 over each parameter's grid (:func:`sweeps.sweep`), the
    profile's value dotted and the max-cosine and energy baselines as horizontal lines."""
    reference = evaluate_params(emb, emb.profile.params, methods=("max_cos", "energy")).set_index("method")
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5), sharey="row")
    for col, (param, frame) in enumerate(by_param.items()):
        for row, metric in enumerate(("AUROC", "FPR95")):
            ax = axes[row, col]
            ax.plot(frame[param], frame[metric], marker="o")
            if param in ("m", "n_groups", "tau"):
                ax.set_xscale("log")
            ax.axvline(emb.profile.params[param], color="gray", ls=":", lw=1.5)
            for method, style in (("max_cos", "--"), ("energy", "-.")):
                ax.axhline(reference.loc[method, metric], color="tab:red", ls=style, lw=1, label=method_label(method))
            ax.set(xlabel=PARAM_LABELS[param] if row == 1 else "", ylabel=f"{metric} (%)" if col == 0 else "")
        axes[0, col].set_title(PARAM_LABELS[param])
    axes[0, 0].legend(fontsize=8)
    plt.tight_layout()
    return fig


def eta_m_grid(grid: pd.DataFrame) -> Figure:
    """NegLabel's mean AUROC (top) and FPR95 over the η x M grid, as annotated heat maps."""
    fig, axes = plt.subplots(2, 1, figsize=(9, 7.5))
    for ax, metric, cmap in zip(axes, ("AUROC", "FPR95"), ("viridis", "viridis_r")):
        sns.heatmap(grid.pivot(index="eta", columns="m", values=metric), annot=True, fmt=".1f", cmap=cmap, ax=ax)
        ax.set(title=f"NegLabel {metric} (%)", xlabel="M", ylabel="η")
    plt.tight_layout()
    return fig


def mined_overlap_map(overlap: pd.DataFrame) -> Figure:
    """:func:`sweeps.mined_overlap` as an annotated heat map."""
    fig = plt.figure()
    sns.heatmap(overlap, annot=True, fmt=".2f", cmap="Blues")
    plt.title("Jaccard overlap of the mined labels between eta values")
    return fig


def strength_curves(table: pd.DataFrame, chance_top1: float) -> Figure:
    """Every method's mean AUROC (left) and FPR95 over the OOD sets against the snapshot's ID
    top-1 (:func:`sweeps.vlm_strength`), with interval bands; below ``chance_top1`` shaded."""
    average = table[table["ood_set"] == "average"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        for i, (label, part) in enumerate(average.groupby("label", sort=False)):
            ax.plot(part["id_top1"], part[metric], marker="o", label=label, color=f"C{i}")
            ax.fill_between(part["id_top1"], part[f"{metric}_lo"], part[f"{metric}_hi"], alpha=0.15, color=f"C{i}")
        ax.axvspan(0, chance_top1, color="0.85", zorder=0,
                   label=f"top-1 below {chance_top1:.0f}%: not in the trend" if metric == "AUROC" else None)
        ax.set_xlabel("zero-shot ID top-1 (%) of the image tower")
        ax.set_ylabel(f"{metric} (%), mean over OOD sets")
    axes[0].legend()
    plt.tight_layout()
    return fig


def strength_gaps(gap: pd.DataFrame, chance_top1: float) -> Figure:
    """NegLabel minus max cosine per OOD set (a panel each) against the snapshot's ID top-1, with
    its paired interval; below ``chance_top1`` shaded."""
    g = sns.relplot(data=gap, x="id_top1", y="AUROC diff", col="ood_set", col_wrap=4, kind="line", marker="o",
                    height=2.6, aspect=1.2, facet_kws={"sharey": True})
    for ax, (_, part) in zip(g.axes.flat, gap.groupby("ood_set", sort=False)):
        ax.fill_between(part["id_top1"], part["AUROC lo"], part["AUROC hi"], alpha=0.2)
        ax.axhline(0, color="0.5", lw=1)
        ax.axvspan(0, chance_top1, color="0.85", zorder=0)
    g.set_titles("{col_name}")
    g.set_axis_labels("ID top-1 (%)", "NegLabel − max cosine\n(AUROC points)")
    return g.figure
