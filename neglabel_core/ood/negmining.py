"""NegMining (paper Sec. 3.1): pick the candidate labels farthest from the ID labels.

For candidate w with text embedding u_w and ID label embeddings t_1..t_K (all L2-normalised)::

    s(w) = Q_{1-eta}( { t_k . u_w : k = 1..K } )

the (1 - eta) quantile with linear interpolation (as ``torch.quantile``). The M candidates with
the smallest s(w) are the negative labels. Pure tensor math: inputs are embeddings, outputs
indices; what the candidates are is the corpus layer's business. Specification, the official
code's file:line and where we differ: ``docs/methods.md`` (sections 1 and 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .validation import ArrayLike, as_float_tensor, check_count, check_open_unit

DEFAULT_CHUNK_SIZE = 8192


def _embeddings(candidate_emb: ArrayLike, id_emb: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    cand = as_float_tensor(candidate_emb, "candidate_emb", ndim=2)
    ids = as_float_tensor(id_emb, "id_emb", ndim=2)
    if cand.shape[1] != ids.shape[1]:
        raise ValueError(
            f"embedding dimension mismatch: candidate_emb has {cand.shape[1]} columns, id_emb has {ids.shape[1]}"
        )
    dtype = torch.promote_types(cand.dtype, ids.dtype)
    return cand.to(dtype), ids.to(device=cand.device, dtype=dtype)


def _upper_quantile(sims: torch.Tensor, q: float) -> torch.Tensor:
    """Row-wise ``torch.quantile(sims, q, dim=1)`` (linear interpolation) via ``topk``.

    Only the order statistics at floor(pos) and ceil(pos), pos = q (K - 1), are needed; for the
    upper quantiles NegMining uses they sit among the few largest values, so a partial
    ``topk`` replaces a full sort.
    """
    k = sims.shape[1]
    pos = q * (k - 1)
    lo = math.floor(pos)
    frac = pos - lo
    hi = min(lo + 1, k - 1)
    if k - lo <= lo + 1:  # upper half: take the (k - lo) largest, ascending order stats lo..k-1
        top = torch.topk(sims, k - lo, dim=1, largest=True, sorted=True).values
        v_lo, v_hi = top[:, -1], top[:, -1 - (hi - lo)]
    else:  # lower half: the (hi + 1) smallest
        bottom = torch.topk(sims, hi + 1, dim=1, largest=False, sorted=True).values
        v_lo, v_hi = bottom[:, lo], bottom[:, hi]
    return v_lo + frac * (v_hi - v_lo)


def percentile_similarity(
    candidate_emb: ArrayLike,
    id_emb: ArrayLike,
    *,
    eta: float = 0.05,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Per candidate, the (1 - eta) quantile of its cosine similarities to the ID labels.

    ``candidate_emb`` is ``(C, D)``, ``id_emb`` is ``(K, D)``, both L2-normalised. Returns a
    ``(C,)`` tensor on the candidates' device. Processed ``chunk_size`` candidates at a time.
    """
    check_open_unit(eta, "eta")
    check_count(chunk_size, "chunk_size", low=1, high=2**62, high_name="the limit")
    cand, ids = _embeddings(candidate_emb, id_emb)
    q = 1.0 - float(eta)
    out = torch.empty(cand.shape[0], dtype=cand.dtype, device=cand.device)
    for start in range(0, cand.shape[0], chunk_size):
        sims = cand[start : start + chunk_size] @ ids.T
        out[start : start + chunk_size] = _upper_quantile(sims, q)
    return out


def lowest(scores: ArrayLike, m: int) -> torch.Tensor:
    """Indices of the ``m`` smallest scores, in ascending order of score (ties: lower index first)."""
    s = as_float_tensor(scores, "scores", ndim=1)
    check_count(m, "m", low=1, high=s.shape[0], high_name="the number of candidates")
    return _stable_argsort(s)[:m]


def _stable_argsort(s: torch.Tensor) -> torch.Tensor:
    """``torch.argsort(s, stable=True)``; on the CPU through numpy's stable sort, the same order
    (a stable sort's result is unique) about 15x faster for a corpus of 60,000 candidates."""
    if s.device.type != "cpu":
        return torch.argsort(s, stable=True)
    return torch.from_numpy(np.argsort(s.numpy(), kind="stable"))


def mine_negatives(
    candidate_emb: ArrayLike,
    id_emb: ArrayLike,
    *,
    eta: float = 0.05,
    m: int = 10000,
) -> torch.Tensor:
    """Indices of the ``m`` candidates with the smallest :func:`percentile_similarity`,
    in ascending order of it (the paper's NegMining with M = m)."""
    scores = percentile_similarity(candidate_emb, id_emb, eta=eta)
    check_count(m, "m", low=1, high=scores.shape[0], high_name="the number of candidates")
    return lowest(scores, m)


def lowest_fraction_per_group(scores: ArrayLike, groups: Sequence[str], fraction: float) -> torch.Tensor:
    """The official code's per-part-of-speech rule: within each group (e.g. "noun", "adj"),
    keep the ``floor(fraction * group size)`` candidates with the smallest score.

    Returns candidate indices, groups in order of first appearance, each in ascending score
    order (the official list: nouns first, then adjectives).
    """
    s = as_float_tensor(scores, "scores", ndim=1)
    check_open_unit(fraction, "fraction")
    labels = np.asarray(list(groups), dtype=object)
    if labels.shape[0] != s.shape[0]:
        raise ValueError(f"groups has {labels.shape[0]} entries but scores has {s.shape[0]}; expected one per candidate")
    picked = []
    for name in dict.fromkeys(labels.tolist()):
        members = torch.from_numpy(np.flatnonzero(labels == name)).to(s.device)
        keep = int(len(members) * fraction)
        if keep:
            picked.append(members[_stable_argsort(s[members])[:keep]])
    if not picked:
        raise ValueError(f"fraction={fraction} keeps no candidate of any group; expected a larger fraction")
    return torch.cat(picked)


def csp_similarity(
    candidate_emb: ArrayLike,
    id_emb: ArrayLike,
    *,
    eta: float = 0.05,
    duplicate_above: float = 0.95,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """CSP's mining score: :func:`percentile_similarity` (the (1 - eta) quantile, linear
    interpolation), set to 1.0 for a candidate whose largest cosine to an ID label exceeds
    ``duplicate_above`` (a near-duplicate of an ID name is never mined)."""
    check_open_unit(duplicate_above, "duplicate_above")
    s = percentile_similarity(candidate_emb, id_emb, eta=eta, chunk_size=chunk_size)
    top = _largest_cosine(candidate_emb, id_emb, chunk_size)
    return torch.where(top > duplicate_above, torch.ones_like(s), s)


def _largest_cosine(candidate_emb: ArrayLike, id_emb: ArrayLike, chunk_size: int) -> torch.Tensor:
    """Each candidate's largest cosine to an ID label, ``chunk_size`` candidates at a time."""
    cand, ids = _embeddings(candidate_emb, id_emb)
    return torch.cat([(cand[start:start + chunk_size] @ ids.T).amax(dim=1) for start in range(0, cand.shape[0], chunk_size)])


def max_similarity(candidate_emb: ArrayLike, id_emb: ArrayLike, *, duplicate_above: float = 0.95,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> torch.Tensor:
    """NegRefine's mining score (its official ``create_negs``: ``torch.quantile(q=1)``): each
    candidate's largest cosine to an ID label, set to 1.0 above ``duplicate_above`` (a
    near-duplicate of an ID name is never mined)."""
    check_open_unit(duplicate_above, "duplicate_above")
    top = _largest_cosine(candidate_emb, id_emb, chunk_size)
    return torch.where(top > duplicate_above, torch.ones_like(top), top)


def sorted_index_similarity(candidate_emb: ArrayLike, id_emb: ArrayLike, *, q: float = 0.95) -> torch.Tensor:
    """AdaNeg's mining score (its official NegLabel re-implementation): each candidate's cosines to
    the K ID labels sorted ascending, and the value at index ``int(q * K)``, with no interpolation
    (NegMining's :func:`percentile_similarity` interpolates ``torch.quantile``)::

        s(w) = sort_k(t_k . u_w)[int(q K)]

    Lower = farther from the ID labels. ``q`` in (0, 1)."""
    check_open_unit(q, "q")
    cand = as_float_tensor(candidate_emb, "candidate_emb", ndim=2)
    ids = as_float_tensor(id_emb, "id_emb", ndim=2)
    sims = cand @ ids.to(cand.dtype).T
    return sims.sort(dim=1).values[:, int(q * ids.shape[0])]


def proportional_split(m: int, counts: Sequence[int]) -> list[int]:
    """AdaNeg's split of M negatives between parts of speech in proportion to their candidates
    (the official code, two parts: adjectives first): ``int(M * n_0 / N)`` for every part but the
    last, which takes the rest."""
    total = sum(counts)
    check_count(m, "number of negative labels M", low=1, high=total, high_name="the number of candidates")
    out = [int(m * c / total) for c in counts[:-1]]
    return out + [m - sum(out)]
