"""Chapter 02's figures (the scores): each draws one figure and returns it; the notebook shows it."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from PIL import Image

from .. import pipeline
from .chapter import method_label
from .tables import roc_points, score_frame


def densities(scored: pipeline.Scored, log_odds: pipeline.Scored) -> Figure:
    """Each method's score density on ID and on every OOD set, a panel per method; NegLabel's S,
    which piles up at 1, drawn as its log-odds (``log_odds``: the run of ``neglabel_log_odds``)."""
    frame = score_frame(scored, log_odds=log_odds)
    frame["method"] = frame["method"].map(
        lambda m: method_label(m) + (": log-odds log S − log(1 − S)" if m == "neglabel" else " score"))
    g = sns.displot(data=frame, x="score", hue="set", col="method", col_wrap=2, kind="kde", common_norm=False,
                    fill=True, alpha=0.15, height=3.2, aspect=1.5, facet_kws={"sharex": False, "sharey": False},
                    warn_singular=False)
    g.set_titles("{col_name}")
    g.set_xlabels("score")
    for ax in g.axes.flat:
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    return g.figure


def roc_curves(scored: pipeline.Scored) -> Figure:
    """Each one-score method's ROC curve, ID against all OOD sets pooled, with TPR 95% dashed."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for method in scored.id:
        ood = np.concatenate([scored.ood[s][method] for s in scored.ood])
        roc = roc_points(scored.id[method], ood)
        ax.plot(roc["fpr"], roc["tpr"], label=method_label(method))
    ax.plot([0, 1], [0, 1], color="gray", lw=0.8, ls=":")
    ax.axhline(0.95, color="gray", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate (OOD accepted)", ylabel="true positive rate (ID accepted)", title="ROC")
    ax.legend()
    return fig


def hardest_gallery(emb: pipeline.Embedded, worst: dict[str, pd.DataFrame], size: int) -> Figure:
    """The images a method gets most wrong (:func:`tables.hardest`, ``size`` of each kind): OOD
    images scored most as ID (top row) and ID images scored least as ID, with name, group and score."""
    fig, axes = plt.subplots(2, size, figsize=(1.6 * size, 5.2))
    for row, (_, table) in enumerate(worst.items()):
        for ax, (_, r) in zip(axes[row], table.iterrows()):
            ax.imshow(Image.open(r["path"]).convert("RGBA"))
            group = emb.data.concepts.get(r["unit"], {}).get("group", r["set"])
            ax.set_title(f"{textwrap.shorten(r['name'], 22, placeholder='…')}\n{textwrap.shorten(group, 22, placeholder='…')}"
                         f"\n{r['score']:.3g}", fontsize=9)
            ax.axis("off")
    axes[0, 0].text(-0.25, 0.5, "OOD scored\nmost as ID", transform=axes[0, 0].transAxes, ha="right", va="center", fontsize=10)
    axes[1, 0].text(-0.25, 0.5, "ID scored\nleast as ID", transform=axes[1, 0].transAxes, ha="right", va="center", fontsize=10)
    plt.subplots_adjust(left=0.1, wspace=0.15, hspace=0.5)
    return fig


def decomposition_bars(parts: pd.DataFrame) -> Figure:
    """:func:`anatomy.decomposition` per OOD set: each term's share of the variance of NegLabel's
    log-odds (left) and the AUROC of each term alone and of both (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    shares = parts.set_index("OOD set")[["share of var(l): ID term", "share of var(l): negative term"]]
    shares.rename(columns=lambda c: c.split(": ")[1]).plot.barh(stacked=True, ax=axes[0], color=["tab:blue", "tab:orange"])
    axes[0].set(xlabel="share of the variance of NegLabel's log-odds (n_g = 1)", ylabel="", xlim=(0, 1))
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8, frameon=False)
    aurocs = parts.set_index("OOD set")[["AUROC of E_id alone", "AUROC of l (n_g = 1)", "AUROC of -E_neg alone"]]
    aurocs.plot.barh(ax=axes[1], color=["tab:blue", "tab:green", "tab:orange"], width=0.8)
    axes[1].set(xlabel="AUROC (%)", ylabel="", xlim=(max(0, aurocs.min().min() - 5), 100), yticklabels=[])
    axes[1].legend(["energy term alone (E_id)", "both: NegLabel, n_g = 1", "negative term alone (−E_neg)"], loc="upper center",
                   bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8, frameon=False)
    plt.tight_layout()
    return fig
