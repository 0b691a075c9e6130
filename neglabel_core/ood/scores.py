"""OOD scores. Every score has one shape (as in OpenOOD): cosine-similarity matrices in,
one float per sample out, **higher = more in-distribution**.

Inputs are ``(N, K)`` image-to-ID-label cosines (and ``(N, M)`` image-to-negative-label
cosines for NegLabel), as torch tensors or numpy arrays. Outputs are torch tensors of shape
``(N,)`` on the device of the inputs (float32, or float64 for float64 inputs). All scores are computed in log space, so
``tau = 0.01`` (logits up to 100, beyond float32's ``exp`` range) is safe.

The formulas, the official code they follow (file:line) and where we differ: ``docs/methods.md``
(sections 2 and 3).
"""

from __future__ import annotations

import math

import torch

from .validation import ArrayLike, as_float_tensor, check_count, check_tau

DEFAULT_CHUNK_SIZE = 256


def _id_sims(id_sims: ArrayLike) -> torch.Tensor:
    return as_float_tensor(id_sims, "id_sims", ndim=2)


def group_permutation(m: int, n_groups: int, seed: int = 0, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """The official grouping of M negatives into ``n_groups`` groups, as an index matrix.

    The last ``M mod n_groups`` negatives are dropped (in their given order), the remaining
    ``M' = M - (M mod n_groups)`` are permuted with ``torch.randperm(M')`` from a generator on
    ``device`` seeded with ``seed``, and split into ``n_groups`` contiguous groups. Returns a
    ``(n_groups, M' / n_groups)`` long tensor of column indices into the negatives, on ``device``.

    The official code draws on the GPU (``torch.manual_seed(0)``, ``torch.cuda.manual_seed(0)``,
    ``torch.randperm(M', device="cuda")``). A fresh CUDA generator seeded with 0 should give that
    draw when nothing drew from the default CUDA generator before; this is **unverified**: no GPU
    has been available to check it (the tests check only the CPU draw). CPU and CUDA generators are
    different algorithms, so ``device="cpu"`` (our default: it runs everywhere and is reproducible
    without a GPU) gives other groups for the same seed.
    """
    check_count(m, "number of negative labels M", low=1, high=2**62, high_name="the limit")
    check_count(n_groups, "n_groups", low=1, high=m, high_name="the number of negative labels M")
    kept = m - m % n_groups
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    perm = torch.randperm(kept, generator=generator, device=device)
    return perm.view(n_groups, kept // n_groups)


def _grouped_log_odds(ids: torch.Tensor, negs: torch.Tensor, *, tau: float, n_groups: int, seed: int,
                      perm_device: str | torch.device, chunk_size: int, reduce, outputs: int = 0) -> torch.Tensor:
    """Per chunk of samples, every group's log-odds ``l_G = LSE_k(a_k/tau) - LSE_{j in G}(b_j/tau)``
    as a ``(rows, n_groups)`` tensor, reduced to one value per sample by ``reduce`` (or, with
    ``outputs`` > 0, to that many values per sample: an ``(N, outputs)`` result)."""
    if negs.shape[0] != ids.shape[0]:
        raise ValueError(
            f"id_sims and neg_sims must have one row per sample, got {ids.shape[0]} and {negs.shape[0]} rows"
        )
    check_tau(tau)
    check_count(chunk_size, "chunk_size", low=1, high=2**62, high_name="the limit")
    groups = group_permutation(negs.shape[1], n_groups, seed, device=perm_device).to(negs.device)
    n_groups, group_size = groups.shape
    columns = groups.flatten()
    dtype = torch.promote_types(torch.promote_types(ids.dtype, negs.dtype), torch.float32)
    out = torch.empty(ids.shape[0], *((outputs,) if outputs else ()), dtype=dtype, device=ids.device)
    buffer = torch.empty(min(chunk_size, ids.shape[0]), columns.numel(), dtype=dtype, device=negs.device)
    for start in range(0, ids.shape[0], chunk_size):
        a = ids[start : start + chunk_size].to(dtype)
        rows = a.shape[0]
        # Every group's negatives side by side, (rows, n_groups, group_size), gathered into one
        # reused buffer; then an in-place log-sum-exp per group with its own max.
        b = torch.index_select(negs[start : start + chunk_size].to(dtype), 1, columns, out=buffer[:rows])
        b = b.view(rows, n_groups, group_size)
        group_max = b.amax(dim=2, keepdim=True)
        neg_lse = b.sub_(group_max).mul_(1.0 / tau).exp_().sum(dim=2).log_().add_(group_max.squeeze(2) / tau)
        id_lse = torch.logsumexp(a / tau, dim=1, keepdim=True)  # (rows, 1), shared by all groups
        out[start : start + rows] = reduce(id_lse - neg_lse)
    return out


def neglabel_score(
    id_sims: ArrayLike,
    neg_sims: ArrayLike,
    *,
    tau: float = 0.01,
    n_groups: int = 100,
    seed: int = 0,
    perm_device: str | torch.device = "cpu",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """NegLabel score with grouping (paper Sec. 3.2, Eq. 6, and its grouping strategy).

    For one group G of negatives, with a_k = v.t_k (ID) and b_j = v.u_j (negatives)::

        S_G(x) = sum_k e^{a_k/tau} / (sum_k e^{a_k/tau} + sum_{j in G} e^{b_j/tau})
               = sigmoid( LSE_k(a_k/tau) - LSE_{j in G}(b_j/tau) )

    and the score is the mean of S_G over the ``n_groups`` groups of
    :func:`group_permutation` (drawn on ``perm_device``, seeded with ``seed``).

    ``n_groups=1`` is the ungrouped Eq. 6 over all M negatives. The official code does *not*
    compute that: with one group it returns the sum of the ID logits over the temperature, with
    no softmax and no negatives (:func:`official_ungrouped_score`). We keep Eq. 6, the method as
    the paper defines it, and offer the official variant as its own named score.
    Vectorised over groups and processed ``chunk_size`` samples at a time, so working memory
    is O(chunk_size * M) whatever N is.

    In float32, S rounds to exactly 1 once every group's log-odds exceeds about 17: such images
    tie. :func:`neglabel_log_odds` gives the same ranking without the ties.
    """
    return _grouped_log_odds(_id_sims(id_sims), as_float_tensor(neg_sims, "neg_sims", ndim=2), tau=tau,
                             n_groups=n_groups, seed=seed, perm_device=perm_device, chunk_size=chunk_size,
                             reduce=lambda logits: torch.sigmoid(logits).mean(dim=1))


def _log_odds_of_groups(logits: torch.Tensor) -> torch.Tensor:
    """log S - log(1 - S) of S = mean_G sigmoid(l_G), from the groups' log-odds ``l_G`` (rows, n_g)."""
    logsig = torch.nn.functional.logsigmoid
    return torch.logsumexp(logsig(logits), dim=1) - torch.logsumexp(logsig(-logits), dim=1)


def neglabel_log_odds(
    id_sims: ArrayLike,
    neg_sims: ArrayLike,
    *,
    tau: float = 0.01,
    n_groups: int = 100,
    seed: int = 0,
    perm_device: str | torch.device = "cpu",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """The log-odds ``log S - log(1 - S)`` of :func:`neglabel_score`'s S (same groups), computed
    without forming S, so it stays finite and exact where S rounds to 1 (or 0)::

        log S     = LSE_G( log sigmoid( l_G) ) - log n_g
        log (1-S) = LSE_G( log sigmoid(-l_G) ) - log n_g

    with ``l_G`` each group's log-odds (see :func:`neglabel_score`); the ``log n_g`` cancel. For
    ``n_groups=1`` it is ``LSE_k(a_k/tau) - LSE_j(b_j/tau)``: the energy of the ID labels minus
    the energy of the negative labels, at NegLabel's temperature. Monotone in S, so the ranking
    (AUROC, FPR95) is S's, except that images tied at S = 1 in float32 are told apart.
    """
    return _grouped_log_odds(_id_sims(id_sims), as_float_tensor(neg_sims, "neg_sims", ndim=2), tau=tau,
                             n_groups=n_groups, seed=seed, perm_device=perm_device, chunk_size=chunk_size,
                             reduce=_log_odds_of_groups)


def neglabel_score_and_log_odds(id_sims: ArrayLike, neg_sims: ArrayLike, *, tau: float = 0.01, n_groups: int = 100,
                                seed: int = 0, perm_device: str | torch.device = "cpu",
                                chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`neglabel_score` and :func:`neglabel_log_odds` from one pass over the groups (the
    same values as the two calls: the groups' log-odds are computed once and reduced twice)."""
    both = _grouped_log_odds(_id_sims(id_sims), as_float_tensor(neg_sims, "neg_sims", ndim=2), tau=tau,
                             n_groups=n_groups, seed=seed, perm_device=perm_device, chunk_size=chunk_size, outputs=2,
                             reduce=lambda logits: torch.stack([torch.sigmoid(logits).mean(dim=1),
                                                                _log_odds_of_groups(logits)], dim=1))
    return both[:, 0], both[:, 1]


def official_ungrouped_score(id_sims: ArrayLike, *, tau: float = 0.01) -> torch.Tensor:
    """What the official NegLabel code returns for n_g = 1: ``sum_k a_k / tau``, the sum of the
    ID logits over the temperature. No softmax, no negative labels: a quirk of that code path,
    not Eq. 6 (which :func:`neglabel_score` computes for ``n_groups=1``). For comparison only."""
    a = _id_sims(id_sims)
    check_tau(tau)
    return a.sum(dim=1) / tau


def mcm_score(id_sims: ArrayLike, *, tau: float = 1.0) -> torch.Tensor:
    """Maximum Concept Matching (Ming et al., 2022): ``max_k softmax(a / tau)_k``.

    Computed as ``exp(max_k a_k/tau - LSE_k(a_k/tau))``.
    """
    a = _id_sims(id_sims)
    check_tau(tau)
    logits = a / tau
    return torch.exp(logits.max(dim=1).values - torch.logsumexp(logits, dim=1))


def max_cos_score(id_sims: ArrayLike) -> torch.Tensor:
    """Maximum cosine similarity to any ID label ("MaxLogit" on raw cosines): ``max_k a_k``."""
    return _id_sims(id_sims).max(dim=1).values


def energy_score(id_sims: ArrayLike, *, tau: float = 0.01) -> torch.Tensor:
    """Negative free energy on the ID logits: ``log sum_k exp(a_k / tau)``, without the factor
    ``tau`` of the usual ``tau * LSE`` (a positive constant for a fixed ``tau``: the same ranking,
    so the same AUROC and FPR95)."""
    a = _id_sims(id_sims)
    check_tau(tau)
    return torch.logsumexp(a / tau, dim=1)


def neggate_score(id_sims: ArrayLike, neg_sims: ArrayLike, *, tau: float = 0.01, weight: float = 0.5,
                  gate: bool = True, per_label: bool = True) -> torch.Tensor:
    """NegGate (this book's method, chapter 10): energy, minus the negative labels' evidence only
    where it beats the ID labels' evidence, label for label.

    With ``L_id = log sum_k exp(a_k / tau)`` over the K ID cosines (the energy score) and
    ``L_neg = log sum_j exp(b_j / tau)`` over the M negative-label cosines, the evidence *per
    label* is the log-mean-exp ``L_id - log K`` and ``L_neg - log M``; the score is

        S = L_id - weight * max(0, (L_neg - log M) - (L_id - log K)).

    An image whose ID labels carry more evidence per label than the negatives scores exactly its
    energy (the negatives cannot cost it anything); the others lose ``weight`` times the excess.
    ``weight = 0`` is energy; without the ``max`` (the gate) it is a weighted NegLabel log-odds
    ``(1 + weight) L_id - weight L_neg`` plus a constant (ungrouped, Eq. 6's log-odds at
    ``weight`` -> infinity up to scale).

    For the ablation: ``gate=False`` drops the ``max`` (the negatives count on every image),
    ``per_label=False`` compares the totals ``L_neg - L_id`` instead of the per-label evidence."""
    a = _id_sims(id_sims)
    b = as_float_tensor(neg_sims, "neg_sims", ndim=2)
    check_tau(tau)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"id_sims has {a.shape[0]} rows and neg_sims {b.shape[0]}; expected one row per image in both")
    if not (isinstance(weight, (int, float)) and weight >= 0):
        raise ValueError(f"weight must be a number >= 0, got {weight!r}")
    id_evidence = torch.logsumexp(a / tau, dim=1)
    excess = torch.logsumexp(b / tau, dim=1) - id_evidence
    if per_label:
        excess = excess - math.log(b.shape[1]) + math.log(a.shape[1])
    return id_evidence - weight * (torch.clamp(excess, min=0) if gate else excess)


def multi_matching_top(id_sims: ArrayLike, neg_sims: ArrayLike, *, k_pos: int = 5, k_neg: int = 5
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NegRefine's multi-matching candidates for each image: the indices of its ``k_pos`` most
    similar ID labels ``(N, k_pos)`` (``k_pos`` capped at K, as the official ``min(5, K)``), of its
    ``k_neg`` most similar negative labels ``(N, k_neg)``, and those negatives' cosines
    ``(N, k_neg)``, each in ``torch.topk`` order (largest first)."""
    ids, negs = _id_sims(id_sims), as_float_tensor(neg_sims, "neg_sims", ndim=2)
    if ids.shape[0] != negs.shape[0]:
        raise ValueError(f"id_sims has {ids.shape[0]} rows and neg_sims {negs.shape[0]}; expected one row per image in both")
    check_count(k_pos, "k_pos", low=1, high=2**31, high_name="the limit")
    check_count(k_neg, "k_neg", low=1, high=negs.shape[1], high_name="the number of negative labels M")
    top_ids = ids.topk(min(k_pos, ids.shape[1]), dim=1).indices
    neg_vals, top_negs = negs.topk(k_neg, dim=1)
    return top_ids, top_negs, neg_vals


def multi_matching_score(image_emb: ArrayLike, pair_emb: ArrayLike, neg_vals: ArrayLike, *,
                         logit_scale: float = 100.0) -> torch.Tensor:
    """NegRefine's multi-matching score S_MM (Ansari et al., ICCV 2025, Sec. 3.3): for image x,
    its top ID labels p and top negative labels n (:func:`multi_matching_top`) and the embedding
    m_{p,n} of the combined label "p and n"::

        S_MM(x) = max_{p, n} sigmoid(s (x . m_{p,n}) - s (x . t_n))

    with s the logit scale (CLIP's 100). ``pair_emb`` is ``(N, k_pos * k_neg, D)``, the pairs of
    each image p-major (p_1 with n_1..n_k, then p_2 ...), as the official loop builds them;
    ``neg_vals`` ``(N, k_neg)`` the cosines x . t_n. The official ``exp(a) / (exp(a) + exp(b))`` is
    computed as ``sigmoid(a - b)``: equal where the former is finite (it overflows float32 past
    logits of 88). High when the image matches an ID label *and* a negative together better than
    the negative alone (an ID image with an OOD-looking detail): higher = more in-distribution."""
    x = as_float_tensor(image_emb, "image_emb", ndim=2)
    pairs = as_float_tensor(pair_emb, "pair_emb", ndim=3)
    vals = as_float_tensor(neg_vals, "neg_vals", ndim=2)
    n, width, _ = pairs.shape
    if x.shape[0] != n or vals.shape[0] != n or width % vals.shape[1]:
        raise ValueError(f"image_emb {tuple(x.shape)}, pair_emb {tuple(pairs.shape)} and neg_vals {tuple(vals.shape)}; "
                         "expected N images, N x (k_pos * k_neg) pairs and N x k_neg cosines")
    matched = logit_scale * torch.einsum("nd,npd->np", x, pairs)
    negative = logit_scale * vals.repeat(1, width // vals.shape[1])  # pair j = (p, n_{j mod k_neg})
    return torch.sigmoid(matched - negative).amax(dim=1)
