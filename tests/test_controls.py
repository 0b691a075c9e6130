"""The reviewer's controls, on synthetic embeddings with concept units: the energy decomposition of
NegLabel, the selection control at equal M, the shift degradation on one shared bootstrap, the
equal-bank comparison, the published pooled numbers and the book's sentences about them."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from neglabel_core import pipeline
from neglabel_core.analysis import anatomy, chapter, corpora, sweeps, tables
from neglabel_core.ood import metrics, negmining, scores

from .test_successors import synthetic  # noqa: F401  (fixture)


@pytest.fixture
def units_emb(synthetic):  # noqa: F811
    """The synthetic embeddings with a benchmark's bookkeeping: two images per concept, no names,
    and one shifted style (the ID images moved by noise)."""
    emb = synthetic
    rng = np.random.default_rng(5)
    n_id = len(emb.id_emb)
    files = lambda n, prefix: SimpleNamespace(units=[f"{prefix}{i // 2}" for i in range(n)], labels=[0] * n,  # noqa: E731
                                              paths=[""] * n, name=prefix)
    shifted = emb.id_emb + 0.3 * rng.normal(size=emb.id_emb.shape).astype(np.float32)
    shifted /= np.linalg.norm(shifted, axis=1, keepdims=True)
    data = SimpleNamespace(id_images=files(n_id, "id"), ood={n: files(len(x), n) for n, x in emb.ood_emb.items()},
                           shift={"noisy": files(n_id, "id")}, concepts={}, near=[], class_names=[f"c{i}" for i in range(5)],
                           removed={})
    return dataclasses.replace(emb, data=data, shift_emb={"noisy": shifted.astype(np.float32)})


def test_spearman_by_hand():
    # ranks (1, 2, 3) against (1, 3, 2): 1 - 6 * (0 + 1 + 1) / (3 * 8) = 0.5
    assert anatomy.spearman(np.array([0.1, 0.2, 0.3]), np.array([5.0, 9.0, 7.0])) == pytest.approx(0.5)
    assert anatomy.spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)


def test_decomposition_is_energy_minus_the_negative_energy(units_emb):
    emb = units_emb
    parts = anatomy.decomposition(emb).set_index("OOD set")
    shares = parts["share of var(l): ID term"] + parts["share of var(l): negative term"]
    np.testing.assert_allclose(shares, 1.0, atol=1e-9)
    p = emb.profile.params
    negatives = pipeline.mine(emb, eta=p["eta"], m=p["m"])
    neg_text = torch.from_numpy(np.asarray(emb.corpus_emb)[negatives])
    id_t = torch.from_numpy(np.asarray(emb.id_text))

    def odds(x):  # the registry's stable log-odds at n_g = 1, an independent path
        x = torch.from_numpy(np.asarray(x))
        return scores.neglabel_log_odds(x @ id_t.T, x @ neg_text.T, tau=p["tau"], n_groups=1).numpy()

    def energy(x):
        return scores.energy_score(torch.from_numpy(np.asarray(x)) @ id_t.T, tau=p["tau"]).numpy()

    for name, x in emb.ood_emb.items():
        assert parts.loc[name, "AUROC of l (n_g = 1)"] == pytest.approx(100 * metrics.auroc(odds(emb.id_emb), odds(x)), abs=1e-6)
        expected = 100 * metrics.auroc(energy(emb.id_emb), energy(x))
        assert parts.loc[name, "AUROC of E_id alone"] == pytest.approx(expected, abs=1e-6)


def test_rank_correlations_and_firing_labels(units_emb):
    emb = units_emb
    scored = pipeline.score(emb)
    rho = anatomy.rank_correlations(scored).set_index("OOD set")
    x = np.concatenate([scored.id["neglabel"], scored.ood["A"]["neglabel"]])
    y = np.concatenate([scored.id["energy"], scored.ood["A"]["energy"]])
    assert rho.loc["A", "energy"] == pytest.approx(pd.Series(x).corr(pd.Series(y), method="spearman"))
    fired = anatomy.firing_negatives(emb, scored, top=3)
    threshold = np.quantile(scored.id["neglabel"], 0.05)
    rejected = int((scored.id["neglabel"] < threshold).sum())
    assert fired.loc[fired["images"] == "ID rejected as OOD", "n images"].iloc[0] == rejected
    assert set(fired["negative label"]) <= {emb.corpus.words[i] for i in scored.negatives}
    assert (fired.groupby("images")["share (%)"].sum() <= 100 + 1e-9).all()


def test_selection_control_scores_each_rule_at_equal_m(units_emb):
    emb = units_emb
    out = corpora.selection_control(emb, [10, 30], n_bootstrap=20).set_index(["M", "negatives"])
    assert sorted(set(out.index.get_level_values("negatives"))) == sorted(corpora.SELECTION_RULES[:3])  # no names: no oracle
    p = {**emb.profile.params, "pos_fraction": None}
    s = negmining.percentile_similarity(emb.corpus_emb, emb.id_text, eta=p["eta"]).numpy()
    for rule, idx in (("NegMining (farthest)", np.argsort(s, kind="stable")[:10]),
                      ("reverse (nearest)", np.argsort(s, kind="stable")[::-1][:10])):
        view = corpora.with_corpus(emb, np.asarray(emb.corpus_emb)[idx], emb.corpus.subset(idx, rule))
        expected = tables.evaluate_params(view, {**p, "m": 10, "n_groups": min(p["n_groups"], 10)}, methods=("neglabel",))
        assert out.loc[(10, rule), "AUROC"] == pytest.approx(expected["AUROC"].iloc[0])
    assert np.isnan(out.loc[(10, "NegMining (farthest)"), "AUROC gap"])
    gap = out.loc[(10, "reverse (nearest)")]
    assert gap["AUROC gap"] == pytest.approx(gap["AUROC"] - out.loc[(10, "NegMining (farthest)"), "AUROC"])
    with pytest.raises(ValueError, match=r"^M = 61 for the selection control; expected 1 <= M <= the corpus size 60$"):
        corpora.selection_control(emb, [61])


def test_shift_degradation_is_paired(units_emb):
    emb = units_emb
    out = sweeps.shift_degradation(emb, n_bootstrap=30)
    auroc = out[out["metric"] == "AUROC"].set_index("method")
    base = tables.evaluate_params(emb, emb.profile.params).set_index("method")
    shifted = tables.evaluate_params(emb, emb.profile.params, id_emb=emb.shift_emb["noisy"]).set_index("method")
    for m in auroc.index:
        assert auroc.loc[m, "change"] == pytest.approx(shifted.loc[m, "AUROC"] - base.loc[m, "AUROC"])
        assert auroc.loc[m, "change lo"] <= auroc.loc[m, "change hi"]
    assert (auroc.loc["neglabel", ["change minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi"]] == 0).all()
    same = dataclasses.replace(emb, shift_emb={"noisy": emb.id_emb})  # no shift at all: no change, in every replicate
    still = sweeps.shift_degradation(same, n_bootstrap=10)
    assert (still[["change", "change lo", "change hi"]].abs() < 1e-9).all().all()


def test_shift_degradation_runs_a_stream_method_per_set_in_each_style(units_emb):
    from sklearn.metrics import roc_auc_score

    emb = units_emb
    out = sweeps.shift_degradation(emb, ("neglabel", "adaneg"), n_bootstrap=10)
    row = out[(out["metric"] == "AUROC") & (out["method"] == "adaneg")].iloc[0]
    for column, id_emb in (("evaluation styles", None), ("shifted", emb.shift_emb["noisy"])):
        streams = pipeline.score(emb, id_emb=id_emb, methods=("adaneg",)).stream["adaneg"]
        by_hand = np.mean([100 * roc_auc_score(np.r_[np.ones(len(i)), np.zeros(len(o))], np.r_[i, o])
                           for i, o in (streams[n] for n in emb.ood_emb)])
        assert row[column] == pytest.approx(by_hand)


def test_cross_vlm_style_shift_is_each_models_study_with_holm_over_all_models(units_emb):
    from neglabel_core.analysis import cross_vlm

    methods = ("neglabel", "mcm", "energy")
    other = dataclasses.replace(units_emb, shift_emb={"noisy": units_emb.id_emb})  # a second model: no shift at all
    out = cross_vlm.style_shift({"A": units_emb, "B": other}, methods, n_bootstrap=30)
    for vlm, emb in (("A", units_emb), ("B", other)):
        part = out[out["VLM"] == vlm].reset_index(drop=True)
        pd.testing.assert_frame_equal(part.drop(columns=["VLM", "ID top-1", "Holm"]),
                                      sweeps.shift_degradation(emb, methods, n_bootstrap=30))
        labels = emb.data.shift["noisy"].labels
        top1 = 100 * np.mean(np.argmax(emb.shift_emb["noisy"] @ np.asarray(emb.id_text).T, axis=1) == np.asarray(labels))
        assert part["ID top-1"].tolist() == pytest.approx([top1] * len(part))
    assert not out[out["method"] == "neglabel"]["Holm"].any()
    b = out[(out["VLM"] == "B") & (out["method"] != "neglabel")]
    assert (b["change minus NegLabel's"].abs() < 1e-9).all() and not b["Holm"].any()  # no shift: nothing to tell apart
    with pytest.raises(ValueError, match=r"^methods=\['mcm', 'energy'\]; the style shift compares each method's change "
                                         r"with NegLabel's, so expected 'neglabel' among them$"):
        cross_vlm.style_shift({"A": units_emb}, ("mcm", "energy"), n_bootstrap=10)


def test_cross_vlm_style_shift_corrects_over_every_models_gaps_at_once(units_emb, monkeypatch):
    from scipy.stats import norm

    from neglabel_core.analysis import cross_vlm

    # gaps with two-sided p-values 0.01, 0.2 (model A) and 0.02, 0.03 (model B), standard error 1
    z = {p: norm.isf(p / 2) for p in (0.01, 0.2, 0.02, 0.03)}
    gaps = iter([(z[0.01], z[0.2]), (z[0.02], z[0.03])])

    def study(emb, methods, n_bootstrap):
        first, second = next(gaps)
        return pd.DataFrame([{"shift": "noisy", "method": m, "metric": "AUROC", "change minus NegLabel's": g,
                              "vs NegLabel se": 0.0 if m == "neglabel" else 1.0}
                             for m, g in zip(methods, (0.0, first, second))])

    monkeypatch.setattr(cross_vlm.sweeps, "shift_degradation", study)
    out = cross_vlm.style_shift({"A": units_emb, "B": units_emb}, ("neglabel", "mcm", "energy"), n_bootstrap=10)
    # Holm over the four: 0.01 <= 0.05 / 4 is clear, 0.02 > 0.05 / 3 stops (per model, B's two would both be clear)
    assert out["Holm"].tolist() == [False, True, False, False, False, False]


def test_equal_bank_gap_mines_negLabel_at_the_banks_size(units_emb):
    emb = units_emb
    run = {"scored": pipeline.score(emb, {"m": 15, "pos_fraction": None}, methods=("neglabel",)), "banks": {"neglabel": 15}}
    out = tables.equal_bank_gap(emb, run, "neglabel", n_bootstrap=10)
    assert out["m"] == 15 and out["scored"].params["m"] == 15
    avg = out["gaps"].set_index("ood_set").loc["average"]
    assert (avg[["AUROC diff", "AUROC lo", "AUROC hi"]] == 0).all()  # the same method at the same M: nothing between them


def test_published_pooled_is_the_size_weighted_mean():
    got = tables.published_pooled("data/paper_results.csv", "NegLabel")
    # the paper's per-set NegLabel FPR95 (iNaturalist, SUN, Places, Textures) by hand, weighted by 10,000/10,000/10,000/5,640
    expected = (1.91 * 10000 + 20.53 * 10000 + 35.59 * 10000 + 43.56 * 5640) / 35640
    assert got["pooled FPR95"] == pytest.approx(expected) and got["average FPR95"] == 25.40
    with pytest.raises(ValueError, match=r"has no 'AdaNeg \(task-adaptive, official log\)' row for OOD set\(s\) "
                                         r"\['iNaturalist', 'SUN', 'Places', 'Textures'\]"):
        tables.published_pooled("data/paper_results.csv", "AdaNeg (task-adaptive, official log)")


def test_headline_names_who_leads():
    trails = pd.DataFrame({"AUROC": [90.0, 84.4, 91.2, 91.4], "FPR95": [44.9, 65.2, 38.9, 38.4]},
                          index=["neglabel", "mcm", "max_cos", "energy"])
    assert chapter.headline(trails) == ("On this benchmark NegLabel trails max cosine and energy (mean AUROC / FPR95 over the "
                                        "OOD sets 90.0 / 44.9; max cosine 91.2 / 38.9, energy 91.4 / 38.4), and is ahead of "
                                        "MCM (MCM 84.4 / 65.2).")
    leads = trails.assign(AUROC=[95.0, 84.4, 91.2, 91.4])
    assert chapter.headline(leads).startswith("On this benchmark NegLabel has the best mean AUROC of these methods (")


def test_seed_sentences_say_zero_before_spread():
    row = {"ood_set": "A", "AUROC gap to max cosine": -0.3, "AUROC gap lo": -0.9, "AUROC gap hi": 0.2,
           "AUROC seed range": 0.05, "n_seeds": 20}
    clear = {**row, "ood_set": "B", "AUROC gap to max cosine": -1.2, "AUROC gap lo": -1.7, "AUROC gap hi": -0.6}
    a, b = sweeps.seed_spread_sentences(pd.DataFrame([row, clear]))
    assert a.endswith("the gap cannot be told from zero.") and "seed spread" not in a.split(":")[-1]
    assert b.endswith("the gap is clear of zero and larger than the seed spread, so no seed reverses it.")


def test_book_policy_and_intervals():
    assert chapter.replicates(None) == chapter.N_BOOTSTRAP and chapter.replicates(20) == 20
    assert chapter.interval(-1.154, -1.681, -0.586, signed=True) == "-1.15 [-1.68, -0.59]"
    assert chapter.verdict_of(-1.7, -0.6) == "clear of zero" and chapter.verdict_of(-0.9, 0.2) == "includes zero"


def test_paired_gaps_of_a_stream_method_use_each_sets_own_id_scores(units_emb):
    emb = units_emb
    own = pipeline.score(emb, methods=("adaneg",))
    shared = pipeline.score(emb, {"adaneg_bank": "neglabel"}, methods=("adaneg",))
    gaps = tables.paired_gaps(emb, (own, "adaneg"), (shared, "adaneg"), n_bootstrap=20).set_index("ood_set")
    for name in emb.ood_emb:  # the point gap is each set's own stream, ID scored beside that set
        expected = 100 * (metrics.auroc(*own.stream["adaneg"][name]) - metrics.auroc(*shared.stream["adaneg"][name]))
        assert gaps.loc[name, "AUROC diff"] == pytest.approx(expected)
    same = tables.paired_gaps(emb, (own, "adaneg"), (own, "adaneg"), n_bootstrap=10).set_index("ood_set")
    assert (same[["AUROC diff", "AUROC lo", "AUROC hi"]] == 0).all().all()
    with pytest.raises(ValueError, match=r"^id_a has no ID scores for OOD set\(s\) \['B'\]; expected one array per OOD set$"):
        metrics.paired_difference({"A": own.id_scores("adaneg", "A")}, {n: own.ood_scores("adaneg", n) for n in "AB"},
                                  own.id_scores("adaneg", "A"), {n: own.ood_scores("adaneg", n) for n in "AB"})


def degradation_frame(changes: dict[str, dict[str, tuple[float, float]]], shifted: dict | None = None) -> pd.DataFrame:
    """A hand-made :func:`sweeps.shift_degradation` table (AUROC): per style, method -> (change, gap se);
    NegLabel's change interval is change +- 1, each gap's the gap +- 1.96 se."""
    rows = []
    for style, methods in changes.items():
        ref = methods["neglabel"][0]
        for m, (change, se) in methods.items():
            gap = change - ref
            rows.append({"shift": style, "method": m, "label": chapter.method_label(m), "metric": "AUROC",
                         "evaluation styles": 90.0, "shifted": (shifted or {}).get((style, m), 90.0 + change),
                         "change": change, "change lo": change - 1, "change hi": change + 1, "change minus NegLabel's": gap,
                         "vs NegLabel lo": gap - 1.96 * se, "vs NegLabel hi": gap + 1.96 * se, "vs NegLabel se": se})
    return pd.DataFrame(rows)


def test_degradation_reading_names_neglabel_once_and_holm_corrects_the_least_losing_gap():
    frame = degradation_frame({
        # ink: NegLabel loses most; energy least, its gap +20 (z 10): clear after Holm over the two others
        "ink": {"neglabel": (-39.36, 0), "energy": (-19.36, 2.0), "mcm": (-30.0, 5.0)},
        # contrast: NegLabel loses least
        "contrast": {"neglabel": (-5.0, 0), "energy": (-6.0, 1.0), "mcm": (-9.5, 1.0)},
        # lighting: mcm loses least, +2 with z 2.2 (p 0.028 > 0.05 / 2): clear at 95% only; energy in between
        "lighting": {"neglabel": (-10.0, 0), "energy": (-11.0, 1.0), "mcm": (-8.0, 2 / 2.2)}})
    assert sweeps.degradation_reading(frame) == (
        "In ink, energy loses least AUROC (-19.36) and NegLabel most, -39.36 [-40.36, -38.36], and energy loses "
        "20.00 [16.08, 23.92] points less (clear after Holm's correction over the 2 methods). "
        "In contrast, NegLabel loses least AUROC, -5.00 [-6.00, -4.00], and MCM most (-9.50). "
        "In lighting, MCM loses least AUROC (-8.00) and energy most (-11.00); NegLabel's change is -10.00 [-11.00, -9.00], "
        "and MCM loses 2.00 [0.22, 3.78] points less (not clear after Holm's correction over the 2 methods).")
    assert sweeps.degradation_reading(frame[frame["metric"] == "FPR95"]) == "This profile has no domain-shift set."


def test_robust_verdict_sets_near_chance_styles_apart_and_ranks_neglabels_loss():
    frame = degradation_frame({"ink": {"neglabel": (-20.0, 0), "energy": (-10.0, 1), "mcm": (-30.0, 1)},
                               "contrast": {"neglabel": (-5.0, 0), "energy": (-6.0, 1), "mcm": (-9.0, 1)},
                               "blur": {"neglabel": (-8.0, 0), "energy": (-2.0, 1), "mcm": (-3.0, 1)}},
                              shifted={("ink", "mcm"): 52.5})
    assert sweeps.robust_verdict(frame) == (
        "The paper reports NegLabel as robust to domain shift. In ink, MCM (52.50) is near chance (AUROC below 55), so "
        "part of its loss there is the floor. In contrast, where no method is at chance, NegLabel loses 5.00 AUROC points"
        ", the least of the methods; NegLabel's loss ranks 3 of 3 from the largest: NegLabel is among the more robust methods on "
        "this style. In blur, where no method is at chance, NegLabel loses 8.00 AUROC points and energy 2.00; NegLabel's "
        "loss ranks 1 of 3 from the largest: on this style the data do not support the paper's claim that NegLabel is "
        "the robust choice.")
