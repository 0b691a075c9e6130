"""Does it hold on another model? The same benchmark, parameters and methods under several
vision-language models (chapter 11).

A *VLM* here is a set of profile overrides (usually its ``model``) applied to the chapter's
profile: everything else (images, corpus, M, eta, the methods' settings) stays the same, so the
models are compared on the same images and each comparison is paired. On the embedded benchmark
the default pair is the image tower trained here and a frozen ImageNet MobileNetV2 with a
projection aligned here, both against the packaged MiniLM text tower (so NegMining, which reads
only text, chooses the same negatives for both: what changes is how the images meet them). A
reader with CLIP weights passes e.g. ``{"RN50": {"model": {"name": "RN50", "pretrained": "openai"}}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..ood import agreement, metrics
from ..ood import methods as registry
from ..profiles import Profile
from . import sweeps, tables
from .chapter import BOOTSTRAP_SEED, N_BOOTSTRAP, id_top1, interval, md_text, method_label, verdict_of

# The embedded benchmark's vision-language models: two image sides, one text tower.
EMBEDDED_VLMS: dict[str, dict[str, Any]] = {
    "ResNet trained here + MiniLM": {"model": {"name": "emoji-tiny-rn16", "pretrained": "@train"}},
    "ImageNet MobileNetV2, aligned + MiniLM": {"model": {"name": "emoji-mobilenetv2-minilm", "pretrained": "@align"}},
}
EMBEDDED_TAGS = ("@train", "@align")


def chapter_methods() -> tuple[str, ...]:
    """Every method the book runs, from the registry: NegLabel, its successors, the baselines, ours."""
    return (*tables.successor_methods(), *registry.group("ours"))


def default_vlms(profile: Profile) -> dict[str, dict[str, Any]]:
    """The models compared by default: the embedded pair where the profile runs on an embedded
    model (one trained or aligned here), else the profile's own model alone (pass more)."""
    if profile.model.get("pretrained") in EMBEDDED_TAGS:
        return dict(EMBEDDED_VLMS)
    own = f"{profile.model['name']} ({profile.model.get('pretrained')})"
    return {own: {}}


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
              load: Callable[..., pipeline.Embedded]) -> dict[str, pipeline.Embedded]:
    """Every VLM's embeddings of the profile: its overrides on top of the chapter's (``load``:
    :func:`chapter.load`, which prepares data and model and caches every embedding)."""
    check_vlms(vlms)
    return {label: load(profile, _merged(overrides or {}, extra)) for label, extra in vlms.items()}


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def vlm_table(embs: Mapping[str, pipeline.Embedded]) -> pd.DataFrame:
    """One row per VLM: its model and weights, the dimension of its joint space, its ID top-1."""
    rows = []
    for label, emb in embs.items():
        model = emb.profile.model
        rows.append({"VLM": label, "model": model["name"], "weights": model.get("pretrained") or "random",
                     "joint dimension": int(emb.id_text.shape[1]), "ID top-1 (%)": round(id_top1(emb), 1)})
    return pd.DataFrame(rows).set_index("VLM")


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
    long = averages(runs, ood_set)
    cells = long.assign(cell=[f"{v:.1f} [{lo:.1f}, {hi:.1f}]" for v, lo, hi in
                              zip(long[metric], long[f"{metric}_lo"], long[f"{metric}_hi"])])
    out = cells.pivot(index="label", columns="VLM", values="cell")
    return out.loc[list(dict.fromkeys(long["label"])), list(runs)].rename_axis(index=None, columns=f"{metric} (%) [95% interval]")


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
            gap = tables.paired_gaps(emb, (scored, method), (scored, other), n_bootstrap=n_bootstrap, seed=seed)
            avg = gap.set_index("ood_set").loc["average"]
            rows.append({"VLM": label, "against": method_label(other),
                         **{f"{m} {k}": avg[f"{m} {k}"] for m in ("AUROC", "FPR95") for k in ("diff", "lo", "hi")},
                         "AUROC verdict": verdict_of(avg["AUROC lo"], avg["AUROC hi"]),
                         "FPR95 verdict": verdict_of(avg["FPR95 lo"], avg["FPR95 hi"])})
    return pd.DataFrame(rows)


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
    values = point["average"].to_numpy() if "average" in point else point.loc[:, "average"].to_numpy()
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


def style_shift(embs: Mapping[str, pipeline.Embedded]) -> pd.DataFrame:
    """Per VLM, ID top-1 and every main method's mean AUROC and FPR95 with the ID test images in
    each domain-shift style (:func:`sweeps.domain_shift`; point values), long form."""
    frames = [sweeps.domain_shift(emb).assign(VLM=label) for label, emb in embs.items()]
    out = pd.concat(frames, ignore_index=True)
    out["label"] = out["method"].map(method_label)
    out["ID top-1"] = out["ID top-1"].round(1)
    return out


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


def sign_sentence(gaps: pd.DataFrame, metric: str = "AUROC") -> str:
    """One sentence per baseline: does NegLabel's gap keep its sign (and clearness) across the VLMs?"""
    parts = []
    for other, rows in gaps.groupby("against", sort=False):
        cells = [f"{md_text(r['VLM'])}: {interval(r[f'{metric} diff'], r[f'{metric} lo'], r[f'{metric} hi'], signed=True)} "
                 f"({r[f'{metric} verdict']})" for _, r in rows.iterrows()]
        signs = {np.sign(d) for d in rows[f"{metric} diff"]}
        held = "keeps its sign" if len(signs) == 1 else "changes sign"
        parts.append(f"against {md_text(other)} the gap {held} ({'; '.join(cells)})")
    return "NegLabel minus each baseline, " + metric + " points: " + "; ".join(parts) + "."
