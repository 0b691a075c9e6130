"""Does it hold on another model? The same benchmark, parameters and methods under several
vision-language models (chapter 11).

A *VLM* here is a set of profile overrides (usually its ``model``) applied to the chapter's
profile: everything else (images, corpus, M, eta, the methods' settings) stays the same, so the
models are compared on the same images and each comparison is paired. On the embedded benchmark
the default is two image sides crossed with two text towers: the image tower trained here from
scratch and a frozen ImageNet MobileNetV2 with a projection aligned here, each against the packaged
all-MiniLM-L6-v2 and all-mpnet-base-v2 sentence encoders. Two models that share a text tower share
their negative labels (NegMining reads only text); a second text tower changes the labels
themselves. A reader with CLIP weights passes e.g.
``{"RN50": {"model": {"name": "RN50", "pretrained": "openai"}}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..ood import agreement, metrics, multiplicity
from ..ood import methods as registry
from ..pipeline.banks import ADANEG_M, neglabel_bank
from ..pipeline.text import TRAINED_HERE, build_corpus, full_corpus_spec, text_side_name
from ..profiles import Profile, load_profile
from . import chapter, sweeps, tables
from .chapter import (
    BOOTSTRAP_SEED,
    N_BOOTSTRAP,
    clear_of_zero,
    id_top1,
    interval,
    md_text,
    method_label,
    verdict_of,
    with_intervals,
)

# The embedded benchmark's vision-language models: two image sides crossed with two text towers
# (the trained-here ResNet under MPNet keeps no snapshots: the strength control reads MiniLM's run).
EMBEDDED_VLMS: dict[str, dict[str, Any]] = {
    "ResNet · MiniLM": {"model": {"name": "emoji-tiny-rn16", "pretrained": "@train"}},
    "MobileNetV2 · MiniLM": {"model": {"name": "emoji-mobilenetv2-minilm", "pretrained": "@align"}},
    "ResNet · MPNet": {"model": {"name": "emoji-tiny-rn16-mpnet", "pretrained": "@train"}, "train": {"snapshot_epochs": []}},
    "MobileNetV2 · MPNet": {"model": {"name": "emoji-mobilenetv2-mpnet", "pretrained": "@align"}},
}
WEIGHTS = {"@train": "image tower trained here", "@align": "frozen backbone, projection trained here", None: "random"}


# Left out of the chapter's default (``methods`` adds them): NegRefine's multi-matching embeds every
# image's 25 combined labels "<ID label> and <negative>", tens of thousands of distinct texts per
# model and split, which under MPNet on a 2-core CPU takes tens of minutes per model.
COSTLY = ("negrefine",)


def chapter_methods() -> tuple[str, ...]:
    """Every method the book runs, from the registry (NegLabel, its successors, the baselines,
    ours), less :data:`COSTLY`."""
    return tuple(m for m in (*tables.successor_methods(), *registry.group("ours")) if m not in COSTLY)


def default_vlms(profile: Profile) -> dict[str, dict[str, Any]]:
    """The models compared by default: the embedded pair where the profile runs on an embedded
    model (one trained or aligned here), else the profile's own model alone (pass more)."""
    if profile.model.get("pretrained") in TRAINED_HERE:
        return dict(EMBEDDED_VLMS)
    own = f"{profile.model['name']} ({profile.model.get('pretrained')})"
    return {own: {}}


def sample_overrides(profile: Profile, sample: int | None) -> dict[str, Any]:
    """Profile overrides that read ``sample`` evenly spaced words of the profile's corpus (the
    corpus ``sample``, the same words for every split) and scale NegLabel's M and AdaNeg's M with
    it, so each keeps its share of the corpus: ``M' = round(M * sample / |corpus|)``. ``None``,
    or a sample not below the corpus (or the profile's own sample): no overrides."""
    if sample is None:
        return {}
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValueError(f"corpus_sample={sample!r}; expected a whole number of words >= 1, or None for the whole corpus")
    size = profile.corpus.get("sample") or len(build_corpus(full_corpus_spec(profile.corpus)))
    if sample >= size:
        return {}
    params = profile.params
    return {"corpus": {"sample": sample},
            "params": {"m": max(1, round(params["m"] * sample / size)),
                       "adaneg_m": max(1, round(params.get("adaneg_m", ADANEG_M) * sample / size))}}


def check_vlms(vlms: Mapping[str, Mapping[str, Any]]) -> None:
    """At least one VLM, each a label (text) and a mapping of profile overrides."""
    if not isinstance(vlms, Mapping) or not vlms:
        raise ValueError(f"vlms={vlms!r}; expected a non-empty mapping of a label to profile overrides")
    for label, overrides in vlms.items():
        if not isinstance(label, str) or not label.strip() or not isinstance(overrides, Mapping):
            raise ValueError(f"vlms[{label!r}]={overrides!r}; expected a non-empty label and a mapping of profile keys")


def check_methods(methods: Sequence[str] | None) -> tuple[str, ...]:
    """The chapter's methods (default :func:`chapter_methods`): registry names, NegLabel among them
    (every comparison here is NegLabel's)."""
    methods = chapter_methods() if methods is None else registry.check_methods(methods)
    if "neglabel" not in methods:
        raise ValueError(f"methods={list(methods)!r}; expected a list that includes 'neglabel' (the chapter compares with it)")
    return tuple(methods)


def load_vlms(profile: str | Profile, overrides: Mapping[str, Any] | None, vlms: Mapping[str, Mapping[str, Any]], *,
              load: Callable[..., pipeline.Embedded], corpus_sample: int | None = None) -> dict[str, pipeline.Embedded]:
    """Every VLM's embeddings of the profile: the chapter's overrides applied, then the corpus
    sample's (:func:`sample_overrides`, the same for every VLM), then the VLM's, each by
    :meth:`Profile.with_overrides` (its rules: a ``split`` replaces the old one whole ...);
    ``load``: :func:`chapter.load`, which prepares data and model and caches every embedding."""
    check_vlms(vlms)
    base = profile if isinstance(profile, Profile) else load_profile(profile)
    base = base.with_overrides(overrides) if overrides else base
    alike = sample_overrides(base, corpus_sample)
    base = base.with_overrides(alike) if alike else base
    return {label: load(base, extra) for label, extra in vlms.items()}


def negatives_overlap(embs: Mapping[str, pipeline.Embedded]) -> pd.DataFrame:
    """NegMining's chosen negative labels (:func:`pipeline.banks.neglabel_bank`, the profile's M
    and eta) under every two VLMs: how many each chose, how many both chose, and their Jaccard
    index |A & B| / |A | B|. Two models with one text tower choose the same labels (NegMining reads
    only text); a second text tower is where they can differ."""
    chosen = {label: set(neglabel_bank(emb, emb.profile.params).words) for label, emb in embs.items()}
    rows = []
    for a, b in combinations(chosen, 2):
        both = len(chosen[a] & chosen[b])
        rows.append({"VLM A": a, "VLM B": b, "M A": len(chosen[a]), "M B": len(chosen[b]), "both": both,
                     "Jaccard": both / len(chosen[a] | chosen[b])})
    return pd.DataFrame(rows, columns=["VLM A", "VLM B", "M A", "M B", "both", "Jaccard"])


def overlap_reading(embs: Mapping[str, pipeline.Embedded], overlap: pd.DataFrame, examples: int = 6) -> str:
    """:func:`negatives_overlap` in words: which pairs of models choose the same labels, and for the
    first pair that does not, how many labels they share and a few that only one of them chose."""
    same = overlap[overlap["Jaccard"] == 1.0]
    differ = overlap[overlap["Jaccard"] < 1.0]
    parts = []
    if len(same):
        parts.append("The same labels under " + "; ".join(f"{md_text(a)} and {md_text(b)}" for a, b in
                                                           same[["VLM A", "VLM B"]].to_numpy()))
    if len(differ):
        r = differ.iloc[0]
        a, b = r["VLM A"], r["VLM B"]
        words = {v: neglabel_bank(embs[v], embs[v].profile.params).words for v in (a, b)}
        only = {v: [w for w in words[v] if w not in set(words[u])][:examples] for v, u in ((a, b), (b, a))}
        parts.append(f"{md_text(a)} and {md_text(b)} share {r['both']:,} of their {r['M A']:,} labels (Jaccard "
                     f"{r['Jaccard']:.2f}); chosen only under the first, e.g. {md_text(', '.join(only[a]))}; only under "
                     f"the second, e.g. {md_text(', '.join(only[b]))}")
    return "; ".join(parts) if parts else "One model only"


def sample_reading(sampled: pipeline.Embedded, whole: pipeline.Embedded) -> str:
    """What the chapter's corpus is, in words: the evenly spaced sample every model reads and M
    scaled with it (:func:`sample_overrides`), or the whole corpus."""
    n, m = len(sampled.corpus.words), sampled.profile.params["m"]
    full, full_m = len(whole.corpus.words), whole.profile.params["m"]
    if not sampled.profile.corpus.get("sample"):
        return f"Every model reads the whole corpus ({n:,} words) and mines M = {m:,} negative labels from it."
    return (f"Every model reads the same {n:,} of the corpus's {full:,} words, evenly spaced, and mines M = {m:,} "
            f"negative labels from them, the share of the corpus that the book's M = {full_m:,} is ({100 * m / n:.1f}% "
            f"against {100 * full_m / full:.1f}%). MPNet embeds text about seven times slower than MiniLM on a CPU; "
            "the parameter `corpus_sample = None` runs the whole corpus. The other chapters read the whole corpus, "
            "so this chapter's numbers for the book's model are not theirs.")


def parameter_study(embs: Mapping[str, pipeline.Embedded], etas: Sequence[float] = (0.01, 0.05, 0.1, 0.25, 0.5),
                    m_shares: Sequence[float] = (0.01, 0.03, 0.07, 0.15, 0.3)) -> pd.DataFrame:
    """Chapter 04's two mining parameters under every VLM: NegLabel's mean AUROC and FPR95 over the
    OOD sets at each eta (M as the profile sets it) and at each M, given as a share of the corpus so
    that a sampled corpus reads the same shares (:func:`sweeps.sweep`: the other parameters at the
    profile's values). Long form: VLM, parameter, value, the share of the corpus M is, AUROC, FPR95."""
    frames = []
    for label, emb in embs.items():
        n = len(emb.corpus)
        ms = sorted({max(emb.profile.params["n_groups"], round(share * n)) for share in m_shares})
        for param, values in (("eta", list(etas)), ("m", ms)):
            frame = sweeps.sweep(emb, param, values)
            frames.append(pd.DataFrame({"VLM": label, "parameter": param, "value": frame[param].astype(float),
                                        "M share": frame["m"] / n, "AUROC": frame["AUROC"], "FPR95": frame["FPR95"]}))
    return pd.concat(frames, ignore_index=True)


def parameter_reading(study: pd.DataFrame, param: str, metric: str = "AUROC", *,
                      as_text: Callable[[str], str] = md_text) -> str:
    """:func:`parameter_study` for one parameter in words: per model, how far ``metric`` moves over
    the values tried and where it is best (point values), flagged where that is the edge of the grid.
    ``as_text`` renders a name (``str`` for plain text)."""
    part = study[study["parameter"] == param]
    best_of = "idxmax" if metric == "AUROC" else "idxmin"
    parts = []
    for vlm, rows in part.groupby("VLM", sort=False):
        best = rows.loc[getattr(rows[metric], best_of)()]
        where = (f"η = {best['value']:g}" if param == "eta" else
                 f"M = {best['value']:,.0f} ({100 * best['M share']:.0f}% of the corpus)")
        edge = (" (the smallest value tried)" if best["value"] == rows["value"].min() else
                " (the largest value tried)" if best["value"] == rows["value"].max() else "")
        parts.append(f"{as_text(vlm)}: {rows[metric].max() - rows[metric].min():.1f} points, best at {where}{edge}")
    return "; ".join(parts)


def vlm_table(embs: Mapping[str, pipeline.Embedded]) -> pd.DataFrame:
    """One row per VLM: its model and weights, the dimension of its joint space, its ID top-1."""
    rows = []
    for label, emb in embs.items():
        model = emb.profile.model
        weights = WEIGHTS.get(model.get("pretrained"), model.get("pretrained"))
        rows.append({"model": label, "config": model["name"], "weights": weights,
                     "joint dimension": int(emb.id_text.shape[1]), "ID top-1 (%)": round(id_top1(emb), 1)})
    return pd.DataFrame(rows).set_index("model").rename_axis(index=None)


def method_runs(embs: Mapping[str, pipeline.Embedded], methods: Sequence[str] | None = None, *,
                n_bootstrap: int = N_BOOTSTRAP) -> dict[str, dict[str, Any]]:
    """:func:`tables.successors` (every method on every OOD set, bootstrap intervals) per VLM."""
    methods = check_methods(methods)
    return {label: tables.successors(emb, methods=methods, n_bootstrap=n_bootstrap) for label, emb in embs.items()}


def averages(runs: Mapping[str, Mapping[str, Any]], ood_set: str = "average") -> pd.DataFrame:
    """Each method's ``ood_set`` row (default: the mean over OOD sets) under every VLM, long form."""
    frames = [run["table"][run["table"]["ood_set"] == ood_set].assign(VLM=label) for label, run in runs.items()]
    return pd.concat(frames, ignore_index=True)


def side_by_side(runs: Mapping[str, Mapping[str, Any]], metric: str = "AUROC", ood_set: str = "average") -> pd.DataFrame:
    """Methods as rows, VLMs as columns: ``metric`` on ``ood_set`` as "value [lo, hi]"."""
    return with_intervals(averages(runs, ood_set), metric, columns="VLM")


def gaps_against(embs: Mapping[str, pipeline.Embedded], runs: Mapping[str, Mapping[str, Any]], method: str = "neglabel",
                 against: Sequence[str] | None = None, *, n_bootstrap: int = N_BOOTSTRAP,
                 seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """``method`` minus each of ``against`` (default: the baselines) under every VLM, paired over
    the same images, mean over OOD sets: one row per (VLM, baseline) with the interval and its verdict."""
    ran = set.intersection(*(set(run["scored"].methods) for run in runs.values()))
    against = [m for m in (tables.baseline_methods() if against is None else against) if m in ran and m != method]
    rows = []
    for label, emb in embs.items():
        scored = runs[label]["scored"]
        for other in against:
            gap = tables.paired_gaps(emb, (scored, method), (scored, other), n_bootstrap=n_bootstrap, seed=seed, with_se=True)
            avg = gap.set_index("ood_set").loc["average"]
            rows.append({"VLM": label, "against": method_label(other),
                         **{f"{m} {k}": avg[f"{m} {k}"] for m in ("AUROC", "FPR95") for k in ("diff", "lo", "hi", "se")},
                         "AUROC verdict": verdict_of(avg["AUROC lo"], avg["AUROC hi"]),
                         "FPR95 verdict": verdict_of(avg["FPR95 lo"], avg["FPR95 hi"])})
    out = pd.DataFrame(rows)
    if len(out):  # Holm over every gap of the table, both metrics: the family is what the page reads at once
        clear = multiplicity.holm_wald([*out["AUROC diff"], *out["FPR95 diff"]], [*out["AUROC se"], *out["FPR95 se"]])
        out["AUROC Holm"], out["FPR95 Holm"] = clear[:len(out)], clear[len(out):]
    return out


def gap_table(gaps: pd.DataFrame, metric: str = "AUROC", method: str = "NegLabel") -> pd.DataFrame:
    """:func:`gaps_against` for the page: one row per baseline, one column per model, each cell the
    paired gap with its interval and whether it is clear after Holm's correction."""
    cells = gaps.assign(cell=[f"{interval(d, lo, hi, signed=True)}{', clear' if clear else ''}" for d, lo, hi, clear in
                              gaps[[f"{metric} diff", f"{metric} lo", f"{metric} hi", f"{metric} Holm"]].to_numpy()])
    out = cells.pivot(index="against", columns="VLM", values="cell")
    return out.loc[list(dict.fromkeys(gaps["against"])), list(dict.fromkeys(gaps["VLM"]))].rename_axis(
        index=f"{method} minus", columns=f"{metric} gap [95% interval]")


def held_changed(gaps: pd.DataFrame, metric: str = "AUROC", method: str = "NegLabel") -> str:
    """What :func:`gaps_against` shows across the models, in words, by Holm-corrected gaps, per
    baseline: held (clear, and the same way, under every model), changed (clearly better under some
    model and clearly worse under another, whatever the rest), or partly (clear one way under some
    models, not clear under the others), each listed with its models."""
    held, changed, partly = [], [], []
    for other, rows in gaps.groupby("against", sort=False):
        better = rows[f"{metric} diff"] * (1 if metric == "AUROC" else -1) > 0
        clear = rows[f"{metric} Holm"].astype(bool)
        where = {"better": list(rows["VLM"][clear & better]), "worse": list(rows["VLM"][clear & ~better]),
                 "not clear": list(rows["VLM"][~clear])}
        listed = "; ".join(f"{k} under {', '.join(md_text(v) for v in vs)}" for k, vs in where.items() if vs)
        if where["better"] and where["worse"]:
            changed.append(f"{md_text(other)} ({listed})")
        elif not where["not clear"]:
            held.append(f"{'better' if where['better'] else 'worse'} than {md_text(other)}")
        else:
            partly.append(f"{md_text(other)} ({listed})")
    parts = [f"held under every model: {method} {', '.join(held)}" if held else "held under every model: none",
             f"changed sign between models: against {'; against '.join(changed)}" if changed else
             "changed sign between models: none"]
    if partly:
        parts.append(f"clear under some models only: against {'; against '.join(partly)}")
    return f"By {metric} (Holm-corrected paired gaps), " + "; ".join(parts)


def sharing_text_side(embs: Mapping[str, pipeline.Embedded], label: str) -> list[str]:
    """The VLMs that read text with the same tower as ``label`` (:func:`pipeline.text.text_side_name`),
    ``label`` itself first: they mine the same negative labels."""
    side = text_side_name(embs[label].profile)
    return [v for v, emb in embs.items() if text_side_name(emb.profile) == side]


def sample_control(whole: Mapping[str, pipeline.Embedded], sampled: Mapping[str, pipeline.Embedded],
                   against: Sequence[str] = ("max_cos", "energy"), *, method: str = "neglabel",
                   n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Does the corpus sample change the answer? ``method`` minus each of ``against`` (mean over
    the OOD sets, paired interval) for the VLMs in ``whole`` (the whole corpus) and the same VLMs
    in ``sampled`` (the chapter's sample): one row per (VLM, baseline, corpus)."""
    rows = []
    for label in whole:
        for corpus, emb in (("whole corpus", whole[label]), ("sample", sampled[label])):
            scored = pipeline.score(emb, methods=(method, *against))
            for other in against:
                avg = tables.paired_gaps(emb, (scored, method), (scored, other), n_bootstrap=n_bootstrap,
                                         seed=seed).set_index("ood_set").loc["average"]
                rows.append({"VLM": label, "against": method_label(other), "corpus": corpus,
                             "M": int(emb.profile.params["m"]), "words": len(emb.corpus),
                             **{f"AUROC {k}": float(avg[f"AUROC {k}"]) for k in ("diff", "lo", "hi")}})
    return pd.DataFrame(rows)


def _sample_pairs(control: pd.DataFrame) -> list[tuple[str, str, pd.Series, pd.Series]]:
    """Per (VLM, baseline) of :func:`sample_control`, in its order: the VLM, the baseline, and its
    whole-corpus and sample rows."""
    out = []
    for (vlm, other), rows in control.groupby(["VLM", "against"], sort=False):
        cells = {r["corpus"]: r for _, r in rows.iterrows()}
        out.append((vlm, other, cells["whole corpus"], cells["sample"]))
    return out


def _sample_moves(pairs: Sequence[tuple[str, str, pd.Series, pd.Series]]) -> tuple[list[float], int]:
    """Per pair of :func:`_sample_pairs`: the sample's gap minus the whole corpus's, and how many
    verdicts (clearly better, clearly worse, not clear) the sample changes."""
    moves, changed = [], 0
    for _, _, w, smp in pairs:
        verdicts = [int(np.sign(r["AUROC diff"])) if clear_of_zero(r["AUROC lo"], r["AUROC hi"]) else 0 for r in (w, smp)]
        changed += verdicts[0] != verdicts[1]
        moves.append(smp["AUROC diff"] - w["AUROC diff"])
    return moves, changed


def sample_caveat(control: pd.DataFrame) -> str:
    """One sentence for a headline: which way and how far the corpus sample moves NegLabel's gaps
    (:func:`sample_control`), and how many verdicts it changes; empty where no sample was read."""
    if control.empty:
        return ""
    moves, changed = _sample_moves(_sample_pairs(control))
    side = (", all against NegLabel" if max(moves) < 0 else ", all in NegLabel's favour" if min(moves) > 0 else "")
    return (f"The corpus sample that every model reads moves NegLabel's AUROC gaps to the baselines by {min(moves):+.2f} "
            f"to {max(moves):+.2f} points{side}, and changes {changed} of {len(moves)} verdicts against the whole corpus "
            "(the control below)")


def sample_control_reading(control: pd.DataFrame) -> str:
    """:func:`sample_control` in words: each gap with the whole corpus and with the sample, by how
    much the sample moves the gaps, and how many verdicts (clear better, clear worse, not clear) it changes."""
    if control.empty:
        return "The chapter read the whole corpus: no sample to check"
    pairs = _sample_pairs(control)
    parts, (moves, changed) = [], _sample_moves(pairs)
    for vlm, other, w, smp in pairs:
        parts.append(f"{md_text(vlm)} against {md_text(other)}: "
                     f"{interval(w['AUROC diff'], w['AUROC lo'], w['AUROC hi'], signed=True)} with the whole corpus, "
                     f"{interval(smp['AUROC diff'], smp['AUROC lo'], smp['AUROC hi'], signed=True)} with the sample")
    n = len(moves)
    return (f"NegLabel's AUROC gap, {'; '.join(parts)}. The sample moves the gap by {min(moves):+.2f} to {max(moves):+.2f} "
            f"points and changes the verdict (clearly better, clearly worse, not clear) in {changed} of the {n} "
            "comparisons, so a difference between the models smaller than that move may be the sample's, not the model's")


def tau_list(agree: pd.DataFrame) -> str:
    """:func:`rank_agreement`'s rows in words: each pair's tau_b with its interval, how many pairs'
    intervals lie above 0, and the step tau_b moves in: one pair of methods turning from concordant
    to discordant changes tau_b by ``2 / (n (n - 1) / 2)`` without ties, so with few methods 0 and
    its neighbours are few steps apart."""
    if agree.empty:
        return "(one model only)"
    n_methods = int(agree["methods"].iloc[0])
    step = 4 / (n_methods * (n_methods - 1))
    pairs = "; ".join(f"{md_text(r['VLM A'])} and {md_text(r['VLM B'])}: {interval(r['tau'], r['lo'], r['hi'])}"
                      for _, r in agree.iterrows())
    above = int((agree["lo"] > 0).sum())
    return (f"{pairs}. {above} of the {len(agree)} pairs have an interval above 0 (the orders agree more than "
            f"chance); with {n_methods} methods tau_b moves in steps of {step:.3f}")


def strength_match(emb: pipeline.Embedded, target_top1: float, *, n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any] | None:
    """The control for model strength: along the training run of a model trained here
    (:func:`sweeps.vlm_strength`, the snapshots chapter 09 reads), the snapshot whose ID top-1 is
    nearest ``target_top1`` (another model's), and NegLabel minus max cosine there (mean over the
    OOD sets, paired interval). ``None`` for a model with no training run here."""
    if emb.profile.model.get("pretrained") != "@train":
        return None
    gap = sweeps.vlm_strength(emb, n_bootstrap=n_bootstrap)["gap"]
    average = gap[gap["ood_set"] == "average"]
    row = average.loc[(average["id_top1"] - target_top1).abs().idxmin()]
    return {"epoch": int(row["epoch"]), "top1": float(row["id_top1"]),
            **{f"AUROC {k}": float(row[f"AUROC {k}"]) for k in ("diff", "lo", "hi")}}


def strength_control_reading(match: Mapping[str, float] | None, other: str, other_top1: float,
                              other_gap: Mapping[str, float] | None) -> str:
    """:func:`strength_match` against the other model's NegLabel-minus-max-cosine gap (``AUROC
    diff/lo/hi``), in words, with what it says: a sign that still differs at equal strength (both
    intervals clear of zero) is the image side's, not strength's; the same clear sign is strength's;
    otherwise the control cannot tell the two apart."""
    if match is None or other_gap is None:
        return "not available here (the first model has no training run made here, or max cosine did not run)."
    ours = (match["AUROC diff"], match["AUROC lo"], match["AUROC hi"])
    theirs = (other_gap["AUROC diff"], other_gap["AUROC lo"], other_gap["AUROC hi"])
    text = (f"at epoch {int(match['epoch'])} (ID top-1 {match['top1']:.1f}%) NegLabel minus max cosine is "
            f"{interval(*ours, signed=True)} AUROC points; under {md_text(other)} (top-1 {other_top1:.1f}%) it is "
            f"{interval(*theirs, signed=True)}. ")
    sign = [1 if lo > 0 else -1 if hi < 0 else 0 for _, lo, hi in (ours, theirs)]
    if 0 in sign:
        return text + "One of the two includes zero, so this control cannot tell strength from the image side."
    if sign[0] != sign[1]:
        return text + ("At equal strength the sign still differs, so the model's strength does not explain the "
                       "difference: its image side does.")
    return text + "At equal strength both have the same sign: the difference between the two models is one of strength."


def rank_agreement(embs: Mapping[str, pipeline.Embedded], runs: Mapping[str, Mapping[str, Any]],
                   methods: Sequence[str] | None = None, *, metric: str = "AUROC", n_bootstrap: int = N_BOOTSTRAP,
                   seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Kendall's tau-b (:func:`agreement.kendall_tau_b`) between every two VLMs' orderings of the
    methods by ``metric`` on the mean over OOD sets, with a 95% percentile interval from one shared
    bootstrap of the images (every VLM and method scored on each resample:
    :func:`metrics.arm_replicates`). One row per pair of VLMs."""
    labels = list(embs)
    if len(labels) < 2:
        return pd.DataFrame(columns=["VLM A", "VLM B", "methods", "tau", "lo", "hi"])
    first = runs[labels[0]]["scored"]
    methods = [m for m in (methods or first.methods) if all(m in runs[v]["scored"].methods for v in labels)]
    sets = list(first.ood)
    arms, order = {}, []
    for label in labels:
        emb, scored = embs[label], runs[label]["scored"]
        for method in methods:
            arms[f"{label}\x00{method}"] = ({s: scored.id_scores(method, s) for s in sets}, emb.data.id_images.units,
                                           {s: scored.ood_scores(method, s) for s in sets})
            order.append((label, method))
    emb0 = embs[labels[0]]
    point, reps = metrics.arm_replicates(arms, ood_units={s: emb0.data.ood[s].units for s in sets}, metric=metric,
                                         n_bootstrap=n_bootstrap, seed=seed, fpr_rule=pipeline.fpr_rule(first.params))
    values = point["average"].to_numpy()
    by_vlm = {v: [i for i, (label, _) in enumerate(order) if label == v] for v in labels}
    rows = []
    for a, b in combinations(labels, 2):
        tau = float(agreement.kendall_tau_b(values[by_vlm[a]], values[by_vlm[b]]))
        boot = agreement.kendall_tau_b(reps["average"][:, by_vlm[a]], reps["average"][:, by_vlm[b]])
        lo, hi = np.nanquantile(boot, [0.025, 0.975])
        rows.append({"VLM A": a, "VLM B": b, "methods": len(methods), "tau": tau, "lo": float(lo), "hi": float(hi)})
    return pd.DataFrame(rows)


def near_far(near_embs: Mapping[str, pipeline.Embedded], methods: Sequence[str] | None = None, *,
             n_bootstrap: int = N_BOOTSTRAP) -> pd.DataFrame:
    """Every method's near-OOD and far-OOD averages under every VLM (the near-OOD split of the
    benchmark with each VLM's overrides), long form with intervals."""
    runs = method_runs(near_embs, methods, n_bootstrap=n_bootstrap)
    frames = [run["table"][run["table"]["ood_set"].isin(["near average", "far average"])].assign(VLM=label)
              for label, run in runs.items()]
    return pd.concat(frames, ignore_index=True)


def style_shift(embs: Mapping[str, pipeline.Embedded], methods: Sequence[str] | None = None, *,
                n_bootstrap: int = N_BOOTSTRAP) -> pd.DataFrame:
    """Per VLM, :func:`sweeps.shift_degradation` (every method's mean AUROC and FPR95 with the ID
    test images in each domain-shift style, the change from the evaluation styles and that change
    minus NegLabel's, paired intervals over concepts) with the model's ID top-1 in that style.
    Column ``Holm``: the gap to NegLabel's change is clear after Holm's correction over every
    (model, style, method) gap of the same metric, the family the page reads at once; NegLabel's
    own rows are False (no gap)."""
    methods = tuple(chapter_methods() if methods is None else methods)
    if "neglabel" not in methods:
        raise ValueError(f"methods={list(methods)!r}; the style shift compares each method's change with NegLabel's, "
                         "so expected 'neglabel' among them")
    frames = []
    for label, emb in embs.items():
        frame = sweeps.shift_degradation(emb, methods, n_bootstrap=n_bootstrap)
        top1 = {name: 100 * metrics.zero_shot_top1(emb.shift_emb[name], emb.id_text, files.labels)
                for name, files in emb.data.shift.items()}
        frame.insert(0, "VLM", label)
        frame["ID top-1"] = frame["shift"].map(top1)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["Holm"] = False
    for metric in ("AUROC", "FPR95"):
        gaps = (out["metric"] == metric) & (out["method"] != "neglabel")
        if gaps.any():
            out.loc[gaps, "Holm"] = multiplicity.holm_wald(out.loc[gaps, "change minus NegLabel's"],
                                                           out.loc[gaps, "vs NegLabel se"])
    return out


def shift_cells(shift: pd.DataFrame, vlm: str, metric: str = "AUROC") -> pd.DataFrame:
    """One model's part of :func:`style_shift` as a table: a row per method, a column per style;
    each cell the mean over OOD sets with the shifted ID images and its change from the evaluation
    styles (NegLabel's with its 95% interval); for the other methods also that change minus
    NegLabel's with its unadjusted 95% interval (", clear" where it stays clear after Holm)."""
    part = shift[(shift["VLM"] == vlm) & (shift["metric"] == metric)]
    text = []
    for _, row in part.iterrows():
        if row["method"] == "neglabel":
            cell = f"{row['shifted']:.1f} ({interval(row['change'], row['change lo'], row['change hi'], digits=1, signed=True)})"
        else:
            gap = interval(row["change minus NegLabel's"], row["vs NegLabel lo"], row["vs NegLabel hi"], digits=1, signed=True)
            cell = f"{row['shifted']:.1f} ({row['change']:+.1f}); {gap}" + (", clear" if row["Holm"] else "")
        text.append(cell)
    table = part.assign(cell=text).pivot(index="label", columns="shift", values="cell")
    return table.loc[list(dict.fromkeys(part["label"])), list(dict.fromkeys(part["shift"]))].rename_axis(
        index=None, columns=f"{metric} shifted (change); change minus NegLabel's [95%]")


def shift_reading(shift: pd.DataFrame, metric: str = "AUROC", *, as_text: Callable[[str], str] = md_text) -> str:
    """:func:`style_shift`'s table in words: how far NegLabel's ``metric`` moves per model, and per
    other method in how many (model, style) pairs its change is clearly better or clearly worse
    than NegLabel's after Holm's correction; the methods clearly better in every pair are named
    as held across the models. ``as_text`` renders a name (``str`` for a plain-text glue)."""
    part = shift[shift["metric"] == metric]
    if part.empty:
        return "This profile has no domain-shift style"
    higher = metric == "AUROC"
    neg = part[part["method"] == "neglabel"]
    moves = ", ".join(f"{rows['change'].min():+.1f} to {rows['change'].max():+.1f} under {as_text(v)}"
                      for v, rows in neg.groupby("VLM", sort=False))
    pairs = len(neg)
    others = part[part["method"] != "neglabel"]
    # clear after Holm (so never a zero gap) and on the better side of NegLabel's change
    others = others.assign(better=others["Holm"] & ((others["change minus NegLabel's"] > 0) == higher))
    counts = []
    held = []
    for method, rows in others.groupby("method", sort=False):
        better = rows["better"]
        worse = rows["Holm"] & ~better
        counts.append(f"{as_text(method_label(method))} {int(better.sum())} better, {int(worse.sum())} worse")
        if int(better.sum()) == pairs:
            held.append(as_text(method_label(method)))
    text = (f"When the ID images change style, NegLabel's mean {metric} changes by {moves} (points, over the styles). "
            "Against that change, "
            f"after Holm over the {len(others)} gaps, each method's change is clearly better or worse than NegLabel's "
            f"in so many of the {pairs} (model, style) pairs: " + "; ".join(counts))
    if held:
        text += f". Degrading clearly less than NegLabel under every model and style: {', '.join(held)}"
    else:
        text += ". No method degrades clearly less than NegLabel under every model and style"
    better_by_model = {v: rows["better"].any() for v, rows in others.groupby("VLM", sort=False)}
    alone = [as_text(v) for v, any_better in better_by_model.items() if not any_better]
    if alone and len(alone) < len(better_by_model):
        text += (f"; under {', '.join(alone)} no method's change is clearly better than NegLabel's in any style, where "
                 "under the other models some are")
    return text


def best_method(runs: Mapping[str, Mapping[str, Any]], metric: str = "AUROC") -> dict[str, str]:
    """Per VLM, the method with the best mean over OOD sets (highest AUROC, lowest FPR95)."""
    long = averages(runs)
    best = {}
    for vlm in runs:
        part = long[long["VLM"] == vlm]
        best[vlm] = part.loc[part[metric].idxmax() if metric == "AUROC" else part[metric].idxmin(), "label"]
    return best


def best_sentence(best: Mapping[str, str]) -> str:
    """Whether the best method (:func:`best_method`) is the same under every model, in words."""
    listed = "; ".join(f"{md_text(v)}: {md_text(m)}" for v, m in best.items())
    if len(best) < 2:
        return f"The best method by mean AUROC: {listed} (one model only)"
    same = "the same" if len(set(best.values())) == 1 else "not the same"
    return f"The best method by mean AUROC is {same} under every model ({listed})"


def rank_moves(runs: Mapping[str, Mapping[str, Any]], metric: str = "AUROC", at_least: int = 2) -> str:
    """Which methods move ``at_least`` places between the first two models' orders by ``metric``
    (mean over OOD sets; place 1 is the best), in words: the pattern behind a rank correlation."""
    labels = list(runs)
    if len(labels) < 2:
        return "one model only"
    long = averages(runs)
    ascending = metric != "AUROC"
    place = {v: long[long["VLM"] == v].set_index("label")[metric].rank(ascending=ascending, method="min") for v in labels[:2]}
    moves = (place[labels[0]] - place[labels[1]]).astype(int)  # > 0: better placed under the second model
    up = [f"{md_text(m)} ({place[labels[0]][m]:.0f} to {place[labels[1]][m]:.0f})" for m, d in moves.items() if d >= at_least]
    down = [f"{md_text(m)} ({place[labels[0]][m]:.0f} to {place[labels[1]][m]:.0f})" for m, d in moves.items() if d <= -at_least]
    return (f"from {md_text(labels[0])} to {md_text(labels[1])}, up by {at_least} or more places: {', '.join(up) or 'none'}; "
            f"down by {at_least} or more: {', '.join(down) or 'none'}")


def lead_reading(frame: pd.DataFrame, metric: str = "AUROC") -> str:
    """Whether the best method in ``frame`` (rows of one model and set: ``label``, ``metric`` and its
    ``_lo``/``_hi``) stands apart: its interval above the runner-up's point value, or overlapping it."""
    ordered = frame.sort_values(metric, ascending=metric != "AUROC")
    best, second = ordered.iloc[0], ordered.iloc[1]
    apart = best[f"{metric}_lo"] > second[metric] if metric == "AUROC" else best[f"{metric}_hi"] < second[metric]
    return (f"{md_text(best['label'])} ({best[metric]:.1f} [{best[f'{metric}_lo']:.1f}, {best[f'{metric}_hi']:.1f}]), "
            + ("its interval clear of the runner-up" if apart else f"its interval overlapping the runner-up, "
               f"{md_text(second['label'])} ({second[metric]:.1f})"))


# Chapter 11's readings, in the order the page glues them.

def top1_list(models: pd.DataFrame) -> str:
    """Each model's zero-shot ID top-1 (:func:`vlm_table`), in one line."""
    return "; ".join(f"{md_text(v)}: {t:.1f}%" for v, t in models["ID top-1 (%)"].items())


def neglabel_ranks(long: pd.DataFrame, metric: str = "AUROC") -> dict[str, int]:
    """NegLabel's place per model among the methods by mean ``metric`` (:func:`averages`; 1 = the
    highest, ties share the best place)."""
    return {v: int(part[metric].rank(ascending=False, method="min")[part["method"] == "neglabel"].iloc[0])
            for v, part in long.groupby("VLM", sort=False)}


def rank_list(ranks: Mapping[str, int], n_methods: int) -> str:
    return "; ".join(f"{md_text(v)}: {r} of {n_methods}" for v, r in ranks.items())


def lead_list(long: pd.DataFrame) -> str:
    """:func:`lead_reading` per model, in one line."""
    return "; ".join(f"{md_text(v)}: " + lead_reading(part) for v, part in long.groupby("VLM", sort=False))


def headline_text(gaps: pd.DataFrame, ranks: Mapping[str, int], n_methods: int) -> str:
    """The chapter's result before the sample's caveat: what NegLabel's gaps say under every model
    (:func:`held_changed`) and its place by mean AUROC per model."""
    return (f"{held_changed(gaps, 'AUROC')}. NegLabel's place by mean AUROC among the {n_methods} methods: "
            + "; ".join(f"{md_text(v)}: {r}" for v, r in ranks.items()) + ".")


def gap_list(gaps: pd.DataFrame, against: str, *, holm: bool = False) -> str:
    """The AUROC gap to the method labelled ``against`` per model, as plain text (with whether it
    stays clear after Holm's correction, ``holm``); "" where that method did not run."""
    rows = gaps[gaps["against"] == against]
    return "; ".join(f"{r['VLM']}: {interval(r['AUROC diff'], r['AUROC lo'], r['AUROC hi'], signed=True)}"
                     + (f" ({'clear' if r['AUROC Holm'] else 'not clear'} after Holm)" if holm else "")
                     for _, r in rows.iterrows())


def strength_control(embs: Mapping[str, pipeline.Embedded], models: pd.DataFrame, gaps: pd.DataFrame, *,
                     n_bootstrap: int) -> str:
    """Is it the model's strength? The first model's snapshot matched on the second's ID top-1
    (:func:`strength_match`) read against the second model's gap to max cosine."""
    first, second = (list(embs) * 2)[:2]
    target = float(models.loc[second, "ID top-1 (%)"])
    match = strength_match(embs[first], target, n_bootstrap=n_bootstrap) if len(embs) > 1 else None
    second_gap = gaps[(gaps["VLM"] == second) & (gaps["against"] == method_label("max_cos"))]
    return strength_control_reading(match, second, target, None if second_gap.empty else second_gap.iloc[0])


def whole_corpus_control(profile: str | Profile, overrides: Mapping[str, Any] | None, vlms: Mapping[str, Mapping[str, Any]],
                         embs: Mapping[str, pipeline.Embedded], whole: pipeline.Embedded, *, load: Callable,
                         n_bootstrap: int) -> pd.DataFrame:
    """The corpus sample's control: the models that read the first model's text side, under the
    whole corpus beside the sample (:func:`sample_control`); empty where no model reads a sample."""
    first = next(iter(embs))
    sampled = [v for v in sharing_text_side(embs, first) if embs[v].profile.corpus.get("sample")]
    if not sampled or len(embs[first].corpus) >= len(whole.corpus):
        return sample_control({}, {})
    unsampled = load_vlms(profile, overrides, {v: vlms[v] for v in sampled}, load=load)
    return sample_control(unsampled, {v: embs[v] for v in sampled}, n_bootstrap=n_bootstrap)


def agreement_table(agree: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`rank_agreement` per metric as one table: Kendall's τ_b with its interval per model pair."""
    table = agree["AUROC"][["VLM A", "VLM B", "methods"]].copy()
    for metric, frame in agree.items():
        table[f"τ_b by {metric}"] = [interval(t, lo, hi) for t, lo, hi in frame[["tau", "lo", "hi"]].to_numpy()]
    return table.set_index(["VLM A", "VLM B"]).rename_axis(index=[None, None])


def profile_marks(emb: pipeline.Embedded) -> dict[str, str]:
    """The profile's η and its M as a share of the corpus it reads, as the page quotes them."""
    return {"profile_eta": f"{emb.profile.params['eta']:g}",
            "profile_m_share": f"{100 * emb.profile.params['m'] / len(emb.corpus):.1f}%"}


def near_cells(part: pd.DataFrame) -> pd.DataFrame:
    """One model's rows of :func:`near_far` as a table: AUROC with its interval and FPR95 per set."""
    cells = part.assign(cell=[f"{a:.1f} [{lo:.1f}, {hi:.1f}] / {f:.1f}" for a, lo, hi, f in
                              part[["AUROC", "AUROC_lo", "AUROC_hi", "FPR95"]].to_numpy()])
    return (cells.pivot(index="label", columns="ood_set", values="cell").loc[list(dict.fromkeys(part["label"]))]
            .rename_axis(index=None, columns="AUROC [95% interval] / FPR95 (%)"))


def near_readings(near: pd.DataFrame) -> dict[str, str]:
    """Per model, who leads on the near-OOD average (:func:`lead_reading`) and NegLabel's near and far AUROC."""
    near_rows = near[near["ood_set"] == "near average"]
    nl = near[near["method"] == "neglabel"]
    return {"near_lead": "; ".join(f"{md_text(v)}: " + lead_reading(p) for v, p in near_rows.groupby("VLM", sort=False)),
            "near_nl": "; ".join(f"{md_text(v)}: {p.set_index('ood_set').loc['near average', 'AUROC']:.1f} near, "
                                 f"{p.set_index('ood_set').loc['far average', 'AUROC']:.1f} far"
                                 for v, p in nl.groupby("VLM", sort=False))}


def shift_top1_lines(shift: pd.DataFrame, embs: Mapping[str, pipeline.Embedded]) -> dict[str, str]:
    """Per model, its ID top-1 on the evaluation styles and in each shift style, as the page heads its table."""
    auroc = shift[shift["metric"] == "AUROC"]
    out = {}
    for vlm in dict.fromkeys(auroc["VLM"]):
        top1 = "; ".join(f"{md_text(s)} {t:.1f}%" for s, t in
                         auroc[auroc["VLM"] == vlm].groupby("shift", sort=False)["ID top-1"].first().items())
        out[vlm] = f"**{md_text(vlm)}**: ID top-1 on the evaluation styles {id_top1(embs[vlm]):.1f}%; {top1}"
    return out


def check_parameters(vlms: Mapping[str, Mapping[str, Any]] | None, methods: Sequence[str] | None,
                     corpus_sample: int | None) -> None:
    """The chapter's own parameters, checked before any work (the common ones by :func:`chapter.check_parameters`)."""
    chapter.check_parameters(vlms=vlms, methods=methods, corpus_sample=corpus_sample)
    check_methods(methods)
    if vlms is not None:
        check_vlms(vlms)


def order_agreement(embs: Mapping[str, pipeline.Embedded], runs: Mapping[str, Mapping[str, Any]], *,
              n_bootstrap: int) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Do the models order the methods alike? :func:`agreement_table` over :func:`rank_agreement`
    per metric, and its τ_b lists by glue name; no table where there is one model only."""
    if len(embs) < 2:
        return None, {"tau_auroc": "(one model only)", "tau_fpr": "(one model only)"}
    agree = {metric: rank_agreement(embs, runs, metric=metric, n_bootstrap=n_bootstrap) for metric in ("AUROC", "FPR95")}
    return agreement_table(agree), {"tau_auroc": tau_list(agree["AUROC"]), "tau_fpr": tau_list(agree["FPR95"])}
