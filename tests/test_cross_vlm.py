"""The cross-model chapter's computations: Kendall's tau-b against scipy, rank agreement over a
shared bootstrap of the images, the VLM settings it accepts."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.metrics import roc_auc_score

from neglabel_core.book import cross_vlm
from neglabel_core.ood.agreement import kendall_tau_b
from neglabel_core.profiles import load_profile


def test_kendall_tau_b_equals_scipy_with_and_without_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, y = rng.integers(0, 4, 8).astype(float), rng.integers(0, 5, 8).astype(float)
        want = kendalltau(x, y).statistic
        got = kendall_tau_b(x, y)
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)
    x, y = rng.random((6, 5)), rng.random((6, 5))
    np.testing.assert_allclose(kendall_tau_b(x, y), [kendalltau(a, b).statistic for a, b in zip(x, y)], atol=1e-12)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == -1.0 and np.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match=r"^x has shape \(3,\) and y \(2,\); expected the same shape$"):
        kendall_tau_b([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"expected at least two items along the last axis"):
        kendall_tau_b([1.0], [2.0])


def _fake(scores_by_method: dict, n_id: int, n_ood: int):
    """An Embedded/Scored pair holding given scores (ID first, then one OOD set), every image its own unit."""
    sets = ["far"]
    data = SimpleNamespace(id_images=SimpleNamespace(units=np.arange(n_id)), ood={"far": SimpleNamespace(units=np.arange(n_ood))})
    scored = SimpleNamespace(methods=list(scores_by_method), ood=dict.fromkeys(sets), params={"fpr_rule": "closest"},
                             id_scores=lambda m, s: scores_by_method[m][:n_id],
                             ood_scores=lambda m, s: scores_by_method[m][n_id:])
    return SimpleNamespace(data=data), {"scored": scored}


def test_rank_agreement_point_is_tau_of_the_aurocs_and_bounds_hold():
    rng = np.random.default_rng(1)
    n_id, n_ood = 60, 50
    labels = np.r_[np.ones(n_id), np.zeros(n_ood)]
    # five methods of graded quality under model A; model B orders them the other way round
    shift_a, shift_b = [0.2, 0.6, 1.0, 1.4, 1.8], [1.8, 1.4, 1.0, 0.6, 0.2]
    noise = rng.normal(size=(5, n_id + n_ood))
    a = {f"m{i}": noise[i] + shift_a[i] * labels for i in range(5)}
    b = {f"m{i}": noise[i] + shift_b[i] * labels for i in range(5)}
    emb_a, run_a = _fake(a, n_id, n_ood)
    emb_b, run_b = _fake(b, n_id, n_ood)
    out = cross_vlm.rank_agreement({"A": emb_a, "B": emb_b}, {"A": run_a, "B": run_b}, n_bootstrap=200)
    row = out.iloc[0]
    auc_a = [roc_auc_score(labels, a[m]) for m in a]
    auc_b = [roc_auc_score(labels, b[m]) for m in b]
    assert row["tau"] == pytest.approx(kendalltau(auc_a, auc_b).statistic) and row["methods"] == 5
    assert -1 <= row["lo"] <= row["tau"] <= row["hi"] <= 1 and row["tau"] < 0
    same = cross_vlm.rank_agreement({"A": emb_a, "A again": emb_a}, {"A": run_a, "A again": run_a}, n_bootstrap=50).iloc[0]
    assert (same["tau"], same["lo"], same["hi"]) == (1.0, 1.0, 1.0)
    alone = cross_vlm.rank_agreement({"A": emb_a}, {"A": run_a}, n_bootstrap=10)
    assert alone.empty


def test_vlm_settings_are_checked_and_merged():
    with pytest.raises(ValueError, match=r"^vlms=\{\}; expected a non-empty mapping of a label to profile overrides$"):
        cross_vlm.check_vlms({})
    with pytest.raises(ValueError, match=r"^vlms\[' '\]=\{\}; expected a non-empty label and a mapping of profile keys$"):
        cross_vlm.check_vlms({" ": {}})
    with pytest.raises(ValueError, match=r"vlms\['x'\]='RN50'; expected"):
        cross_vlm.check_vlms({"x": "RN50"})
    assert cross_vlm._merged({"params": {"eta": 0.1, "m": 5}, "model": {"name": "a"}},
                             {"params": {"m": 7}, "model": {"name": "b", "pretrained": "@align"}}) == \
        {"params": {"eta": 0.1, "m": 7}, "model": {"name": "b", "pretrained": "@align"}}
    assert list(cross_vlm.default_vlms(load_profile("emoji-tiny"))) == list(cross_vlm.EMBEDDED_VLMS)
    assert list(cross_vlm.default_vlms(load_profile("emoji-mobilenet"))) == list(cross_vlm.EMBEDDED_VLMS)
    assert cross_vlm.default_vlms(load_profile("imagenet-clip")) == {"ViT-B-16 (openai)": {}}


def test_methods_must_include_neglabel_and_be_registered():
    assert cross_vlm.check_methods(None) == cross_vlm.chapter_methods() and "neglabel" in cross_vlm.chapter_methods()
    with pytest.raises(ValueError, match=r"^methods=\['mcm', 'energy'\]; expected a list that includes 'neglabel'"):
        cross_vlm.check_methods(["mcm", "energy"])
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['clip'\]"):
        cross_vlm.check_methods(["neglabel", "clip"])


def test_sign_sentence_says_whether_each_gap_keeps_its_sign():
    import pandas as pd

    gaps = pd.DataFrame([
        {"VLM": "A <b>", "against": "energy", "AUROC diff": -1.4, "AUROC lo": -2.0, "AUROC hi": -0.8,
         "AUROC verdict": "clear of zero"},
        {"VLM": "B", "against": "energy", "AUROC diff": 1.2, "AUROC lo": -0.1, "AUROC hi": 2.5, "AUROC verdict": "includes zero"},
        {"VLM": "A <b>", "against": "MCM", "AUROC diff": 5.6, "AUROC lo": 4.0, "AUROC hi": 7.0, "AUROC verdict": "clear of zero"},
        {"VLM": "B", "against": "MCM", "AUROC diff": 8.7, "AUROC lo": 7.0, "AUROC hi": 10.0, "AUROC verdict": "clear of zero"},
    ])
    assert cross_vlm.sign_sentence(gaps) == (
        "NegLabel minus each baseline, AUROC points: against energy the gap changes sign "
        "(A \\<b\\>: -1.40 [-2.00, -0.80] (clear of zero); B: +1.20 [-0.10, +2.50] (includes zero)); "
        "against MCM the gap keeps its sign (A \\<b\\>: +5.60 [+4.00, +7.00] (clear of zero); "
        "B: +8.70 [+7.00, +10.00] (clear of zero)).")


def test_best_method_follows_the_models_order_and_the_metrics_direction():
    import pandas as pd

    def run(aurocs, fprs):
        rows = [{"method": m, "label": m.upper(), "ood_set": "average", "AUROC": a, "FPR95": f}
                for m, a, f in zip(("neglabel", "energy", "mcm"), aurocs, fprs)]
        return {"table": pd.DataFrame(rows)}

    runs = {"Z model": run([90, 91, 80], [40, 38, 60]), "A model": run([85, 83, 84], [50, 55, 45])}
    assert cross_vlm.best_method(runs) == {"Z model": "ENERGY", "A model": "NEGLABEL"}
    assert list(cross_vlm.best_method(runs, "FPR95").items()) == [("Z model", "ENERGY"), ("A model", "MCM")]


def test_best_sentence_reads_the_table_not_a_typed_claim():
    assert cross_vlm.best_sentence({"A": "energy", "B": "AdaNeg (task-adaptive)"}) == (
        "The best method by mean AUROC is not the same under every model (A: energy; B: AdaNeg \\(task\\-adaptive\\))")
    assert cross_vlm.best_sentence({"A": "energy", "B": "energy"}).startswith(
        "The best method by mean AUROC is the same under every model")
    assert cross_vlm.best_sentence({"A": "energy"}) == "The best method by mean AUROC: A: energy (one model only)"
