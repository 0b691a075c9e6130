"""The cross-model chapter's computations: Kendall's tau-b against scipy, rank agreement over a
shared bootstrap of the images, the VLM settings it accepts."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.metrics import roc_auc_score

from neglabel_core.analysis import cross_vlm
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
    seen = {}
    cross_vlm.load_vlms("emoji-tiny", {"params": {"eta": 0.1, "m": 500}},
                        {"b": {"params": {"m": 700}, "model": {"name": "b", "pretrained": "@align"}}},
                        load=lambda prof, extra: seen.setdefault("b", prof.with_overrides(extra)))
    assert seen["b"].params["eta"] == 0.1 and seen["b"].params["m"] == 700
    assert seen["b"].model == {"name": "b", "pretrained": "@align"}
    assert list(cross_vlm.default_vlms(load_profile("emoji-tiny"))) == list(cross_vlm.EMBEDDED_VLMS)
    assert list(cross_vlm.default_vlms(load_profile("emoji-mobilenet"))) == list(cross_vlm.EMBEDDED_VLMS)
    assert cross_vlm.default_vlms(load_profile("imagenet-clip")) == {"ViT-B-16 (openai)": {}}


def test_a_corpus_sample_scales_m_with_it_and_is_checked():
    from neglabel_core.pipeline.text import build_corpus, full_corpus_spec

    profile = load_profile("emoji-tiny")
    size = len(build_corpus(full_corpus_spec(profile.corpus)))
    assert cross_vlm.sample_overrides(profile, 20_000) == {
        "corpus": {"sample": 20_000}, "params": {"m": round(10_000 * 20_000 / size), "adaneg_m": round(10_000 * 20_000 / size)}}
    assert cross_vlm.sample_overrides(profile, None) == {} and cross_vlm.sample_overrides(profile, size) == {}
    for bad in (0, 2.5, True, "100"):
        with pytest.raises(ValueError, match=rf"^corpus_sample={bad!r}; expected a whole number of words >= 1, or None "):
            cross_vlm.sample_overrides(profile, bad)
    sampled = profile.with_overrides(cross_vlm.sample_overrides(profile, 20_000))
    assert cross_vlm.sample_overrides(sampled, 20_000) == {}  # a profile's own smaller sample stays
    assert cross_vlm.sample_overrides(sampled, 5_000)["params"]["m"] == round(sampled.params["m"] * 5_000 / 20_000)


def test_every_split_reads_the_same_sample_less_its_own_id_names():
    from neglabel_core.pipeline.text import build_corpus

    spec = {"source": "words", "words": [f"w{i}" for i in range(100)], "remove_id_names": True, "sample": 10}
    spaced = ["w0", "w11", "w22", "w33", "w44", "w55", "w66", "w77", "w88", "w99"]  # round(linspace(0, 99, 10))
    assert list(build_corpus(spec, ["w11", "w12"]).words) == [w for w in spaced if w != "w11"]
    assert list(build_corpus(spec, ["w12", "w99"]).words) == [w for w in spaced if w != "w99"]


def test_negatives_overlap_counts_shared_labels(monkeypatch):
    def emb(words):
        return SimpleNamespace(profile=SimpleNamespace(params={"m": 3}), words=words)

    monkeypatch.setattr(cross_vlm, "neglabel_bank", lambda e, params: SimpleNamespace(words=e.words))
    embs = {"A": emb(["x", "y", "z"]), "B": emb(["x", "y", "z"]), "C": emb(["x", "q", "r"])}
    out = cross_vlm.negatives_overlap(embs)
    assert out[["VLM A", "VLM B", "M A", "M B", "both"]].values.tolist() == [
        ["A", "B", 3, 3, 3], ["A", "C", 3, 3, 1], ["B", "C", 3, 3, 1]]
    assert out["Jaccard"].tolist() == [1.0, 1 / 5, 1 / 5]
    assert cross_vlm.overlap_reading(embs, out, examples=2) == (
        "The same labels under A and B; A and C share 1 of their 3 labels (Jaccard 0.20); chosen only under the "
        "first, e.g. y, z; only under the second, e.g. q, r")


def test_methods_must_include_neglabel_and_be_registered():
    assert cross_vlm.check_methods(None) == cross_vlm.chapter_methods() and "neglabel" in cross_vlm.chapter_methods()
    assert "negrefine" not in cross_vlm.chapter_methods() and {"csp", "adaneg", "neggate"} <= set(cross_vlm.chapter_methods())
    with pytest.raises(ValueError, match=r"^methods=\['mcm', 'energy'\]; expected a list that includes 'neglabel'"):
        cross_vlm.check_methods(["mcm", "energy"])
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['clip'\]"):
        cross_vlm.check_methods(["neglabel", "clip"])


def test_held_changed_reads_holm_corrected_gaps_per_baseline():
    import pandas as pd

    def row(vlm, against, d, holm):
        return {"VLM": vlm, "against": against, "AUROC diff": d, "AUROC Holm": holm, "FPR95 diff": -d, "FPR95 Holm": holm}

    gaps = pd.DataFrame([row("A", "energy", -1.4, True), row("B", "energy", 1.2, True), row("C", "energy", 0.1, False),
                         row("A", "MCM", 5.6, True), row("B", "MCM", 8.7, True), row("C", "MCM", 2.0, True),
                         row("A", "max cosine", -1.0, True), row("B", "max cosine", 0.3, False),
                         row("C", "max cosine", -2.0, True)])
    assert cross_vlm.held_changed(gaps) == (
        "By AUROC (Holm-corrected paired gaps), held under every model: NegLabel better than MCM; "
        "changed sign between models: against energy (better under B; worse under A; not clear under C); "
        "clear under some models only: against max cosine (worse under A, C; not clear under B)")
    # FPR95: lower is better, so a negative gap is "better"
    assert cross_vlm.held_changed(gaps, "FPR95").startswith(
        "By FPR95 (Holm-corrected paired gaps), held under every model: NegLabel better than MCM; "
        "changed sign between models: against energy (better under B; worse under A; not clear under C)")


def test_tau_list_and_lead_reading_say_what_the_intervals_show():
    import pandas as pd

    agree = pd.DataFrame({"VLM A": ["A", "A"], "VLM B": ["B", "C"], "methods": [9, 9], "tau": [0.11, 0.5],
                          "lo": [0.0, 0.1], "hi": [0.33, 0.8]})
    assert cross_vlm.tau_list(agree) == ("A and B: 0.11 [0.00, 0.33]; A and C: 0.50 [0.10, 0.80]. 1 of the 2 pairs have an "
                                         "interval above 0 (the orders agree more than chance); with 9 methods tau_b "
                                         "moves in steps of 0.056")
    assert cross_vlm.tau_list(agree.iloc[:0]) == "(one model only)"
    frame = pd.DataFrame({"label": ["a", "b", "c"], "AUROC": [80.0, 85.0, 84.0], "AUROC_lo": [78.0, 83.0, 82.0],
                          "AUROC_hi": [82.0, 87.0, 86.0]})
    assert cross_vlm.lead_reading(frame) == "b (85.0 [83.0, 87.0]), its interval overlapping the runner-up, c (84.0)"
    frame.loc[1, "AUROC_lo"] = 84.5
    assert cross_vlm.lead_reading(frame) == "b (85.0 [84.5, 87.0]), its interval clear of the runner-up"


def test_rank_moves_lists_the_methods_that_change_place():
    import pandas as pd

    def run(aurocs):
        return {"table": pd.DataFrame([{"method": m, "label": m, "ood_set": "average", "AUROC": a}
                                       for m, a in zip("pqrs", aurocs)])}

    runs = {"first": run([90, 89, 88, 87]), "second": run([86, 89, 88, 90])}
    assert cross_vlm.rank_moves(runs) == ("from first to second, up by 2 or more places: s (4 to 1); "
                                          "down by 2 or more: p (1 to 4)")


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


def shift_frame():
    """A hand-made :func:`cross_vlm.style_shift` table: two models, two styles, NegLabel and two others."""
    import pandas as pd

    rows = []
    spec = {("A", "ink"): {"neglabel": -18.7, "energy": (+10.0, True), "mcm": (-2.0, False)},
            ("A", "contrast"): {"neglabel": -39.5, "energy": (+16.0, True), "mcm": (-5.0, True)},
            ("B", "ink"): {"neglabel": -10.2, "energy": (+2.0, True), "mcm": (-1.0, False)},
            ("B", "contrast"): {"neglabel": -14.8, "energy": (-0.3, False), "mcm": (+0.5, False)}}
    for (vlm, style), methods in spec.items():
        for method, value in methods.items():
            gap, holm = (0.0, False) if method == "neglabel" else value
            change = value if method == "neglabel" else methods["neglabel"] + gap
            rows.append({"VLM": vlm, "shift": style, "method": method, "label": cross_vlm.method_label(method),
                         "metric": "AUROC", "evaluation styles": 90.0, "shifted": 90.0 + change, "change": change,
                         "change lo": change - 1.0, "change hi": change + 1.0,
                         "change minus NegLabel's": gap, "vs NegLabel lo": gap - 1.0, "vs NegLabel hi": gap + 1.0,
                         "Holm": holm})
    return pd.DataFrame(rows)


def test_shift_reading_counts_holm_clear_gaps_per_method_and_names_what_held():
    assert cross_vlm.shift_reading(shift_frame()) == (
        "When the ID images change style, NegLabel's mean AUROC changes by -39.5 to -18.7 under A, -14.8 to -10.2 "
        "under B (points, over the styles). "
        "Against that change, after Holm over the 8 gaps, each method's change is clearly better or worse than "
        "NegLabel's in so many of the 4 (model, style) pairs: energy 3 better, 0 worse; MCM 0 better, 1 worse. "
        "No method degrades clearly less than NegLabel under every model and style")
    alone = shift_frame()
    alone.loc[(alone["VLM"] == "B") & (alone["method"] == "energy"), "Holm"] = False
    assert cross_vlm.shift_reading(alone).endswith(
        "; under B no method's change is clearly better than NegLabel's in any style, where under the other models some are")
    held = shift_frame()
    held.loc[(held["VLM"] == "B") & (held["shift"] == "contrast") & (held["method"] == "energy"),
             ["change minus NegLabel's", "Holm"]] = (0.4, True)
    assert cross_vlm.shift_reading(held).endswith(
        "energy 4 better, 0 worse; MCM 0 better, 1 worse. Degrading clearly less than NegLabel under every model "
        "and style: energy")
    assert cross_vlm.shift_reading(held[held["metric"] == "FPR95"]) == "This profile has no domain-shift style"


def test_shift_cells_show_the_change_and_the_gap_to_neglabel():
    table = cross_vlm.shift_cells(shift_frame(), "A")
    assert list(table.columns) == ["ink", "contrast"] and list(table.index) == ["NegLabel", "energy", "MCM"]
    assert table.loc["NegLabel", "ink"] == "71.3 (-18.7 [-19.7, -17.7])"
    assert table.loc["energy", "contrast"] == "66.5 (-23.5); +16.0 [+15.0, +17.0], clear"
    assert table.loc["MCM", "ink"] == "69.3 (-20.7); -2.0 [-3.0, -1.0]"


def test_gap_table_puts_models_side_by_side_and_marks_holm():
    import pandas as pd

    gaps = pd.DataFrame([
        {"VLM": "A", "against": "energy", "AUROC diff": -1.42, "AUROC lo": -1.96, "AUROC hi": -0.87, "AUROC Holm": True},
        {"VLM": "B", "against": "energy", "AUROC diff": 1.2, "AUROC lo": -0.1, "AUROC hi": 1.96, "AUROC Holm": False},
    ])
    table = cross_vlm.gap_table(gaps)
    assert table.loc["energy", "A"] == "-1.42 [-1.96, -0.87], clear" and table.loc["energy", "B"] == "+1.20 [-0.10, +1.96]"
    assert list(table.columns) == ["A", "B"] and table.index.name == "NegLabel minus"


def test_parameter_study_reads_m_as_a_share_of_each_models_corpus(monkeypatch):
    import pandas as pd

    asked = []

    def sweep(emb, param, values):
        asked.append((emb.name, param, list(values)))
        values = list(values)
        m = values if param == "m" else [emb.profile.params["m"]] * len(values)
        eta = values if param == "eta" else [emb.profile.params["eta"]] * len(values)
        return pd.DataFrame({"m": m, "eta": eta, "AUROC": [80.0 + i for i in range(len(values))],
                             "FPR95": [50.0 - i for i in range(len(values))]})

    monkeypatch.setattr(cross_vlm.sweeps, "sweep", sweep)

    def emb(name, n):
        params = {"m": 70, "eta": 0.05, "n_groups": 10}
        return SimpleNamespace(name=name, corpus=[None] * n, profile=SimpleNamespace(params=params))

    study = cross_vlm.parameter_study({"A": emb("A", 1000), "B": emb("B", 200)}, etas=(0.05, 0.5), m_shares=(0.01, 0.1, 0.5))
    assert asked == [("A", "eta", [0.05, 0.5]), ("A", "m", [10, 100, 500]), ("B", "eta", [0.05, 0.5]), ("B", "m", [10, 20, 100])]
    shares = study[(study["VLM"] == "A") & (study["parameter"] == "m")]["M share"].tolist()
    assert shares == [0.01, 0.1, 0.5]
    # n_groups is the floor: B's 1% (2 labels) reads 10
    assert study[(study["VLM"] == "B") & (study["parameter"] == "m")]["M share"].tolist() == [0.05, 0.1, 0.5]
    assert cross_vlm.parameter_reading(study, "eta") == ("A: 1.0 points, best at η = 0.5 (the largest value tried); "
                                                         "B: 1.0 points, best at η = 0.5 (the largest value tried)")
    assert cross_vlm.parameter_reading(study, "m", "FPR95") == (
        "A: 2.0 points, best at M = 500 (50% of the corpus) (the largest value tried); "
        "B: 2.0 points, best at M = 100 (50% of the corpus) (the largest value tried)")
    study.loc[0, "AUROC"] = 90.0  # A's best eta now the smallest value
    assert cross_vlm.parameter_reading(study, "eta").startswith("A: 9.0 points, best at η = 0.05 (the smallest value tried);")


def test_sample_control_reading_counts_clear_gaps_that_change_sign():
    import pandas as pd

    def row(vlm, against, corpus, d, lo, hi):
        return {"VLM": vlm, "against": against, "corpus": corpus, "AUROC diff": d, "AUROC lo": lo, "AUROC hi": hi}

    control = pd.DataFrame([row("A", "energy", "whole corpus", -1.4, -2.0, -0.9), row("A", "energy", "sample", 0.5, 0.1, 0.9),
                            row("B", "energy", "whole corpus", 1.2, 0.4, 2.0), row("B", "energy", "sample", -0.2, -0.9, 0.6)])
    assert cross_vlm.sample_control_reading(control) == (
        "NegLabel's AUROC gap, A against energy: -1.40 [-2.00, -0.90] with the whole corpus, +0.50 [+0.10, +0.90] with "
        "the sample; B against energy: +1.20 [+0.40, +2.00] with the whole corpus, -0.20 [-0.90, +0.60] with the sample. "
        "The sample moves the gap by -1.40 to +1.90 points and changes the verdict (clearly better, clearly worse, not "
        "clear) in 2 of the 2 comparisons, so a difference between the models smaller than that move may be the sample's, "
        "not the model's")
    assert cross_vlm.sample_control_reading(control.iloc[:0]) == "The chapter read the whole corpus: no sample to check"
    # the headline's caveat: moves both ways here; then every move against NegLabel; no sample, no caveat
    assert cross_vlm.sample_caveat(control) == (
        "The corpus sample that every model reads moves NegLabel's AUROC gaps to the baselines by -1.40 to +1.90 points, "
        "and changes 2 of 2 verdicts against the whole corpus (the control below)")
    control.loc[control["corpus"] == "sample", "AUROC diff"] = [-1.5, 0.0]
    assert cross_vlm.sample_caveat(control).startswith(
        "The corpus sample that every model reads moves NegLabel's AUROC gaps to the baselines by -1.20 to -0.10 points, "
        "all against NegLabel, and changes")
    assert cross_vlm.sample_caveat(control.iloc[:0]) == ""


def test_models_that_share_a_text_tower_are_found_by_their_config():
    def emb(name, pretrained):
        return SimpleNamespace(profile=SimpleNamespace(model={"name": name, "pretrained": pretrained}))

    embs = {"a": emb("emoji-tiny-rn16", "@train"), "b": emb("emoji-mobilenetv2-mpnet", "@align"),
            "c": emb("emoji-mobilenetv2-minilm", "@align"), "d": emb("ViT-B-16", "openai"), "e": emb("RN50", "openai")}
    assert cross_vlm.sharing_text_side(embs, "a") == ["a", "c"]
    assert cross_vlm.sharing_text_side(embs, "b") == ["b"]
    assert cross_vlm.sharing_text_side(embs, "d") == ["d"]  # a CLIP model's text tower is its own


def test_strength_control_reading_says_what_equal_strength_shows():
    match = {"epoch": 16, "top1": 33.71, "AUROC diff": -1.40, "AUROC lo": -2.08, "AUROC hi": -0.72}
    flipped = {"AUROC diff": 1.34, "AUROC lo": 0.48, "AUROC hi": 2.20}
    text = cross_vlm.strength_control_reading(match, "MobileNetV2 · MiniLM", 32.3, flipped)
    assert text == ("at epoch 16 (ID top-1 33.7%) NegLabel minus max cosine is -1.40 [-2.08, -0.72] AUROC points; under "
                    "MobileNetV2 · MiniLM (top-1 32.3%) it is +1.34 [+0.48, +2.20]. At equal strength the sign still "
                    "differs, so the model's strength does not explain the difference: its image side does.")
    same = {"AUROC diff": -0.5, "AUROC lo": -0.9, "AUROC hi": -0.1}
    assert cross_vlm.strength_control_reading(match, "B", 32.3, same).endswith(
        "At equal strength both have the same sign: the difference between the two models is one of strength.")
    unclear = {"AUROC diff": 0.2, "AUROC lo": -0.3, "AUROC hi": 0.7}
    assert cross_vlm.strength_control_reading(match, "B", 32.3, unclear).endswith(
        "One of the two includes zero, so this control cannot tell strength from the image side.")
    assert cross_vlm.strength_control_reading(None, "B", 32.3, flipped).startswith("not available here")


def _averages():
    """cross_vlm.averages() by hand: two models, three methods (AUROC with intervals)."""
    import pandas as pd

    rows = [("A", "neglabel", "NegLabel", 80.0), ("A", "mcm", "MCM", 70.0), ("A", "energy", "energy", 85.0),
            ("B", "neglabel", "NegLabel", 90.0), ("B", "mcm", "MCM", 90.0), ("B", "energy", "energy", 60.0)]
    return pd.DataFrame([{"VLM": v, "method": m, "label": label, "AUROC": a, "AUROC_lo": a - 2, "AUROC_hi": a + 2}
                         for v, m, label, a in rows])


def test_chapter_11_rank_lead_and_headline_readings_by_hand():
    import pandas as pd

    long = _averages()
    ranks = cross_vlm.neglabel_ranks(long)
    assert ranks == {"A": 2, "B": 1}  # B: a tie at the top shares the best place
    assert cross_vlm.rank_list(ranks, 3) == "A: 2 of 3; B: 1 of 3"
    assert cross_vlm.lead_list(long) == ("A: energy (85.0 [83.0, 87.0]), its interval clear of the runner-up; "
                                         "B: NegLabel (90.0 [88.0, 92.0]), its interval overlapping the runner-up, MCM (90.0)")
    gaps = pd.DataFrame([{"VLM": v, "against": "energy", "AUROC diff": d, "AUROC lo": d - 1, "AUROC hi": d + 1,
                          "AUROC Holm": True, "FPR95 diff": -d, "FPR95 Holm": True} for v, d in (("A", -5.0), ("B", 30.0))])
    assert cross_vlm.headline_text(gaps, ranks, 3) == (
        cross_vlm.held_changed(gaps, "AUROC") + ". NegLabel's place by mean AUROC among the 3 methods: A: 2; B: 1.")
    assert cross_vlm.gap_list(gaps, "energy") == "A: -5.00 [-6.00, -4.00]; B: +30.00 [+29.00, +31.00]"
    assert cross_vlm.gap_list(gaps, "energy", holm=True).endswith("B: +30.00 [+29.00, +31.00] (clear after Holm)")
    assert cross_vlm.gap_list(gaps, "MCM") == ""


def test_chapter_11_tables_and_lines_by_hand(monkeypatch):
    import pandas as pd

    models = pd.DataFrame({"ID top-1 (%)": [81.25, 40.0]}, index=["A <b>", "B"])
    assert cross_vlm.top1_list(models) == "A \\<b\\>: 81.2%; B: 40.0%"
    agree = {m: pd.DataFrame([{"VLM A": "A", "VLM B": "B", "methods": 7, "tau": t, "lo": t - 0.2, "hi": t + 0.1}])
             for m, t in (("AUROC", 0.5), ("FPR95", 0.25))}
    table = cross_vlm.agreement_table(agree)
    assert table.loc[("A", "B")].tolist() == [7, "0.50 [0.30, 0.60]", "0.25 [0.05, 0.35]"]
    emb = SimpleNamespace(profile=SimpleNamespace(params={"eta": 0.05, "m": 1000}), corpus=range(8000))
    assert cross_vlm.profile_marks(emb) == {"profile_eta": "0.05", "profile_m_share": "12.5%"}
    near = pd.DataFrame([{"VLM": v, "method": m, "label": m, "ood_set": s, "AUROC": a, "AUROC_lo": a - 1, "AUROC_hi": a + 3,
                          "FPR95": 100 - a} for v in ("A",) for m, base in (("neglabel", 70.0), ("mcm", 75.0))
                         for s, a in (("near average", base), ("far average", base + 15))])
    cells = cross_vlm.near_cells(near)
    assert cells.loc["mcm", "near average"] == "75.0 [74.0, 78.0] / 25.0" and list(cells.index) == ["neglabel", "mcm"]
    assert cross_vlm.near_readings(near) == {
        "near_lead": "A: mcm (75.0 [74.0, 78.0]), its interval clear of the runner-up",
        "near_nl": "A: 70.0 near, 85.0 far"}
    shift = pd.DataFrame([{"VLM": "A", "metric": "AUROC", "shift": s, "ID top-1": t, "method": "neglabel"}
                          for s, t in (("sketch", 40.0), ("ink", 55.55))])
    monkeypatch.setattr(cross_vlm, "id_top1", lambda e: 81.25)
    assert cross_vlm.shift_top1_lines(shift, {"A": None}) == {
        "A": "**A**: ID top-1 on the evaluation styles 81.2%; sketch 40.0%; ink 55.5%"}


def test_chapter_11_checks_its_parameters_and_one_model_has_no_agreement():
    with pytest.raises(ValueError, match=r"methods=\['mcm'\]; expected a list that includes 'neglabel'"):
        cross_vlm.check_parameters(None, ["mcm"], 1000)
    with pytest.raises(ValueError, match=r"vlms=\{\}; expected a non-empty mapping"):
        cross_vlm.check_parameters({}, None, 1000)
    cross_vlm.check_parameters({"A": {}}, None, None)  # valid: no error
    table, taus = cross_vlm.order_agreement({"A": None}, {}, n_bootstrap=10)
    assert table is None and taus == {"tau_auroc": "(one model only)", "tau_fpr": "(one model only)"}
