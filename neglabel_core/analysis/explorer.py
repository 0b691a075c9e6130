"""The explorer (chapter 07): one setting at a time for the live widgets (:func:`explore`), and
every setting of a parameter grid computed at build time for the static page
(:func:`explorer_records`, drawn by :mod:`.vega` in the page: JavaScript vendored by :mod:`neglabel_core.site.build`,
loaded once per page, no request leaves the machine)."""

from __future__ import annotations

import inspect
import itertools
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import pipeline
from ..files import kept_json
from ..ood import methods as registry
from ..ood import metrics, scores
from ..pipeline import score_cache
from .corpora import corpus_view, wordnet_variants

DEFAULT_GRID: dict[str, list[Any]] = {
    "eta": [0.01, 0.05, 0.25],
    "m": [1000, 10000, 50000],
    "n_groups": [1, 100],
    "tau": [0.01, 0.1, 1.0],
    "corpus": ["WordNet nouns + adjectives", "WordNet nouns"],
}
METHODS = registry.default_methods()  # the main table's methods
# the temperature each method reads (NegLabel's tau, MCM's mcm_tau, energy's energy_tau; max cosine has none)
TAU_PARAM = {m: t for m in METHODS for t in registry.REGISTRY[m].params if t.endswith("tau")}
POOLED = "all OOD sets (pooled)"
AVERAGE = "average over the OOD sets"
# What each method's histogram axis shows (NegLabel: its log-odds, computed stably).
AXIS_TITLES = {"neglabel": "NegLabel: log-odds log S − log(1 − S) of its score S", "mcm": "MCM: max softmax probability",
               "max_cos": "max cosine: largest cosine to an ID label", "energy": "energy: log Σ exp(cos / τ_E)"}
BINS = 24
ROC_POINTS = 41


def explore(emb: pipeline.Embedded, *, corpus: str | None = None, method: str = "neglabel", ood_set: str | None = None,
            **params: Any) -> dict[str, Any]:
    """One setting of the explorer: the profile's parameters with ``params`` (eta, m, n_groups,
    tau, ...) changed, the negatives mined from a WordNet variant (``corpus``, a key of
    :func:`wordnet_variants`; default the profile's corpus), one method's scores on ID and on one
    OOD set (default all OOD images pooled), AUROC and FPR95 (percent, the profile's rule) and
    the first mined words. Without ``m`` the profile's mining rule (e.g. ``pos_fraction``) holds;
    with ``m`` the lowest M are mined; M is capped at the corpus size and n_g at M.

    Built for a slider: the corpus views (with their mining scores per eta), the mined negatives
    and the image-to-label similarities are cached on ``emb`` per (corpus, eta, M), so moving
    n_g or tau only rescores, and returning to a setting reuses its mining."""
    cache = emb.explorer_sims
    view = emb if corpus is None else corpus_view(emb, corpus)
    setting = {**emb.profile.params, **params}
    if "m" in params:
        setting["m"] = min(int(params["m"]), len(view.corpus))
        setting["pos_fraction"] = None
    if setting.get("pos_fraction") is None:
        setting["n_groups"] = min(setting["n_groups"], setting["m"])
    entry = registry.REGISTRY[method]
    shown: tuple[np.ndarray, np.ndarray] | None = None  # what the histogram shows (NegLabel: its log-odds)
    if entry.kind == "stream" or entry.bank != "neglabel":
        scored = pipeline.score(view, setting, methods=(method,))
        id_scores, negatives = scored.id_scores(method, ood_set or "pooled"), scored.negatives
        ood = scored.ood_scores(method, ood_set or "pooled")
        used = scored.params
    else:
        key = (corpus, setting["eta"], setting["m"], setting.get("pos_fraction"))
        if key not in cache:
            negatives = pipeline.mine(view, eta=setting["eta"], m=setting["m"], pos_fraction=setting.get("pos_fraction"))
            neg_text = torch.from_numpy(np.asarray(view.corpus_emb)[negatives])
            sims = {}
            for name, x in [("ID", view.id_emb), *view.ood_emb.items()]:
                x = torch.from_numpy(np.array(x, dtype=np.float32))
                sims[name] = (x @ torch.from_numpy(np.asarray(view.id_text)).T, x @ neg_text.T)
            cache[key] = (negatives, sims)
        negatives, sims = cache[key]
        used = {**setting, "m": len(negatives), "perm_device_used": pipeline.perm_device(setting),
                "fpr_rule": pipeline.fpr_rule(setting)}
        out = {name: entry.score(a, b, used).cpu().numpy() for name, (a, b) in sims.items()}
        id_scores = out.pop("ID")
        ood = out[ood_set] if ood_set else np.concatenate(list(out.values()))
        if method == "neglabel":
            odds = {name: registry.REGISTRY["neglabel_log_odds"].score(a, b, used).cpu().numpy() for name, (a, b) in sims.items()}
            id_odds = odds.pop("ID")
            shown = (id_odds, odds[ood_set] if ood_set else np.concatenate(list(odds.values())))
    rule = pipeline.fpr_rule(used)
    shown = shown or (id_scores, ood)
    return {"params": used, "id": id_scores, "ood": ood, "id_shown": shown[0], "ood_shown": shown[1],
            "axis": AXIS_TITLES.get(method, f"{registry.label(method)} score"),
            "AUROC": 100 * metrics.auroc(id_scores, ood), "FPR95": 100 * metrics.fpr_at_tpr(id_scores, ood, rule=rule),
            "mined": [view.corpus.words[i] for i in negatives[:12]]}


def _histogram(id_scores: np.ndarray, ood_scores: np.ndarray) -> dict[str, list[float]]:
    """Both groups' score distributions on shared bins between the 0.5% and 99.5% quantiles of
    all scores (outliers in the end bins), each as the fraction of its group per bin."""
    both = np.concatenate([id_scores, ood_scores])
    lo, hi = np.quantile(both, [0.005, 0.995])
    hi = hi if hi > lo else lo + 1e-6
    edges = np.linspace(lo, hi, BINS + 1)

    def fractions(x: np.ndarray) -> list[float]:
        counts = np.histogram(np.clip(x, lo, hi), edges)[0]
        return np.round(counts / max(1, len(x)), 4).tolist()

    return {"x0": np.round(edges[:-1], 4).tolist(), "x1": np.round(edges[1:], 4).tolist(),
            "ID": fractions(id_scores), "OOD": fractions(ood_scores)}


def _record(method: str, ood_set: str, setting: Mapping[str, Any], id_scores: np.ndarray, ood_scores: np.ndarray,
            rule: str, shown: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """One explorer record; the histograms of ``shown`` (NegLabel: its stable log-odds) or of the scores."""
    a, b = shown if shown is not None else (id_scores, ood_scores)
    fpr, tpr = metrics.roc_curve(id_scores, ood_scores)
    grid = np.linspace(0, 1, ROC_POINTS)
    return {"method": method, "set": ood_set, **setting, **_histogram(a, b),
            "fpr": grid.round(3).tolist(), "tpr": np.round(np.interp(grid, fpr, tpr), 4).tolist(),
            "auroc": round(100 * metrics.auroc(id_scores, ood_scores), 2),
            "fpr95": round(100 * metrics.fpr_at_tpr(id_scores, ood_scores, rule=rule), 2),
            "axis": AXIS_TITLES.get(method, f"{registry.label(method)} score")}


def _records(method: str, setting: Mapping[str, Any], scores: Mapping[str, np.ndarray], rule: str,
             shown: Mapping[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """One record per OOD set, one for all OOD images pooled, and one for the average over the
    sets (AUROC and FPR95 the mean of the sets', as the paper's tables; the ROC curve the mean TPR
    at each FPR; the histogram that of the pooled images)."""
    shown = shown or scores
    ood = [n for n in scores if n != "ID"]
    out = [_record(method, name, setting, scores["ID"], scores[name], rule, (shown["ID"], shown[name])) for name in ood]
    pooled = _record(method, POOLED, setting, scores["ID"], np.concatenate([scores[n] for n in ood]), rule,
                     (shown["ID"], np.concatenate([shown[n] for n in ood])))
    average = {**pooled, "set": AVERAGE, "auroc": round(float(np.mean([r["auroc"] for r in out])), 2),
               "fpr95": round(float(np.mean([r["fpr95"] for r in out])), 2),
               "tpr": np.round(np.mean([r["tpr"] for r in out], axis=0), 4).tolist()}
    return out + [pooled, average]


def profile_taus(emb: pipeline.Embedded) -> dict[str, float]:
    """Each temperature-reading method's temperature on the profile (NegLabel's ``tau``, MCM's
    ``mcm_tau``, energy's ``energy_tau``, with the registry's defaults), by method."""
    p = emb.profile.params
    own = {"tau": p["tau"], "mcm_tau": p.get("mcm_tau", 1.0), "energy_tau": p.get("energy_tau", 0.01)}
    return {m: float(own[t]) for m, t in TAU_PARAM.items()}


def method_taus(emb: pipeline.Embedded, grid: Mapping[str, Sequence[Any]]) -> dict[str, list[float]]:
    """Each temperature-reading method's own temperature values: the grid's, plus the profile's
    own value for that method (:func:`profile_taus`)."""
    return {m: sorted({*map(float, grid["tau"]), tau}) for m, tau in profile_taus(emb).items()}


def explorer_records(emb: pipeline.Embedded, grid: Mapping[str, Sequence[Any]] | None = None,
                     methods: Sequence[str] = METHODS, *, progress: bool = False) -> list[dict[str, Any]]:
    """One record per (method, OOD set or pooled, setting): binned ID and OOD scores, the ROC
    curve at fixed FPRs, AUROC and FPR95 (percent, the profile's rule). NegLabel varies over the
    whole grid; a baseline only over its temperature (``tau``: MCM's and energy's own; max cosine
    has none), its other grid keys recorded as ``null`` (they do not change it).

    Kept as JSON (:func:`files.kept_json`, ``<cache>/explorer``) by the content of every
    embedding it reads, the corpus, the profile's parameters, the grid, the methods and the code."""
    grid = {**DEFAULT_GRID, **(grid or {})}
    payload = {"images": [score_cache.fingerprint(x) for x in (emb.id_emb, *emb.ood_emb.values())],
               "sets": list(emb.ood_emb), "id_text": score_cache.fingerprint(emb.id_text),
               "corpus_emb": score_cache.fingerprint(emb.corpus_emb), "corpus": [emb.corpus.words, emb.corpus.pos,
                                                                                 emb.corpus.groups],
               "params": emb.profile.params, "grid": grid, "methods": list(methods),
               "code": [score_cache.code_fingerprint(), *(inspect.getsource(m) for m in (sys.modules[__name__],
                                                                                        sys.modules[corpus_view.__module__]))]}
    return kept_json("explorer", payload, lambda: _explorer_records(emb, grid, methods, progress=progress))


def _explorer_records(emb: pipeline.Embedded, grid: Mapping[str, Sequence[Any]], methods: Sequence[str], *,
                      progress: bool) -> list[dict[str, Any]]:
    variants = wordnet_variants(emb)
    unknown = [c for c in grid["corpus"] if c not in variants]
    if unknown:
        raise ValueError(f"unknown corpus {unknown}; expected some of {list(variants)}")
    records = []
    rule = pipeline.fpr_rule(emb.profile.params)
    taus = method_taus(emb, grid)
    settings: list[tuple[str, dict[str, Any]]] = []
    for method in methods:
        if method == "neglabel":
            for eta, m, n_g, tau, corpus in itertools.product(grid["eta"], grid["m"], grid["n_groups"], taus["neglabel"],
                                                              grid["corpus"]):
                settings.append((method, {"eta": eta, "m": m, "n_groups": n_g, "tau": tau, "corpus": corpus}))
        else:
            settings += [(method, {"eta": None, "m": None, "n_groups": None, "tau": t, "corpus": None})
                         for t in taus.get(method, [None])]
    base = {**emb.profile.params, "perm_device_used": pipeline.perm_device(emb.profile.params)}
    sets = {"ID": emb.id_emb, **emb.ood_emb}
    images = {name: torch.from_numpy(np.array(x, dtype=np.float32)) for name, x in sets.items()}
    id_sims = {name: x @ torch.from_numpy(np.asarray(emb.id_text)).T for name, x in images.items()}
    neglabel = [s for m, s in settings if m == "neglabel"]
    by_bank: dict[tuple, list[dict[str, Any]]] = {}
    for setting in neglabel:  # one mining and one similarity matrix per (corpus, eta, M), reused for n_g and tau
        by_bank.setdefault((setting["corpus"], setting["eta"], setting["m"]), []).append(setting)
    for (corpus, eta, m), group in tqdm(list(by_bank.items()), desc="explorer grid (NegLabel)", disable=not progress):
        view = corpus_view(emb, corpus)  # kept with its mining scores per eta
        m_used = min(int(m), len(view.corpus))
        negatives = pipeline.mine(view, eta=eta, m=m_used)
        neg_text = torch.from_numpy(np.asarray(view.corpus_emb)[negatives])
        neg_sims = {name: x @ neg_text.T for name, x in images.items()}
        for setting in group:
            params = {**base, "eta": eta, "m": m_used, "n_groups": min(setting["n_groups"], m_used), "tau": setting["tau"]}
            both = {name: scores.neglabel_score_and_log_odds(id_sims[name], neg_sims[name], **registry.grouped_params(params))
                    for name in sets}  # NegLabel's score and its log-odds (the histograms) from one pass
            out = {name: s.numpy() for name, (s, _) in both.items()}
            shown = {name: o.numpy() for name, (_, o) in both.items()}
            records += _records("neglabel", setting, out, rule, shown)
    for method, setting in settings:
        if method == "neglabel":
            continue
        params = {TAU_PARAM[method]: setting["tau"]} if setting["tau"] is not None else {}
        scored = pipeline.score(emb, params, methods=(method,))
        records += _records(method, setting, {"ID": scored.id[method], **{n: s[method] for n, s in scored.ood.items()}}, rule)
    return records


def draw_view(view: dict[str, Any]) -> None:
    """One :func:`explore` setting drawn for the live explorer: the ID and OOD score histograms
    (NegLabel: its log-odds) with AUROC and FPR95 in the title, and the first mined words."""
    import matplotlib.pyplot as plt

    id_x, ood_x = view["id_shown"], view["ood_shown"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bins = np.linspace(min(id_x.min(), ood_x.min()), max(id_x.max(), ood_x.max()), 60)
    ax.hist(id_x, bins=bins, alpha=0.6, density=True, label="ID")
    ax.hist(ood_x, bins=bins, alpha=0.6, density=True, label="OOD (all sets)")
    ax.set(title=f"NegLabel: AUROC {view['AUROC']:.1f}, FPR95 {view['FPR95']:.1f}", xlabel=view["axis"])
    ax.legend()
    plt.show()
    print("first mined:", ", ".join(view["mined"]))


def interactive(emb: pipeline.Embedded) -> Any:
    """The live explorer (JupyterLab): sliders for the corpus, eta, M, n_g and tau, each move
    redrawn by :func:`draw_view` from :func:`explore`'s cached work (ipywidgets' ``interactive``)."""
    import ipywidgets as widgets

    def show(corpus: str = "WordNet nouns + adjectives", eta: float = 0.05, m: int = 10000, n_groups: int = 100,
             tau: float = 0.01) -> None:
        draw_view(explore(emb, corpus=corpus, eta=eta, m=m, n_groups=n_groups, tau=tau))

    return widgets.interactive(
        show,
        corpus=widgets.Dropdown(options=list(wordnet_variants(emb)), value="WordNet nouns + adjectives"),
        eta=widgets.FloatLogSlider(value=0.05, base=10, min=-2, max=-0.05, step=0.05, continuous_update=False),
        m=widgets.IntSlider(value=min(10000, len(emb.corpus)), min=100, max=min(100000, len(emb.corpus)), step=100,
                            continuous_update=False),
        n_groups=widgets.IntSlider(value=100, min=1, max=1000, continuous_update=False),
        tau=widgets.FloatLogSlider(value=0.01, base=10, min=-3, max=0, step=0.1, continuous_update=False),
    )
