"""The results the CLI, the book and the paper comparison read: per-set rows, the paper's
average (mean over sets), the pooled row, the FPR95 rule and the grouping device."""

import logging

import numpy as np
import pytest

from neglabel_core import pipeline as ex
from neglabel_core.ood import methods as registry
from neglabel_core.ood import metrics
from neglabel_core.pipeline import scoring

MAIN = registry.default_methods()


def scored(params=None, names=("near", "far")):
    rng = np.random.default_rng(0)
    id_scores = {m: rng.normal(1, 1, 120) for m in MAIN}
    sizes = {"near": 400, "far": 40}
    shifts = {"near": 0.7, "far": -1.5}
    ood = {n: {m: rng.normal(shifts.get(n, 0.0), 1, sizes.get(n, 50)) for m in MAIN} for n in names}
    return ex.Scored({"fpr_rule": "closest", **(params or {})}, np.arange(3), id_scores, ood)


def test_average_is_the_mean_of_the_set_rows_and_pooled_is_the_concatenation():
    s = scored()
    out = ex.results(s)
    assert list(out) == ["near", "far", "average", "pooled"]
    for m in MAIN:
        for key, f in (("auroc", metrics.auroc), ("fpr95", lambda a, b: metrics.fpr_at_tpr(a, b, rule="closest"))):
            per_set = [100 * f(s.id[m], s.ood[n][m]) for n in ("near", "far")]
            assert [out[n][m][key] for n in ("near", "far")] == per_set
            assert out["average"][m][key] == pytest.approx(np.mean(per_set), abs=1e-12)
            assert out["pooled"][m][key] == 100 * f(s.id[m], np.r_[s.ood["near"][m], s.ood["far"][m]])
    # the sets differ in size, so pooling (weighted toward the large near set) is another number
    assert abs(out["average"]["neglabel"]["auroc"] - out["pooled"]["neglabel"]["auroc"]) > 3


def test_fpr_rule_is_taken_from_the_params():
    closest, at_least = ex.results(scored()), ex.results(scored({"fpr_rule": "at_least"}))
    s = scored()
    assert at_least["near"]["mcm"]["fpr95"] == 100 * metrics.fpr_at_tpr(s.id["mcm"], s.ood["near"]["mcm"], rule="at_least")
    assert closest["near"]["mcm"]["fpr95"] == 100 * metrics.fpr_at_tpr(s.id["mcm"], s.ood["near"]["mcm"], rule="closest")
    assert ex.fpr_rule({}) == "closest"


@pytest.mark.parametrize("name", ["average", "pooled"])
def test_reserved_set_names_are_rejected(name):
    with pytest.raises(ValueError, match=rf"^OOD set name\(s\) \['{name}'\] are reserved for the summary rows "
                                         r"\['average', 'pooled'\]; rename the set\(s\)$"):
        ex.results(scored(names=("near", name)))


def test_perm_device(monkeypatch, caplog):
    assert ex.perm_device({}) == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    scoring._warn_cpu_draw.cache_clear()
    with caplog.at_level(logging.WARNING):
        assert ex.perm_device({"perm_device": "cuda"}) == "cpu"
        assert ex.perm_device({"perm_device": "cuda"}) == "cpu"
    assert caplog.text.count("CUDA is not available, so the grouping permutation is drawn on the CPU") == 1  # once
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert ex.perm_device({"perm_device": "cuda"}) == "cuda"
    with pytest.raises(ValueError, match=r"^perm_device 'gpu'; expected 'cpu' or 'cuda'$"):
        ex.perm_device({"perm_device": "gpu"})


def test_method_scores_computes_exactly_the_methods_asked_for():
    rng = np.random.default_rng(1)
    image, id_text, neg = (rng.normal(size=(n, 8)).astype(np.float32) for n in (5, 3, 20))
    params = {"tau": 0.01, "n_groups": 4, "seed": 0, "mcm_tau": 1.0, "energy_tau": 0.01}
    got = registry.method_scores(image, id_text, neg, params, ("max_cos", "neglabel_official_ng1"))
    assert list(got) == ["max_cos", "neglabel_official_ng1"]
    np.testing.assert_allclose(got["neglabel_official_ng1"], (image @ id_text.T).sum(1) / 0.01, rtol=1e-5)
    with pytest.raises(ValueError,
                       match=r"^unknown method\(s\) \['odin'\]; expected some of \['neglabel', 'mcm', "):
        registry.method_scores(image, id_text, neg, params, ("odin",))
    assert list(registry.method_scores(image, id_text, neg, params)) == ["neglabel", "mcm", "max_cos", "energy"]


def test_registry_entries():
    assert registry.default_methods() == ("neglabel", "mcm", "max_cos", "energy")
    assert registry.REGISTRY["neglabel"].needs == "negatives" and registry.REGISTRY["energy"].needs == "id"
    assert registry.label("max_cos") == "max cosine" and registry.label("unregistered") == "unregistered"
    with pytest.raises(ValueError, match=r"^method 'mcm' is registered already$"):
        registry.register(registry.REGISTRY["mcm"])
    with pytest.raises(ValueError, match=r"^method 'x' needs 'stream'; expected one of \['id', 'negatives'\]$"):
        registry.register(registry.Method("x", "x", lambda *a: None, needs="stream"))
