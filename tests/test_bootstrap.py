"""The bootstrap engine (ood.bootstrap): every metric of a resample given by its multiplicities
equals the plain metric on the resample drawn out, and the tables' replicates are those of the
plain per-replicate loop on the same seed."""

import numpy as np
import pandas as pd
import pytest

from neglabel_core.ood import bootstrap, metrics

PLAIN = {"AUROC": metrics.auroc, "AUPR-In": metrics.aupr_in, "AUPR-Out": metrics.aupr_out}


@pytest.mark.parametrize("rule", ["at_least", "closest"])
def test_engine_equals_the_plain_metrics_on_the_drawn_resample(rule):
    # Scores on a coarse grid (ties within and across ID and OOD), three arms, 200 resamples drawn
    # out explicitly, scored in one call: each must be what the plain functions give.
    rng = np.random.default_rng(5)
    id_s, ood_s = np.round(rng.normal(0.6, 1, (3, 40)), 1), np.round(rng.normal(0, 1, (3, 30)), 1)
    draws = [(rng.integers(0, 40, 40), rng.integers(0, 30, 30)) for _ in range(200)]
    w_id = np.stack([np.bincount(i, minlength=40) for i, _ in draws])
    w_ood = np.stack([np.bincount(j, minlength=30) for _, j in draws])
    got = bootstrap.SortedArms(id_s, ood_s).evaluate(w_id, w_ood, fpr_rule=rule)
    for r, (i, j) in enumerate(draws):
        for a in range(3):
            for name, f in PLAIN.items():
                assert got[name][r, a] == pytest.approx(f(id_s[a, i], ood_s[a, j]), abs=1e-12), name
            assert got["FPR95"][r, a] == metrics.fpr_at_tpr(id_s[a, i], ood_s[a, j], rule=rule)


def test_engine_hand_worked():
    # ID 3, 1; OOD 2, 1 (one tie at 1). Unweighted: pairs (3>2, 3>1, 1<2, 1=1) -> (1 + 1 + 0 + 0.5) / 4.
    arms = bootstrap.SortedArms(np.array([3.0, 1.0]), np.array([2.0, 1.0]))
    w = np.array([[1, 1], [2, 0]]), np.array([[1, 1], [0, 3]])
    out = arms.evaluate(*w, tpr=0.5)
    assert out["AUROC"][:, 0].tolist() == [2.5 / 4, 1.0]  # row 2: ID 3 twice, OOD 1 three times: all pairs 3 > 1
    assert out["FPR95"][:, 0].tolist() == [0.0, 0.0]  # threshold: the largest ID score (3), no OOD at or above
    # AUPR-In of row 1: thresholds 3 (tp 1, fp 0), 2 (1, 1), 1 (2, 2): 1/2 * 1 + 0 + 1/2 * 2/4 = 0.75.
    assert out["AUPR-In"][0, 0] == 0.75
    # AUPR-Out of row 1 (OOD positive, low scores first): 1 (tp 1, fp 1), 2 (2, 1), 3 (2, 2): 1/2 * 1/2 + 1/2 * 2/3.
    assert out["AUPR-Out"][0, 0] == pytest.approx(0.25 + 1 / 3)
    with pytest.raises(ValueError, match=r"^unknown FPR rule 'near'; expected one of \['at_least', 'closest'\]$"):
        arms.evaluate(*w, fpr_rule="near")
    with pytest.raises(ValueError, match=r"^unknown metric\(s\) \['AUC'\]; expected some of "):
        arms.evaluate(*w, ["AUC"])
    with pytest.raises(ValueError, match=r"^multiplicities of shape \(2, 3\) and \(2, 2\); expected \(replicates, 2\)"):
        arms.evaluate(np.ones((2, 3)), np.ones((2, 2)))


def test_chunks_give_the_same_values(monkeypatch):
    rng = np.random.default_rng(1)
    arms = bootstrap.SortedArms(rng.normal(1, 1, (2, 50)), rng.normal(0, 1, (2, 20)))
    w_id, w_ood = rng.integers(0, 3, (37, 50)), rng.integers(0, 3, (37, 20))
    whole = arms.evaluate(w_id, w_ood)
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", 3 * 70)  # three replicates per chunk
    for name, values in arms.evaluate(w_id, w_ood).items():
        np.testing.assert_array_equal(values, whole[name])


def test_resampler_weights_count_units():
    units = np.array(["b", "a", "b", "c"])  # np.unique order: a, b, c
    r = bootstrap.Resampler(4, units)
    np.testing.assert_array_equal(r.weights(np.array([[1, 1, 2], [0, 0, 0]])), [[2, 0, 2, 1], [0, 3, 0, 0]])
    np.testing.assert_array_equal(bootstrap.Resampler(3).weights(np.array([[2, 2, 0]])), [[1, 0, 2]])


def plain_summarize(id_s, ood, id_units, ood_units, n_bootstrap, seed, rule):
    """The per-replicate loop the engine replaced: draw the resample, run the plain metrics."""
    functions = {**PLAIN, "FPR95": lambda a, b: metrics.fpr_at_tpr(a, b, rule=rule)}
    rng = np.random.default_rng(seed)

    def members(units):
        return [np.flatnonzero(units == u) for u in np.unique(units)]

    def resample(n, m):
        return rng.integers(0, n, n) if m is None else np.concatenate([m[i] for i in rng.integers(0, len(m), len(m))])

    out = {}
    for name, b in ood.items():
        a_m = members(id_units)
        b_m = members(ood_units[name]) if name in ood_units else None
        reps = []
        for _ in range(n_bootstrap):
            i, j = resample(len(id_s), a_m), resample(len(b), b_m)
            reps.append({m: 100 * f(id_s[i], b[j]) for m, f in functions.items()})
        out[name] = pd.DataFrame(reps)
    return out


@pytest.mark.parametrize("rule", ["at_least", "closest"])
def test_summarize_and_paired_difference_keep_the_plain_loops_replicates(rule):
    rng = np.random.default_rng(8)
    id_s, id_units = np.round(rng.normal(1, 1, 30), 1), rng.integers(0, 9, 30)
    ood = {"x": np.round(rng.normal(0, 1, 20), 1), "y": np.round(rng.normal(0.5, 1, 12), 1)}
    ood_units = {"x": rng.integers(0, 6, 20)}  # "y" resamples single images
    table = metrics.summarize(id_s, ood, id_units=id_units, ood_units=ood_units, n_bootstrap=60, seed=4, fpr_rule=rule)
    plain = plain_summarize(id_s, ood, id_units, ood_units, 60, 4, rule)
    for name in ood:
        for metric in ("AUROC", "FPR95", "AUPR-In", "AUPR-Out"):
            for q, col in ((0.025, "_lo"), (0.975, "_hi")):
                assert table.loc[name, metric + col] == pytest.approx(np.quantile(plain[name][metric], q), abs=1e-9)
    # Paired: arm B is arm A shifted by a constant, so every replicate's gap is exactly zero, and
    # arm A alone on the same seed gives summarize's replicates.
    gap = metrics.paired_difference(id_s, ood, id_s + 1, {n: v + 1 for n, v in ood.items()}, metric="FPR95",
                                    id_units=id_units, ood_units=ood_units, n_bootstrap=60, seed=4, fpr_rule=rule)
    assert (gap[["diff", "lo", "hi"]].to_numpy() == 0).all()


def test_kept_tables_equal_the_computed_ones_and_are_read_back(monkeypatch):
    from neglabel_core.pipeline import score_cache

    rng = np.random.default_rng(2)
    units = [f"c{i}" for i in rng.integers(0, 7, 30)]
    id_s, ood = rng.normal(1, 1, 30), {"x": rng.normal(0, 1, 12), "y": rng.normal(0.3, 1, 9)}
    options = {"id_units": units, "n_bootstrap": 40, "seed": 3, "fpr_rule": "closest"}
    table = score_cache.kept_summarize(id_s, ood, **options)
    pd.testing.assert_frame_equal(table, metrics.summarize(id_s, ood, **options))
    gap = score_cache.kept_paired_difference(id_s, ood, id_s * 2, ood, metric="FPR95", **options)
    pd.testing.assert_frame_equal(gap, metrics.paired_difference(id_s, ood, id_s * 2, ood, metric="FPR95", **options))
    arms = {"a": (id_s, units, ood), "b": (id_s[::-1].copy(), units, ood)}
    point, reps = score_cache.kept_arm_replicates(arms, metric="AUROC", n_bootstrap=40, seed=1)
    want_point, want_reps = metrics.arm_replicates(arms, metric="AUROC", n_bootstrap=40, seed=1)
    pd.testing.assert_frame_equal(point, want_point)
    assert list(reps) == list(want_reps) and all(np.array_equal(reps[s], want_reps[s]) for s in reps)
    for name in ("summarize", "paired_difference", "arm_replicates"):
        monkeypatch.setattr(metrics, name, lambda *a, **k: pytest.fail("a kept table computed again"))
    pd.testing.assert_frame_equal(score_cache.kept_summarize(id_s, ood, **options), table)
    pd.testing.assert_frame_equal(score_cache.kept_paired_difference(id_s, ood, id_s * 2, ood, metric="FPR95", **options), gap)
    assert np.array_equal(score_cache.kept_arm_replicates(arms, metric="AUROC", n_bootstrap=40, seed=1)[1]["average"],
                          want_reps["average"])
    with pytest.raises(pytest.fail.Exception):  # another seed is another table
        score_cache.kept_summarize(id_s, ood, **{**options, "seed": 4})
