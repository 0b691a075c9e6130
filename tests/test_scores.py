import numpy as np
import pytest
import torch

from neglabel_core.ood import scores


def reference_neglabel(id_sims, neg_sims, tau, n_groups, seed):
    """Float64 per-group loop as the official code: concatenate ID and group sims, softmax, sum ID mass."""
    a = np.asarray(id_sims, dtype=np.float64)
    b = np.asarray(neg_sims, dtype=np.float64)
    m = b.shape[1]
    kept = m - m % n_groups
    perm = torch.randperm(kept, generator=torch.Generator().manual_seed(seed)).numpy()
    groups = np.split(perm, n_groups)
    out = np.zeros(a.shape[0])
    for g in groups:
        logits = np.concatenate([a, b[:, g]], axis=1) / tau
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out += p[:, : a.shape[1]].sum(axis=1)
    return out / n_groups


@pytest.fixture
def sims():
    rng = np.random.default_rng(1)
    return rng.uniform(-0.1, 0.4, (37, 12)).astype(np.float32), rng.uniform(-0.1, 0.4, (37, 103)).astype(np.float32)


@pytest.mark.parametrize("n_groups", [1, 3, 10, 103])
@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_neglabel_matches_float64_reference(sims, n_groups, tau):
    a, b = sims
    got = scores.neglabel_score(a, b, tau=tau, n_groups=n_groups, seed=7, chunk_size=5)
    ref = reference_neglabel(a, b, tau, n_groups, 7)
    np.testing.assert_allclose(got.numpy(), ref, rtol=2e-5, atol=1e-6)


def test_ungrouped_is_eq6_by_hand():
    # One sample, two ID labels, one negative, tau = 1: S = (e^a1 + e^a2) / (e^a1 + e^a2 + e^b).
    a, b = np.array([[0.2, 0.5]]), np.array([[0.3]])
    expected = (np.exp(0.2) + np.exp(0.5)) / (np.exp(0.2) + np.exp(0.5) + np.exp(0.3))
    got = scores.neglabel_score(a, b, tau=1.0, n_groups=1)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_grouping_drops_the_last_negatives_in_given_order():
    # M = 7, 3 groups: the 7th negative (index 6) is dropped before permuting, whatever its value.
    a = np.zeros((2, 3))
    b = np.random.default_rng(0).uniform(0, 0.3, (2, 7))
    b_changed = b.copy()
    b_changed[:, 6] = 0.99
    s1 = scores.neglabel_score(a, b, tau=0.05, n_groups=3)
    s2 = scores.neglabel_score(a, b_changed, tau=0.05, n_groups=3)
    torch.testing.assert_close(s1, s2)
    assert sorted(scores.group_permutation(7, 3, 0).flatten().tolist()) == list(range(6))


def test_official_ungrouped_variant_by_hand():
    # The official code's n_g = 1 path: the sum of the ID logits over tau, negatives unused.
    a = np.array([[0.2, 0.5], [0.1, -0.3]])
    got = scores.official_ungrouped_score(a, tau=0.01)
    np.testing.assert_allclose(got.numpy(), [70.0, -20.0], rtol=1e-12)
    with pytest.raises(ValueError, match=r"^tau must be a positive number, got 0.0$"):
        scores.official_ungrouped_score(a, tau=0.0)


def test_cpu_permutation_is_the_cpu_generators_randperm():
    expected = torch.randperm(100, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(scores.group_permutation(100, 10, 3).flatten(), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the official grouping draws on the GPU")
def test_cuda_permutation_is_the_official_draw_and_differs_from_the_cpu(record_property, capsys):
    m = 10000
    torch.manual_seed(0)  # the official code's seeding, then its draw on the GPU
    torch.cuda.manual_seed(0)
    official = torch.randperm(m, device="cuda").cpu()
    ours = scores.group_permutation(m, 100, 0, device="cuda")
    assert ours.device.type == "cuda"
    torch.testing.assert_close(ours.flatten().cpu(), official)
    cpu = scores.group_permutation(m, 100, 0).flatten()
    differs = not torch.equal(cpu, official)
    record_property("cuda_randperm_differs_from_cpu", differs)
    with capsys.disabled():
        print(f"\nrandperm({m}) seed 0: CUDA {'differs from' if differs else 'equals'} CPU; "
              f"CUDA first 8 {official[:8].tolist()}, CPU first 8 {cpu[:8].tolist()}; "
              f"same positions {int((cpu == official).sum())} of {m}")
    # Either way the scores are computed from the groups: the same groups give the same score.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-0.1, 0.4, (8, 5)), rng.uniform(-0.1, 0.4, (8, m))
    torch.testing.assert_close(scores.neglabel_score(a, b, perm_device="cuda").cpu(),
                               scores.neglabel_score(torch.tensor(a).cuda(), torch.tensor(b).cuda(), perm_device="cuda").cpu())


def test_seed_changes_the_grouping():
    g0, g1 = scores.group_permutation(100, 10, 0), scores.group_permutation(100, 10, 1)
    assert not torch.equal(g0, g1)
    torch.testing.assert_close(g0, scores.group_permutation(100, 10, 0))


def test_stable_at_small_tau_with_cosines_near_one():
    a = np.full((4, 1000), 0.999, dtype=np.float32)
    b = np.full((4, 10000), 0.998, dtype=np.float32)
    s = scores.neglabel_score(a, b, tau=0.01)
    assert torch.isfinite(s).all()
    # Each group: 1000 e^{99.9} vs 100 e^{99.8}: S = 1 / (1 + 0.1 e^{-0.1}).
    expected = 1 / (1 + 0.1 * np.exp(-0.1))
    np.testing.assert_allclose(s.numpy(), expected, rtol=1e-5)
    assert torch.isfinite(scores.energy_score(a)).all()
    assert torch.isfinite(scores.mcm_score(a, tau=0.01)).all()


def test_chunk_size_does_not_change_results(sims):
    a, b = sims
    full = scores.neglabel_score(a, b, n_groups=5, chunk_size=1000)
    torch.testing.assert_close(scores.neglabel_score(a, b, n_groups=5, chunk_size=1), full)


def test_float64_inputs_keep_precision(sims):
    a, b = sims
    got = scores.neglabel_score(a.astype(np.float64), b.astype(np.float64), n_groups=4, seed=3)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), reference_neglabel(a, b, 0.01, 4, 3), rtol=1e-10)


def test_baselines_against_hand_formulas(sims):
    a = sims[0].astype(np.float64)
    softmax = np.exp(a / 0.5) / np.exp(a / 0.5).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores.mcm_score(a, tau=0.5).numpy(), softmax.max(axis=1), rtol=1e-12)
    np.testing.assert_allclose(scores.max_cos_score(a).numpy(), a.max(axis=1))
    np.testing.assert_allclose(scores.energy_score(a, tau=0.1).numpy(), np.log(np.exp(a / 0.1).sum(axis=1)), rtol=1e-12)


def test_higher_means_more_in_distribution():
    # An image close to an ID label and far from negatives scores higher than the reverse.
    a = np.array([[0.35, 0.1], [0.12, 0.1]])
    b = np.array([[0.1, 0.1, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3]])
    for s in (scores.neglabel_score(a, b, n_groups=2), scores.mcm_score(a), scores.max_cos_score(a), scores.energy_score(a)):
        assert s[0] > s[1]


def test_torch_inputs_stay_torch_and_on_device(sims):
    a, b = (torch.from_numpy(x) for x in sims)
    out = scores.neglabel_score(a, b, n_groups=1)
    assert isinstance(out, torch.Tensor) and out.device == a.device and out.shape == (37,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tau": 0.0}, "tau must be a positive number, got 0.0"),
        ({"tau": -1}, "tau must be a positive number, got -1"),
        ({"n_groups": 0}, "n_groups must be >= 1, got 0"),
        ({"n_groups": 104}, "n_groups=104 is larger than the number of negative labels M (103)"),
        ({"n_groups": 2.5}, "n_groups must be an integer, got 2.5"),
    ],
)
def test_neglabel_parameter_errors(sims, kwargs, message):
    with pytest.raises(ValueError) as err:
        scores.neglabel_score(*sims, **kwargs)
    assert str(err.value) == message


def test_input_shape_and_value_errors(sims):
    a, b = sims
    with pytest.raises(ValueError, match=r"^id_sims and neg_sims must have one row per sample, got 37 and 36 rows$"):
        scores.neglabel_score(a, b[:36])
    with pytest.raises(ValueError, match=r"^id_sims must be a 2-D array, got shape \(12,\)$"):
        scores.max_cos_score(a[0])
    bad = a.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"^id_sims contains 1 NaN or infinite value\(s\); expected finite numbers$"):
        scores.mcm_score(bad)
    with pytest.raises(ValueError, match=r"^neg_sims is empty"):
        scores.neglabel_score(a, np.zeros((37, 0)))
    with pytest.raises(ValueError, match=r"^tau must be a positive number, got 0$"):
        scores.energy_score(a, tau=0)


def test_complex_and_bool_inputs_and_tiny_tau_are_rejected():
    a = np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=r"^id_sims has complex dtype torch.complex128; expected real numbers"):
        scores.max_cos_score(a + 0.1j)
    with pytest.raises(ValueError, match=r"^id_sims has dtype bool; expected real numbers"):
        scores.max_cos_score(a > 0)
    for score in (lambda t: scores.neglabel_score(a, a, tau=t, n_groups=1), lambda t: scores.energy_score(a, tau=t),
                  lambda t: scores.mcm_score(a, tau=t), lambda t: scores.official_ungrouped_score(a, tau=t)):
        with pytest.raises(ValueError, match=r"^tau must lie in \[1e-06, inf\), got 1e-300: smaller temperatures overflow"):
            score(1e-300)
        assert torch.isfinite(score(1e-6)).all()  # the smallest allowed temperature still gives finite scores


def reference_log_odds(a, b, tau, n_groups, seed):
    """log S - log(1 - S) of the float64 reference in exact arithmetic (mpmath, 50 digits), with
    the same groups: stays exact where S is 1 to float64's precision."""
    import mpmath

    mpmath.mp.dps = 50
    groups = scores.group_permutation(b.shape[1], n_groups, seed).numpy()
    out = []
    for row_a, row_b in zip(a, b):
        id_mass = mpmath.fsum(mpmath.exp(mpmath.mpf(float(x)) / tau) for x in row_a)
        s = [id_mass / (id_mass + mpmath.fsum(mpmath.exp(mpmath.mpf(float(row_b[j])) / tau) for j in g)) for g in groups]
        mean = mpmath.fsum(s) / len(s)
        out.append(float(mpmath.log(mean) - mpmath.log(1 - mean)))
    return np.array(out)


@pytest.mark.parametrize("n_groups", [1, 3, 103])
@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_log_odds_matches_exact_reference(sims, n_groups, tau):
    a, b = sims
    got = scores.neglabel_log_odds(a, b, tau=tau, n_groups=n_groups, seed=7, chunk_size=5).numpy()
    np.testing.assert_allclose(got, reference_log_odds(a, b, tau, n_groups, 7), rtol=1e-4, atol=1e-4)


def test_log_odds_stays_exact_where_the_score_saturates():
    # ID cosines 0.5 above every negative at tau = 0.01: S = 1 / (1 + e^-50 * M/K-ish) is 1.0 in
    # float32 (and float64), its log-odds about 50; two such images with different margins tie in S
    # but not in the log-odds.
    a = np.array([[0.8, 0.1], [0.7, 0.1]], dtype=np.float32)
    b = np.array([[0.3, 0.2, 0.25], [0.3, 0.2, 0.25]], dtype=np.float32)
    s = scores.neglabel_score(a, b, tau=0.01, n_groups=1)
    assert s.tolist() == [1.0, 1.0]
    odds = scores.neglabel_log_odds(a, b, tau=0.01, n_groups=1).double().numpy()
    # n_g = 1 by hand: LSE(a/tau) - LSE(b/tau)
    by_hand = np.logaddexp.reduce(a.astype(np.float64) / 0.01, axis=1) - np.logaddexp.reduce(b.astype(np.float64) / 0.01, axis=1)
    np.testing.assert_allclose(odds, by_hand, rtol=1e-5)
    assert odds[0] > odds[1] > 35


def test_log_odds_ranks_as_the_score_where_the_score_has_no_ties(sims):
    a, b = sims
    s = scores.neglabel_score(a, b, tau=0.1, n_groups=3).numpy()
    odds = scores.neglabel_log_odds(a, b, tau=0.1, n_groups=3).numpy()
    assert len(set(s.tolist())) == len(s)
    np.testing.assert_array_equal(np.argsort(s), np.argsort(odds))


def test_score_and_log_odds_in_one_pass_equal_the_two_scores():
    # Tied groups (n_g = 7 of M = 50, 1 dropped) and a temperature where S rounds to 1 for some rows.
    g = torch.Generator().manual_seed(4)
    ids = torch.nn.functional.normalize(torch.randn(40, 12, generator=g), dim=1)
    negs = torch.nn.functional.normalize(torch.randn(40, 50, generator=g), dim=1)
    for tau, n_groups in ((0.01, 7), (1.0, 1)):
        s, odds = scores.neglabel_score_and_log_odds(ids, negs, tau=tau, n_groups=n_groups, seed=3, chunk_size=16)
        assert torch.equal(s, scores.neglabel_score(ids, negs, tau=tau, n_groups=n_groups, seed=3))
        assert torch.equal(odds, scores.neglabel_log_odds(ids, negs, tau=tau, n_groups=n_groups, seed=3))
