"""The robustness chapter's studies (analysis.robustness) on synthetic embeddings with concept units:
the graded study's numbers against direct scoring, its paired intervals, the control, the top-1
regression by hand, the template ranking and the published rows it reads."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pandas as pd
import pytest

from neglabel_core import pipeline
from neglabel_core.analysis import robustness, tables
from neglabel_core.data import shifts
from neglabel_core.data.benchmarks import BenchmarkData
from neglabel_core.data.images import ImageFiles
from neglabel_core.ood import metrics

from .test_controls import units_emb  # noqa: F401  (fixture)
from .test_successors import synthetic  # noqa: F401  (fixture)

METHODS = ("neglabel", "energy", "adaneg")


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _graded(emb, scale=0.15, control=2):
    rng = np.random.default_rng(9)
    shift = shifts.GradedShift("noisy", "noise", tuple({"sigma": s} for s in range(1, 6)))
    id_emb = {("noisy", s): emb.id_emb if s == 0 else _unit(emb.id_emb + scale * s * rng.normal(size=emb.id_emb.shape))
              for s in range(6)}
    ood = {n: _unit(x + scale * control * rng.normal(size=x.shape)) for n, x in emb.ood_emb.items()}
    return pipeline.Graded({"noisy": shift}, control, 0, id_emb, {"noisy": ood})


def _average(scored, method, metric):
    """The mean over the OOD sets, computed here from the metric functions."""
    f = metrics.auroc if metric == "AUROC" else (lambda a, b: metrics.fpr_at_tpr(a, b, rule=scored.params["fpr_rule"]))
    return float(np.mean([100 * f(scored.id_scores(method, s), scored.ood_scores(method, s)) for s in scored.ood]))


def test_graded_study_matches_direct_scoring(units_emb):  # noqa: F811
    emb, graded = units_emb, _graded(units_emb)
    out = robustness.graded_study(emb, graded, METHODS, n_bootstrap=30)
    levels = out["levels"].set_index(["severity", "method", "metric"])
    direct = {s: pipeline.score(emb, id_emb=graded.id_emb[("noisy", s)], methods=METHODS, pooled_streams=False)
              for s in range(6)}
    for s in range(6):
        for m in METHODS:
            for metric in robustness.METRICS:
                assert levels.loc[(s, m, metric), "value"] == pytest.approx(_average(direct[s], m, metric))
                assert levels.loc[(s, m, metric), "lo"] <= levels.loc[(s, m, metric), "hi"]
    changes = out["changes"].set_index(["severity", "method", "metric"])
    for s in range(1, 6):
        for m in METHODS:
            expected = levels.loc[(s, m, "AUROC"), "value"] - levels.loc[(0, m, "AUROC"), "value"]
            assert changes.loc[(s, m, "AUROC"), "change"] == pytest.approx(expected)
            nl = changes.loc[(s, "neglabel", "AUROC"), "change"]
            assert changes.loc[(s, m, "AUROC"), "minus NegLabel's"] == pytest.approx(expected - nl)
    reference = out["changes"].query("method == 'neglabel'")
    assert (reference[["minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi"]] == 0).all().all()
    summary = out["summary"].set_index(["method", "metric"])
    for m in METHODS:
        mean = np.mean([changes.loc[(s, m, "FPR95"), "change"] for s in range(1, 6)])
        assert summary.loc[(m, "FPR95"), "mean change"] == pytest.approx(mean)
    # the control: ID alone at the control severity, then ID and OOD shifted alike
    both = pipeline.score(emb, id_emb=graded.id_emb[("noisy", 2)], ood_emb=graded.ood_emb["noisy"], methods=METHODS,
                          pooled_streams=False)
    control = out["control"].set_index(["method", "metric"])
    for m in METHODS:
        alone = levels.loc[(2, m, "AUROC"), "value"] - levels.loc[(0, m, "AUROC"), "value"]
        shifted_too = _average(both, m, "AUROC") - levels.loc[(0, m, "AUROC"), "value"]
        assert control.loc[(m, "AUROC"), "ID alone"] == pytest.approx(alone)
        assert control.loc[(m, "AUROC"), "ID and OOD"] == pytest.approx(shifted_too)
        assert control.loc[(m, "AUROC"), "difference"] == pytest.approx(shifted_too - alone)
    assert set(out["levels"]["label"]) == {"NegLabel", "energy", "AdaNeg (task-adaptive)"}


def test_an_unshifted_study_changes_by_nothing_in_every_replicate(units_emb):  # noqa: F811
    emb = units_emb
    graded = _graded(emb)
    graded = dataclasses.replace(graded, id_emb={k: emb.id_emb for k in graded.id_emb},
                                 ood_emb={"noisy": dict(emb.ood_emb)})
    out = robustness.graded_study(emb, graded, ("neglabel", "energy"), n_bootstrap=10)
    assert (out["changes"][["change", "change lo", "change hi"]].abs() < 1e-9).all().all()
    assert (out["control"][["difference", "difference lo", "difference hi"]].abs() < 1e-9).all().all()


def test_graded_summary_names_what_stays_clear_after_holm():
    def row(shift, m, change, gap, se):
        return {"shift": shift, "method": m, "metric": "AUROC", "mean change": change, "mean change lo": change - 1,
                "mean change hi": change + 1, "minus NegLabel's": gap, "vs NegLabel lo": gap - 1.96 * se,
                "vs NegLabel hi": gap + 1.96 * se, "vs NegLabel se": se if m != "neglabel" else np.nan}

    # blur: energy +3 (z = 2.5, p 0.0124 <= 0.05 / 2: clear after Holm over the 2 methods); pose: mcm +2.2 (z = 2.2,
    # p 0.028: clear at 95%, not after Holm's 0.025); glare: NegLabel degrades least itself
    summary = pd.DataFrame([
        row("blur", "neglabel", -5, 0, 0), row("blur", "energy", -2, 3, 1.2), row("blur", "mcm", -6, -1, 1),
        row("pose", "neglabel", -4, 0, 0), row("pose", "mcm", -1.8, 2.2, 1), row("pose", "energy", -5, -1, 1),
        row("glare", "neglabel", -1, 0, 0), row("glare", "energy", -3, -2, 1), row("glare", "mcm", -4, -3, 1)])
    assert robustness.graded_summary(summary) == (
        "In AUROC, a method degrades clearly less than NegLabel (after Holm's correction over the 2 methods compared with "
        "it; the least degrading such method and its gap) under blur (energy, +3.00 [+0.65, +5.35]); under pose, glare "
        "no method degrades clearly less than NegLabel (by point value NegLabel itself degrades least under glare).")
    level = summary[summary["shift"] != "blur"]
    assert robustness.graded_summary(level).startswith("In AUROC, under pose, glare no method degrades clearly less")
    # noise: mcm degrades least by point (+4, p 0.11: not clear), energy less far but clearly (+3, z 3.75): energy is named
    noisy = pd.DataFrame([row("noise", "neglabel", -8, 0, 0), row("noise", "mcm", -4, 4, 2.5),
                          row("noise", "energy", -5, 3, 0.8)])
    assert robustness.graded_summary(noisy).endswith("under noise (energy, +3.00 [+1.43, +4.57]).")
    fpr = noisy.assign(metric="FPR95", **{"mean change": [8, 4, 5], "minus NegLabel's": [0, -4, -3]})
    fpr["vs NegLabel lo"], fpr["vs NegLabel hi"] = fpr["minus NegLabel's"] - 1.96 * fpr["vs NegLabel se"].fillna(0), \
        fpr["minus NegLabel's"] + 1.96 * fpr["vs NegLabel se"].fillna(0)
    assert robustness.graded_summary(fpr, "FPR95").endswith("under noise (energy, -3.00 [-4.57, -1.43]).")


def test_top1_explains_by_hand():
    # AUROC change = 2 x (top-1 change) + 1 exactly, over two shifts: slope 2, intercept 1, R^2 1
    rows = []
    for shift, drops in (("a", [0, -1, -2, -3, -4, -5]), ("b", [0, -2, -4, -6, -8, -10])):
        for s, d in enumerate(drops):
            rows.append({"shift": shift, "severity": s, "ID top-1": 50 + d, "method": "neglabel", "metric": "AUROC",
                         "value": 90 + (2 * d + 1 if s else 0)})
    got = robustness.top1_explains(pd.DataFrame(rows)).iloc[0]
    assert got["points"] == 10
    assert (got["slope"], got["intercept"], got["R2"]) == (pytest.approx(2), pytest.approx(1), pytest.approx(1))
    flat = pd.DataFrame(rows).assign(**{"ID top-1": 50})
    assert np.isnan(robustness.top1_explains(flat).iloc[0]["R2"])


def test_halved_reads_severity_five_against_zero():
    levels = pd.DataFrame([{"shift": s, "severity": k, "ID top-1": t} for s, tops in (("a", [40, 30, 25, 22, 21, 20]),
                                                                                  ("b", [40, 39, 38, 37, 36, 21]))
                           for k, t in enumerate(tops)])
    assert robustness.halved(levels) == {"a": True, "b": False}


def test_template_overrides_put_every_label_in_the_template():
    from neglabel_core.profiles import load_profile

    profile = load_profile("emoji-tiny").with_overrides(robustness.template_overrides("A dark photo of a {}"))
    assert profile.data["id_templates"] == ["A dark photo of a {}"]
    assert profile.corpus["prompts"] == {"noun": "A dark photo of a {}", "adj": "A dark photo of a {}"}


def test_template_ranking_and_the_paper_rows():
    paper = robustness.paper_templates("data/paper_results.csv")
    assert list(paper["template"]) == list(robustness.PAPER_TEMPLATES)
    assert paper.set_index("template").loc["A dark photo of a {}", "FPR95"] == 54.00
    study = pd.DataFrame([{"template": t, "method": "neglabel", "metric": "FPR95", "value": v}
                          for t, v in zip(robustness.PAPER_TEMPLATES, (40.0, 30.0, 50.0, 60.0))])
    got = robustness.template_ranking(study, paper)
    assert got["ours"] == ["{}", "The nice {}", "A photo of a {}", "A dark photo of a {}"]
    assert got["paper"] == list(robustness.PAPER_TEMPLATES)
    assert got["spearman"] == pytest.approx(0.8) and not got["same best"]  # ranks 2,1,3,4 vs 1,2,3,4: 1 - 6*2/60


def test_paper_rows_by_study(tmp_path):
    main = tables.paper_rows("data/paper_results.csv")
    assert "prompt template" not in set(main.get("study", [])) and (main["method"] == "NegLabel").sum() == 5
    assert robustness.published_shift_rows("data/paper_results.csv").empty
    with pytest.raises(ValueError, match=r"^unknown study 'ablation'; expected one of "
                                         r"\['main', 'prompt template', 'domain shift'\]$"):
        tables.paper_rows("data/paper_results.csv", "ablation")
    old = tmp_path / "old.csv"
    old.write_text("method,ood_set,FPR95,AUROC,source\nX,average,1,2,s\n")
    with pytest.raises(ValueError, match=r"has no column\(s\) \['study', 'setting'\]"):
        tables.paper_rows(old)


def test_score_takes_shifted_ood_images_and_can_skip_the_pooled_stream(synthetic):  # noqa: F811
    emb = synthetic
    scored = pipeline.score(emb, methods=("neglabel", "adaneg"), pooled_streams=False)
    assert list(scored.stream["adaneg"]) == list(emb.ood_emb)
    moved = {n: _unit(x[::-1].copy()) for n, x in emb.ood_emb.items()}  # the same sets, other order
    again = pipeline.score(emb, ood_emb=moved, methods=("neglabel",))
    np.testing.assert_allclose(again.ood["A"]["neglabel"], scored.ood["A"]["neglabel"][::-1], rtol=1e-6)
    with pytest.raises(ValueError, match=r"^ood_emb has the sets \['A'\]; expected the profile's OOD sets \['A', 'B'\]$"):
        pipeline.score(emb, ood_emb={"A": emb.ood_emb["A"]}, methods=("neglabel",))


def test_score_with_given_negatives_is_the_mined_run(synthetic):  # noqa: F811
    emb = synthetic
    mined = pipeline.score(emb, methods=("neglabel", "energy"))
    again = pipeline.score(emb, methods=("neglabel", "energy"), negatives=mined.negatives)
    np.testing.assert_array_equal(again.id["neglabel"], mined.id["neglabel"])
    np.testing.assert_array_equal(again.negatives, mined.negatives)
    # the words alone, in their mined order, as the corpus: the same scores (what the template study reads)
    words = dataclasses.replace(emb, corpus=emb.corpus.subset(mined.negatives), corpus_emb=emb.corpus_emb[mined.negatives])
    alone = pipeline.score(words, methods=("neglabel",), negatives=np.arange(len(mined.negatives)))
    np.testing.assert_array_equal(alone.ood["B"]["neglabel"], mined.ood["B"]["neglabel"])
    with pytest.raises(ValueError, match=r"^negatives must be indices into the corpus of 60 words; "
                                         r"got \(1,\) values in \[60, 60\]$"):
        pipeline.score(emb, methods=("neglabel",), negatives=[60])


def test_a_graded_id_sample_is_seeded_and_used_at_every_severity(units_emb):  # noqa: F811
    """``graded_shifts.id_sample``: the study on a seeded subsample of the ID test images, severity
    0 included, equals the study on a profile whose ID test set is that subsample."""
    def files(x, name):
        return ImageFiles([f"{name}{i}.png" for i in range(len(x.units))], list(x.labels), list(x.units), name)

    data = units_emb.data  # as a benchmark's: files with a length and subsets
    emb = dataclasses.replace(units_emb, data=BenchmarkData(data.class_names, files(data.id_images, "id"),
                                                            {k: files(v, k) for k, v in data.ood.items()}))
    n = len(emb.data.id_images)
    index = pipeline.graded_id_index({"id_sample": n // 2, "seed": 3}, n)
    assert len(index) == n // 2 and (np.diff(index) > 0).all()
    assert np.array_equal(index, np.sort(np.random.default_rng(3).choice(n, size=n // 2, replace=False)))
    assert pipeline.graded_id_index({"seed": 3}, n) is None and pipeline.graded_id_index({"id_sample": n}, n) is None
    with pytest.raises(ValueError, match=r"^graded_shifts.id_sample=0; expected a number of ID test images >= 1, or null"):
        pipeline.graded_id_index({"id_sample": 0}, n)
    full = _graded(emb)
    sampled = dataclasses.replace(full, id_index=index,
                                  id_emb={k: np.asarray(v)[index] for k, v in full.id_emb.items()})
    small = sampled.restrict(emb)  # the same study run on a profile whose ID test set is the sample
    assert len(small.data.id_images) == n // 2 and np.array_equal(small.id_emb, np.asarray(emb.id_emb)[index])
    plain = dataclasses.replace(sampled, id_index=None)
    got = robustness.graded_study(emb, sampled, ("neglabel", "energy"), n_bootstrap=10)
    expected = robustness.graded_study(small, plain, ("neglabel", "energy"), n_bootstrap=10)
    for part in ("levels", "changes", "summary"):
        pd.testing.assert_frame_equal(got[part], expected[part])


def test_the_unshifted_images_are_named_for_the_benchmark_and_the_style_reading_says_so():
    from types import SimpleNamespace

    from neglabel_core.analysis import sweeps

    emoji, folders = (SimpleNamespace(profile=SimpleNamespace(benchmark={"kind": k})) for k in ("emoji", "folders"))
    assert (sweeps.unshifted_name(emoji), sweeps.unshifted_name(folders)) == ("evaluation styles", "ID test set")
    rows = [("evaluation styles", 60.0, 90.0), ("line art", 20.0, 70.0), ("high contrast", 50.0, 85.0)]
    table = pd.DataFrame([{"ID images": n, "method": "neglabel", "ID top-1": t, "AUROC": a} for n, t, a in rows])
    assert sweeps.style_summary(emoji, table) == (
        "On the evaluation styles the model's ID top-1 is 60.0% and NegLabel's mean AUROC 90.00; in the style line art "
        "top-1 falls to 20.0% and NegLabel's AUROC to 70.00. The model classifies these ID images far worse than the "
        "evaluation styles (ImageNet's shifted sets keep CLIP's top-1 much higher), so a style mixes a change of the ID "
        "images' look with a collapse of classification; the graded shifts below move one property at a time.")
    alone = pd.DataFrame([{"ID images": "ID test set", "method": "neglabel", "ID top-1": 60.0, "AUROC": 90.0}])
    assert sweeps.style_summary(folders, alone) == "This profile has no domain-shift set here."


def test_id_sample_reading_says_which_id_images_the_study_uses():
    from types import SimpleNamespace

    from neglabel_core.profiles import load_profile

    def emb(spec):
        return SimpleNamespace(profile=SimpleNamespace(data={"graded_shifts": spec} if spec else {}),
                               data=SimpleNamespace(id_images=SimpleNamespace(labels=[0] * 1200)))

    paper = load_profile("imagenet-clip").data["graded_shifts"]["id_sample"]
    tail = (f"; the profile's `graded_shifts.id_sample` sets that number (the paper profile takes a seeded {paper:,} of "
            "ImageNet's validation images at every shift and severity, so that a reader with CLIP weights and a GPU can run it). "
            "This book ran the study on the profile named at the top of the page only")
    assert robustness.id_sample_reading(emb(None)) == "The study uses all 1,200 of this profile's ID test images" + tail
    assert robustness.id_sample_reading(emb({"id_sample": 5000, "seed": 3})).startswith("The study uses all 1,200")
    assert robustness.id_sample_reading(emb({"id_sample": 300, "seed": 3})) == (
        "The study uses a seeded subsample of 300 of this profile's 1,200 ID test images (seed 3)" + tail)


def test_control_scope_counts_the_ood_images_the_control_shifts():
    from types import SimpleNamespace

    sets = {"a": SimpleNamespace(labels=[0] * 30), "b": SimpleNamespace(labels=[0] * 12)}
    emb = SimpleNamespace(data=SimpleNamespace(ood=sets))
    graded = SimpleNamespace(shifts={"blur": None, "noise": None}, severities=[0, 1, 2, 3, 4, 5], control_severity=3)
    assert robustness.control_scope(emb, graded) == (
        "The control runs at severity 3 only (the profile's `graded_shifts.control_severity`): it shifts and embeds all "
        "42 OOD images under each of the 2 shifts, 84 images; at every severity it would take 420 (a profile may set "
        "another severity)")


def _control(rows):
    """A control frame (AUROC) from (shift, method, difference, lo, hi)."""
    return pd.DataFrame([{"shift": s, "method": m, "label": m, "metric": "AUROC", "severity": 2,
                          "ID alone": -3.0, "ID alone lo": -4.0, "ID alone hi": -2.0, "ID and OOD": -3.0 + d,
                          "ID and OOD lo": -4.0 + d, "ID and OOD hi": -2.0 + d, "difference": d, "difference lo": lo,
                          "difference hi": hi} for s, m, d, lo, hi in rows])


def test_control_reading_and_table_by_hand():
    control = _control([("blur", "neglabel", 1.5, 0.5, 2.5), ("blur", "energy", -1, -2, 0),
                        ("noise", "neglabel", -2.0, -3.25, -0.75), ("glare", "neglabel", 0.2, -0.5, 0.9)])
    assert robustness.control_reading(control, 2) == (
        "At severity 2, shifting the OOD images as well as the ID images costs NegLabel less AUROC than shifting the ID "
        "images alone under blur; costs NegLabel *more* AUROC than shifting the ID images alone under noise (noise: "
        "-2.00 [-3.25, -0.75]): there the shifted OOD images also score more like ID images, so a shift of the OOD "
        "images costs something of its own; under glare the intervals cannot tell the two apart.")
    only_cheaper = control[control["shift"] == "blur"]
    assert robustness.control_reading(only_cheaper, 2).endswith("than shifting the ID images alone under blur.")
    table = robustness.control_table(control, 2)
    assert table.columns.name == "AUROC change at severity 2 [95%]"
    assert table.loc[("noise", "neglabel"), "difference"] == "-2.00 [-3.25, -0.75]"
    assert table.loc[("blur", "energy"), "ID and OOD"] == "-4.00 [-5.00, -3.00]"


def test_worst_shift_and_calibration_readings_by_hand():
    summary = pd.DataFrame([{"shift": s, "method": m, "metric": k, "mean change": v}
                            for s, m, k, v in (("blur", "neglabel", "AUROC", -4.0), ("noise", "neglabel", "AUROC", -9.5),
                                               ("glare", "neglabel", "AUROC", -1.25), ("noise", "energy", "AUROC", -20.0),
                                               ("glare", "neglabel", "FPR95", 30.0))])
    assert robustness.worst_shift_reading(summary) == ("NegLabel loses most under noise (-9.50 AUROC on average) and "
                                                       "least under glare (-1.25)")
    levels = pd.DataFrame([{"shift": s, "severity": k, "ID top-1": t} for s, tops in (("a", [40, 30, 25, 22, 21, 20]),
                                                                                  ("b", [40, 39, 38, 37, 36, 21]))
                           for k, t in enumerate(tops)])
    assert robustness.calibration_reading(levels, ["a", "b"]) == (
        "Here ID top-1 falls from 40.0% at severity 0 to 20.0% (a), 21.0% (b) at severity 5: less than half lost under b, "
        "whose severities are too mild for this model.")
    assert robustness.calibration_reading(levels[levels["shift"] == "a"], ["a"]).endswith("at least half lost under every shift.")


def test_top1_reading_residuals_by_hand():
    # NegLabel: AUROC change = 2 x top-1 change + 1 on shift a, + 3 on shift b (above the common line), so the fitted
    # line (slope 2, intercept 2) puts a below it (residual -1) and b above (+1)
    rows = []
    for shift, drops, offset in (("a", [0, -1, -2, -3, -4, -5], 1), ("b", [0, -1, -2, -3, -4, -5], 3)):
        for s, d in enumerate(drops):
            rows += [{"shift": shift, "severity": s, "ID top-1": 50 + d, "method": m, "label": m, "metric": "AUROC",
                      "value": 90 + (k * d + offset if s else 0)} for m, k in (("neglabel", 2), ("energy", 1))]
    levels = pd.DataFrame(rows)
    points = robustness.top1_points(levels)
    assert len(points) == 20 and points.query("shift == 'b' and severity == 3 and method == 'neglabel'")[
        ["d_top1", "d_value"]].to_numpy().tolist() == [[-3.0, -3.0]]
    explains = robustness.top1_explains(levels)
    nl = explains.set_index("method").loc["neglabel"]
    assert (nl["slope"], nl["intercept"]) == (pytest.approx(2), pytest.approx(2))
    text = robustness.top1_reading(levels, explains)
    assert text.startswith(f"ID top-1's fall explains R² = {nl['R2']:.2f} of the variance of NegLabel's AUROC change "
                           "(slope 2.00 AUROC points per top-1 point); across methods R² runs from ")
    assert text.endswith("For NegLabel, a cost more AUROC than their top-1 loss predicts; b less "
                         "(the points below and above the line)")
    flat = levels.assign(**{"ID top-1": 50})
    assert robustness.top1_reading(flat, robustness.top1_explains(flat)).startswith("ID top-1 does not move")
    assert list(robustness.top1_table(explains).columns) == ["(shift, severity) pairs", "slope (AUROC per top-1 point)", "R²"]


def _template_study():
    """NegLabel and energy in the profile's prompts and the paper's four templates (FPR95 and AUROC)."""
    rows = []
    fpr = {"profile's own": 50.0, "The nice {}": 48.0, "{}": 52.5, "A photo of a {}": 47.0, "A dark photo of a {}": 51.0}
    for t, v in fpr.items():
        for metric, value, gap in (("FPR95", v, v - 50.0), ("AUROC", 100 - v, 50.0 - v)):
            rows.append({"template": t, "method": "neglabel", "label": "NegLabel", "metric": metric, "value": value,
                         "lo": value - 1, "hi": value + 1, "gap": gap, "gap lo": gap - 4, "gap hi": gap + 4})
            rows.append({"template": t, "method": "energy", "label": "energy", "metric": metric, "value": value + 5,
                         "lo": value + 4, "hi": value + 6, "gap": 3 * gap, "gap lo": 3 * gap - 1, "gap hi": 3 * gap + 1})
    return pd.DataFrame(rows)


def test_template_readings_by_hand():
    study = _template_study()
    paper = robustness.paper_templates("data/paper_results.csv")
    ours = "“A photo of a {}” > “The nice {}” > “A dark photo of a {}” > “{}”"
    published = {m: " > ".join(f"“{t}”" for t in robustness.template_ranking(study, paper, metric=m)["paper"])
                 for m in robustness.METRICS}
    spread = paper["FPR95"].max() - paper["FPR95"].min()
    text = robustness.template_reading(study, paper)
    assert text.startswith(f"With the paper's templates NegLabel's FPR95 here runs from 47.00 (“A photo of a {{}}”) to 52.50 "
                           f"(“{{}}”), a spread of 5.50 points against the paper's {spread:.2f} on ImageNet, and every "
                           "template's gap to the profile's own prompts includes zero")
    assert f"so their FPR95 ranking ({ours}; the paper's: {published['FPR95']}) means nothing" in text
    assert f". In AUROC the order here is {ours} (53.00 to 47.50); the paper's is {published['AUROC']}, so " in text
    # energy's gaps are three times NegLabel's: its largest FPR95 move is -9.00 ("A photo of a {}"), more than NegLabel's 3.00
    assert text.endswith("The templates matter more for the baselines, which read the ID labels alone: "
                         "energy -9.00 FPR95 with “A photo of a {}”.")
    table = robustness.template_table(study)
    assert table.loc[("{}", "NegLabel"), "FPR95 gap [95%]"] == "+2.50 [-1.50, +6.50]"
    assert table.loc[("profile's own", "energy"), "AUROC gap [95%]"] == "" and table.index[0] == ("profile's own", "NegLabel")
    no_styles = pd.DataFrame(columns=["shift", "method", "metric", "change", "shifted"])  # no style set, no graded study
    assert robustness.shift_headline(no_styles, None, study, paper).startswith(
        f"The template moves NegLabel's FPR95 by 5.50 points here (the paper: {spread:.2f}), within the noise; in AUROC ")


def test_graded_tables_and_figures_from_a_study(units_emb):  # noqa: F811
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from neglabel_core.analysis import shift_figures

    emb, graded = units_emb, _graded(units_emb)
    out = robustness.graded_study(emb, graded, METHODS, n_bootstrap=30)
    table = robustness.graded_change_table(out["summary"])
    assert list(table.index) == [("noisy", "energy"), ("noisy", "AdaNeg (task-adaptive)")]
    summary = out["summary"][out["summary"]["metric"] == "FPR95"]
    held = robustness.holm_per_shift(summary)
    energy = summary.index[summary["method"] == "energy"][0]
    gap = summary.loc[energy, ["minus NegLabel's", "vs NegLabel lo", "vs NegLabel hi"]]
    assert table.loc[("noisy", "energy"), "FPR95: minus NegLabel's [95%]"] == (
        f"{gap.iloc[0]:+.2f} [{gap.iloc[1]:+.2f}, {gap.iloc[2]:+.2f}]" + (" *" if held[energy] else ""))
    assert robustness.unchanged_note(graded) is None
    assert robustness.unchanged_note(dataclasses.replace(graded, unchanged={"background": {"arrows": 1, "bugs": 3, "x": 0}})) == (
        "The background shift leaves images without an alpha channel as they are (no background to replace): "
        "1 image of the set arrows, 3 images of the set bugs.")
    assert robustness.id_subsample_note(emb, graded) is None
    sampled = dataclasses.replace(graded, id_index=np.arange(7), seed=3)
    stub = types.SimpleNamespace(data=types.SimpleNamespace(id_images=range(1200)))  # 1,200 ID test images
    assert robustness.id_subsample_note(stub, sampled).startswith(
        "The graded study below uses a seeded subsample of the ID test images: 7 of 1,200 (`graded_shifts.id_sample`, seed 3)")
    explains = robustness.top1_explains(out["levels"])
    for fig, panels in ((shift_figures.graded_curves(out["levels"], ["noisy"]), 4),
                        (shift_figures.graded_heatmap(out["changes"], graded), 4),  # two heat maps, two colour bars
                        (shift_figures.top1_scatter(out["levels"], explains), 2)):
        assert isinstance(fig, Figure) and len(fig.axes) == panels
        matplotlib.pyplot.close(fig)


def test_style_shift_tables_by_hand():
    from neglabel_core.analysis import sweeps

    shift = pd.DataFrame([{"ID images": s, "ID top-1": t, "method": m, "AUROC": a, "FPR95": f}
                          for s, t in (("flat", 81.25), ("sketch", 40.0)) for m, a, f in (("neglabel", 90.004, 30.0),
                                                                                          ("energy", 80.0, 50.126))])
    labelled = sweeps.labelled_shift(shift)
    assert list(dict.fromkeys(labelled["ID images"])) == ["flat\n(top-1 81.2%)", "sketch\n(top-1 40.0%)"]
    table = sweeps.shift_level_table(labelled, "FPR95")
    assert list(table.index) == ["flat (top-1 81.2%)", "sketch (top-1 40.0%)"]
    assert table.loc["flat (top-1 81.2%)", "energy"] == 50.13 and table.columns.name == "FPR95 (%), mean over the OOD sets"
    degradation = pd.DataFrame([{"shift": "sketch", "method": m, "label": m, "metric": "AUROC", "change": c,
                                 "change lo": c - 1, "change hi": c + 1, "change minus NegLabel's": c + 5,
                                 "vs NegLabel lo": c + 4, "vs NegLabel hi": c + 6}
                                for m, c in (("neglabel", -5.0), ("energy", -2.5))])
    table = sweeps.degradation_table(degradation, "AUROC")
    assert table.loc[("sketch", "neglabel")].tolist() == ["-5.00 [-6.00, -4.00]", "(reference)"]
    assert table.loc[("sketch", "energy"), "minus NegLabel's [95%]"] == "+2.50 [+1.50, +3.50]"
