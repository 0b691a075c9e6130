"""The explorer that works in the static HTML book: every setting of a parameter grid computed at
build time, drawn by Vega-Lite in the page (JavaScript vendored by :mod:`book`, loaded once per
page, no request leaves the machine).

Top layer (with ``analysis``): it runs the pipeline over a grid and writes a Vega-Lite spec; the
notebook displays the HTML it returns.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import analysis as an
from . import experiments as ex
from . import methods as registry
from . import metrics

DEFAULT_GRID: dict[str, list[Any]] = {
    "eta": [0.01, 0.05, 0.25],
    "m": [1000, 10000, 50000],
    "n_groups": [1, 100],
    "tau": [0.01, 0.1, 1.0],
    "corpus": ["WordNet nouns + adjectives", "WordNet nouns"],
}
METHODS = ("neglabel", "mcm", "max_cos", "energy")
TAU_PARAM = {"neglabel": "tau", "mcm": "mcm_tau", "energy": "energy_tau"}  # the temperature each method reads
POOLED = "all OOD sets (pooled)"
BINS = 24
ROC_POINTS = 41
VEGA_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


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
            rule: str) -> dict[str, Any]:
    log_odds = method == "neglabel"  # NegLabel's score piles up near 1: its log-odds separates (monotone)
    a, b = (an.log_odds(id_scores), an.log_odds(ood_scores)) if log_odds else (id_scores, ood_scores)
    fpr, tpr = metrics.roc_curve(id_scores, ood_scores)
    grid = np.linspace(0, 1, ROC_POINTS)
    return {"method": method, "set": ood_set, **setting, **_histogram(a, b),
            "fpr": grid.round(3).tolist(), "tpr": np.round(np.interp(grid, fpr, tpr), 4).tolist(),
            "auroc": round(100 * metrics.auroc(id_scores, ood_scores), 2),
            "fpr95": round(100 * metrics.fpr_at_tpr(id_scores, ood_scores, rule=rule), 2),
            "scale": "log-odds of the score" if log_odds else "score"}


def _records(method: str, setting: Mapping[str, Any], scores: Mapping[str, np.ndarray], rule: str) -> list[dict[str, Any]]:
    """One record per OOD set and one for all OOD images pooled, from the scores of ID and every set."""
    ood = {n: v for n, v in scores.items() if n != "ID"}
    out = [_record(method, name, setting, scores["ID"], v, rule) for name, v in ood.items()]
    return out + [_record(method, POOLED, setting, scores["ID"], np.concatenate(list(ood.values())), rule)]


def explorer_records(emb: ex.Embedded, grid: Mapping[str, Sequence[Any]] | None = None,
                     methods: Sequence[str] = METHODS, *, progress: bool = False) -> list[dict[str, Any]]:
    """One record per (method, OOD set or pooled, setting): binned ID and OOD scores, the ROC
    curve at fixed FPRs, AUROC and FPR95 (percent, the profile's rule). NegLabel varies over the
    whole grid; a baseline only over its temperature (``tau``: MCM's and energy's own; max cosine
    has none), its other grid keys recorded as ``null`` (they do not change it)."""
    grid = {**DEFAULT_GRID, **(grid or {})}
    variants = an.wordnet_variants(emb)
    unknown = [c for c in grid["corpus"] if c not in variants]
    if unknown:
        raise ValueError(f"unknown corpus {unknown}; expected some of {list(variants)}")
    records = []
    rule = ex.fpr_rule(emb.profile.params)
    settings: list[tuple[str, dict[str, Any]]] = []
    for method in methods:
        if method == "neglabel":
            for eta, m, n_g, tau, corpus in itertools.product(grid["eta"], grid["m"], grid["n_groups"], grid["tau"],
                                                              grid["corpus"]):
                settings.append((method, {"eta": eta, "m": m, "n_groups": n_g, "tau": tau, "corpus": corpus}))
        else:
            taus = grid["tau"] if method in TAU_PARAM else [None]
            settings += [(method, {"eta": None, "m": None, "n_groups": None, "tau": t, "corpus": None}) for t in taus]
    base = {**emb.profile.params, "perm_device_used": ex.perm_device(emb.profile.params)}
    sets = {"ID": emb.id_emb, **emb.ood_emb}
    images = {name: torch.from_numpy(np.array(x, dtype=np.float32)) for name, x in sets.items()}
    id_sims = {name: x @ torch.from_numpy(np.asarray(emb.id_text)).T for name, x in images.items()}
    neglabel = [s for m, s in settings if m == "neglabel"]
    by_bank: dict[tuple, list[dict[str, Any]]] = {}
    for setting in neglabel:  # one mining and one similarity matrix per (corpus, eta, M), reused for n_g and tau
        by_bank.setdefault((setting["corpus"], setting["eta"], setting["m"]), []).append(setting)
    score = registry.REGISTRY["neglabel"].score
    for (corpus, eta, m), group in tqdm(list(by_bank.items()), desc="explorer grid (NegLabel)", disable=not progress):
        view = an.corpus_view(emb, corpus)  # kept with its mining scores per eta
        m_used = min(int(m), len(view.corpus))
        negatives = ex.mine(view, eta=eta, m=m_used)
        neg_text = torch.from_numpy(np.asarray(view.corpus_emb)[negatives])
        neg_sims = {name: x @ neg_text.T for name, x in images.items()}
        for setting in group:
            params = {**base, "eta": eta, "m": m_used, "n_groups": min(setting["n_groups"], m_used), "tau": setting["tau"]}
            out = {name: score(id_sims[name], neg_sims[name], params).numpy() for name in sets}
            records += _records("neglabel", setting, out, rule)
    for method, setting in settings:
        if method == "neglabel":
            continue
        params = {TAU_PARAM[method]: setting["tau"]} if setting["tau"] is not None else {}
        scored = ex.score(emb, params, methods=(method,))
        records += _records(method, setting, {"ID": scored.id[method], **{n: s[method] for n, s in scored.ood.items()}}, rule)
    return records


def _select(name: str, label: str, options: Sequence[Any], value: Any, labels: Sequence[str] | None = None) -> dict:
    bind: dict[str, Any] = {"input": "select", "options": list(options), "name": f"{label} "}
    if labels:
        bind["labels"] = list(labels)
    return {"name": name, "value": value, "bind": bind}


def explorer_spec(records: Sequence[Mapping[str, Any]], emb: ex.Embedded,
                  grid: Mapping[str, Sequence[Any]] | None = None) -> dict[str, Any]:
    """The Vega-Lite spec: controls for method, OOD set, corpus, eta, M, n_g and tau (the
    profile's values where on the grid), the ID and OOD score histograms, the ROC curve and the
    AUROC/FPR95 line, all filtered to the chosen setting in the page."""
    grid = {**DEFAULT_GRID, **(grid or {})}
    p = emb.profile.params

    def near(values: Sequence[Any], target: Any) -> Any:
        return min(values, key=lambda v: abs(np.log(v) - np.log(target))) if target else values[0]

    sets = [*emb.ood_emb, POOLED]
    params = [
        _select("method", "method", list(METHODS), "neglabel", [an.method_label(m) for m in METHODS]),
        _select("ood_set", "OOD set", sets, POOLED),
        _select("corpus", "corpus (NegLabel)", grid["corpus"], grid["corpus"][0]),
        _select("eta", "eta (NegLabel)", grid["eta"], near(grid["eta"], p["eta"])),
        _select("M", "M (NegLabel)", grid["m"], near(grid["m"], p["m"])),
        _select("n_g", "n_g (NegLabel)", grid["n_groups"], near(grid["n_groups"], p["n_groups"])),
        _select("tau", "temperature (NegLabel, MCM, energy)", grid["tau"], near(grid["tau"], p["tau"])),
    ]
    chosen = ("datum.method == method && datum.set == ood_set && (datum.tau == null || datum.tau == tau) && "
              "(datum.method != 'neglabel' || (datum.eta == eta && datum.m == M && datum.n_groups == n_g && "
              "datum.corpus == corpus))")
    histogram = {
        "width": 290, "height": 220,
        "transform": [{"flatten": ["x0", "x1", "ID", "OOD"]}, {"fold": ["ID", "OOD"], "as": ["images", "fraction"]}],
        "mark": {"type": "bar", "opacity": 0.55, "binSpacing": 0},
        "encoding": {
            "x": {"field": "x0", "type": "quantitative", "title": "score (NegLabel: its log-odds)", "scale": {"zero": False}},
            "x2": {"field": "x1"},
            "y": {"field": "fraction", "type": "quantitative", "stack": None, "title": "fraction of the images"},
            "y2": {"datum": 0},
            "color": {"field": "images", "type": "nominal", "scale": {"domain": ["ID", "OOD"], "range": ["#1f77b4", "#ff7f0e"]},
                      "legend": {"orient": "top", "title": None}},
        },
    }
    roc = {
        "width": 190, "height": 220,
        "layer": [
            {"mark": {"type": "line", "color": "#2ca02c"}, "transform": [{"flatten": ["fpr", "tpr"]}],
             "encoding": {"x": {"field": "fpr", "type": "quantitative", "title": "FPR (OOD kept as ID)"},
                          "y": {"field": "tpr", "type": "quantitative", "title": "TPR (ID kept)"}}},
            {"mark": {"type": "rule", "strokeDash": [4, 4], "color": "#999"},
             "encoding": {"y": {"datum": 0.95}}},
        ],
    }
    summary = {
        "width": 600, "height": 24,
        "mark": {"type": "text", "align": "left", "fontSize": 14, "x": 0},
        "encoding": {"text": {"field": "summary"}},
        "transform": [{"calculate": "'AUROC ' + format(datum.auroc, '.2f') + ' %   ·   FPR95 ' + "
                                    "format(datum.fpr95, '.2f') + ' %   (' + datum.set + ')'", "as": "summary"}],
    }
    return {
        "data": {"values": list(records)},
        "params": params,
        "transform": [{"filter": chosen}],
        "vconcat": [summary, {"hconcat": [histogram, roc]}],
        "config": {"view": {"stroke": None}, "font": "sans-serif"},
    }


def explorer_html(spec: Mapping[str, Any], *, element_id: str = "neglabel-explorer",
                  script_root: str = "../vega") -> str:
    """The page fragment: a container, the vendored Vega scripts (``script_root`` relative to the
    page; the book copies them to the site's root) and one ``vegaEmbed`` call, SVG renderer (its
    text can be read by the browser check). RequireJS, where a page has it, is hidden while the
    scripts load so they define globals."""
    scripts = "\n".join(f'<script src="{script_root}/{name}"></script>' for name in VEGA_SCRIPTS)
    payload = json.dumps(spec, separators=(",", ":"), allow_nan=False)
    return f"""<div id="{html.escape(element_id)}" class="neglabel-explorer"></div>
<script>window.__neglabel_define = window.define; window.define = undefined;</script>
{scripts}
<script>
window.define = window.__neglabel_define;
if (typeof vegaEmbed === "undefined") {{  /* e.g. live in JupyterLab, where the book's vendored scripts are not served */
  document.getElementById("{element_id}").textContent =
    "The static explorer is drawn in the built book (its scripts are served there); here, use the live widgets below.";
}} else {{
  vegaEmbed("#{element_id}", {payload}, {{"actions": false, "renderer": "svg"}})
    .then(function (result) {{ window.neglabelExplorer = result.view; }})
    .catch(function (err) {{ console.error("explorer: " + err); }});
}}
</script>"""
