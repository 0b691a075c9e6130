"""NegGate (the book's method, ood.scores.neggate_score): against a hand computation on tiny
inputs, each branch of the gate, its limits and its errors."""

import numpy as np
import pytest
import torch

from neglabel_core.ood import methods as registry
from neglabel_core.ood import scores


def _by_hand(a, b, tau, weight):
    """float64, log-mean-exp written out: the evidence per label of the ID labels and the negatives."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    l_id = np.log(np.exp(a / tau).sum(axis=1))
    per_id = np.log(np.exp(a / tau).mean(axis=1))
    per_neg = np.log(np.exp(b / tau).mean(axis=1))
    return l_id - weight * np.maximum(0.0, per_neg - per_id)


def test_neggate_by_hand_on_both_sides_of_the_gate():
    # image 0: its ID labels win per label (the gate is shut: exactly energy);
    # image 1: one negative far above every ID label (the gate opens)
    a = np.array([[0.5, 0.1], [0.2, 0.1]])
    b = np.array([[0.2, 0.1, 0.0], [0.6, 0.0, 0.0]])
    got = scores.neggate_score(torch.tensor(a), torch.tensor(b), tau=0.1, weight=0.5).numpy()
    np.testing.assert_allclose(got, _by_hand(a, b, 0.1, 0.5), rtol=1e-12)
    energy = scores.energy_score(torch.tensor(a), tau=0.1).numpy()
    assert got[0] == pytest.approx(energy[0], rel=1e-12)  # shut: the negatives cost nothing
    # open: L_id(1) = log(e^2 + e^1); per label: ID log((e^2 + e) / 2), negatives log((e^6 + 2) / 3)
    l_id = np.log(np.exp(2) + np.exp(1))
    excess = np.log((np.exp(6) + 2) / 3) - np.log((np.exp(2) + np.exp(1)) / 2)
    assert got[1] == pytest.approx(l_id - 0.5 * excess, rel=1e-12) and got[1] < energy[1]


def test_neggate_limits():
    rng = np.random.default_rng(0)
    a, b = torch.tensor(rng.uniform(-1, 1, (20, 4))), torch.tensor(rng.uniform(-1, 1, (20, 30)))
    np.testing.assert_allclose(scores.neggate_score(a, b, tau=0.05, weight=0).numpy(),
                               scores.energy_score(a, tau=0.05).numpy(), rtol=1e-12)
    # float32 in, float32 out, finite at NegLabel's tau (logits up to 100)
    out = scores.neggate_score(a.float(), b.float() * 0 + 1.0, tau=0.01, weight=2.0)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_neggate_errors():
    a, b = torch.zeros(3, 2), torch.zeros(2, 5)
    with pytest.raises(ValueError, match=r"^id_sims has 3 rows and neg_sims 2; expected one row per image in both$"):
        scores.neggate_score(a, b)
    with pytest.raises(ValueError, match=r"^weight must be a number >= 0, got -1$"):
        scores.neggate_score(a, torch.zeros(3, 5), weight=-1)


def test_neggate_is_registered_with_its_parameters():
    method = registry.REGISTRY["neggate"]
    assert (method.label, method.needs, method.main_table, method.params) == ("NegGate (ours)", "negatives", False,
                                                                              ("tau", "neggate_weight", "neggate_gate",
                                                                              "neggate_per_label"))
    assert registry.group("ours") == ("neggate",)
    x = np.eye(3, dtype=np.float32)[:2]  # two images on the first two axes
    got = registry.method_scores(x, np.eye(3, dtype=np.float32), np.full((4, 3), 0.5, np.float32),
                                 {"tau": 0.1, "neggate_weight": 1.0}, ("neggate",))["neggate"]
    np.testing.assert_allclose(got, _by_hand(x @ np.eye(3).T, x @ np.full((4, 3), 0.5).T, 0.1, 1.0), rtol=1e-6)


def test_the_ablations_drop_one_part_each():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, (15, 3)), rng.uniform(-1, 1, (15, 40))
    l_id = np.log(np.exp(a / 0.1).sum(axis=1))
    l_neg = np.log(np.exp(b / 0.1).sum(axis=1))
    no_gate = scores.neggate_score(torch.tensor(a), torch.tensor(b), tau=0.1, weight=0.5, gate=False).numpy()
    np.testing.assert_allclose(no_gate, l_id - 0.5 * (l_neg - np.log(40) - l_id + np.log(3)), rtol=1e-12)
    totals = scores.neggate_score(torch.tensor(a), torch.tensor(b), tau=0.1, weight=0.5, per_label=False).numpy()
    np.testing.assert_allclose(totals, l_id - 0.5 * np.maximum(0, l_neg - l_id), rtol=1e-12)


def test_scoring_times_time_each_method_on_every_image():
    """The cost table's helper: one best-of-``repeats`` time per method, each call scoring every ID
    and OOD image (counted through a wrapped registry call)."""
    from types import SimpleNamespace
    from unittest import mock

    from neglabel_core.analysis import ours
    from neglabel_core.ood import methods as registry

    rng = np.random.default_rng(0)
    unit = lambda n, d: (lambda a: a / np.linalg.norm(a, axis=1, keepdims=True))(rng.normal(size=(n, d)).astype(np.float32))  # noqa: E731
    emb = SimpleNamespace(id_emb=unit(30, 8), ood_emb={"a": unit(20, 8), "b": unit(10, 8)}, id_text=unit(4, 8),
                          corpus_emb=unit(50, 8), profile=SimpleNamespace(params={"tau": 0.01, "n_groups": 5, "seed": 0}))
    calls = []
    real = registry.method_scores

    def spy(x, *args, **kwargs):
        calls.append((len(x), args[-1]))
        return real(x, *args, **kwargs)

    with mock.patch.object(registry, "method_scores", spy):
        times = ours.scoring_times(emb, np.arange(20), ("neggate", "energy"), repeats=2)
    assert list(times) == ["neggate", "energy"] and all(t > 0 for t in times.values())
    assert calls[0] == (60, ("neggate", "energy"))  # the warm-up: the first 64 rows, here all 60 images
    assert calls[1:] == [(60, ("neggate",))] * 2 + [(60, ("energy",))] * 2


def setting_gaps(rows, setting):
    """NegGate-minus-method rows averaged over the OOD sets, one per (method, setting): (method, setting value,
    AUROC gap, AUROC se, FPR95 gap, FPR95 se); intervals the gap +- 1.96 se."""
    import pandas as pd

    out = []
    for method, value, a, a_se, f, f_se in rows:
        row = {"method": method, setting: value, "ood_set": "average", "AUROC diff": a, "AUROC se": a_se,
               "AUROC lo": a - 1.96 * a_se, "AUROC hi": a + 1.96 * a_se, "FPR95 diff": f, "FPR95 se": f_se,
               "FPR95 lo": f - 1.96 * f_se, "FPR95 hi": f + 1.96 * f_se}
        if setting == "epoch":
            row["id_top1"] = {1: 0.2, 16: 33.7, 32: 48.3}[value]
        out.append(row)
    return pd.DataFrame(out)


def test_average_losses_mark_what_stays_clear_after_holm_within_the_setting():
    from neglabel_core.analysis import ours

    # ink/energy: AUROC -3 (z 3: p 0.0027 <= 0.05 / 3, clear after Holm over the 3 rows); contrast/NegLabel: AUROC
    # -1.05 (z 2.1, p 0.036 > 0.05 / 2 after the first: clear at 95% only) and FPR95 +2 (z 4: clear after Holm)
    styles = setting_gaps([("energy", "ink", -3.0, 1.0, 0.5, 1.0), ("neglabel", "contrast", -1.05, 0.5, 2.0, 0.5),
                           ("max_cos", "ink", 0.5, 1.0, -0.5, 1.0)], "style")
    assert ours.average_losses(styles) == [
        "energy with the ID images in ink (AUROC, average over the OOD sets, -3.00 [-4.96, -1.04], clear after Holm)",
        "NegLabel with the ID images in contrast (AUROC, average over the OOD sets, -1.05 [-2.03, -0.07])",
        "NegLabel with the ID images in contrast (FPR95, average over the OOD sets, +2.00 [+1.02, +2.98], clear after Holm)"]
    epochs = setting_gaps([("neglabel", 1, -0.94, 0.3, 0.0, 1.0), ("energy", 32, 0.2, 0.1, 0.0, 1.0)], "epoch")
    assert ours.average_losses(epochs) == [
        "NegLabel at the image tower of epoch 1 (ID top-1 0.2%; AUROC, average over the OOD sets, -0.94 [-1.53, -0.35], "
        "clear after Holm)"]
    losses = ours.average_losses(styles) + ours.average_losses(epochs)
    assert ours.losses_sentence(losses) == (
        " It is not better everywhere: the confirmation settings find 4 clear losses at the 95% level (listed below), "
        "3 of them clear after Holm's correction within their setting.")
    assert ours.losses_sentence([]) == ""


def test_strength_reading_counts_snapshots_above_the_method_with_and_without_holm():
    from neglabel_core.analysis import ours

    # epoch 1: +0.42 (z 2.1, p 0.036 > 0.05 / 2 after epoch 32's p ~0: clear at 95% only); 16: level; 32: +1 (z 10)
    gaps = setting_gaps([("energy", 1, 0.42, 0.2, 0, 1), ("energy", 16, 0.1, 0.2, 0, 1), ("energy", 32, 1.0, 0.1, 0, 1),
                         ("neglabel", 32, 3.0, 0.1, 0, 1)], "epoch")
    assert ours.strength_reading(gaps) == ("Along the training run NegGate's AUROC is clearly above energy's at 2 of 3 "
                                           "snapshots (1 after Holm's correction over the 3; ID top-1 0.2% to 48.3%)")


def _run(gap_of, sets=("arrows", "bugs")):
    """A compare() run by hand: NegGate minus each compared method per OOD set and on average (gap
    ``gap_of[method]``, se 0.5, intervals +- 1.96 se, FPR95 the mirror) and the method table (NegGate
    at 80 AUROC, each method at 80 minus its gap)."""
    import pandas as pd

    from neglabel_core.analysis import ours
    from neglabel_core.analysis.chapter import method_label

    gaps, table = [], []
    for m in ours.COMPARED:
        for s in (*sets, "average"):
            a = gap_of.get(m, 0.0)
            gaps.append({"method": m, "ood_set": s, "AUROC diff": a, "AUROC se": 0.5, "AUROC lo": a - 0.98,
                         "AUROC hi": a + 0.98, "FPR95 diff": -a, "FPR95 se": 0.5, "FPR95 lo": -a - 0.98, "FPR95 hi": -a + 0.98})
    for m in (ours.OURS, *ours.COMPARED):
        for s in (*sets, "average"):
            value = 80.0 - (0 if m == ours.OURS else gap_of.get(m, 0.0))
            table.append({"method": m, "label": method_label(m), "ood_set": s, "AUROC": value, "AUROC_lo": value - 1,
                          "AUROC_hi": value + 1, "FPR95": 100 - value, "FPR95_lo": 99 - value, "FPR95_hi": 101 - value})
    return {"gaps": pd.DataFrame(gaps), "table": pd.DataFrame(table)}


def test_chapter_10_tables_and_verdicts_by_hand():
    import pandas as pd

    from neglabel_core.analysis import ours

    # NegGate: +3 AUROC over energy on every set (z 6: clear, after Holm too), -2 against CSP (clear worse), level elsewhere
    conf = _run({"energy": 3.0, "csp": -2.0})
    conf_wins = ours.wins(conf["gaps"])
    shown = ours.wins_table(conf_wins, "confirmation")
    assert shown.loc["energy", ["sets", "AUROC better", "AUROC level", "AUROC worse"]].tolist() == [2, 2, 0, 0]
    assert shown.loc["CSP", "AUROC worse"] == 2 and not any(c.endswith("(Holm)") for c in shown)
    points, fpr = ours.run_tables(conf, "confirmation")
    assert points.index.name == "confirmation: AUROC (%)" and points.index[0] == "NegGate (ours)"
    assert points.loc["energy", "arrows"] == 77.0 and points.loc["CSP", "average"] == "82.0 [81.0, 83.0]"
    abl = pd.DataFrame([{"ablation": name, "ood_set": "average", "AUROC diff": d, "AUROC lo": d - 0.5, "AUROC hi": d + 0.5,
                         "FPR95 diff": -d, "FPR95 lo": -d - 0.5, "FPR95 hi": -d + 0.5}
                        for name, d in (("no gate (negatives count on every image)", -1.0), ("totals", 0.2),
                                        ("no negatives", 2.0))])
    assert ours.ablation_reading(abl) == (
        "no gate (negatives count on every image), NegGate minus it -1.00 [-1.50, -0.50] AUROC (the part costs AUROC here: "
        "the score without it is better); totals, NegGate minus it +0.20 [-0.30, +0.70] AUROC (the intervals cannot tell "
        "the two apart); no negatives, NegGate minus it +2.00 [+1.50, +2.50] AUROC (the part helps)")
    assert ours.interval_table(abl, "ablation", "t").loc["totals"].tolist() == ["+0.20 [-0.30, +0.70]", "-0.20 [-0.70, +0.30]"]
    said = ours.verdicts(conf, conf_wins, abl, split=True, dev_wins=conf_wins)
    assert said["tally"].startswith("Development, 14 (method, OOD set) pairs: in AUROC NegGate is clearly better in 2, "
                                    "level in 10 and clearly worse in 2")
    assert ". Confirmation on the Facebook images, 14 (method, OOD set) pairs:" in said["tally"]
    assert said["tally"].endswith("+3.00 [+2.02, +3.98] to energy, +0.00 [-0.98, +0.98] to MCM.")
    assert said["losses"].endswith("CSP on arrows (AUROC -2.00 [-2.98, -1.02], clear after Holm); CSP on arrows "
                                   "(FPR95 +2.00 [+1.02, +2.98], clear after Holm); CSP on bugs (AUROC -2.00 [-2.98, -1.02], "
                                   "clear after Holm); CSP on bugs (FPR95 +2.00 [+1.02, +2.98], clear after Holm).")
    assert said["aim"] == ("it did not meet its aim: in 4 confirmation comparisons it is clearly worse than another method, "
                           "and chapter 10 discloses that its confirmation images were seen once before its weight was fixed")
    assert said["headline"].startswith(
        "On the Facebook images, held out from its design (but see the disclosure), NegGate is clearly better than the "
        "compared method in 2 of 14 (method, OOD set) AUROC comparisons and clearly worse in 2 (2 and 2 after Holm's "
        "correction for the number of comparisons); averaged over the sets, its AUROC gap to CSP, the strongest other "
        "method there, is -2.00 [-2.98, -1.02] AUROC")
    assert said["headline"].endswith("the aim of negatives that never cost anything is not met.")
    level = _run({})
    calm = ours.verdicts(level, ours.wins(level["gaps"]), abl.assign(**{"AUROC hi": 1.0}), split=False)
    assert calm["losses"] == "In no confirmation setting is NegGate worse than a method with an interval clear of zero."
    assert calm["aim"] == "no confirmation setting finds it clearly worse than another method"
    assert calm["tally"].startswith("Confirmation on the profile, 14 (method, OOD set) pairs")
    assert calm["strength"] == "This profile has no snapshots" and "After" not in calm["headline"]
    assert ours.protocol_note(False).endswith("so the chapter shows the whole profile as one confirmation setting.")
    assert ours.cost_reading({"neggate": 0.3, "neglabel": 0.2, "energy": 0.05}, 1200, 10000, 3) == (
        "Scoring 1,200 images against 10,000 negatives (the similarity products included) takes NegGate 0.300 s, "
        "NegLabel 0.200 s (1.50× NegLabel's time) and energy, which reads the ID labels alone, 0.050 s, best of 3 runs "
        "on the machine that built this page")


def test_chapter_10_figures_draw_every_method():
    import matplotlib

    matplotlib.use("Agg")
    from neglabel_core.analysis import ours, ours_figures

    fig = ours_figures.gap_intervals(_run({"energy": 3.0})["gaps"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert len(fig.axes) == 2 and len(labels) == len(ours.COMPARED) - 1 and "MCM" not in labels
    strength = setting_gaps([("energy", 1, 0.42, 0.2, 0, 1), ("energy", 16, 0.1, 0.2, 0, 1)], "epoch").assign(label="energy")
    assert len(ours_figures.strength_curves(strength).axes) == 2
