"""AdaNeg (Zhang & Zhang, NeurIPS 2024): adaptive negative proxies from a memory of test images.

Pure tensor math, as the official postprocessor ``TTAPromptPostprocessor_noadagap`` of
OpenOOD-VLM computes it (the official code: YBZh/OpenOOD-VLM). Unlike the
one-score methods, AdaNeg scores an ordered *stream*: every batch first writes confident images
into a memory, then is scored against proxies built from that memory, so a score depends on
the images before it. :func:`adaneg_stream` takes the image embeddings in stream order; the
caller owns the order (and its seed). Specification and where we differ from the official code:
``docs/methods.md`` (section 6).

For a batch of images x with ID cosines a = x.t_k (K) and negative cosines b = x.u_j (M):

1. s_nl(x) = NL_G(a, b): NegLabel (Eq. 6 with grouping) with logits 100 cos and G = 5 groups.
2. ID write: every x (in batch order) with s_nl > gamma + g (1 - gamma) (0.75) goes to slot
   c = argmax_k a_k with entropy H = -sum_k p_k log(p_k + 1e-8), p = softmax(100 a).
3. Negative write: every x with s_nl < gamma - g gamma (0.25) goes to slot K + argmax_j b_j,
   H over softmax(100 b).
4. Proxies, one per label c (K + M): task-adaptive p_c = normalize(sum_r m_{c,r}); sample-adaptive
   p_c(x) = normalize(sum_r w_r m_{c,r}), w_r = exp(-beta (1 - x.m_{c,r})), beta = 5.
5. s_ada(x) = NL_G(x.p_{1..K}, x.p_{K+1..K+M}); the score is S = s_ada + lambda s_nl, lambda = 0.1.

A slot has L + 1 rows: row 0 is the label's text embedding t_c (stored entropy 0), rows 1..L
start at zero. The write pointer starts at 1 and the slot counts as full at L, so at most L - 1
images are ever stored and the last row stays zero (the official code's off-by-one, kept: it
decides which images are stored). A full slot takes a new image only if its entropy is below
some stored entropy, in place of the row with the largest stored entropy (the last such row on
ties, as the official ``torch.sort(...)[1][-1]``; the text row's 0 and
the zero row's 0 count as stored entropies, so t_c is never evicted while entropies are >= 0).

Deviations, documented: float32 throughout (the official run is fp16, where p + 1e-8 can round
to 0, the entropy turns NaN and a NaN never evicts), and the group permutation is drawn on the
CPU (as the official AdaNeg code does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .scores import neglabel_score
from .validation import ArrayLike, as_float_tensor, check_count, check_open_unit, check_positive

MODES = ("ta", "sa")


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise ``-sum p log(p + 1e-8)`` of ``p = softmax(logits)``, as the official code."""
    p = torch.softmax(logits, dim=1)
    return -(p * torch.log(p + 1e-8)).sum(dim=1)


@dataclass
class AdaNegMemory:
    """The per-label memory: ``rows`` (S, L + 1, D), ``entropies`` (S, L + 1), ``pointer`` (S,)."""

    rows: torch.Tensor
    entropies: torch.Tensor
    pointer: torch.Tensor

    @classmethod
    def start(cls, label_text: torch.Tensor, length: int) -> AdaNegMemory:
        """Row 0 of slot c is ``label_text[c]``; rows 1..L are zero; every pointer is 1."""
        check_count(length, "memory length L", low=2, high=2**31, high_name="the limit")
        s, d = label_text.shape
        rows = torch.zeros(s, length + 1, d, dtype=label_text.dtype)
        rows[:, 0] = label_text
        return cls(rows, torch.zeros(s, length + 1, dtype=label_text.dtype), torch.ones(s, dtype=torch.long))

    @property
    def length(self) -> int:
        return self.rows.shape[1] - 1

    def write(self, slot: int, feature: torch.Tensor, h: float) -> str:
        """Store one image in ``slot``; returns what happened: "stored", "replaced" or "kept out"."""
        p = int(self.pointer[slot])
        if p < self.length:
            self.rows[slot, p] = feature
            self.entropies[slot, p] = h
            self.pointer[slot] = p + 1
            return "stored"
        stored = self.entropies[slot]
        if bool((h < stored).any()):
            # the official code sorts ascending and replaces the last index: among rows tied at the
            # largest entropy, the last one (a stable sort's order)
            worst = len(stored) - 1 - int(torch.argmax(stored.flip(0)))
            self.rows[slot, worst] = feature
            self.entropies[slot, worst] = h
            return "replaced"
        return "kept out"

    def occupied(self) -> torch.Tensor:
        """Indices of the slots holding at least one image."""
        return torch.nonzero(self.pointer > 1).flatten()

    def proxy_cosines(self, x: torch.Tensor, label_text: torch.Tensor, mode: str = "ta", beta: float = 5.0,
                      chunk_size: int = 32) -> torch.Tensor:
        """cos(x, p_c) for every image and slot, (B, S). A slot with no image has p_c = t_c in
        both modes (one row: its weight cancels in the normalisation)."""
        out = x @ label_text.T
        slots = self.occupied()
        if len(slots) == 0:
            return out
        rows = self.rows[slots]  # (O, L + 1, D)
        if mode == "ta":
            proxies = torch.nn.functional.normalize(rows.sum(dim=1), dim=1)
            out[:, slots] = x @ proxies.T
            return out
        # sample-adaptive, without (B, O, D) intermediates: with dots_r = x.m_r and the slot's Gram
        # matrix G, x.p~ = sum_r w_r dots_r and |p~|^2 = w^T G w.
        gram = rows @ rows.transpose(1, 2)  # (O, L + 1, L + 1)
        for start in range(0, x.shape[0], chunk_size):
            dots = torch.einsum("bd,ord->bor", x[start:start + chunk_size], rows)
            w = torch.exp(-beta * (1.0 - dots))  # a zero row adds nothing: its dot and Gram entries are 0
            norm2 = torch.einsum("bor,ors,bos->bo", w, gram, w)
            out[start:start + chunk_size, slots] = (w * dots).sum(dim=2) / norm2.clamp_min(1e-30).sqrt()
        return out


def _nl(ids: torch.Tensor, negs: torch.Tensor, logit_scale: float, n_groups: int, seed: int) -> torch.Tensor:
    return neglabel_score(ids, negs, tau=1.0 / logit_scale, n_groups=n_groups, seed=seed, perm_device="cpu")


def adaneg_stream(
    image_emb: ArrayLike,
    id_text: ArrayLike,
    neg_text: ArrayLike,
    *,
    batch_size: int = 256,
    memory_length: int = 10,
    gamma: float = 0.5,
    gap: float = 0.5,
    lam: float = 0.1,
    mode: str = "ta",
    beta: float = 5.0,
    n_groups: int = 5,
    seed: int = 0,
    logit_scale: float = 100.0,
    return_memory: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, AdaNegMemory]:
    """AdaNeg's score S = s_ada + lambda s_nl for every image of one stream, in stream order.

    ``image_emb`` (N, D) in the order the stream presents them (ID and OOD shuffled together by
    the caller), ``id_text`` (K, D), ``neg_text`` (M, D), all L2-normalised. The memory starts
    empty (one call = one stream, as the official code resets it per OOD set). The last batch
    may be partial. Returns (N,) float32 scores, higher = more in-distribution (and the final
    memory with ``return_memory``).
    """
    x_all = as_float_tensor(image_emb, "image_emb", ndim=2).float().cpu()
    t_id = as_float_tensor(id_text, "id_text", ndim=2).float().cpu()
    t_neg = as_float_tensor(neg_text, "neg_text", ndim=2).float().cpu()
    if not x_all.shape[1] == t_id.shape[1] == t_neg.shape[1]:
        raise ValueError(f"embedding dimensions differ: images {x_all.shape[1]}, ID text {t_id.shape[1]}, "
                         f"negative text {t_neg.shape[1]}; expected one dimension")
    if mode not in MODES:
        raise ValueError(f"AdaNeg mode {mode!r}; expected 'ta' (task-adaptive) or 'sa' (sample-adaptive)")
    check_count(batch_size, "batch_size", low=1, high=2**31, high_name="the limit")
    check_open_unit(gamma, "gamma")
    check_open_unit(gap, "gap")
    check_positive(logit_scale, "logit_scale")
    if not 0 <= lam:
        raise ValueError(f"lambda={lam!r}; expected a number >= 0")
    k = t_id.shape[0]
    labels = torch.cat([t_id, t_neg])
    memory = AdaNegMemory.start(labels, memory_length)
    id_threshold, neg_threshold = gamma + gap * (1 - gamma), gamma - gap * gamma
    out = torch.empty(x_all.shape[0], dtype=torch.float32)
    for start in range(0, x_all.shape[0], batch_size):
        x = x_all[start:start + batch_size]
        a, b = x @ t_id.T, x @ t_neg.T
        s_nl = _nl(a, b, logit_scale, n_groups, seed)
        # The batch's candidates' slots and entropies at once (row-wise, the same values as one by
        # one), then written one by one in batch order: a write decides what the next one evicts.
        for sims, chosen, offset in ((a, s_nl > id_threshold, 0), (b, s_nl < neg_threshold, k)):
            rows = torch.nonzero(chosen).flatten()
            if len(rows) == 0:
                continue
            slots = (sims[rows].argmax(dim=1) + offset).tolist()
            entropies = entropy(logit_scale * sims[rows]).tolist()
            for i, slot, h in zip(rows.tolist(), slots, entropies):
                memory.write(slot, x[i], h)
        cos = memory.proxy_cosines(x, labels, mode, beta)
        out[start:start + batch_size] = _nl(cos[:, :k], cos[:, k:], logit_scale, n_groups, seed) + lam * s_nl
    return (out, memory) if return_memory else out
