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
