import numpy as np
import pytest
import torch

from neglabel_core.ood import negmining


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def emb():
    rng = np.random.default_rng(0)
    return unit_rows(rng, 500, 16), unit_rows(rng, 40, 16)


@pytest.mark.parametrize("eta", [0.05, 0.01, 0.25, 0.5, 0.8, 0.99])
def test_percentile_matches_brute_force_quantile(emb, eta):
    cand, ids = emb
    sims = cand.astype(np.float64) @ ids.T.astype(np.float64)
    expected = np.quantile(sims, 1 - eta, axis=1, method="linear")
    got = negmining.percentile_similarity(cand, ids, eta=eta, chunk_size=64)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)


def test_percentile_by_hand_single_candidate():
    # Similarities 0.1, 0.2, 0.3, 0.4, 0.5 (5 ID labels); q = 0.95: position 3.8 -> 0.4 + 0.8 * 0.1.
    ids = np.eye(5)
    cand = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    assert negmining.percentile_similarity(cand, ids, eta=0.05).item() == pytest.approx(0.48)


def test_percentile_matches_torch_quantile_with_one_id_label(emb):
    cand, ids = emb
    got = negmining.percentile_similarity(cand, ids[:1], eta=0.05)
    torch.testing.assert_close(got, torch.from_numpy(cand @ ids[:1].T)[:, 0])


def test_mine_negatives_returns_lowest_in_ascending_order(emb):
    cand, ids = emb
    idx = negmining.mine_negatives(cand, ids, eta=0.05, m=50)
    s = np.quantile(cand.astype(np.float64) @ ids.T.astype(np.float64), 0.95, axis=1)
    np.testing.assert_array_equal(idx.numpy(), np.argsort(s, kind="stable")[:50])
    assert torch.all(torch.diff(torch.from_numpy(s)[idx]) >= 0)


def test_mined_are_far_from_id():
    # Candidates that equal ID labels must never be mined before orthogonal ones.
    ids = np.eye(6)[:3]
    cand = np.eye(6)  # rows 0-2 are ID labels themselves, rows 3-5 orthogonal to all
    assert sorted(negmining.mine_negatives(cand, ids, eta=0.05, m=3).tolist()) == [3, 4, 5]


def test_lowest_is_torchs_stable_argsort_with_ties():
    """The CPU path sorts with numpy: the same indices as torch's stable argsort, ties (many here:
    scores rounded to 2 decimals, and -0.0 beside 0.0) broken by the lower index."""
    rng = np.random.default_rng(3)
    scores = torch.from_numpy(np.round(rng.normal(size=5000), 2).astype(np.float32))
    scores[[7, 11, 4000]] = torch.tensor([0.0, -0.0, 0.0])
    for m in (1, 100, 5000):
        assert torch.equal(negmining.lowest(scores, m), torch.argsort(scores, stable=True)[:m])
    pos = ["noun" if i % 3 else "adj" for i in range(5000)]
    members = {p: torch.tensor([i for i, q in enumerate(pos) if q == p]) for p in ("noun", "adj")}
    expected = torch.cat([members[p][torch.argsort(scores[members[p]], stable=True)[:int(0.15 * len(members[p]))]]
                          for p in ("adj", "noun")])  # groups in order of first appearance: index 0 is "adj"
    assert torch.equal(negmining.lowest_fraction_per_group(scores, pos, 0.15), expected)


def test_lowest_fraction_per_group_is_the_official_rule():
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.2, 0.8, 0.05, 0.7, 0.6, 0.4])
    pos = ["noun"] * 7 + ["adj"] * 3
    # floor(7 * 0.3) = 2 nouns (scores 0.05, 0.1), floor(3 * 0.3) = 0 adjectives -> none of them
    assert negmining.lowest_fraction_per_group(scores, pos, 0.3).tolist() == [6, 1]
    # floor(7 * 0.5) = 3 nouns, floor(3 * 0.5) = 1 adjective (0.4 at index 9)
    assert negmining.lowest_fraction_per_group(scores, pos, 0.5).tolist() == [6, 1, 4, 9]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eta": 0.0}, "eta must lie in the open interval (0, 1), got 0.0"),
        ({"eta": 1.0}, "eta must lie in the open interval (0, 1), got 1.0"),
        ({"eta": -0.2}, "eta must lie in the open interval (0, 1), got -0.2"),
        ({"m": 0}, "m must be >= 1, got 0"),
        ({"m": 501}, "m=501 is larger than the number of candidates (500)"),
    ],
)
def test_mining_parameter_errors(emb, kwargs, message):
    with pytest.raises(ValueError) as err:
        negmining.mine_negatives(*emb, **kwargs)
    assert str(err.value) == message


def test_mining_input_errors(emb):
    cand, ids = emb
    with pytest.raises(ValueError, match=r"^embedding dimension mismatch: candidate_emb has 16 columns, id_emb has 8$"):
        negmining.percentile_similarity(cand, ids[:, :8])
    with pytest.raises(ValueError, match=r"^id_emb is empty \(shape \(0, 16\)\); expected at least one value$"):
        negmining.percentile_similarity(cand, ids[:0])
    with pytest.raises(ValueError, match=r"^candidate_emb is empty"):
        negmining.mine_negatives(cand[:0], ids)
    with pytest.raises(ValueError, match=r"^groups has 3 entries but scores has 2; expected one per candidate$"):
        negmining.lowest_fraction_per_group([0.1, 0.2], ["a", "b", "c"], 0.5)
