import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from neglabel_core import metrics


def labelled(id_s, ood_s):
    return np.r_[np.ones(len(id_s)), np.zeros(len(ood_s))], np.r_[id_s, ood_s]


@pytest.fixture(params=["continuous", "ties"])
def score_sets(request):
    rng = np.random.default_rng(3)
    id_s, ood_s = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 200)
    if request.param == "ties":
        id_s, ood_s = np.round(id_s, 1), np.round(ood_s, 1)
    return id_s, ood_s


def test_auroc_matches_sklearn(score_sets):
    y, s = labelled(*score_sets)
    assert metrics.auroc(*score_sets) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_aupr_in_and_out_match_sklearn(score_sets):
    y, s = labelled(*score_sets)
    assert metrics.aupr_in(*score_sets) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert metrics.aupr_out(*score_sets) == pytest.approx(average_precision_score(1 - y, -s), abs=1e-12)


def test_fpr95_matches_sklearn_roc_curve(score_sets):
    y, s = labelled(*score_sets)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    expected = fpr[np.searchsorted(tpr, 0.95, side="left")]
    assert metrics.fpr_at_tpr(*score_sets, tpr=0.95) == pytest.approx(expected, abs=1e-12)


def test_fpr_by_hand():
    id_s = np.arange(1, 21, dtype=float)  # 20 ID scores; 95% kept -> threshold at the 19th largest = 2
    ood_s = np.array([0.0, 1.9, 2.0, 2.5, 30.0])
    assert metrics.fpr_at_tpr(id_s, ood_s) == pytest.approx(3 / 5)  # 2.0, 2.5, 30 are >= 2
    assert metrics.auroc([1.0, 2.0], [0.0, 3.0]) == pytest.approx(0.5)
    assert metrics.auroc([1.0], [1.0]) == pytest.approx(0.5)


def test_perfect_separation():
    assert metrics.auroc([2, 3], [0, 1]) == 1.0
    assert metrics.fpr_at_tpr([2, 3], [0, 1]) == 0.0


def test_summarize_table_and_bootstrap():
    rng = np.random.default_rng(0)
    id_s = rng.normal(1, 1, 400)
    near, far = rng.normal(0.7, 1, 300), rng.normal(-1, 1, 300)
    table = metrics.summarize(id_s, {"near": near, "far": far}, n_bootstrap=100, seed=1)
    assert list(table.index) == ["near", "far", "average"]
    assert table.loc["far", "AUROC"] == pytest.approx(100 * metrics.auroc(id_s, far))
    assert table.loc["near", "FPR95"] == pytest.approx(100 * metrics.fpr_at_tpr(id_s, near))
    assert table.loc["average", "AUROC"] == pytest.approx(table.loc[["near", "far"], "AUROC"].mean())
    for m in ("AUROC", "FPR95", "AUPR-In", "AUPR-Out"):
        assert (table[f"{m}_lo"] <= table[m] + 1e-9).all() and (table[m] <= table[f"{m}_hi"] + 1e-9).all()
    assert table.loc["far", "AUROC"] > table.loc["near", "AUROC"]
    again = metrics.summarize(id_s, {"near": near, "far": far}, n_bootstrap=100, seed=1)
    assert again.equals(table)


def test_unit_bootstrap_is_wider_for_correlated_units():
    # 20 concepts x 30 near-identical images: resampling images pretends 600 independent samples.
    rng = np.random.default_rng(5)
    id_units = np.repeat(np.arange(20), 30)
    id_s = np.repeat(rng.normal(1, 1, 20), 30) + rng.normal(0, 0.01, 600)
    ood_units = np.repeat(np.arange(20), 30)
    ood_s = np.repeat(rng.normal(0, 1, 20), 30) + rng.normal(0, 0.01, 600)
    by_image = metrics.summarize(id_s, {"o": ood_s}, n_bootstrap=200)
    by_unit = metrics.summarize(id_s, {"o": ood_s}, id_units=id_units, ood_units={"o": ood_units}, n_bootstrap=200)
    width = lambda t: t.loc["o", "AUROC_hi"] - t.loc["o", "AUROC_lo"]
    assert width(by_unit) > 2 * width(by_image)


def test_metric_errors():
    with pytest.raises(ValueError, match=r"^ood_scores is empty \(shape \(0,\)\); expected at least one value$"):
        metrics.auroc([1.0, 2.0], [])
    with pytest.raises(ValueError, match=r"^id_scores is empty"):
        metrics.fpr_at_tpr([], [1.0])
    with pytest.raises(ValueError, match=r"^tpr must lie in the open interval \(0, 1\), got 1.5$"):
        metrics.fpr_at_tpr([1.0], [1.0], tpr=1.5)
    with pytest.raises(ValueError, match=r"^ood_scores is empty; expected at least one OOD set$"):
        metrics.summarize([1.0], {})
    with pytest.raises(ValueError, match=r"^id_units has 1 entries but id_scores has 2; expected one per sample$"):
        metrics.summarize([1.0, 2.0], {"o": [0.0]}, id_units=[1])
    with pytest.raises(ValueError, match=r"^ood_scores\['o'\] contains 1 NaN"):
        metrics.summarize([1.0, 2.0], {"o": [np.nan]})
