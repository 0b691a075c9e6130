import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from neglabel_core.ood import metrics


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


def test_roc_curve_matches_sklearn(score_sets):
    y, s = labelled(*score_sets)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    ours_fpr, ours_tpr = metrics.roc_curve(*score_sets)
    np.testing.assert_allclose(ours_fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(ours_tpr, tpr, atol=1e-12)


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


def official_fpr_at_recall(id_s, ood_s, recall_level=0.95):
    """The OOD literature's ``fpr_and_fdr_at_recall`` (NegLabel's and MCM's code), transcribed
    step by step from its description in docs/methods.md (section 4): an independent reference."""
    y_true = np.r_[np.ones(len(id_s)), np.zeros(len(ood_s))]
    y_score = np.r_[id_s, ood_s].astype(np.float64)
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[order], y_true[order]
    threshold_idxs = np.r_[np.where(np.diff(y_score))[0], y_true.size - 1]
    tps = np.cumsum(y_true)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    recall = tps / tps[-1]
    last_ind = tps.searchsorted(tps[-1])
    sl = slice(last_ind, None, -1)
    recall, fps = np.r_[recall[sl], 1], np.r_[fps[sl], 0]
    cutoff = np.argmin(np.abs(recall - recall_level))
    return fps[cutoff] / np.sum(np.logical_not(y_true))


def test_fpr_rules_by_hand():
    id_s = np.arange(1, 21, dtype=float)  # 20 ID scores: recall 19/20 = 0.95 exactly from threshold 2 down to just above 1
    ood_s = np.array([0.5, 1.5, 30.0])
    # at_least: the largest threshold keeping 95% of ID is 2 (the 19th largest); OOD >= 2: only 30.
    assert metrics.fpr_at_tpr(id_s, ood_s, rule="at_least") == pytest.approx(1 / 3)
    # closest: recall 0.95 is hit exactly; of its thresholds the lowest (1.5, an OOD score) comes
    # first, so 1.5 and 30 count.
    assert metrics.fpr_at_tpr(id_s, ood_s, rule="closest") == pytest.approx(2 / 3)
    # 10 ID scores: recall 0.9 (|0.9 - 0.95| = 0.04999...) is closer in float64 than recall 1.0
    # (0.05000...04): the closest rule stops below 95% recall, above the lowest ID score 1.
    id10 = np.arange(1, 11, dtype=float)
    ood = np.array([0.5, 1.0, 9.5])
    assert metrics.fpr_at_tpr(id10, ood, rule="at_least") == pytest.approx(2 / 3)  # threshold 1: 1.0 and 9.5
    assert metrics.fpr_at_tpr(id10, ood, rule="closest") == pytest.approx(1 / 3)  # threshold just above 1: 9.5
    assert metrics.fpr_at_tpr(id10, ood) == metrics.fpr_at_tpr(id10, ood, rule="at_least")  # the default


def test_closest_rule_matches_the_official_procedure(score_sets):
    rng = np.random.default_rng(11)
    cases = [score_sets, (rng.normal(1, 1, 1000), rng.normal(0, 1, 1000)),
             (np.round(rng.normal(1, 1, 997), 0), np.round(rng.normal(0, 1, 501), 0)),  # heavy ties
             (np.full(5, 1.0), np.full(3, 1.0))]
    for id_s, ood_s in cases:
        for level in (0.95, 0.9, 0.5):
            assert metrics.fpr_at_tpr(id_s, ood_s, level, rule="closest") == official_fpr_at_recall(id_s, ood_s, level)
    id_s, ood_s = cases[1]
    assert metrics.fpr_at_tpr(id_s, ood_s, rule="closest") != metrics.fpr_at_tpr(id_s, ood_s, rule="at_least")


def test_unknown_fpr_rule():
    with pytest.raises(ValueError, match=r"^unknown FPR rule 'nearest'; expected one of \['at_least', 'closest'\]$"):
        metrics.fpr_at_tpr([1.0], [0.0], rule="nearest")
    with pytest.raises(ValueError, match=r"^unknown FPR rule 'x'"):
        metrics.summarize([1.0], {"o": [0.0]}, fpr_rule="x")


def test_summarize_average_is_the_mean_over_sets_not_pooled():
    rng = np.random.default_rng(2)
    id_s = rng.normal(1, 1, 300)
    small, large = rng.normal(-1, 1, 50), rng.normal(0.8, 1, 2000)
    table = metrics.summarize(id_s, {"small": small, "large": large}, n_bootstrap=0, fpr_rule="closest")
    assert table.loc["average", "FPR95"] == pytest.approx((table.loc["small", "FPR95"] + table.loc["large", "FPR95"]) / 2)
    assert table.loc["small", "FPR95"] == pytest.approx(100 * official_fpr_at_recall(id_s, small))
    pooled = 100 * metrics.auroc(id_s, np.r_[small, large])
    assert abs(table.loc["average", "AUROC"] - pooled) > 5  # size-weighted pooling is another number
    with pytest.raises(ValueError, match=r"^an OOD set is named 'average', the name of the mean over sets; rename the set$"):
        metrics.summarize(id_s, {"average": small})


def test_paired_difference_by_hand_and_narrower_than_unpaired():
    id_s = np.array([3.0, 4.0])
    a, b = {"o": np.array([1.0, 3.5])}, {"o": np.array([1.0, 5.0])}
    table = metrics.paired_difference(id_s, a, id_s, b, n_bootstrap=50)
    # A: P(id > ood) = (1 + 1 + 0 + 1) / 4 = 0.75; B: (1 + 1 + 0 + 0) / 4 = 0.5: a gap of 25 points.
    assert table.loc["o", "diff"] == pytest.approx(25.0) and table.loc["average", "diff"] == pytest.approx(25.0)
    # The same arm twice: zero, with a zero-width interval (the resample is shared).
    same = metrics.paired_difference(id_s, a, id_s, a, n_bootstrap=50)
    assert (same[["diff", "lo", "hi", "se"]].to_numpy() == 0).all()

    rng = np.random.default_rng(4)
    base_id, base_ood = rng.normal(1, 1, 400), rng.normal(0, 1, 400)
    noise = lambda x: x + rng.normal(0, 0.05, len(x))  # two arms that share most of their signal
    arm_a = (noise(base_id), {"o": noise(base_ood)})
    arm_b = (noise(base_id) + 0.05, {"o": noise(base_ood)})
    paired = metrics.paired_difference(arm_a[0], arm_a[1], arm_b[0], arm_b[1], n_bootstrap=300, seed=1)
    single = metrics.summarize(arm_a[0], arm_a[1], n_bootstrap=300, seed=1)
    paired_width = paired.loc["o", "hi"] - paired.loc["o", "lo"]
    assert paired_width < 0.5 * (single.loc["o", "AUROC_hi"] - single.loc["o", "AUROC_lo"])
    assert paired.loc["o", "lo"] <= paired.loc["o", "diff"] <= paired.loc["o", "hi"]
    # the standard error of a near-normal gap: the 95% interval spans about 2 x 1.96 of it
    assert paired_width / (2 * 1.96 * paired.loc["o", "se"]) == pytest.approx(1.0, abs=0.2)
    with pytest.raises(ValueError, match=r"^the arms must share their OOD sets, got \['o'\] and \['p'\]$"):
        metrics.paired_difference(id_s, a, id_s, {"p": b["o"]})
    with pytest.raises(ValueError, match=r"^unknown metric 'AUC'; expected one of \['AUROC', 'FPR95', 'AUPR-In', 'AUPR-Out'\]$"):
        metrics.paired_difference(id_s, a, id_s, b, metric="AUC")


def test_arm_replicates_follow_the_documented_draw():
    # Two arms with different ID images of the same three units (arm "b" two of unit 1, one of the others),
    # one OOD set without units. The replicate is recomputed here from the same generator: the ID
    # units drawn from the union, then the OOD images.
    rng = np.random.default_rng(3)
    id_a, units_a = rng.normal(1, 1, 6), np.array([0, 0, 1, 1, 2, 2])
    id_b, units_b = rng.normal(1, 1, 4), np.array([1, 0, 1, 2])
    ood = rng.normal(0, 1, 5)
    point, reps = metrics.arm_replicates({"a": (id_a, units_a, {"o": ood}), "b": (id_b, units_b, {"o": ood})},
                                         n_bootstrap=4, seed=11)
    assert point.loc["a", "o"] == pytest.approx(100 * metrics.auroc(id_a, ood))
    assert point.loc["b", "average"] == pytest.approx(100 * metrics.auroc(id_b, ood))
    draw = np.random.default_rng(11)
    for r in range(4):
        units = draw.integers(0, 3, 3)
        j = draw.integers(0, 5, 5)
        ia = np.concatenate([np.flatnonzero(units_a == u) for u in units])
        ib = np.concatenate([np.flatnonzero(units_b == u) for u in units])
        assert reps["o"][r, 0] == pytest.approx(100 * metrics.auroc(id_a[ia], ood[j]))
        assert reps["o"][r, 1] == pytest.approx(100 * metrics.auroc(id_b[ib], ood[j]))
    np.testing.assert_array_equal(reps["average"], reps["o"])


def test_arm_replicates_of_identical_arms_differ_by_nothing():
    rng = np.random.default_rng(0)
    x, units, ood = rng.normal(size=20), np.arange(20) // 2, {"s": rng.normal(size=9), "t": rng.normal(size=7)}
    _, reps = metrics.arm_replicates({"a": (x, units, ood), "b": (x.copy(), units, ood)}, n_bootstrap=30, metric="FPR95")
    np.testing.assert_array_equal(reps["average"][:, 0], reps["average"][:, 1])


def test_arm_replicates_errors():
    x = np.zeros(3)
    with pytest.raises(ValueError, match=r"arms\['a'\] has no id_units; expected one unit per ID image"):
        metrics.arm_replicates({"a": (x, None, {"s": x})})
    with pytest.raises(ValueError, match=r"arm 'b' scores the OOD sets \['t'\]; expected \['s'\] \(as arm 'a'\)"):
        metrics.arm_replicates({"a": (x, [0, 1, 2], {"s": x}), "b": (x, [0, 1, 2], {"t": x})})
    with pytest.raises(ValueError, match="unknown metric 'AUC'"):
        metrics.arm_replicates({"a": (x, [0, 1, 2], {"s": x})}, metric="AUC")


def test_arm_replicates_take_per_set_id_scores():
    # A stream arm: its ID scores differ per OOD set; the same replicates as the plain draw.
    rng = np.random.default_rng(2)
    units = np.arange(8) // 2
    per_set = {"s": rng.normal(1, 1, 8), "t": rng.normal(1, 1, 8)}
    ood = {"s": rng.normal(size=6), "t": rng.normal(size=5)}
    point, reps = metrics.arm_replicates({"x": (per_set, units, ood)}, n_bootstrap=5, seed=1, metric="FPR95",
                                         fpr_rule="closest")
    assert point.loc["x", "t"] == 100 * metrics.fpr_at_tpr(per_set["t"], ood["t"], rule="closest")
    draw = np.random.default_rng(1)
    for r in range(5):
        drawn = draw.integers(0, 4, 4)
        i = np.concatenate([np.flatnonzero(units == u) for u in drawn])
        for s in ("s", "t"):
            j = draw.integers(0, len(ood[s]), len(ood[s]))
            assert reps[s][r, 0] == 100 * metrics.fpr_at_tpr(per_set[s][i], ood[s][j], rule="closest")
    with pytest.raises(ValueError, match=r"^arms\['x'\] has no ID scores for OOD set\(s\) \['t'\]; "
                                         r"expected one array per OOD set$"):
        metrics.arm_replicates({"x": ({"s": per_set["s"]}, units, ood)})
    with pytest.raises(ValueError, match=r"^arm 'y' scores 4 images of 's'; expected 6 \(as arm 'x'\), the same images$"):
        metrics.arm_replicates({"x": (per_set, units, ood), "y": (per_set, units, {"s": ood["s"][:4], "t": ood["t"]})})
