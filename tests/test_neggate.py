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

    from neglabel_core.book import ours
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
