"""How a number moves (chapters 04, 05, 06, 08, 09): one parameter swept, the grouping seed, each
parameter against the profile's own setting (paired gaps), the mined sets across eta, the ID
images in another style (domain shift), the stream order of a test-time-adaptive method, and the
image tower's training epochs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..ood import methods as registry
from ..ood import metrics, multiplicity
from ..pipeline.score_cache import kept_arm_replicates
from .chapter import N_BOOTSTRAP, interval, md_text, method_label
from .tables import evaluate_params, method_table, paired_change, paired_gaps, results_table

log = logging.getLogger(__name__)

# The book's parameter grids: the hyperparameter chapter sweeps them and the findings chapter's
# answers read the same sweeps, so one question gets one set of numbers.
GRIDS: dict[str, list[Any]] = {
    "eta": [0.01, 0.05, 0.1, 0.25, 0.5, 0.75],
    "m": [100, 300, 1000, 3000, 10000, 30000, 100000],
    "n_groups": [1, 10, 100, 1000],
    "tau": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
}


def sweep(emb: pipeline.Embedded, param: str, values: Iterable[Any], *, fixed: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """NegLabel's AUROC/FPR95 (all OOD sets) as one parameter varies, the others at the profile's
    values (or ``fixed``). M values above the corpus size are skipped with a log line."""
    frames = []
    for value in values:
        params = {**emb.profile.params, **(fixed or {}), param: value}
        if param == "m":
            params["pos_fraction"] = None  # a sweep over M mines the lowest M, whatever the profile's rule
        if params.get("pos_fraction") is None and not params["n_groups"] <= params["m"] <= len(emb.corpus):
            log.info("skipping %s=%s: needs n_groups <= M <= corpus size", param, value)
            continue
        frames.append(evaluate_params(emb, params, methods=("neglabel",)))
    if not frames:
        raise ValueError(f"no value of {param} in {list(values)} fits: M must lie in [n_groups, corpus size "
                         f"{len(emb.corpus):,}]; pass fixed={{'m': ...}} or other values")
    return pd.concat(frames, ignore_index=True)


def mined_overlap(emb: pipeline.Embedded, etas: Sequence[float], m: int | None = None) -> pd.DataFrame:
    """Jaccard overlap of the mined sets between every pair of eta values."""
    rule = pipeline.mining_rule(emb, m)
    sets = {eta: set(pipeline.mine(emb, eta=eta, **rule).tolist()) for eta in etas}
    return pd.DataFrame([[len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for b in etas] for a in etas],
                        index=pd.Index(etas, name="eta"), columns=pd.Index(etas, name="eta"))


def seed_spread(emb: pipeline.Embedded, seeds: Iterable[int] = range(20), *, compare_with: str = "max_cos",
                n_bootstrap: int = N_BOOTSTRAP) -> dict[str, pd.DataFrame]:
    """How much of a NegLabel number is the grouping draw: NegLabel on every OOD set (and their
    average) for each grouping seed, summarised as mean, std, min and max of AUROC and FPR95,
    next to the width of the bootstrap interval of the profile's seed and the paired gap to
    ``compare_with`` (with its interval). Returns ``{"per_seed", "summary"}``."""
    seeds = list(seeds)
    rows = []
    for seed in seeds:
        scored = pipeline.score(emb, {"seed": seed}, methods=("neglabel",))
        for name, cells in pipeline.results(scored, ("neglabel",)).items():
            if name != "pooled":
                rows.append({"seed": seed, "ood_set": name, "AUROC": cells["neglabel"]["auroc"],
                             "FPR95": cells["neglabel"]["fpr95"]})
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby("ood_set", sort=False)[["AUROC", "FPR95"]].agg(["mean", "std", "min", "max"])
    summary.columns = [f"{metric} {stat}" for metric, stat in summary.columns]
    base = pipeline.score(emb, methods=("neglabel", compare_with))
    boot = results_table(emb, base, n_bootstrap=n_bootstrap).query("method == 'neglabel'").set_index("ood_set")
    gaps = paired_gaps(emb, (base, "neglabel"), (base, compare_with), n_bootstrap=n_bootstrap).set_index("ood_set")
    for metric in ("AUROC", "FPR95"):
        summary[f"{metric} bootstrap width"] = boot[f"{metric}_hi"] - boot[f"{metric}_lo"]
        summary[f"{metric} seed range"] = summary[f"{metric} max"] - summary[f"{metric} min"]
        summary[f"{metric} gap to {method_label(compare_with)}"] = gaps[f"{metric} diff"]
        summary[f"{metric} gap lo"] = gaps[f"{metric} lo"]
        summary[f"{metric} gap hi"] = gaps[f"{metric} hi"]
    summary["n_seeds"] = len(seeds)
    return {"per_seed": per_seed, "summary": summary.reset_index()}


def seed_spread_sentences(summary: pd.DataFrame, metric: str = "AUROC", against: str = "max cosine") -> list[str]:
    """One sentence per OOD set: NegLabel's gap to ``against`` with its paired interval and, only
    where that interval is clear of zero, whether the gap is larger than the spread over grouping
    seeds (the full min-max range), i.e. whether another seed could reverse it."""
    out = []
    for values in summary.to_dict("records"):
        gap, lo, hi = values[f"{metric} gap to {against}"], values[f"{metric} gap lo"], values[f"{metric} gap hi"]
        spread = values[f"{metric} seed range"]
        head = (f"{md_text(values['ood_set'])}: NegLabel {gap:+.2f} {metric} points vs {against} (paired 95% interval {lo:+.2f} "
                f"to {hi:+.2f}); the {int(values['n_seeds'])} grouping seeds span {spread:.2f} points")
        if lo <= 0 <= hi:
            out.append(head + ": the gap cannot be told from zero.")
        else:
            out.append(head + (": the gap is clear of zero and larger than the seed spread, so no seed reverses it."
                               if abs(gap) > spread else ": the gap is clear of zero but not larger than the seed spread."))
    return out


def parameter_gaps(emb: pipeline.Embedded, values: Mapping[str, Iterable[Any]], *,
                   n_bootstrap: int = N_BOOTSTRAP) -> pd.DataFrame:
    """NegLabel at each value of each parameter (e.g. ``{"eta": [...], "m": [...]}``) against the
    profile's own setting: the gap in AUROC and FPR95 (mean over OOD sets) with paired bootstrap
    intervals over concepts. The profile's own value, and M outside [n_groups, corpus size], are
    skipped; a value of M mines the lowest M (whatever the profile's rule)."""
    base = pipeline.score(emb, methods=("neglabel",))
    rows = []
    for param, options in values.items():
        for value in options:
            params = {param: value, **({"pos_fraction": None} if param == "m" else {})}
            if value == emb.profile.params[param] or (
                    param == "m" and not emb.profile.params["n_groups"] <= value <= len(emb.corpus)):
                continue
            gap = paired_gaps(emb, (pipeline.score(emb, params, methods=("neglabel",)), "neglabel"), (base, "neglabel"),
                              n_bootstrap=n_bootstrap).set_index("ood_set").loc["average"]
            rows.append({"change": f"{param} = {value} (profile: {emb.profile.params[param]})",
                         **gap.drop(["a", "b"]).to_dict()})
    return pd.DataFrame(rows)


def stream_spread(emb: pipeline.Embedded, methods: Sequence[str] = ("adaneg", "adaneg_sa"),
                  stream_seeds: Iterable[int] = range(5)) -> dict[str, pd.DataFrame]:
    """How much a stream method's numbers depend on the order of the stream: each method under
    each ``stream_seed`` (the ID+OOD shuffle), per OOD set and the average; ``per_seed`` and
    ``summary`` (mean, min, max, std over orders)."""
    rows = []
    for s in stream_seeds:
        out = pipeline.results(pipeline.score(emb, {"stream_seed": s}, methods=methods), methods)
        rows += [{"stream_seed": s, "method": m, "ood_set": n, "AUROC": out[n][m]["auroc"], "FPR95": out[n][m]["fpr95"]}
                 for n in out if n != "pooled" for m in methods]
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby(["method", "ood_set"], sort=False)[["AUROC", "FPR95"]].agg(["mean", "min", "max", "std"])
    summary.columns = [f"{a} {b}" for a, b in summary.columns]
    summary = summary.reset_index()
    summary.insert(1, "label", summary["method"].map(method_label))
    return {"per_seed": per_seed, "summary": summary}


def vlm_strength(emb: pipeline.Embedded, *, methods: Sequence[str] | None = None,
                 epochs: Sequence[int] | None = None, n_bootstrap: int = N_BOOTSTRAP) -> dict[str, pd.DataFrame]:
    """Every method at every saved point of the one training run (:func:`pipeline.snapshot_epochs`):
    ``table`` (epoch, ID top-1 on the evaluation styles, method, set or average, AUROC/FPR95 with
    intervals) and ``gap``: NegLabel minus max cosine per OOD set and average, with paired
    bootstrap intervals, at each epoch. The text side (and so the mined negatives) is the same
    at every epoch: only the image tower grows stronger."""
    methods = registry.default_methods() if methods is None else methods
    tables, gaps = [], []
    for epoch, e in pipeline.embed_snapshots(emb, epochs):
        top1 = 100 * metrics.zero_shot_top1(e.id_emb, e.id_text, emb.data.id_images.labels)
        scored = pipeline.score(e, methods=methods)
        tables.append(method_table(e, scored, n_bootstrap=n_bootstrap).assign(epoch=epoch, id_top1=top1))
        if "neglabel" in methods and "max_cos" in methods:
            gap = paired_gaps(e, (scored, "neglabel"), (scored, "max_cos"), n_bootstrap=n_bootstrap)
            gaps.append(gap.assign(epoch=epoch, id_top1=top1))
    return {"table": pd.concat(tables, ignore_index=True), "gap": pd.concat(gaps, ignore_index=True) if gaps else pd.DataFrame()}


def unshifted_name(emb: pipeline.Embedded) -> str:
    """What the unshifted ID test images are called in the chapters' tables: on the emoji benchmark
    the *evaluation styles* (the styles the test images are drawn in), elsewhere the ID test set."""
    return "evaluation styles" if emb.profile.benchmark.get("kind") == "emoji" else "ID test set"


def domain_shift(emb: pipeline.Embedded) -> pd.DataFrame:
    """ID top-1 and OOD detection (all OOD sets, every method) with the ID test images in each
    domain-shift style instead of the unshifted ones (the first row, :func:`unshifted_name`)."""
    frames = []
    sets = {unshifted_name(emb): (emb.id_emb, emb.data.id_images), **{
        name: (emb.shift_emb[name], files) for name, files in emb.data.shift.items()}}
    for name, (vectors, files) in sets.items():
        frame = evaluate_params(emb, emb.profile.params, id_emb=vectors)
        frame.insert(0, "ID images", name)
        frame.insert(1, "ID top-1", 100 * metrics.zero_shot_top1(vectors, emb.id_text, files.labels))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def degradation_reading(degradation: pd.DataFrame) -> str:
    """Chapter 05's reading of :func:`shift_degradation` by AUROC, one sentence per style: which
    method loses least and which most, NegLabel's change with its interval, and whether the method
    that loses least beats NegLabel's change clearly after Holm's correction over the methods
    compared with NegLabel in that style (each gap's p-value from its bootstrap standard error)."""
    sentences = []
    for style, part in degradation[degradation["metric"] == "AUROC"].groupby("shift", sort=False):
        part = part.set_index("method")
        least, worst = part["change"].idxmax(), part["change"].idxmin()
        nl = part.loc["neglabel"]
        own = interval(nl["change"], nl["change lo"], nl["change hi"], signed=True)
        best_text = f"{method_label(least)} loses least AUROC ({part.loc[least, 'change']:+.2f})"
        worst_text = f"{method_label(worst)} most ({part.loc[worst, 'change']:+.2f})"
        if least == "neglabel":  # NegLabel named once, with its interval
            text = f"In {md_text(style)}, NegLabel loses least AUROC, {own}, and {worst_text}"
        elif worst == "neglabel":
            text = f"In {md_text(style)}, {best_text} and NegLabel most, {own}"
        else:
            text = f"In {md_text(style)}, {best_text} and {worst_text}; NegLabel's change is {own}"
        if least != "neglabel":
            others = part.drop(index="neglabel")
            held = dict(zip(others.index, multiplicity.holm_wald(others["change minus NegLabel's"], others["vs NegLabel se"])))
            gap = interval(*part.loc[least, ["change minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi"]].to_numpy())
            text += (f", and {method_label(least)} loses {gap} points less ("
                     + ("clear" if held[least] else "not clear") + f" after Holm's correction over the {len(others)} methods)")
        sentences.append(text + ".")
    return " ".join(sentences) if sentences else "This profile has no domain-shift set."


def robust_verdict(degradation: pd.DataFrame, floor: float = 55.0) -> str:
    """Chapter 05's answer to the paper's robustness claim from :func:`shift_degradation` (AUROC):
    styles where some method falls below ``floor`` (near chance: part of its loss is the floor)
    are named as such; in every other style, NegLabel's loss, the smallest loss, and where
    NegLabel's ranks from the largest (in the larger half: the data do not support the claim)."""
    auroc = degradation[degradation["metric"] == "AUROC"]
    if auroc.empty:
        return " "
    text = "The paper reports NegLabel as robust to domain shift. "
    styles = {style: part.set_index("method") for style, part in auroc.groupby("shift", sort=False)}
    for style, part in styles.items():
        low = part[part["shifted"] < floor]
        if len(low):
            text += (f"In {md_text(style)}, " + ", ".join(f"{method_label(m)} ({v:.2f})" for m, v in low["shifted"].items())
                     + f" is near chance (AUROC below {floor:g}), so part of its loss there is the floor. ")
    for style, part in styles.items():
        if (part["shifted"] < floor).any():
            continue
        rank = int((part["change"] < part.loc["neglabel", "change"]).sum()) + 1
        least = part["change"].idxmax()
        smallest = (", the least of the methods" if least == "neglabel"
                    else f" and {method_label(least)} {-part['change'].max():.2f}")
        text += (f"In {md_text(style)}, where no method is at chance, NegLabel loses {-part.loc['neglabel', 'change']:.2f} AUROC "
                 f"points{smallest}; NegLabel's loss ranks "
                 f"{rank} of {len(part)} from the largest"
                 + (": on this style the data do not support the paper's claim that NegLabel is the robust choice. "
                    if rank <= len(part) / 2 else ": NegLabel is among the more robust methods on this style. "))
    return text.strip()


def style_summary(emb: pipeline.Embedded, shift: pd.DataFrame) -> str:
    """Chapter 05's reading of :func:`domain_shift`'s table (``shift``, method ids): NegLabel's ID
    top-1 and mean AUROC on the unshifted images and in the style where top-1 falls most, and
    whether that fall halves top-1 (then a style mixes a new look with a collapse of
    classification); one sentence where the profile has no domain-shift set."""
    neg = shift[shift["method"] == "neglabel"].set_index("ID images")
    base, shifted = neg.loc[unshifted_name(emb)], neg.drop(index=unshifted_name(emb))
    if not len(shifted):
        return "This profile has no domain-shift set here."
    worst = shifted.loc[shifted["ID top-1"].idxmin()]
    text = (f"On the {unshifted_name(emb)} the model's ID top-1 is {base['ID top-1']:.1f}% and NegLabel's mean AUROC "
            f"{base['AUROC']:.2f}; in the style {md_text(worst.name)} top-1 falls to {worst['ID top-1']:.1f}% and NegLabel's "
            f"AUROC to {worst['AUROC']:.2f}. ")
    if worst["ID top-1"] < 0.5 * base["ID top-1"]:
        return text + (f"The model classifies these ID images far worse than the {unshifted_name(emb)} (ImageNet's shifted "
                       "sets keep CLIP's top-1 much higher), so a style mixes a change of the ID images' look with a "
                       "collapse of classification; the graded shifts below move one property at a time.")
    return text + "The shifted ID images stay recognisable to the model, so this is a fair robustness test."


def shift_degradation(emb: pipeline.Embedded, methods: Sequence[str] | None = None, *,
                      n_bootstrap: int = N_BOOTSTRAP) -> pd.DataFrame:
    """Which method degrades least when the ID images change style? For every domain-shift style
    and method: AUROC and FPR95 (mean over the OOD sets) on the evaluation styles and on the
    shifted ID images, the change (shifted minus evaluation) and that change minus NegLabel's,
    each with a 95% interval (the latter also with its bootstrap standard error) from one shared
    bootstrap over concepts (the same concepts drawn for both ID image sets,
    :func:`metrics.arm_replicates`), so the comparison is paired throughout. A stream method
    (AdaNeg) runs one stream per OOD set in each style."""
    methods = tuple(registry.default_methods() if methods is None else methods)
    rule = pipeline.fpr_rule(emb.profile.params)
    base = pipeline.score(emb, methods=methods)
    styles = {"evaluation styles": (base, emb.data.id_images.units)}
    for name, files in emb.data.shift.items():
        styles[name] = (pipeline.score(emb, id_emb=emb.shift_emb[name], methods=methods, pooled_streams=False), files.units)
    ood_units = {n: f.units for n, f in emb.data.ood.items()}

    def arm(scored: pipeline.Scored, m: str, units: Sequence) -> tuple:
        if m in scored.stream:  # a stream scores ID anew beside each OOD set, and its OOD images after the ID ones it saw
            return ({n: scored.stream[m][n][0] for n in base.ood}, units, {n: scored.stream[m][n][1] for n in base.ood})
        return scored.id[m], units, {n: base.ood[n][m] for n in base.ood}

    rows = []
    for metric in ("AUROC", "FPR95"):
        arms = {(style, m): arm(s, m, units) for style, (s, units) in styles.items() for m in methods}
        keys = list(arms)
        point, reps = kept_arm_replicates({f"{a}|{b}": v for (a, b), v in arms.items()}, ood_units=ood_units,
                                             metric=metric, n_bootstrap=n_bootstrap, fpr_rule=rule)
        values, boot = point["average"].to_numpy(), reps["average"]
        col = {k: i for i, k in enumerate(keys)}
        for style in list(styles)[1:]:
            for m in methods:
                change = values[col[(style, m)]] - values[col[("evaluation styles", m)]]
                change_reps = boot[:, col[(style, m)]] - boot[:, col[("evaluation styles", m)]]
                ref_reps = boot[:, col[(style, "neglabel")]] - boot[:, col[("evaluation styles", "neglabel")]]
                ref = values[col[(style, "neglabel")]] - values[col[("evaluation styles", "neglabel")]]
                rows.append({"shift": style, "method": m, "metric": metric,
                             "evaluation styles": values[col[("evaluation styles", m)]], "shifted": values[col[(style, m)]],
                             **paired_change(change, change_reps, ref, ref_reps, gap="change minus NegLabel's")})
    columns = ["shift", "method", "label", "metric", "evaluation styles", "shifted", "change", "change lo", "change hi",
               "change minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi", "vs NegLabel se"]
    out = pd.DataFrame(rows, columns=[c for c in columns if c != "label"])  # no shift styles: no rows, the same columns
    out.insert(2, "label", out["method"].map(method_label))
    return out


def labelled_shift(shift: pd.DataFrame) -> pd.DataFrame:
    """:func:`domain_shift` as chapter 05 shows it: methods by their labels, each ID image set named
    with its top-1 ("flat\\n(top-1 81.2%)", the line break for the figure's axis)."""
    out = shift.copy()
    out["method"] = out["method"].map(method_label)
    out["ID images"] = [f"{s}\n(top-1 {t:.1f}%)" for s, t in zip(out["ID images"], out["ID top-1"])]
    return out


def shift_level_table(labelled: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One ``metric`` of :func:`labelled_shift`: a row per ID image set (in their order), a column
    per method, the mean over the OOD sets rounded to two decimals."""
    order = list(dict.fromkeys(labelled["ID images"]))
    return (labelled.pivot(index="ID images", columns="method", values=metric).loc[order]
            .rename(index=lambda s: s.replace("\n", " ")).round(2)
            .rename_axis(index=None, columns=f"{metric} (%), mean over the OOD sets"))


def degradation_table(degradation: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One ``metric`` of :func:`shift_degradation` as a table: per (style, method) the change with
    its interval and the change minus NegLabel's with its interval (NegLabel's row: "(reference)")."""
    part = degradation[degradation["metric"] == metric]
    table = part.assign(**{
        "change [95%]": [interval(*v, signed=True) for v in part[["change", "change lo", "change hi"]].to_numpy()],
        "minus NegLabel's [95%]": [interval(*v, signed=True) if m != "neglabel" else "(reference)" for m, *v in
                                   part[["method", "change minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi"]].to_numpy()]})
    return (table.set_index(["shift", "label"])[["change [95%]", "minus NegLabel's [95%]"]]
            .rename_axis(index=[None, None], columns=f"{metric} (points)"))


# Chapter 04's tables and readings (the hyperparameters).

PARAM_LABELS = {"eta": "η (percentile)", "m": "M (negative labels)", "n_groups": "n_g (groups)", "tau": "τ (temperature)"}
PARAM_SYMBOLS = {"eta": "η", "m": "M", "n_groups": "n_g", "tau": "τ"}


def grids(etas: Sequence[float] | None = None, ms: Sequence[int] | None = None, groups: Sequence[int] | None = None,
          taus: Sequence[float] | None = None) -> dict[str, list[Any]]:
    """The four parameters' grids: each given one, else the book's (:data:`GRIDS`)."""
    given = {"eta": etas, "m": ms, "n_groups": groups, "tau": taus}
    return {k: list(v) if v is not None else GRIDS[k] for k, v in given.items()}


def grouping_table(emb: pipeline.Embedded, by_groups: pd.DataFrame) -> pd.DataFrame:
    """NegLabel over the n_g grid (Eq. 6, grouped) beside the official code's ungrouped score at n_g = 1."""
    official = evaluate_params(emb, {**emb.profile.params, "n_groups": 1}, methods=("neglabel", "neglabel_official_ng1"))
    official["method"] = official["method"].map(method_label)
    ours = by_groups.assign(method="NegLabel (Eq. 6, grouped)")
    return pd.concat([ours, official.iloc[1:]], ignore_index=True).set_index(["method", "n_groups"])[["AUROC", "FPR95"]].round(2)


def seed_tables(spread: Mapping[str, pd.DataFrame], n_seeds: int) -> list[pd.DataFrame]:
    """:func:`seed_spread` as the page shows it: per metric NegLabel's spread over the grouping
    seeds beside the bootstrap's width, then the gap to max cosine per OOD set with its interval
    and what it is against the seeds' spread."""
    summary = spread["summary"].set_index("ood_set").rename_axis(None)
    out = []
    for metric in ("AUROC", "FPR95"):
        part = summary[[f"{metric} mean", f"{metric} std", f"{metric} min", f"{metric} max", f"{metric} seed range",
                        f"{metric} bootstrap width"]]
        out.append(part.rename(columns=lambda c, metric=metric: c.replace(f"{metric} ", "")).round(2)
                   .rename_axis(columns=f"NegLabel {metric} (%) over {n_seeds} seeds"))
    gaps = {f"{m} gap to max cosine [95%]": [interval(*v, signed=True) for v in
                                             summary[[f"{m} gap to max cosine", f"{m} gap lo", f"{m} gap hi"]].to_numpy()]
            for m in ("AUROC", "FPR95")}
    verdicts = [s.split("points")[-1].split(": ", 1)[-1].rstrip(".") for s in seed_spread_sentences(spread["summary"])]
    out.append(pd.DataFrame({**gaps, f"AUROC gap against the {n_seeds} seeds' spread": verdicts}, index=summary.index))
    return out


def change_label(text: str) -> str:
    """A :func:`parameter_gaps` change as the page names it: "eta = 0.01 (profile: 0.05)" ->
    "η = 0.01 (profile: 0.05)", M with thousands separators."""
    param, rest = text.split(" = ", 1)
    value, profile_value = rest.split(" (profile: ")

    def fmt(v: str) -> str:
        return f"{int(float(v)):,}" if param == "m" else v

    return f"{PARAM_SYMBOLS[param]} = {fmt(value)} (profile: {fmt(profile_value.rstrip(')'))})"


def parameter_gap_table(gaps: pd.DataFrame) -> pd.DataFrame:
    """:func:`parameter_gaps` as the page shows it: per change, the AUROC and FPR95 gaps with their intervals."""
    cells = gaps.assign(**{f"{m} gap [95%]": [interval(*v, signed=True)
                                              for v in gaps[[f"{m} diff", f"{m} lo", f"{m} hi"]].to_numpy()]
                           for m in ("AUROC", "FPR95")})
    cells["change"] = gaps["change"].map(change_label)
    return cells.set_index("change")[["AUROC gap [95%]", "FPR95 gap [95%]"]].rename_axis(None)


def only_at_extremes(emb: pipeline.Embedded, etas: Sequence[float], k: int = 25) -> str:
    """The words NegMining mines only at the smallest η of ``etas`` and only at the largest, the
    ``k`` of each that it ranks farthest from the ID labels at that η."""
    low, high = (set(pipeline.mine(emb, eta=e, **pipeline.mining_rule(emb)).tolist()) for e in (etas[0], etas[-1]))
    words = np.asarray(emb.corpus.words, dtype=object)

    def farthest(idx: set[int], eta: float) -> str:
        idx_sorted = np.array(sorted(idx))
        order = np.argsort(pipeline.candidate_scores(emb, eta).numpy()[idx_sorted], kind="stable")
        return ", ".join(words[idx_sorted[order]][:k])

    return (f"Only at η = {etas[0]} (the {k} farthest of {len(low - high):,}): {farthest(low - high, etas[0])}.\n\n"
            f"Only at η = {etas[-1]} (the {k} farthest of {len(high - low):,}): {farthest(high - low, etas[-1])}.")


def m_sentence(m_sweep: pd.DataFrame) -> str:
    """How NegLabel's mean AUROC moves with M (:func:`sweep` over M): highest at the largest M
    tried, or rising then falling (more than 0.1 below the peak at the largest M), or flattening."""
    m_sweep = m_sweep.sort_values("m")
    peak = m_sweep.loc[m_sweep["AUROC"].idxmax()]
    last = m_sweep.iloc[-1]
    if peak["m"] == last["m"]:
        return (f"the mean AUROC is highest at the largest M tried ({int(last['m']):,}: {last['AUROC']:.2f}; by M: "
                + ", ".join(f"{int(r.m):,}: {r.AUROC:.1f}" for r in m_sweep.itertuples())
                + "), so it does not fall at large M here, unlike the paper's report.")
    if last["AUROC"] < peak["AUROC"] - 0.1:
        return (f"the mean AUROC peaks at M = {int(peak['m']):,} ({peak['AUROC']:.2f}) and falls to {last['AUROC']:.2f} at "
                f"the largest M tried ({int(last['m']):,}): it rises and then falls, as the paper reports.")
    return (f"the mean AUROC peaks at M = {int(peak['m']):,} ({peak['AUROC']:.2f}) and stays within 0.1 of it up to the "
            f"largest M tried ({int(last['m']):,}: {last['AUROC']:.2f}): it rises, then flattens.")


def grouping_sentence(gaps: pd.DataFrame, profile_groups: int) -> str:
    """One group against the profile's n_g (:func:`parameter_gaps`' row "n_groups = 1"), and what
    it says of the paper's finding that grouping helps."""
    ng1 = gaps[gaps["change"].str.startswith("n_groups = 1 ")]
    if not len(ng1):
        return "(n_g = 1 is the profile's own value: no gap to report.)"
    g = ng1.iloc[0]
    helps = g["FPR95 hi"] < 0 or g["AUROC lo"] > 0
    hurts = g["FPR95 lo"] > 0 or g["AUROC hi"] < 0
    return (f"One group against the profile's {profile_groups}: "
            f"{interval(g['AUROC diff'], g['AUROC lo'], g['AUROC hi'], signed=True)} AUROC and "
            f"{interval(g['FPR95 diff'], g['FPR95 lo'], g['FPR95 hi'], signed=True)} FPR95 points, paired. "
            + ("Without grouping NegLabel is *better* here, clear of zero: this contradicts the paper's finding that "
               "grouping helps." if helps else "Without grouping NegLabel is worse here, clear of zero, as the paper finds."
               if hurts else "The gap cannot be told from zero: on this benchmark the data do not support the paper's "
               "finding that grouping helps."))


def sweep_ranges(by_param: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """How far NegLabel's mean AUROC moves over each of η, τ and n_g's grids (max minus min)."""
    return {f"{name}_range": by_param[param]["AUROC"].max() - by_param[param]["AUROC"].min()
            for name, param in (("eta", "eta"), ("tau", "tau"), ("ng", "n_groups"))}


# Chapter 09's readings (does NegLabel need a strong model?).

STRENGTH_KEYS = ("n_points", "top1_first", "top1_last", "gap_first", "gap_first_lo", "gap_first_hi", "gap_last", "gap_last_lo",
                 "gap_last_hi", "n_snapshots", "n_above", "n_below", "strong_threshold", "n_strong", "n_strong_below", "slope",
                 "nl_minus_mcm_min")


def snapshot_top1(table: pd.DataFrame) -> pd.DataFrame:
    """The ID top-1 (%) of each snapshot of :func:`vlm_strength`, one row."""
    points = table[["epoch", "id_top1"]].drop_duplicates().set_index("epoch")["id_top1"]
    return points.round(1).rename("ID top-1 (%)").to_frame().T


def strength_readings(strength: Mapping[str, pd.DataFrame] | None, chance_top1: float, n_classes: int) -> dict[str, Any]:
    """Chapter 09's reading of :func:`vlm_strength`, by glue name: the snapshots above ``chance_top1``
    (those below it are shown but left out of the trend, unless fewer than two are above), NegLabel's
    gap to max cosine at the first and last of them, how many are clearly above and below zero, how
    many of the strong half (ID top-1 at least half the best) are clearly below, the gap's slope per
    10 top-1 points, NegLabel's least lead over MCM, and the verdict. All NaN where the profile's
    model is pretrained (``strength`` None)."""
    if strength is None:
        return {**dict.fromkeys(STRENGTH_KEYS, float("nan")), "verdict": "Not run: this profile's model is pretrained.",
                "chance_sentence": " ", "n_above_text": "no snapshot", "n_below_text": "no snapshot"}
    table, gap = strength["table"], strength["gap"]
    all_points = gap[gap["ood_set"] == "average"].sort_values("epoch").reset_index(drop=True)
    above_cut = all_points[all_points["id_top1"] >= chance_top1].reset_index(drop=True)
    below_cut = all_points.loc[all_points["id_top1"] < chance_top1, "epoch"].astype(int).tolist()
    cut = f"the chapter's cut-off of {chance_top1:.0f}% ID top-1 (chance is {100 / n_classes:.1f}%)"
    if not below_cut:
        chance_sentence, avg_gap = f"All are above {cut}.", all_points
    elif len(above_cut) >= 2:  # models that barely classify say nothing about strong ones
        chance_sentence = (f"{len(below_cut)} of them (epochs {', '.join(map(str, below_cut))}) are below {cut}: "
                           "they are in the figures but not in the trend or the verdict below.")
        avg_gap = above_cut
    else:  # e.g. a short run: too few snapshots above the cut-off for a trend
        chance_sentence, avg_gap = f"Fewer than two are above {cut}, so the trend below uses every snapshot.", all_points
    first, last = avg_gap.iloc[0], avg_gap.iloc[-1]
    above, below = int((avg_gap["AUROC lo"] > 0).sum()), int((avg_gap["AUROC hi"] < 0).sum())
    strong = avg_gap[avg_gap["id_top1"] >= avg_gap["id_top1"].max() / 2]
    average = table[table["ood_set"] == "average"]
    mcm = average[average["epoch"].isin(avg_gap["epoch"])].pivot(index="epoch", columns="method", values="AUROC")
    ahead = avg_gap[avg_gap["AUROC lo"] > 0]
    if last["AUROC hi"] < 0:
        verdict = ("On this benchmark a stronger image tower does *not* turn NegLabel's deficit against max cosine "
                   "into a lead: the final, strongest model is clearly behind"
                   + (f", and NegLabel is clearly ahead only at points with at most {ahead['id_top1'].max():.1f}% ID top-1"
                      if len(ahead) else "") + ". So the weak model alone does not explain why NegLabel trails max cosine here.")
    elif last["AUROC lo"] > 0:
        verdict = ("On this benchmark the strongest model puts NegLabel clearly ahead of max cosine: a stronger image "
                   "tower helps NegLabel more than the baseline.")
    else:
        verdict = ("On this benchmark the strongest model's gap cannot be told from zero: the data do not say whether a "
                   "stronger image tower favours NegLabel.")
    return {"chance_sentence": chance_sentence, "n_points": len(avg_gap), "n_snapshots": len(all_points),
            "top1_first": first["id_top1"], "top1_last": last["id_top1"],
            "gap_first": first["AUROC diff"], "gap_first_lo": first["AUROC lo"], "gap_first_hi": first["AUROC hi"],
            "gap_last": last["AUROC diff"], "gap_last_lo": last["AUROC lo"], "gap_last_hi": last["AUROC hi"],
            "n_above": above, "n_above_text": f"{above} snapshot" + ("" if above == 1 else "s"),
            "n_below": below, "n_below_text": f"{below} snapshot" + ("" if below == 1 else "s"),
            "strong_threshold": avg_gap["id_top1"].max() / 2, "n_strong": len(strong),
            "n_strong_below": int((strong["AUROC hi"] < 0).sum()),
            "slope": 10 * np.polyfit(avg_gap["id_top1"], avg_gap["AUROC diff"], 1)[0],
            "nl_minus_mcm_min": (mcm["neglabel"] - mcm["mcm"]).min(), "verdict": verdict}
