"""Results tables (chapters 02, 06, 08): per method and OOD set, the paper's average and the
pooled set, with bootstrap intervals over concepts; paired gaps between two arms; the paper's
published rows beside ours. Every table's columns name the parameters behind its numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..ood import methods as registry
from ..ood import metrics
from ..ood.multiplicity import bootstrap_se
from ..pipeline.score_cache import kept_paired_difference, kept_summarize
from .chapter import BOOTSTRAP_SEED, N_BOOTSTRAP, clear_of_zero, headline, interval, md_text, method_label


def score_frame(scored: pipeline.Scored, *, log_odds: pipeline.Scored | None = None) -> pd.DataFrame:
    """Long table: one row per (image, method): set ("ID" or an OOD set), score. With ``log_odds``
    (the same images scored by ``"neglabel_log_odds"``), NegLabel's rows hold its log-odds
    ``log S - log(1 - S)``, computed stably (S itself piles up at 1)."""
    rows = []
    for name, by_method in [("ID", scored.id), *scored.ood.items()]:
        for method, values in by_method.items():
            if log_odds is not None and method == "neglabel":
                values = (log_odds.id if name == "ID" else log_odds.ood[name])["neglabel_log_odds"]
            rows.append(pd.DataFrame({"set": name, "method": method, "score": values}))
    return pd.concat(rows, ignore_index=True)


def results_table(emb: pipeline.Embedded, scored: pipeline.Scored, *, n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED,
                  fpr_rule: str | None = None) -> pd.DataFrame:
    """Per method: each OOD set, ``average`` (the mean over sets, as the paper reports) and
    ``pooled`` (all OOD images as one set, i.e. weighted by set size): AUROC, FPR95 (the
    profile's rule, or ``fpr_rule``), AUPR-In, AUPR-Out in percent with 95% bootstrap intervals
    that resample concepts, not images."""
    pipeline.check_set_names(list(scored.ood))
    rule = fpr_rule or pipeline.fpr_rule(scored.params)
    id_units = emb.data.id_images.units
    ood_units = {name: files.units for name, files in emb.data.ood.items()}
    pooled_units = {"pooled": [u for name in emb.data.ood for u in ood_units[name]]}
    tables = []
    for method in scored.id:
        ood = {name: s[method] for name, s in scored.ood.items()}
        common = {"n_bootstrap": n_bootstrap, "seed": seed, "fpr_rule": rule, "id_units": id_units}
        per_set = kept_summarize(scored.id[method], ood, ood_units=ood_units, **common)
        pooled = kept_summarize(scored.id[method], {"pooled": np.concatenate(list(ood.values()))},
                                   ood_units=pooled_units, **common).drop(index="average")
        table = pd.concat([per_set, pooled])
        table.insert(0, "method", method)
        tables.append(table.reset_index())
    out = pd.concat(tables, ignore_index=True)
    for key in ("m", "eta", "tau", "n_groups", "seed"):
        out[key] = scored.params[key]
    out["fpr_rule"] = rule
    return out


def average_frame(scored: pipeline.Scored) -> pd.DataFrame:
    """One row per scored method: the parameters behind it and its AUROC and FPR95 (percent, the
    profile's FPR rule), the mean over the OOD sets."""
    average = pipeline.results(scored)["average"]
    return pd.DataFrame([{"method": method, **{k: scored.params[k] for k in ("m", "eta", "tau", "n_groups")},
                          "AUROC": average[method]["auroc"], "FPR95": average[method]["fpr95"]} for method in scored.id])


def evaluate_params(emb: pipeline.Embedded, params: Mapping[str, Any], *, id_emb: np.ndarray | None = None,
                    methods: Sequence[str] | None = None) -> pd.DataFrame:
    """AUROC and FPR95 (percent, the profile's FPR rule) per method for one parameter setting (and
    ``id_emb`` in place of the ID images, e.g. a domain-shifted ID set): the mean over the OOD
    sets, as the paper reports."""
    return average_frame(pipeline.score(emb, params, id_emb=id_emb, methods=methods))


def paired_gaps(emb: pipeline.Embedded, arm_a: tuple[pipeline.Scored, str], arm_b: tuple[pipeline.Scored, str], *,
                n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED, with_se: bool = False) -> pd.DataFrame:
    """The gap A - B in AUROC and FPR95 (percent points) between two arms, each a (scores,
    method) pair scored on the same images: two methods, or one method under two corpora, values
    of M or eta. Per OOD set and the average, with paired bootstrap intervals over concepts
    (:func:`metrics.paired_difference`); ``with_se``: each gap's bootstrap standard error too
    (``AUROC se``, ``FPR95 se``: for the p-values of :mod:`ood.multiplicity`)."""
    (scored_a, method_a), (scored_b, method_b) = arm_a, arm_b
    rule = pipeline.fpr_rule(scored_a.params)
    units = {"id_units": emb.data.id_images.units, "ood_units": {n: f.units for n, f in emb.data.ood.items()}}
    frames = []
    for metric in ("AUROC", "FPR95"):
        sets = list(scored_a.ood)
        table = kept_paired_difference(  # per-set ID scores: a stream method scores ID anew beside each set
            {n: scored_a.id_scores(method_a, n) for n in sets}, {n: scored_a.ood_scores(method_a, n) for n in sets},
            {n: scored_b.id_scores(method_b, n) for n in sets}, {n: scored_b.ood_scores(method_b, n) for n in sets},
            metric=metric, n_bootstrap=n_bootstrap, seed=seed, fpr_rule=rule, **units)
        frames.append((table if with_se else table.drop(columns="se")).add_prefix(f"{metric} ").reset_index())
    out = frames[0].merge(frames[1], on="ood_set")
    out.insert(1, "a", method_label(method_a))
    out.insert(2, "b", method_label(method_b))
    return out


def method_table(emb: pipeline.Embedded, scored: pipeline.Scored, *, methods: Sequence[str] | None = None,
                 n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Every scored method (one-score and stream methods alike) on every OOD set, their
    ``average`` (the paper's way), and where the benchmark marks near-OOD sets, ``near average``
    and ``far average``: AUROC and FPR95 in percent with 95% bootstrap intervals over concepts.
    A stream method's ID scores are those of each set's own stream."""
    rule = pipeline.fpr_rule(scored.params)
    sets = list(scored.ood)
    near = [n for n in emb.data.near if n in sets]
    groups = {"average": sets, **({"near average": near, "far average": [n for n in sets if n not in near]} if near else {})}
    units = {"id_units": emb.data.id_images.units, "ood_units": {n: f.units for n, f in emb.data.ood.items()}}
    tables = []
    for method in methods or scored.methods:
        for label, members in groups.items():
            table = kept_summarize({n: scored.id_scores(method, n) for n in members},
                                      {n: scored.ood_scores(method, n) for n in members},
                                      n_bootstrap=n_bootstrap, seed=seed, fpr_rule=rule, **units)
            table = table if label == "average" else table.loc[["average"]].rename(index={"average": label})
            table = table[[c for c in table.columns if c.split("_")[0] in ("AUROC", "FPR95")]]
            tables.append(table.reset_index().assign(method=method))
    out = pd.concat(tables, ignore_index=True)
    out.insert(1, "label", out["method"].map(method_label))
    out["kind"] = ["near" if n in near else ("summary" if n.endswith("average") else "far") for n in out["ood_set"]]
    return out[["method", "label", "ood_set", "kind", *[c for c in out.columns if c.startswith(("AUROC", "FPR95"))]]]


def baseline_methods() -> tuple[str, ...]:
    """The zero-shot baselines NegLabel is compared with: the registry's group ``"baselines"``."""
    return registry.group("baselines")


def successor_methods() -> tuple[str, ...]:
    """The successors chapter's methods, from the registry: NegLabel (the main table less the
    baselines), its successors (group ``"successors"``), then the baselines (group ``"baselines"``)."""
    baselines = registry.group("baselines")
    return (*[m for m in registry.default_methods() if m not in baselines], *registry.group("successors"), *baselines)


def successors(emb: pipeline.Embedded, *, methods: Sequence[str] | None = None, n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any]:
    """The successors chapter's table (:func:`method_table` for ``methods``, default
    :func:`successor_methods`) and what it was run with (the parameters, each bank's size)."""
    methods = successor_methods() if methods is None else methods
    scored = pipeline.score(emb, methods=methods)
    return {"table": method_table(emb, scored, n_bootstrap=n_bootstrap), "params": scored.params, "scored": scored,
            "banks": {name: len(bank.words) for name, bank in scored.banks.items()}}


PAPER_STUDIES = ("main", "prompt template", "domain shift")


def paper_rows(paper_results: str | Path, study: str = "main") -> pd.DataFrame:
    """The published rows of one ``study`` of ``data/paper_results.csv``: ``"main"`` (the methods'
    main tables, ImageNet-1k with CLIP ViT-B/16), ``"prompt template"`` (NegLabel's appendix,
    the template in ``setting``) or ``"domain shift"`` (ImageNet variants as ID, in ``setting``)."""
    if study not in PAPER_STUDIES:
        raise ValueError(f"unknown study {study!r}; expected one of {list(PAPER_STUDIES)}")
    paper = pd.read_csv(paper_results, keep_default_na=False, na_values={"FPR95": [""], "AUROC": [""]})
    missing = [c for c in ("method", "ood_set", "FPR95", "AUROC", "source", "study", "setting") if c not in paper]
    if missing:
        raise ValueError(f"{paper_results} has no column(s) {missing}; expected method, ood_set, FPR95, AUROC, "
                         "source, study, setting")
    return paper[paper["study"] == study].drop(columns="study").reset_index(drop=True)


def paper_comparison(emb: pipeline.Embedded, scored: pipeline.Scored, paper_results: str | Path) -> pd.DataFrame:
    """Our rows beside the paper's: each method's ``average`` over the OOD sets (the mean of the
    per-set numbers, as the paper reports), FPR95 by the profile's rule, next to the rows of
    ``paper_results`` (``data/paper_results.csv``) whose ``ood_set`` is ``average``."""
    ours = results_table(emb, scored, n_bootstrap=0)
    ours = ours[ours["ood_set"] == "average"][["method", "AUROC", "FPR95"]].copy()
    ours["method"] = ours["method"].map(method_label)
    ours.insert(0, "setting", emb.profile.name)
    ours.insert(1, "OOD sets averaged", len(scored.ood))
    ours.insert(2, "FPR95 rule", scored.params["fpr_rule"])
    ours["source"] = "this build"
    paper = paper_rows(paper_results)
    paper = paper[paper["ood_set"] == "average"][["method", "AUROC", "FPR95", "source"]].copy()
    paper.insert(0, "setting", "ImageNet-1k, CLIP ViT-B/16")
    paper.insert(1, "OOD sets averaged", 4)
    paper.insert(2, "FPR95 rule", "closest")
    return pd.concat([ours, paper], ignore_index=True)


# The four OOD sets of the paper's ImageNet-1k benchmark (MOS, Huang & Li, CVPR 2021): images per set.
PAPER_OOD_SIZES = {"iNaturalist": 10000, "SUN": 10000, "Places": 10000, "Textures": 5640}


def published_pooled(paper_results: str | Path, method: str = "NegLabel") -> dict[str, float]:
    """What a published row would read if its four OOD sets were pooled into one (weighted by
    :data:`PAPER_OOD_SIZES`), from its per-set numbers: exact for both metrics, since AUROC is a
    mean over OOD images and FPR95's threshold depends on the ID images alone. Beside the
    published ``average`` (the plain mean over sets)."""
    paper = paper_rows(paper_results)
    rows = paper[(paper["method"] == method) & paper["ood_set"].isin(list(PAPER_OOD_SIZES))].set_index("ood_set")
    missing = [s for s in PAPER_OOD_SIZES if s not in rows.index]
    if missing:
        raise ValueError(f"{paper_results} has no {method!r} row for OOD set(s) {missing}; "
                         f"expected all of {list(PAPER_OOD_SIZES)}")
    weights = pd.Series(PAPER_OOD_SIZES, dtype=float)
    average = paper[(paper["method"] == method) & (paper["ood_set"] == "average")].iloc[0]
    return {f"pooled {m}": float((rows[m] * weights).sum() / weights.sum()) for m in ("FPR95", "AUROC")} | {
        f"average {m}": float(average[m]) for m in ("FPR95", "AUROC")}


def equal_bank_gap(emb: pipeline.Embedded, run: Mapping[str, Any], method: str = "csp", *,
                   n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any]:
    """A method with its own bank (CSP) against NegLabel mined at the *same* M (the bank's size,
    the lowest M candidates whatever the profile's rule), paired: so a gain cannot come from the
    bank's size alone. ``run`` is :func:`successors`' result. Returns ``m``, the gaps (per OOD set
    and average) and NegLabel's table at that M."""
    m = run["banks"][method]
    params = {"m": m, "pos_fraction": None, "n_groups": min(emb.profile.params["n_groups"], m)}
    at_m = pipeline.score(emb, params, methods=("neglabel",))
    gaps = paired_gaps(emb, (run["scored"], method), (at_m, "neglabel"), n_bootstrap=n_bootstrap)
    return {"m": m, "gaps": gaps, "scored": at_m,
            "table": method_table(emb, at_m, n_bootstrap=n_bootstrap).assign(label=f"NegLabel, M = {m:,}")}


# Each successor's variant on NegLabel's words: CSP's rule on the profile's corpus in the profile's
# prompts (its candidates are then NegLabel's), AdaNeg's memory on NegLabel's mined bank.
SHARED_BANK = {"csp": {"csp_lexicon": "profile", "csp_templates": "profile"},
               "adaneg": {"adaneg_bank": "neglabel"}, "adaneg_sa": {"adaneg_bank": "neglabel"}}


def shared_bank_variants(emb: pipeline.Embedded, run: Mapping[str, Any], methods: Sequence[str] | None = None, *,
                         variants: Mapping[str, Mapping[str, Any]] = SHARED_BANK,
                         n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Each method as published (``run``, :func:`successors`' result) beside its variant on
    NegLabel's words (``variants``: the parameters that make it, :data:`SHARED_BANK`): the mean
    over OOD sets of both, and the paired gap published minus variant, with 95% intervals.
    Returns ``table`` (rows: method, bank; AUROC and FPR95 as intervals), ``gaps`` (per method,
    the average row of :func:`paired_gaps`), ``banks`` (each variant's bank size) and the variants'
    ``scored``."""
    methods = [m for m in (variants if methods is None else methods) if m in run["scored"].methods]
    unknown = [m for m in methods if m not in variants]
    if unknown:
        raise ValueError(f"no shared-bank variant for {unknown}; expected some of {list(variants)}")
    rows, gaps, banks, scored_variants = [], {}, {}, {}
    for method in methods:
        variant = pipeline.score(emb, dict(variants[method]), methods=(method,))
        bank = registry.bank_of(method, variant.params)
        banks[method] = len(variant.banks[bank].words) if bank in variant.banks else variant.params["m"]
        scored_variants[method] = variant
        for name, scored in (("as published", run["scored"]), ("on NegLabel's words", variant)):
            t = method_table(emb, scored, methods=(method,), n_bootstrap=n_bootstrap).query("ood_set == 'average'").iloc[0]
            rows.append({"method": method_label(method), "bank": name,
                         **{m: interval(t[m], t[f"{m}_lo"], t[f"{m}_hi"], digits=2) for m in ("AUROC", "FPR95")}})
        gap = paired_gaps(emb, (run["scored"], method), (variant, method), n_bootstrap=n_bootstrap)
        gaps[method] = gap.set_index("ood_set").loc["average"]
        rows.append({"method": method_label(method), "bank": "published minus variant (paired)",
                     **{m: interval(gaps[method][f"{m} diff"], gaps[method][f"{m} lo"], gaps[method][f"{m} hi"],
                                    signed=True) for m in ("AUROC", "FPR95")}})
    table = pd.DataFrame(rows).set_index(["method", "bank"]).rename_axis(index=[None, None])
    return {"table": table, "gaps": gaps, "banks": banks, "scored": scored_variants}


NEGREFINE_ABLATION: dict[str, dict[str, Any]] = {
    "as published (filter, multi-matching)": {},
    "no filter": {"negrefine_filter": "none"},
    "no multi-matching": {"negrefine_mm_weight": 0.0},
    "neither (CSP's candidates, max-cosine mining)": {"negrefine_filter": "none", "negrefine_mm_weight": 0.0},
}


def negrefine_ablation(emb: pipeline.Embedded, run: Mapping[str, Any], *, n_bootstrap: int = N_BOOTSTRAP
                       ) -> dict[str, Any]:
    """NegRefine with each of its two changes removed (:data:`NEGREFINE_ABLATION`): its filter
    (``negrefine_filter: "none"``) and its multi-matching score (``negrefine_mm_weight: 0``). Per
    setting the bank size and the mean over OOD sets with 95% intervals, and the paired gap as
    published minus that setting. Returns ``table``, ``gaps`` (setting -> average row of
    :func:`paired_gaps`) and ``removed`` (word -> reason, the filter's removals as published)."""
    published_run = run["scored"]
    rows, gaps = [], {}
    for name, change in NEGREFINE_ABLATION.items():
        scored = published_run if not change else pipeline.score(emb, dict(change), methods=("negrefine",))
        t = method_table(emb, scored, methods=("negrefine",), n_bootstrap=n_bootstrap).query("ood_set == 'average'").iloc[0]
        row = {"setting": name, "negatives": len(scored.banks["negrefine"].words),
               **{m: interval(t[m], t[f"{m}_lo"], t[f"{m}_hi"], digits=2) for m in ("AUROC", "FPR95")}}
        if change:
            gap = paired_gaps(emb, (published_run, "negrefine"), (scored, "negrefine"), n_bootstrap=n_bootstrap)
            gaps[name] = gap.set_index("ood_set").loc["average"]
            row.update({f"{m} published minus this": interval(gaps[name][f"{m} diff"], gaps[name][f"{m} lo"],
                                                             gaps[name][f"{m} hi"], signed=True) for m in ("AUROC", "FPR95")})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("setting").rename_axis(index=None).fillna("")
    return {"table": table, "gaps": gaps, "removed": dict(published_run.banks["negrefine"].removed)}


def negrefine_parts_reading(total: Mapping[str, float], bank: Mapping[str, float],
                            parts: Mapping[str, Mapping[str, float]]) -> str:
    """Where NegRefine's AUROC gain over NegLabel comes from, read with the intervals, not the
    point values alone. ``total``: NegRefine minus NegLabel; ``bank``: NegRefine with neither
    change (its mining alone) minus NegLabel; ``parts``: name -> published minus the setting
    without that part. Each a paired average row (``AUROC diff``, ``AUROC lo``, ``AUROC hi``)."""
    def clear(row: Mapping[str, float]) -> bool:
        return clear_of_zero(row["AUROC lo"], row["AUROC hi"])

    share = bank["AUROC diff"] / total["AUROC diff"] if total["AUROC diff"] > 0 else float("nan")
    text = ("by the point estimates its bank accounts for " + ("most" if share > 0.5 else "less than half")
            + " of NegRefine's AUROC difference from NegLabel, and the bank's own gap "
            + ("is clear of zero" if clear(bank) else "cannot be told from zero"))
    shown = [name for name, row in parts.items() if clear(row)]
    if not shown:
        return text + "; neither change is clear of zero on its own"
    return (text + "; of the two changes, " + ("only " if len(shown) < len(parts) else "") + " and ".join(shown)
            + (" is" if len(shown) == 1 else " are") + " clear of zero")


def published(paper_results: str | Path, methods: Sequence[str]) -> pd.DataFrame:
    """The published ImageNet-1k rows (CLIP ViT-B/16) of ``methods``: FPR95 and AUROC per OOD set
    and average, with their source."""
    paper = paper_rows(paper_results)
    paper = paper[paper["method"].isin(methods)]
    table = paper.pivot_table(index="method", columns="ood_set", values=["AUROC", "FPR95"], sort=False)
    order = [s for s in ("iNaturalist", "SUN", "Places", "Textures", "average") if s in table.columns.get_level_values(1)]
    table = table.reindex(columns=pd.MultiIndex.from_product([["AUROC", "FPR95"], order])).loc[
        [m for m in methods if m in set(paper["method"])]]
    table["source"] = paper.groupby("method")["source"].first()
    return table


def fpr_rules_table(emb: pipeline.Embedded, scored: pipeline.Scored) -> pd.DataFrame:
    """FPR95 (percent) of every method on every OOD set and their average under both rules of
    :func:`metrics.fpr_at_tpr`: "closest" (the official code's) and "at_least" (the stricter
    reading), and their difference."""
    rows = []
    for method in scored.id:
        values = {rule: metrics.summarize(scored.id[method], {n: s[method] for n, s in scored.ood.items()},
                                          n_bootstrap=0, fpr_rule=rule)["FPR95"] for rule in metrics.FPR_RULES}
        for name in values["closest"].index:
            rows.append({"method": method, "ood_set": name, "closest": values["closest"][name],
                         "at_least": values["at_least"][name]})
    out = pd.DataFrame(rows)
    out["closest - at_least"] = out["closest"] - out["at_least"]
    return out


def hardest(emb: pipeline.Embedded, scored: pipeline.Scored, method: str, k: int = 8) -> dict[str, pd.DataFrame]:
    """The images a method gets most wrong: OOD images scored most in-distribution, and ID images
    scored least in-distribution."""
    ood_rows = []
    for name, files in emb.data.ood.items():
        ood_rows.append(pd.DataFrame({"path": files.paths, "unit": files.units, "set": name, "score": scored.ood[name][method]}))
    ood = pd.concat(ood_rows).nlargest(k, "score")
    id_files = emb.data.id_images
    idf = pd.DataFrame({"path": id_files.paths, "unit": id_files.units, "set": "ID", "score": scored.id[method]})
    idf = idf.nsmallest(k, "score")
    for frame in (ood, idf):
        frame["name"] = [emb.data.concepts.get(u, {}).get("name", u) for u in frame["unit"]]
    return {"ood_scored_as_id": ood.reset_index(drop=True), "id_scored_as_ood": idf.reset_index(drop=True)}


def roc_points(id_scores: np.ndarray, ood_scores: np.ndarray) -> pd.DataFrame:
    """The ROC curve (FPR, TPR) with ID as positive (:func:`metrics.roc_curve`)."""
    fpr, tpr = metrics.roc_curve(id_scores, ood_scores)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def removed_concepts(emb: pipeline.Embedded) -> pd.DataFrame:
    """The OOD concepts the profile's OOD filter moved out of the OOD sets, with the reason."""
    rows = [{"OOD set": name, "emoji": r.get("char", ""), "concept": r["name"], "reason": r["reason"]}
            for name, removed in emb.data.removed.items() for r in removed]
    return pd.DataFrame(rows, columns=["OOD set", "emoji", "concept", "reason"])


def run_note(params: Mapping[str, Any], n_bootstrap: int) -> str:
    """The settings a scoring run applied (``Scored.params``) and the bootstrap, in one sentence under its table."""
    return (f"Run with M = {params['m']:,}, η = {params['eta']}, τ = {params['tau']}, n_g = {params['n_groups']}, "
            f"grouping seed {params['seed']} (drawn on the {params['perm_device_used'].upper()}), FPR95 rule "
            f"`{params['fpr_rule']}`; intervals: {n_bootstrap:,} bootstrap replicates over concepts, seed {BOOTSTRAP_SEED}.")


def score_readings(results: pd.DataFrame) -> dict[str, Any]:
    """Chapter 02's numbers from :func:`results_table` (with a ``label`` column), by glue name: the
    method with the highest mean AUROC (a point value), NegLabel's AUROC with its interval and
    FPR95, MCM's AUROC, and the OOD sets where NegLabel's AUROC is the highest."""
    avg = results[results["ood_set"] == "average"].set_index("method")
    best = avg["AUROC"].idxmax()
    per_set = results[~results["ood_set"].isin(["average", "pooled"])].pivot(index="ood_set", columns="method", values="AUROC")
    wins = per_set.index[per_set["neglabel"] >= per_set.drop(columns="neglabel").max(axis=1)].tolist()
    return {"s_best": method_label(best), "s_best_auroc": avg.loc[best, "AUROC"], "s_nl_auroc": avg.loc["neglabel", "AUROC"],
            "s_nl_lo": avg.loc["neglabel", "AUROC_lo"], "s_nl_hi": avg.loc["neglabel", "AUROC_hi"],
            "s_nl_fpr": avg.loc["neglabel", "FPR95"], "s_mcm_auroc": avg.loc["mcm", "AUROC"], "s_headline": headline(avg),
            "s_wins": ", ".join(map(md_text, wins)) if wins else "none of the sets"}


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap replicates: their 2.5% and 97.5% quantiles."""
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def paired_change(change: float, reps: np.ndarray, ref: float, ref_reps: np.ndarray | None, *, name: str = "change",
                  gap: str = "minus NegLabel's") -> dict[str, float]:
    """A change (``change``, its bootstrap replicates ``reps``) with its 95% percentile interval,
    and that change minus NegLabel's (``ref``, ``ref_reps``: the same replicates, so the gap is
    paired) with its interval and bootstrap standard error; NaN where NegLabel did not run
    (``ref_reps`` None). The one row shape of the graded study's changes
    (:func:`robustness.graded_study`) and the style shift's (:func:`sweeps.shift_degradation`)."""
    lo, hi = percentile_interval(reps)
    gap_lo, gap_hi = percentile_interval(reps - ref_reps) if ref_reps is not None else (np.nan, np.nan)
    return {name: change, f"{name} lo": lo, f"{name} hi": hi, gap: change - ref, "vs NegLabel lo": gap_lo,
            "vs NegLabel hi": gap_hi, "vs NegLabel se": np.nan if ref_reps is None else bootstrap_se(reps - ref_reps)}
