"""The static explorer's page: a Vega-Lite spec over the records of :mod:`.explorer` (controls
for method, OOD set, corpus, eta, M, n_g and tau; histograms, ROC curve, AUROC and FPR95) and the
HTML fragment that draws it with the Vega scripts vendored by :mod:`neglabel_core.site.build`."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import pipeline
from .chapter import method_label
from .explorer import AVERAGE, DEFAULT_GRID, METHODS, POOLED, TAU_PARAM, explorer_records, method_taus, profile_taus

# In load order: RequireJS hidden, Vega, its expression interpreter (no eval), Vega-Lite, vega-embed,
# then the book's drawing code (static/neglabel-explorer.js), which puts RequireJS back.
VEGA_SCRIPTS = ("neglabel-define-off.js", "vega.min.js", "vega-interpreter.min.js", "vega-lite.min.js",
                "vega-embed.min.js", "neglabel-explorer.js")


def _select(name: str, label: str, options: Sequence[Any], value: Any, labels: Sequence[str] | None = None) -> dict:
    bind: dict[str, Any] = {"input": "select", "options": list(options), "name": f"{label} "}
    if labels:
        bind["labels"] = list(labels)
    return {"name": name, "value": value, "bind": bind}


def explorer_spec(records: Sequence[Mapping[str, Any]], emb: pipeline.Embedded,
                  grid: Mapping[str, Sequence[Any]] | None = None) -> dict[str, Any]:
    """The Vega-Lite spec: controls for method, OOD set (each, all pooled, or the average over
    them), corpus, eta, M, n_g and one temperature per method that reads one (each starting at
    the profile's own value), the ID and OOD score histograms (the axis named per method), the
    ROC curve and the AUROC/FPR95 line, all filtered to the chosen setting in the page."""
    grid = {**DEFAULT_GRID, **(grid or {})}
    p = emb.profile.params

    def near(values: Sequence[Any], target: Any) -> Any:
        return min(values, key=lambda v: abs(np.log(v) - np.log(target))) if target else values[0]

    sets = [*emb.ood_emb, POOLED, AVERAGE]
    taus = method_taus(emb, grid)
    own = profile_taus(emb)
    params = [
        _select("method", "method", list(METHODS), "neglabel", [method_label(m) for m in METHODS]),
        _select("ood_set", "OOD set", sets, AVERAGE),
        _select("corpus", "corpus (NegLabel)", grid["corpus"], grid["corpus"][0]),
        _select("eta", "η (NegLabel)", grid["eta"], near(grid["eta"], p["eta"])),
        _select("M", "M (NegLabel)", grid["m"], near(grid["m"], p["m"])),
        _select("n_g", "n_g (NegLabel)", grid["n_groups"], near(grid["n_groups"], p["n_groups"])),
        *[_select(f"tau_{m}", f"τ ({method_label(m)})", taus[m], own[m]) for m in TAU_PARAM],
    ]
    own_tau = " || ".join(f"(datum.method == '{m}' && datum.tau == tau_{m})" for m in TAU_PARAM)
    chosen = (f"datum.method == method && datum.set == ood_set && (datum.tau == null || {own_tau}) && "
              "(datum.method != 'neglabel' || (datum.eta == eta && datum.m == M && datum.n_groups == n_g && "
              "datum.corpus == corpus))")
    histogram = {
        "width": 290, "height": 220,
        "transform": [{"flatten": ["x0", "x1", "ID", "OOD"]}, {"fold": ["ID", "OOD"], "as": ["images", "fraction"]}],
        "mark": {"type": "bar", "opacity": 0.55, "binSpacing": 0},
        "encoding": {
            "x": {"field": "x0", "type": "quantitative", "title": "score", "scale": {"zero": False}},
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
    # three short lines (a Vega text mark does not wrap: a long line would widen the page)
    notes = {"width": 480, "height": 46,
             "mark": {"type": "text", "align": "left", "baseline": "top", "fontSize": 12, "x": 0, "y": 0,
                      "lineBreak": "|"},
             "encoding": {"text": {"field": "notes"}},
             "transform": [{"calculate": "'histogram axis: ' + datum.axis + '|end bins: also the 0.5% most extreme scores "
                                         "on each side' + (datum.set == '" + AVERAGE + "' ? '|average: AUROC, FPR95 and ROC "
                                         "are means over the sets; the histogram pools them' : '')", "as": "notes"}]}
    return {
        "data": {"values": list(records)},
        "params": params,
        "transform": [{"filter": chosen}],
        "vconcat": [summary, {"hconcat": [histogram, roc]}, notes],
        "config": {"view": {"stroke": None}, "font": "sans-serif"},
    }


# Characters that could end an inline script or start markup in it, written as JSON escapes (the
# same value once parsed): a name from a reader's data stays text, never script.
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> str:
    """``value`` as JSON safe inside an HTML ``<script>``: ``<``, ``>``, ``&``, U+2028 and U+2029
    escaped as ``\\uXXXX`` (no ``</script>`` or ``<!--`` can occur), NaN refused."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.translate(str.maketrans(_SCRIPT_UNSAFE))


def explorer_html(spec: Mapping[str, Any], *, element_id: str = "neglabel-explorer",
                  script_root: str = "../vega") -> str:
    """The page fragment: a container, the spec as a JSON data block (not script: it never runs),
    and the book's files that draw it (:data:`VEGA_SCRIPTS`, ``script_root`` relative to the page;
    the book copies them to the site's root), SVG renderer (its text can be read by the browser
    check). No inline script, so the pages' Content-Security-Policy can refuse every inline script
    in the content. Where the files are not served (live in JupyterLab) the container's text says so."""
    scripts = "\n".join(f'<script src="{script_root}/{name}"></script>' for name in VEGA_SCRIPTS)
    spec_id = html.escape(f"{element_id}-spec")
    return f"""<div id="{html.escape(element_id)}" class="neglabel-explorer" data-spec="{spec_id}">The static explorer is \
drawn in the built book (its scripts are served there); here, use the live widgets below.</div>
<script type="application/json" id="{spec_id}">{script_json(spec)}</script>
{scripts}"""


def static_explorer(emb: pipeline.Embedded, grid: Mapping[str, Sequence[Any]] | None = None, *,
                    progress: bool = False) -> str:
    """The static explorer's HTML for the page: :func:`.explorer.explorer_records` over ``grid``
    (default :data:`.explorer.DEFAULT_GRID`) drawn by :func:`explorer_spec` and :func:`explorer_html`."""
    return explorer_html(explorer_spec(explorer_records(emb, grid, progress=progress), emb, grid))
