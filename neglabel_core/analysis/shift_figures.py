"""Chapter 05's figures (how robust is NegLabel?): each function draws one figure from the
tables of :mod:`.sweeps` and :mod:`.robustness` and returns it; the notebook shows it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from PIL import Image

from .. import pipeline
from ..data import shifts as shifts_mod
from .chapter import interval_bars, method_label
from .robustness import METRICS, REFERENCE, holm_per_shift, top1_points


def style_bars(labelled: pd.DataFrame) -> Figure:
    """AUROC and FPR95 per ID image set (:func:`sweeps.labelled_shift`), a bar per method."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, metric in zip(axes, METRICS):
        sns.barplot(data=labelled, x="ID images", y=metric, hue="method", ax=ax)
        ax.set(xlabel="", title=metric)
        ax.tick_params(axis="x", labelsize=8)
        ax.get_legend().remove()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, frameon=False, fontsize=9)
    plt.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def degradation_intervals(degradation: pd.DataFrame) -> Figure:
    """Each method's change per style (:func:`sweeps.shift_degradation`) with its interval, AUROC
    left and FPR95 right."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    styles = list(dict.fromkeys(degradation["shift"]))
    for ax, metric in zip(axes, METRICS):
        part = degradation[degradation["metric"] == metric]
        for k, (label, rows) in enumerate(part.groupby("label", sort=False)):
            y = np.arange(len(styles)) + (k - 1.5) * 0.18
            rows = rows.set_index("shift").loc[styles]
            interval_bars(ax, y, rows["change"], rows["change lo"], rows["change hi"], horizontal=True,
                          color=f"C{k}", label=label)
        ax.axvline(0, color="0.5", lw=1)
        ax.set_yticks(np.arange(len(styles)), styles)
        ax.set_xlabel(f"Δ {metric} (points)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, frameon=False, fontsize=9)
    plt.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def style_gallery(emb: pipeline.Embedded, classes: int = 8) -> Figure:
    """The first ``classes`` ID classes in the evaluation styles (top row) and in every shift style."""
    names = list(emb.data.shift)
    fig, axes = plt.subplots(len(names) + 1, classes, figsize=(11, 1.5 * (len(names) + 1)), squeeze=False)
    units = list(dict.fromkeys(emb.data.id_images.units))[:classes]
    rows = [("evaluation styles", emb.data.id_images)] + [(n, emb.data.shift[n]) for n in names]
    for r, (name, files) in enumerate(rows):
        by_unit = dict(zip(files.units, files.paths))
        for c, unit in enumerate(units):
            axes[r, c].axis("off")
            if unit in by_unit:
                axes[r, c].imshow(Image.open(by_unit[unit]).convert("RGBA"))
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    return fig


def graded_gallery(emb: pipeline.Embedded, graded: pipeline.Graded) -> Figure:
    """Two ID classes' first images under every graded shift at every severity."""
    files = emb.data.id_images
    pick = [files.labels.index(k) for k in sorted(set(files.labels))[:2]]
    fig, axes = plt.subplots(len(graded.shifts), 12, figsize=(12, 1.15 * len(graded.shifts)), squeeze=False)
    for r, (name, shift) in enumerate(graded.shifts.items()):
        for half, index in enumerate(pick):
            for s in graded.severities:
                ax = axes[r, 6 * half + s]
                ax.imshow(shifts_mod.shifted(files, shift, s, seed=graded.seed)[index][0])
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"severity {s}", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center")
    plt.tight_layout(pad=0.3)
    return fig


def graded_curves(levels: pd.DataFrame, shifts: Sequence[str]) -> Figure:
    """Every method's AUROC (left) and FPR95 (right) over the severities of each shift (a row
    each), with its interval band; NegLabel drawn heavier, on top; ID top-1 on the right axis."""
    fig, axes = plt.subplots(len(shifts), 2, figsize=(10, 2.4 * len(shifts) + 0.9), sharex=True, squeeze=False)
    palette = dict(zip(dict.fromkeys(levels["label"]), sns.color_palette("tab10")))
    reference = method_label(REFERENCE)
    for r, name in enumerate(shifts):
        for c, metric in enumerate(METRICS):
            ax = axes[r, c]
            part = levels[(levels["shift"] == name) & (levels["metric"] == metric)]
            for label, rows in part.groupby("label", sort=False):
                own = label == reference
                ax.plot(rows["severity"], rows["value"], marker="o", ms=4 if own else 3, lw=2.6 if own else 1.2,
                        color=palette[label], label=label, zorder=3 if own else 2)
                ax.fill_between(rows["severity"], rows["lo"], rows["hi"], color=palette[label], alpha=0.12, lw=0)
            twin = ax.twinx()
            top = part.drop_duplicates("severity")
            twin.plot(top["severity"], top["ID top-1"], color="0.3", ls="--", lw=1.2, label="ID top-1 (right axis)")
            twin.set_ylim(0, 100)
            twin.set_ylabel("ID top-1 (%)" if c == 1 else "", fontsize=10)
            if c == 0:
                twin.set_yticklabels([])
            ax.set_title(f"{name}: {metric}", fontsize=11)
            ax.set_xlabel("severity" if r == len(shifts) - 1 else "", fontsize=10)
            ax.set_ylabel(f"{metric} (%)", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += twin.get_legend_handles_labels()[0]
    labels += twin.get_legend_handles_labels()[1]
    fig.legend(handles, labels, loc="upper center", ncol=4, frameon=False, fontsize=10)
    plt.tight_layout(rect=(0, 0, 1, 1 - 0.9 / fig.get_figheight()))
    return fig


def graded_heatmap(changes: pd.DataFrame, graded: pipeline.Graded) -> Figure:
    """Each method's change minus NegLabel's per (shift, severity), AUROC above and FPR95 below;
    a dot where it is clear of zero after Holm's correction over the shift's methods."""
    others = [m for m in dict.fromkeys(changes["method"]) if m != REFERENCE]
    columns = [(name, s) for name in graded.shifts for s in graded.severities[1:]]
    fig, axes = plt.subplots(len(METRICS), 1, figsize=(9, 2 * (1.0 + 0.34 * len(others))), squeeze=False)
    for ax, metric in zip(axes[:, 0], METRICS):
        part = changes[changes["metric"] == metric]
        part = part.assign(held=holm_per_shift(part))
        part = part[part["method"] != REFERENCE].set_index(["method", "shift", "severity"])
        grid = np.array([[part.loc[(m, *c), "minus NegLabel's"] for c in columns] for m in others])
        held = np.array([[part.loc[(m, *c), "held"] for c in columns] for m in others])
        limit = np.nanmax(np.abs(grid)) or 1.0
        image = ax.imshow(grid, cmap="RdBu" if metric == "AUROC" else "RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        rows, cols = np.nonzero(held)
        ax.scatter(cols, rows, s=12, color="black", marker="o")
        ax.grid(False)
        ax.set_yticks(range(len(others)), [method_label(m) for m in others], fontsize=10)
        ax.set_xticks(range(len(columns)), [str(s) for _, s in columns], fontsize=9)
        for k, name in enumerate(graded.shifts):
            if k:
                ax.axvline(5 * k - 0.5, color="white", lw=3)
            ax.text(5 * k + 2, -0.8, name, ha="center", va="bottom", fontsize=10)
        ax.set_xlabel("severity", fontsize=10)
        bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
        bar.set_label(f"Δ {metric} minus\nNegLabel's Δ", fontsize=10)
        bar.ax.tick_params(labelsize=9)
    plt.tight_layout()
    return fig


def top1_scatter(levels: pd.DataFrame, explains: pd.DataFrame) -> Figure:
    """AUROC change against ID top-1 change per (shift, severity) for NegLabel and energy, with
    the fitted line of :func:`robustness.top1_explains`."""
    points = top1_points(levels)
    show = [REFERENCE, "energy"] if "energy" in set(points["method"]) else [REFERENCE]
    fig, axes = plt.subplots(1, len(show), figsize=(5.2 * len(show), 3.8), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], show):
        sns.scatterplot(data=points[points["method"] == m], x="d_top1", y="d_value", hue="shift", size="severity",
                        sizes=(15, 90), ax=ax, legend=ax is axes[0, -1])
        row = explains.set_index("method").loc[m]
        if not np.isnan(row["slope"]):
            xs = np.linspace(points["d_top1"].min(), 0, 10)
            ax.plot(xs, row["slope"] * xs + row["intercept"], color="0.3", lw=1)
        ax.set(xlabel="change in ID top-1 (points)", ylabel="change in mean AUROC (points)",
               title=f"{method_label(m)} (R² = {row['R2']:.2f})")
    if axes[0, -1].get_legend():
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=8)
    plt.tight_layout()
    return fig


def template_bars(study: pd.DataFrame, paper: pd.DataFrame, profile_name: str) -> Figure:
    """NegLabel's value per paper template here (with its interval) beside the paper's, and the
    profile's own prompts as a dashed line."""
    nl = study[study["method"] == REFERENCE].set_index(["metric", "template"])
    order = list(dict.fromkeys(study["template"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, metric in zip(axes, METRICS):
        ours = nl.loc[metric].loc[[t for t in order if t != "profile's own"]]
        x = np.arange(len(ours))
        ax.bar(x - 0.2, ours["value"], 0.4, yerr=[ours["value"] - ours["lo"], ours["hi"] - ours["value"]], capsize=2,
               label=f"NegLabel here ({profile_name})")
        ax.bar(x + 0.2, paper.set_index("template").loc[ours.index, metric], 0.4, label="NegLabel, paper (ImageNet)")
        ax.axhline(nl.loc[(metric, "profile's own"), "value"], color="0.3", ls="--", lw=1,
                   label="here, the profile's own prompts")
        ax.set_xticks(x, list(ours.index), fontsize=8, rotation=12)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_ylim(0, 100)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False, fontsize=9)
    plt.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
