"""Chapter 11's figures (does NegLabel need a strong model, across vision-language models): each
draws one figure from the tables of :mod:`.cross_vlm` and returns it; the notebook shows it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import pipeline
from .chapter import interval_bars


def average_dots(long: pd.DataFrame) -> Figure:
    """Every method's mean over the OOD sets under every model (:func:`cross_vlm.averages`), with
    intervals, AUROC above and FPR95 below, the methods in the table's order from the top."""
    models = list(dict.fromkeys(long["VLM"]))
    fig, axes = plt.subplots(2, 1, figsize=(9, 9), sharey=True)
    offsets = np.linspace(-0.2, 0.2, len(models))
    labels = list(dict.fromkeys(long["label"]))
    for ax, metric in zip(axes, ("AUROC", "FPR95")):
        for offset, (vlm, part) in zip(offsets, long.groupby("VLM", sort=False)):
            part = part.set_index("label").loc[labels]
            ax.errorbar(part[metric], np.arange(len(labels)) + offset, fmt="o", label=vlm,
                        xerr=[part[metric] - part[f"{metric}_lo"], part[f"{metric}_hi"] - part[metric]])
        ax.set_xlabel(f"{metric} (%), mean over OOD sets, " + ("higher is better" if metric == "AUROC" else "lower is better"))
    axes[0].set_yticks(np.arange(len(labels)), labels)
    axes[0].invert_yaxis()  # the axes share y: inverted once, the table's order from the top
    axes[1].tick_params(labelleft=True)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(models), frameon=False, fontsize=11)
    plt.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def parameter_curves(study: pd.DataFrame, emb: pipeline.Embedded) -> Figure:
    """NegLabel's AUROC and FPR95 over η and over M (as a share of the corpus) under every model
    (:func:`cross_vlm.parameter_study`), the profile's values (of ``emb``) dashed."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey="row")
    xlabel_of = ("η (percentile of the ID similarities)", "M as a share of the corpus")
    for col, param in enumerate(("eta", "m")):
        for vlm, part in study[study["parameter"] == param].groupby("VLM", sort=False):
            x = part["value"] if param == "eta" else part["M share"]
            for row, metric in enumerate(("AUROC", "FPR95")):
                axes[row, col].plot(x, part[metric], marker="o", label=vlm)
    ticks = sorted(set(study.loc[study["parameter"] == "eta", "value"]))
    share_ticks = sorted(set(study.loc[study["parameter"] == "m", "M share"].round(3)))
    marks = (emb.profile.params["eta"], emb.profile.params["m"] / len(emb.corpus))
    for col, (values, text) in enumerate(((ticks, [f"{v:g}" for v in ticks]),
                                          (share_ticks, [f"{100 * v:.0f}%" for v in share_ticks]))):
        for row, metric in enumerate(("AUROC", "FPR95")):
            ax = axes[row, col]
            ax.set(xscale="log", xlabel=(xlabel_of[col] if row == 1 else ""), ylabel=f"NegLabel {metric} (%)" if col == 0 else "")
            ax.set_xticks(values, text)
            ax.minorticks_off()
            ax.axvline(marks[col], color="0.4", ls="--", lw=1, label="the profile's value" if row == col == 0 else None)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3, frameon=False)
    plt.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def style_shift_bars(shift: pd.DataFrame) -> Figure:
    """Each method's change in mean AUROC per shift style under every model (a panel each, two
    per row), with intervals (:func:`cross_vlm.style_shift`)."""
    auroc = shift[shift["metric"] == "AUROC"]
    models = list(dict.fromkeys(auroc["VLM"]))
    styles, order = list(dict.fromkeys(auroc["shift"])), list(dict.fromkeys(auroc["label"]))
    cols = min(2, len(models))
    rows_n = -(-len(models) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(10, 3.2 * rows_n + 0.6), sharex=True, sharey=True, squeeze=False)
    for ax, (vlm, part) in zip(axes.flat, auroc.groupby("VLM", sort=False)):
        for k, style in enumerate(styles):
            rows = part[part["shift"] == style].set_index("label").loc[order]
            interval_bars(ax, np.arange(len(order)) + 0.3 * (k - (len(styles) - 1) / 2), rows["change"],
                          rows["change lo"], rows["change hi"], horizontal=True, color=f"C{k}", label=style)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_title(vlm, fontsize=11)
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    axes[0, 0].set_yticks(np.arange(len(order)), order)
    axes[0, 0].invert_yaxis()
    for ax in axes[-1]:
        ax.set_xlabel("change in mean AUROC (points)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=len(styles), frameon=False)
    plt.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    return fig
