"""NegLabel beside its successors (chapter 08): the readings the chapter glues into its prose
from :func:`tables.successors` and the studies around it (CSP at equal bank size, each method on
NegLabel's words, NegRefine's two changes, the published gains, the stream orders, near OOD and
the cleaned OOD sets). Each returns the chapter's values by their glue names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..data import corpus as corpus_mod
from .chapter import clear_of_zero, interval, verdict_of
from .tables import method_table, negrefine_parts_reading, paired_gaps, paper_rows, successor_methods

# the published rows chapter 08 shows beside its own
PUBLISHED_METHODS = ("MCM", "NegLabel", "CSP", "AdaNeg", "AdaNeg (task-adaptive, official log)",
                     "AdaNeg (sample-adaptive, official log)", "InterNeg")
PAPER_RERUN = "NegLabel (OpenOOD-VLM re-run)"  # the published near-OOD row of NegLabel


def averages(run: Mapping[str, Any]) -> pd.DataFrame:
    """The average over the OOD sets of every method of a :func:`tables.successors` run, by method."""
    table = run["table"]
    return table[table["ood_set"] == "average"].set_index("method")


def _clear_or_not(lo: float, hi: float) -> str:
    return "clear of zero" if clear_of_zero(lo, hi) else "which cannot be told from zero"


def csp_readings(emb: pipeline.Embedded, run: Mapping[str, Any], equal: Mapping[str, Any], *,
                 n_bootstrap: int) -> dict[str, Any]:
    """CSP's gain over NegLabel (paired, average over the OOD sets) at the profile's M and at equal
    bank size (:func:`tables.equal_bank_gap`, ``equal``) with what the latter says, and the
    averages the chapter quotes (the highest mean AUROC, NegLabel's and AdaNeg's)."""
    average = averages(run)
    avg = paired_gaps(emb, (run["scored"], "csp"), (run["scored"], "neglabel"), n_bootstrap=n_bootstrap
                      ).set_index("ood_set").loc["average"]
    eq = equal["gaps"].set_index("ood_set").loc["average"]
    verdict = (f"in AUROC {'a gain' if eq['AUROC diff'] > 0 else 'a loss'}, {_clear_or_not(eq['AUROC lo'], eq['AUROC hi'])}, "
               f"and in FPR95 {'a gain' if eq['FPR95 diff'] < 0 else 'a loss'}, {_clear_or_not(eq['FPR95 lo'], eq['FPR95 hi'])}: "
               "at equal bank size "
               + ("CSP keeps its AUROC gain." if eq["AUROC lo"] > 0 else "CSP's AUROC gain over NegLabel is the larger bank's."
                  if avg["AUROC lo"] > 0 else "CSP has no AUROC gain, nor at NegLabel's own M."))
    best = average.sort_values("AUROC", ascending=False)
    return {"csp_gain_auroc": avg["AUROC diff"], "csp_gain_auroc_lo": avg["AUROC lo"], "csp_gain_auroc_hi": avg["AUROC hi"],
            "csp_gain_fpr": avg["FPR95 diff"], "csp_gain_fpr_lo": avg["FPR95 lo"], "csp_gain_fpr_hi": avg["FPR95 hi"],
            "m_csp": run["banks"].get("csp", 0),
            "csp_eq_auroc": interval(eq["AUROC diff"], eq["AUROC lo"], eq["AUROC hi"], signed=True),
            "csp_eq_fpr": interval(eq["FPR95 diff"], eq["FPR95 lo"], eq["FPR95 hi"], signed=True),
            "csp_eq_verdict": verdict, "m_neglabel": run["params"]["m"],
            "best_method": best["label"].iloc[0], "best_auroc": best["AUROC"].iloc[0],
            "neglabel_auroc": average.loc["neglabel", "AUROC"], "adaneg_auroc": average.loc["adaneg", "AUROC"],
            "adaneg_fpr": average.loc["adaneg", "FPR95"], "neglabel_fpr": average.loc["neglabel", "FPR95"]}


def variant_readings(emb: pipeline.Embedded, run: Mapping[str, Any], variants: Mapping[str, Any]) -> dict[str, Any]:
    """Each method's gap to its variant on NegLabel's words (:func:`tables.shared_bank_variants`),
    the rules the profile declares, the bank sizes, and CSP's lexicon beside the official counts."""
    out: dict[str, Any] = {}
    for method, key in (("adaneg", "ada_own"), ("csp", "csp_own")):
        gap = variants["gaps"].get(method)
        for metric, suffix in (("AUROC", ""), ("FPR95", "_fpr")):
            out[f"{key}_gap{suffix}"] = ("(not run)" if gap is None else
                                        interval(gap[f"{metric} diff"], gap[f"{metric} lo"], gap[f"{metric} hi"], signed=True))
    p = emb.profile.params
    out["adaneg_rule"] = f"`{p.get('adaneg_prompts', 'profile')}` on this profile"
    out["csp_rules"] = (f"`csp_lexicon: {pipeline.csp_rule(p, 'csp_lexicon')}` and "
                        f"`csp_templates: {pipeline.csp_rule(p, 'csp_templates')}` on this profile")
    out["m_adaneg"] = run["banks"].get("adaneg", 0)
    out["m_csp_shared"] = variants["banks"].get("csp", 0)
    lexicon = pipeline.csp_lexicon(emb.profile, "official")
    for part in ("noun", "adj"):
        out[f"csp_lex_{part}"] = lexicon.pos.count(part)
        out[f"csp_official_{part}"] = corpus_mod.CSP_OFFICIAL_COUNTS[part]
    return out


def removed_labels(ablation: Mapping[str, Any], k: int = 8) -> pd.DataFrame:
    """The first ``k`` negative labels NegRefine's filter dropped (:func:`tables.negrefine_ablation`), with why."""
    return pd.DataFrame(list(ablation["removed"].items())[:k], columns=["negative label", "why (WordNet)"]
                        ).set_index("negative label")


def negrefine_readings(emb: pipeline.Embedded, run: Mapping[str, Any], ablation: Mapping[str, Any], *,
                       n_bootstrap: int) -> dict[str, Any]:
    """NegRefine against NegLabel (paired, average over the OOD sets), each change's share (its
    ablation), its mining alone (CSP's candidates under NegRefine's max-cosine mining, neither
    change), and :func:`tables.negrefine_parts_reading` over them."""
    def cell(row: Mapping[str, float], metric: str = "AUROC") -> str:
        return interval(row[f"{metric} diff"], row[f"{metric} lo"], row[f"{metric} hi"], signed=True)

    total = paired_gaps(emb, (run["scored"], "negrefine"), (run["scored"], "neglabel"), n_bootstrap=n_bootstrap
                        ).set_index("ood_set").loc["average"]
    out: dict[str, Any] = {"nr_gain_auroc": cell(total), "nr_gain_fpr": cell(total, "FPR95"),
                           "nr_gain_verdict": verdict_of(total["AUROC lo"], total["AUROC hi"]),
                           "nr_fpr_verdict": verdict_of(total["FPR95 lo"], total["FPR95 hi"]),
                           "m_negrefine": run["banks"]["negrefine"], "nr_removed": len(ablation["removed"])}
    for name, key in (("no filter", "nr_filter"), ("no multi-matching", "nr_mm")):
        g = ablation["gaps"][name]
        out[f"{key}_auroc"], out[f"{key}_verdict"] = cell(g), verdict_of(g["AUROC lo"], g["AUROC hi"])
    neither = pipeline.score(emb, {"negrefine_filter": "none", "negrefine_mm_weight": 0.0}, methods=("negrefine",))
    mining = paired_gaps(emb, (neither, "negrefine"), (run["scored"], "neglabel"), n_bootstrap=n_bootstrap
                         ).set_index("ood_set").loc["average"]
    out["nr_mining_auroc"], out["nr_mining_verdict"] = cell(mining), verdict_of(mining["AUROC lo"], mining["AUROC hi"])
    out["nr_mining_share"] = negrefine_parts_reading(
        total, mining, {"its filter": ablation["gaps"]["no filter"], "multi-matching": ablation["gaps"]["no multi-matching"]})
    return out


def published_tables(paper: pd.DataFrame) -> list[pd.DataFrame]:
    """:func:`tables.published` as the page shows it: one table per metric, "–" where not published."""
    return [paper[metric].round(2).astype(object).where(paper[metric].notna(), "–")
            .rename_axis(index=None, columns=f"{metric} (%), published") for metric in ("AUROC", "FPR95")]


def published_gains(paper_results: str, run: Mapping[str, Any]) -> dict[str, Any]:
    """The successors' published gains over NegLabel (ImageNet, average) beside AdaNeg's here, and
    NegLabel's published near- and far-OOD averages (FPR95 / AUROC) where the table has them."""
    average = averages(run)
    rows = paper_rows(paper_results)
    pub = rows.query("ood_set == 'average'").set_index("method")
    near_pub = rows.query("ood_set == 'near average'").set_index("method")
    return {"pub_csp_gain_auroc": pub.loc["CSP", "AUROC"] - pub.loc["NegLabel", "AUROC"],
            "pub_csp_gain_fpr": pub.loc["CSP", "FPR95"] - pub.loc["NegLabel", "FPR95"],
            "pub_adaneg_gain_fpr": pub.loc["AdaNeg", "FPR95"] - pub.loc["NegLabel", "FPR95"],
            "our_adaneg_gain_fpr": average.loc["adaneg", "FPR95"] - average.loc["neglabel", "FPR95"],
            "pub_adaneg_gain_auroc": pub.loc["AdaNeg", "AUROC"] - pub.loc["NegLabel", "AUROC"],
            "our_adaneg_gain_auroc": average.loc["adaneg", "AUROC"] - average.loc["neglabel", "AUROC"],
            "pub_near": (f"{near_pub.loc[PAPER_RERUN, 'FPR95']:.2f} / {near_pub.loc[PAPER_RERUN, 'AUROC']:.2f}"
                         if PAPER_RERUN in near_pub.index else "(not in the table)"),
            "pub_far": (f"{pub.loc[PAPER_RERUN, 'FPR95']:.2f} / {pub.loc[PAPER_RERUN, 'AUROC']:.2f}"
                        if PAPER_RERUN in pub.index else "(not in the table)")}


def spread_tables(summary: pd.DataFrame) -> list[pd.DataFrame]:
    """:func:`sweeps.stream_spread`'s summary as the page shows it: per metric, the mean, least,
    largest and standard deviation over the stream orders, per (method, OOD set)."""
    return [summary.set_index(["label", "ood_set"])[[f"{metric} mean", f"{metric} min", f"{metric} max", f"{metric} std"]]
            .round(2).rename_axis(index=[None, None]) for metric in ("AUROC", "FPR95")]


def spread_readings(summary: pd.DataFrame, orders: int) -> dict[str, Any]:
    """Task-adaptive AdaNeg's least and largest average AUROC and FPR95 over ``orders`` stream orders."""
    avg = summary[summary["ood_set"] == "average"].set_index("method")
    return {"n_orders": orders, "ta_auroc_min": avg.loc["adaneg", "AUROC min"], "ta_auroc_max": avg.loc["adaneg", "AUROC max"],
            "ta_fpr_min": avg.loc["adaneg", "FPR95 min"], "ta_fpr_max": avg.loc["adaneg", "FPR95 max"]}


NEAR_KEYS = ("near_nl_fpr", "far_nl_fpr", "near_nl_auroc", "far_nl_auroc", "near_best_auroc", "near_spread")


def near_readings(near_table: pd.DataFrame | None) -> dict[str, Any]:
    """NegLabel's near- and far-OOD averages on the near-OOD profile (:func:`tables.successors`'
    table), the method with the highest near-OOD mean AUROC (a point value) and the spread of the
    methods there; NaN and "(no near-OOD variant)" where the profile has none."""
    if near_table is None:
        return {**dict.fromkeys(NEAR_KEYS, float("nan")), "near_best": "(no near-OOD variant)"}
    n = near_table.set_index(["method", "ood_set"])
    summary = near_table[near_table["kind"] == "summary"]
    best = summary[summary["ood_set"] == "near average"].sort_values("AUROC", ascending=False)
    nl = {(kind, metric): n.loc[("neglabel", f"{kind} average"), metric]
          for kind in ("near", "far") for metric in ("FPR95", "AUROC")}
    return {"near_best": best["label"].iloc[0],
            "near_nl_fpr": nl[("near", "FPR95")], "far_nl_fpr": nl[("far", "FPR95")],
            "near_nl_auroc": nl[("near", "AUROC")], "far_nl_auroc": nl[("far", "AUROC")],
            "near_best_auroc": best["AUROC"].iloc[0], "near_spread": best["AUROC"].max() - best["AUROC"].min()}


def clean_comparison(emb: pipeline.Embedded, raw: pipeline.Embedded, table: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Every successor's AUROC on the OOD sets the filter changed (and the average) before
    (``raw``: the profile without its ``ood_filter``) and after (``table``), and the largest move
    of an average."""
    before = method_table(raw, pipeline.score(raw, methods=successor_methods()), n_bootstrap=0)
    both = pd.concat([before.assign(sets="before"), table.assign(sets="after")])
    both = both[both["ood_set"].isin([k for k, v in emb.data.removed.items() if v] + ["average"])]
    shown = both.pivot_table(index=["label"], columns=["ood_set", "sets"], values="AUROC", sort=False)
    shown = shown[pd.MultiIndex.from_product([list(dict.fromkeys(both["ood_set"])), ["before", "after"]])]
    moved = table.set_index(["method", "ood_set"])["AUROC"] - before.set_index(["method", "ood_set"])["AUROC"]
    return shown.round(2).rename_axis(columns=["OOD set", "AUROC (%)"]), float(np.abs(moved.xs("average", level="ood_set")).max())
