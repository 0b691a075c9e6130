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


def _strength(tops, gaps, below_zero_hi=None):
    """vlm_strength() by hand: one average gap row per epoch (interval +- 1) and NegLabel/MCM averages."""
    gap = pd.DataFrame([{"epoch": e, "ood_set": "average", "id_top1": t, "AUROC diff": g, "AUROC lo": g - 1, "AUROC hi": g + 1}
                        for e, (t, g) in enumerate(zip(tops, gaps), start=1)])
    table = pd.DataFrame([{"epoch": e, "ood_set": "average", "method": m, "id_top1": t,
                           "AUROC": 80.0 + (3.0 if m == "neglabel" else 0)}
                          for e, t in enumerate(tops, start=1) for m in ("neglabel", "mcm")])
    return {"table": table, "gap": gap}


def test_strength_readings_each_branch():
    from neglabel_core.analysis import sweeps

    # epoch 1 at chance (2% top-1) is left out; then gaps +3, 0, -4 at 20, 40, 60% top-1: the last clearly behind
    got = sweeps.strength_readings(_strength([2.0, 20.0, 40.0, 60.0], [5.0, 3.0, 0.0, -4.0]), 5.0, 40)
    assert got["chance_sentence"] == ("1 of them (epochs 1) are below the chapter's cut-off of 5% ID top-1 (chance is 2.5%): "
                                      "they are in the figures but not in the trend or the verdict below.")
    assert (got["n_points"], got["n_snapshots"], got["top1_first"], got["gap_last_hi"]) == (3, 4, 20.0, -3.0)
    assert (got["n_above"], got["n_above_text"], got["n_below"], got["n_below_text"]) == (1, "1 snapshot", 1, "1 snapshot")
    assert (got["strong_threshold"], got["n_strong"], got["n_strong_below"]) == (30.0, 2, 1)
    assert got["slope"] == pytest.approx(10 * -7 / 40) and got["nl_minus_mcm_min"] == 3.0
    assert got["verdict"] == ("On this benchmark a stronger image tower does *not* turn NegLabel's deficit against max cosine "
                              "into a lead: the final, strongest model is clearly behind, and NegLabel is clearly ahead only at "
                              "points with at most 20.0% ID top-1. So the weak model alone does not explain why NegLabel trails "
                              "max cosine here.")
    ahead = sweeps.strength_readings(_strength([20.0, 40.0], [0.0, 2.0]), 5.0, 40)
    assert ahead["chance_sentence"].startswith("All are above") and ahead["verdict"].startswith(
        "On this benchmark the strongest model puts NegLabel clearly ahead")
    short = sweeps.strength_readings(_strength([2.0, 3.0, 20.0], [0.0, 0.5, 0.2]), 5.0, 40)
    assert short["chance_sentence"].startswith("Fewer than two are above") and short["n_points"] == 3
    assert short["verdict"].startswith("On this benchmark the strongest model's gap cannot be told from zero")
    pretrained = sweeps.strength_readings(None, 5.0, 40)
    assert pretrained["verdict"] == "Not run: this profile's model is pretrained." and np.isnan(pretrained["slope"])


def _ablation():
    rows = [("WordNet nouns + adjectives", 70000, 10000, 85.0, 0.0, 0.0, 0.0, 40.0, 0.0, 0.0, 0.0),
            ("web text (wordfreq)", 20000, 10000, 84.0, -1.0, -1.5, -0.5, 41.0, 0.5, 0.7, 1.2),
            ("ORACLE: OOD concept names", 300, 300, 95.0, 10.0, 9.0, 11.0, 10.0, -30.0, -31.0, -29.0)]
    frame = pd.DataFrame([{"corpus": c, "corpus_size": n, "m": m, "method": "neglabel", "AUROC": a, "AUROC gap": g,
                           "AUROC gap lo": lo, "AUROC gap hi": hi, "FPR95": f, "FPR95 gap": fg, "FPR95 gap lo": flo,
                           "FPR95 gap hi": fhi} for c, n, m, a, g, lo, hi, f, fg, flo, fhi in rows])
    return pd.concat([frame, pd.DataFrame([{"corpus": "WordNet nouns + adjectives", "corpus_size": 70000, "m": 10000,
                                             "method": "max_cos", "AUROC": 84.5}])])


def test_corpus_ablation_readings_by_hand():
    from neglabel_core.analysis import corpora

    got = corpora.ablation_readings(_ablation(), "WordNet nouns + adjectives")
    assert (got["best_corpus"], got["corpus_spread"], got["n_corpora"], got["m_profile"], got["n_beat"]) == (
        "WordNet nouns + adjectives", 1.0, 2, 10000, "1")
    # the web row's FPR95 gap (+0.5) lies below its own interval [+0.7, +1.2]: the sentence says why
    assert got["outside_sentence"].startswith("In 1 row(s) (web text (wordfreq)) the FPR95 gap lies outside")
    table = corpora.ablation_table(_ablation())
    assert table.loc["WordNet nouns + adjectives", "AUROC gap [95%]"] == "(the profile's corpus)"
    assert table.loc["web text (wordfreq)", "FPR95 gap [95%]"] == "+0.50 [+0.70, +1.20]"
    assert table.loc["ORACLE: OOD concept names", "corpus size"] == "300"


def test_selection_control_readings_by_hand():
    from neglabel_core.analysis import corpora

    rows = [(100, "NegMining (farthest)", 80.0, np.nan), (100, "random", 78.0, -2.0), (100, "reverse (nearest)", 60.0, -20.0),
            (1000, "NegMining (farthest)", 85.0, np.nan), (1000, "random", 85.5, 0.5), (1000, "reverse (nearest)", 70.0, -15.0),
            (300, "ORACLE: OOD names", 90.0, 5.0)]
    control = pd.DataFrame([{"M": m, "negatives": r, "AUROC": a, "FPR95": 100 - a, "AUROC gap": g, "AUROC gap lo": g - 1,
                             "AUROC gap hi": g + 1, "FPR95 gap": -g, "FPR95 gap lo": -g - 1, "FPR95 gap hi": -g + 1}
                            for m, r, a, g in rows])
    got = corpora.control_readings(control, 1000, [100, 1000])
    assert got["c_m"] == 1000 and got["c_random_AUROC"] == "+0.50 [-0.50, +1.50]"
    assert got["c_verdict"].startswith("Against NegMining, reverse mining is worse (clear of zero) in AUROC, and random "
                                       "negatives are no different (the interval includes zero) in AUROC and no different")
    assert got["c_oracle"] == ("The oracle at its largest M here (300) is +5.00 [+4.00, +6.00] AUROC points against "
                               "NegMining at the same M.")
    assert corpora.control_readings(control, 10000, [100, 1000])["c_m"] == 1000  # the profile's M not run: the largest
    assert corpora.control_table(control).loc[(100, "NegMining (farthest)"), "AUROC gap [95%]"] == "(reference)"


@pytest.mark.parametrize("n, stops, branch", [(1011, "960 images", "That is the same set of OOD images up to ties"),
                                              (1001, "951 images", "That counts the OOD images between two ID scores"),
                                              (1000, "950 images", "That counts the OOD images between two ID scores")])
def test_fpr_rules_note_counts_the_id_images(monkeypatch, n, stops, branch):
    from types import SimpleNamespace

    from neglabel_core.analysis import findings

    rules = pd.DataFrame([{"ood_set": "arrows", "method": "neglabel", "closest": 30.0, "at_least": 30.5,
                           "closest - at_least": -0.5}])
    monkeypatch.setattr(findings, "fpr_rules_table", lambda emb, scored: rules.copy())
    _, note = findings.fpr_rules(SimpleNamespace(id_emb=np.zeros((n, 2))), None)
    assert note.startswith("The largest difference here is -0.50 points (NegLabel, arrows). ")
    assert f"`closest` stops at the recall nearest 95%, {stops}" in note and branch in note


def test_rank_table_and_mined_summary():
    from neglabel_core.analysis import corpora

    rows = pd.DataFrame({"rank": [1, 2], "word": ["owl", "ant"], "pos": ["noun", "adj"], "group": ["noun.animal", "adj.all"],
                         "score": [0.12345, 0.5], "nearest_id_class": ["cat", "dog"], "mined": [True, False]})
    table = corpora.rank_table(rows)
    assert list(table.columns) == ["word", "part of speech", "WordNet group", "s(w)", "nearest ID class"]
    assert table.loc[1, "s(w)"] == 0.123 and table.columns.name == "rank" and table.index.name is None
    assert corpora.mined_summary(rows, "mined.csv") == "2 negative labels written to `mined.csv`: 1 nouns, 1 adjectives."


def test_paired_change_by_hand():
    reps = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ref_reps = np.array([0.0, 1.0, 1.0, 1.0, 2.0])
    got = tables.paired_change(3.0, reps, 1.0, ref_reps)
    gap = reps - ref_reps  # [1, 1, 2, 3, 3]
    assert list(got) == ["change", "change lo", "change hi", "minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi",
                         "vs NegLabel se"]
    assert (got["change lo"], got["change hi"]) == (pytest.approx(1.1), pytest.approx(4.9))  # numpy's linear quantiles
    assert got["minus NegLabel's"] == 2.0
    assert (got["vs NegLabel lo"], got["vs NegLabel hi"]) == (pytest.approx(1.0), pytest.approx(3.0))
    assert got["vs NegLabel se"] == pytest.approx(np.sqrt(np.sum((gap - gap.mean()) ** 2) / 4))
    alone = tables.paired_change(3.0, reps, np.nan, None, name="mean change", gap="change minus NegLabel's")
    assert list(alone)[:4] == ["mean change", "mean change lo", "mean change hi", "change minus NegLabel's"]
    assert all(np.isnan(alone[k]) for k in ("change minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi", "vs NegLabel se"))


def test_clear_of_zero_excludes_an_interval_that_touches_zero():
    from neglabel_core.analysis.chapter import clear_of_zero, verdict_of

    assert clear_of_zero(0.1, 2.0) and clear_of_zero(-2.0, -0.1)
    assert not clear_of_zero(0.0, 1.0) and not clear_of_zero(-1.0, 0.0) and not clear_of_zero(-1.0, 1.0)
    assert (verdict_of(0.1, 2.0), verdict_of(0.0, 1.0)) == ("clear of zero", "includes zero")
