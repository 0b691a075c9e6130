"""Chapters 02 and 04's readings, tables and sentences on hand-made tables: each branch of each
sentence, and the numbers it quotes, against what the table says."""

import numpy as np
import pandas as pd
import pytest

from neglabel_core.analysis import anatomy, sweeps, tables


def _m_sweep(aurocs):
    return pd.DataFrame({"m": [100, 1000, 10000][: len(aurocs)], "AUROC": aurocs})


def test_m_sentence_each_shape():
    assert sweeps.m_sentence(_m_sweep([80.0, 81.0, 82.5])) == (
        "the mean AUROC is highest at the largest M tried (10,000: 82.50; by M: 100: 80.0, 1,000: 81.0, 10,000: 82.5), "
        "so it does not fall at large M here, unlike the paper's report.")
    assert sweeps.m_sentence(_m_sweep([80.0, 83.0, 82.0])) == (
        "the mean AUROC peaks at M = 1,000 (83.00) and falls to 82.00 at the largest M tried (10,000): it rises and then "
        "falls, as the paper reports.")
    assert sweeps.m_sentence(_m_sweep([80.0, 83.0, 82.95])).endswith("(10,000: 82.95): it rises, then flattens.")


def _gaps(rows):
    return pd.DataFrame([{"change": c, "AUROC diff": a, "AUROC lo": a - w, "AUROC hi": a + w, "FPR95 diff": -a,
                          "FPR95 lo": -a - w, "FPR95 hi": -a + w} for c, a, w in rows])


def test_grouping_sentence_reads_the_interval_against_the_paper():
    helps = sweeps.grouping_sentence(_gaps([("n_groups = 1 (profile: 100)", 1.5, 0.5)]), 100)
    assert helps == ("One group against the profile's 100: +1.50 [+1.00, +2.00] AUROC and -1.50 [-2.00, -1.00] FPR95 points, "
                     "paired. Without grouping NegLabel is *better* here, clear of zero: this contradicts the paper's "
                     "finding that grouping helps.")
    hurts = sweeps.grouping_sentence(_gaps([("n_groups = 1 (profile: 100)", -1.5, 0.5)]), 100)
    assert hurts.endswith("Without grouping NegLabel is worse here, clear of zero, as the paper finds.")
    level = sweeps.grouping_sentence(_gaps([("n_groups = 1 (profile: 100)", 0.2, 0.5)]), 100)
    assert level.endswith("The gap cannot be told from zero: on this benchmark the data do not support the paper's "
                          "finding that grouping helps.")
    # "n_groups = 10 ..." is not the one-group row
    assert sweeps.grouping_sentence(_gaps([("n_groups = 10 (profile: 100)", 3.0, 0.5)]), 100) == (
        "(n_g = 1 is the profile's own value: no gap to report.)")


def test_parameter_gap_table_names_each_change():
    assert sweeps.change_label("m = 10000 (profile: 3000)") == "M = 10,000 (profile: 3,000)"
    assert sweeps.change_label("eta = 0.01 (profile: 0.05)") == "η = 0.01 (profile: 0.05)"
    table = sweeps.parameter_gap_table(_gaps([("tau = 0.1 (profile: 0.01)", -0.25, 0.5)]))
    assert table.loc["τ = 0.1 (profile: 0.01)"].tolist() == ["-0.25 [-0.75, +0.25]", "+0.25 [-0.25, +0.75]"]
    by_param = {p: pd.DataFrame({p: [1, 2], "AUROC": [80.0, 82.5 + k]}) for k, p in enumerate(("eta", "m", "n_groups", "tau"))}
    assert sweeps.sweep_ranges(by_param) == {"eta_range": 2.5, "tau_range": 5.5, "ng_range": 4.5}
    assert sweeps.grids(etas=[0.1]) == {**sweeps.GRIDS, "eta": [0.1]}


def test_score_readings_and_run_note():
    rows = [(s, m, a) for s, m, a in (("arrows", "neglabel", 90.0), ("arrows", "mcm", 85.0), ("arrows", "energy", 91.0),
                                      ("bugs", "neglabel", 80.0), ("bugs", "mcm", 70.0), ("bugs", "energy", 75.0),
                                      ("average", "neglabel", 85.0), ("average", "mcm", 77.5), ("average", "energy", 83.0),
                                      ("pooled", "neglabel", 99.0), ("pooled", "mcm", 99.0), ("pooled", "energy", 99.0))]
    results = pd.DataFrame([{"ood_set": s, "method": m, "AUROC": a, "AUROC_lo": a - 1, "AUROC_hi": a + 1, "FPR95": 100 - a,
                             "FPR95_lo": 99 - a, "FPR95_hi": 101 - a} for s, m, a in rows])
    got = tables.score_readings(results)
    assert (got["s_best"], got["s_best_auroc"], got["s_nl_lo"], got["s_nl_fpr"], got["s_mcm_auroc"]) == (
        "NegLabel", 85.0, 84.0, 15.0, 77.5)
    assert got["s_wins"] == "bugs"  # energy beats NegLabel on arrows; the summary rows are not sets
    params = {"m": 10000, "eta": 0.05, "tau": 0.01, "n_groups": 100, "seed": 0, "perm_device_used": "cpu", "fpr_rule": "closest"}
    assert tables.run_note(params, 1000) == (
        "Run with M = 10,000, η = 0.05, τ = 0.01, n_g = 100, grouping seed 0 (drawn on the CPU), FPR95 rule `closest`; "
        "intervals: 1,000 bootstrap replicates over concepts, seed 0.")


def test_anatomy_readings_by_hand(monkeypatch):
    assert anatomy.temperature_note({"tau": 0.01}) == "here τ = 0.01, which is also the energy baseline's temperature"
    assert anatomy.temperature_note({"tau": 0.01, "energy_tau": 1.0}) == (
        "here τ = 0.01; the energy baseline runs at its own τ_E = 1.0")
    parts = pd.DataFrame({"OOD set": ["arrows", "bugs"], "share of var(l): negative term": [0.125, 0.5],
                          "AUROC of l (n_g = 1)": [90.0, 70.0], "AUROC of E_id alone": [85.0, 75.0]})
    monkeypatch.setattr(anatomy, "rank_correlations", lambda scored: pd.DataFrame({"energy": [0.9, 0.75]}))
    got = anatomy.decomposition_readings(parts, None)
    assert got == {"s_neg_share_min": 12.5, "s_neg_share_max": 50.0, "s_hurt": "bugs", "s_n_hurt": 1, "s_rho_min": 0.75}
    fired = pd.DataFrame({"rank": [1, 1, 2, 2], "images": ["OOD accepted", "ID", "OOD accepted", "ID"],
                          "n images": [1200, 30, 1200, 30], "negative label": ["cat", "dog", "owl", "ant"],
                          "share (%)": [12.34, 50.0, 8.0, 3.0]})
    table = anatomy.firing_table(fired)
    assert table.loc[1, "OOD accepted (1,200)"] == "cat (12.3)" and table.loc[2, "ID (30)"] == "ant (3.0)"
    assert anatomy.firing_share_max(fired) == pytest.approx(12.34)
    assert np.isnan(anatomy.firing_share_max(fired.assign(images="ID")))
