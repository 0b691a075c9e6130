"""The static explorer's grid: every record is the pipeline's number for its setting, and the
spec the page draws filters to exactly one record per control setting."""

import json

import numpy as np
import pytest

from neglabel_core import pipeline as ex
from neglabel_core.analysis import explorer, vega
from neglabel_core.ood import metrics

from .test_successors import synthetic  # noqa: F401  (fixture)

GRID = {"eta": [0.05, 0.5], "m": [10, 20], "n_groups": [1, 2], "tau": [0.01, 0.1], "corpus": ["WordNet nouns"]}


def test_records_are_the_pipelines_numbers(synthetic):  # noqa: F811
    emb = synthetic
    records = explorer.explorer_records(emb, GRID, methods=("neglabel", "mcm", "max_cos"))
    n_sets = len(emb.ood_emb) + 2  # each set, all pooled, their average
    taus = explorer.method_taus(emb, GRID)  # each method's own temperatures: the grid's and the profile's own
    assert taus["mcm"] == sorted({0.01, 0.1, emb.profile.params.get("mcm_tau", 1.0)})
    assert len(records) == (2 * 2 * 2 * len(taus["neglabel"]) + len(taus["mcm"]) + 1) * n_sets
    average = next(r for r in records if r["method"] == "max_cos" and r["set"] == explorer.AVERAGE)
    per_set = [r["auroc"] for r in records if r["method"] == "max_cos" and r["set"] in emb.ood_emb]
    assert average["auroc"] == round(float(np.mean(per_set)), 2)
    rec = next(r for r in records if r["method"] == "neglabel" and r["set"] == "B" and r["eta"] == 0.5
               and r["m"] == 10 and r["n_groups"] == 2 and r["tau"] == 0.1)
    scored = ex.score(emb, {"eta": 0.5, "m": 10, "n_groups": 2, "tau": 0.1, "pos_fraction": None}, methods=("neglabel",))
    id_s, ood_s = scored.id["neglabel"], scored.ood["B"]["neglabel"]
    assert rec["auroc"] == round(100 * metrics.auroc(id_s, ood_s), 2)
    assert rec["fpr95"] == round(100 * metrics.fpr_at_tpr(id_s, ood_s, rule="closest"), 2)
    assert sum(rec["ID"]) == pytest.approx(1, abs=1e-3) and sum(rec["OOD"]) == pytest.approx(1, abs=1e-3)
    assert rec["fpr"][0] == 0 and rec["fpr"][-1] == 1 and rec["tpr"][-1] == 1 and len(rec["x0"]) == explorer.BINS
    mcm = [r for r in records if r["method"] == "mcm" and r["set"] == explorer.POOLED]
    assert sorted(r["tau"] for r in mcm) == taus["mcm"] and all(r["eta"] is None for r in mcm)
    pooled = next(r for r in records if r["method"] == "max_cos" and r["set"] == explorer.POOLED)
    all_ood = np.concatenate([s["max_cos"] for s in ex.score(emb, methods=("max_cos",)).ood.values()])
    assert pooled["auroc"] == round(100 * metrics.auroc(ex.score(emb, methods=("max_cos",)).id["max_cos"], all_ood), 2)
    with pytest.raises(ValueError, match=r"^unknown corpus \['Wikipedia'\]; expected some of \['WordNet nouns', "):
        explorer.explorer_records(emb, {**GRID, "corpus": ["Wikipedia"]})


def test_spec_filters_to_one_record_per_setting(synthetic):  # noqa: F811
    emb = synthetic
    records = explorer.explorer_records(emb, GRID, methods=("neglabel", "max_cos"))
    spec = vega.explorer_spec(records, emb, GRID)
    json.dumps(spec, allow_nan=False)  # the page gets strict JSON
    params = {p["name"]: p for p in spec["params"]}
    assert set(params) == {"method", "ood_set", "corpus", "eta", "M", "n_g", "tau_neglabel", "tau_mcm", "tau_energy"}
    p = emb.profile.params
    assert params["tau_mcm"]["value"] == p.get("mcm_tau", 1.0) and params["tau_neglabel"]["value"] == p["tau"]
    assert params["eta"]["value"] == 0.05 and params["eta"]["bind"]["options"] == [0.05, 0.5]
    # the filter, evaluated in Python for every combination of the controls: exactly one record each
    expr = spec["transform"][0]["filter"]
    for method in ("neglabel", "max_cos"):
        for eta in GRID["eta"]:
            for tau in GRID["tau"]:
                env = {"method": method, "ood_set": "A", "corpus": "WordNet nouns", "eta": eta, "M": 10, "n_g": 1,
                       "tau_neglabel": tau, "tau_mcm": 1.0, "tau_energy": 0.01}
                hits = [r for r in records if _filter(expr, r, env)]
                assert len(hits) == 1, (method, eta, tau)
    html = vega.explorer_html(spec)
    assert html.count("<script src=") == len(vega.VEGA_SCRIPTS) == 6
    assert '<script src="../vega/vega-interpreter.min.js">' in html  # expressions without eval
    spec_block = html.split('id="neglabel-explorer-spec">', 1)[1].split("</script>", 1)[0]
    assert json.loads(spec_block) == json.loads(json.dumps(spec))


def _filter(expr: str, datum: dict, env: dict) -> bool:
    """The Vega expression in Python: && -> and, || -> or, == -> ==, null -> None."""
    py = expr.replace("&&", " and ").replace("||", " or ").replace("null", "None")
    return bool(eval(py, {}, {"datum": type("D", (), datum), **env}))  # noqa: S307 - our own expression


def test_the_grid_is_kept_by_its_inputs(synthetic, monkeypatch):  # noqa: F811
    emb = synthetic
    first = explorer.explorer_records(emb, GRID, methods=("neglabel", "mcm"))
    real = explorer._explorer_records
    monkeypatch.setattr(explorer, "_explorer_records", lambda *a, **k: pytest.fail("a kept grid computed again"))
    assert explorer.explorer_records(emb, GRID, methods=("neglabel", "mcm")) == first
    monkeypatch.setattr(explorer, "_explorer_records", real)
    other = explorer.explorer_records(emb, {**GRID, "tau": [0.02]}, methods=("neglabel", "mcm"))
    assert other != first and {r["tau"] for r in other if r["method"] == "neglabel"} == {0.02, emb.profile.params["tau"]}
