"""Holm's correction and the gaps' p-values, against hand-computed cases and scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neglabel_core.analysis import ours
from neglabel_core.ood.multiplicity import bootstrap_se, holm, holm_wald, wald_p


def test_holm_steps_down_as_computed_by_hand():
    # m = 4, alpha 0.05: sorted 0.005 <= 0.05/4 (reject), 0.01 <= 0.05/3 (reject), 0.03 > 0.05/2 (stop: keep it and 0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == [True, False, False, True]
    # a small p-value after the first failure is not rejected (step-down stops)
    assert holm([0.02, 0.013, 0.011]).tolist() == [True, True, True]  # 0.011 <= 0.0167, 0.013 <= 0.025, 0.02 <= 0.05
    assert holm([0.02, 0.018, 0.017]).tolist() == [False, False, False]  # 0.017 > 0.05/3: nothing
    assert holm([0.04], alpha=0.05).tolist() == [True] and holm([]).tolist() == []
    # Bonferroni rejects a subset of Holm's
    p = np.random.default_rng(0).uniform(0, 0.05, 30) ** 2
    assert (holm(p) >= (p <= 0.05 / len(p))).all()


@pytest.mark.parametrize("bad", [[0.1, np.nan], [-0.1], [1.2], [[0.1, 0.2]]])
def test_holm_refuses_what_is_not_a_p_value(bad):
    with pytest.raises(ValueError, match=r"expected a flat sequence of p-values in \[0, 1\]"):
        holm(bad)
    with pytest.raises(ValueError, match=r"^alpha must lie in the open interval \(0, 1\), got 1.5$"):
        holm([0.1], alpha=1.5)


def test_wald_p_is_the_two_sided_normal_tail():
    for diff, se in [(1.0, 1.0), (-2.5, 1.0), (0.3, 2.0), (4.0, 0.5)]:
        assert wald_p(diff, se) == pytest.approx(2 * stats.norm.sf(abs(diff) / se), rel=1e-12)
    assert wald_p(0.0, 0.0) == 1.0 and wald_p(0.5, 0.0) == 0.0
    with pytest.raises(ValueError, match=r"^diff=nan and se=1.0; expected a finite gap"):
        wald_p(float("nan"), 1.0)


def _gaps(rows):
    return pd.DataFrame([{"method": m, "ood_set": s, "AUROC diff": a, "AUROC lo": a - 1.96 * sa, "AUROC hi": a + 1.96 * sa,
                          "AUROC se": sa, "FPR95 diff": f, "FPR95 lo": f - 1.96 * sf, "FPR95 hi": f + 1.96 * sf,
                          "FPR95 se": sf} for m, s, a, sa, f, sf in rows])


def test_wins_and_tally_count_what_stays_clear_after_holm():
    # Two methods x two sets + an average row (never counted). AUROC: z = 2.5 (p 0.0124), 5 (p 6e-7), -2.2 (p 0.028),
    # 0.5; with m = 4 Holm keeps z = 5 (p <= 0.0125) and z = 2.5 (p 0.0124 <= 0.05 / 3), not z = -2.2 (0.028 > 0.025).
    gaps = _gaps([("energy", "a", 2.5, 1, -1, 1), ("energy", "b", 5, 1, -0.1, 1),
                  ("mcm", "a", -2.2, 1, 3, 1), ("mcm", "b", 0.5, 1, 0.2, 1), ("mcm", "average", 9, 1, 9, 1)])
    w = ours.wins(gaps).set_index("method")
    assert w.loc["energy", ["sets", "AUROC better", "AUROC better (Holm)", "AUROC worse (Holm)"]].tolist() == [2, 2, 2, 0]
    assert w.loc["mcm", ["AUROC better", "AUROC level", "AUROC worse", "AUROC worse (Holm)"]].tolist() == [0, 1, 1, 0]
    assert w.loc["mcm", ["FPR95 worse", "FPR95 worse (Holm)"]].tolist() == [1, 1]  # z = 3: p 0.0027 <= 0.05 / 4
    assert ours.tally(w.reset_index(), "Here") == (
        "Here, 4 (method, OOD set) pairs: in AUROC NegGate is clearly better in 2, level in 1 and clearly worse in 1 "
        "(after Holm's correction over the 4 pairs: better in 2, worse in 0); in FPR95 NegGate is clearly better in 0, "
        "level in 3 and clearly worse in 1 (after Holm's correction over the 4 pairs: better in 0, worse in 1)")
    assert ours.clear_losses(gaps) == ["MCM on a (AUROC -2.20 [-4.16, -0.24])",
                                       "MCM on a (FPR95 +3.00 [+1.04, +4.96], clear after Holm)"]


def test_holm_wald_pairs_gaps_with_their_errors():
    # z = 2.5 (p 0.0124 <= 0.05 / 2) and z = 0.5 (p 0.617): the first alone is clear
    assert holm_wald([2.5, -0.5], [1.0, 1.0]).tolist() == [True, False]
    assert bootstrap_se(np.array([1.0, 3.0])) == pytest.approx(np.sqrt(2)) and bootstrap_se(np.array([4.0])) == 0.0
    with pytest.raises(ValueError, match=r"^zip\(\) argument 2 is shorter than argument 1$"):
        holm_wald([1.0, 2.0], [1.0])
