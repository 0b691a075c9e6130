"""The registry of OOD methods: one entry per method, as OpenOOD's postprocessor registry.

A method is its name, the label tables and figures print, a score function, the parameters it
reads, what it needs (``"id"``: the ID label similarities alone; ``"negatives"``: the negative
labels too), which negative-label bank it reads (``bank``: "neglabel", the profile's NegMining,
"csp", CSP's bank, or "adaneg", AdaNeg's own official mining; a method with a ``bank_param`` may
be pointed at another bank by that parameter; the pipeline builds each bank once) and its kind:

- ``"scores"``: one call shape, ID cosines ``(N, K)``, negative-label cosines ``(N, M)``, the
  parameters -> one score per image, higher = more in-distribution (as OpenOOD);
- ``"pairs"``: a method that also reads the images and labels it composes per image (NegRefine's
  multi-matching): image embeddings ``(N, D)``, ID and negative cosines, a function that embeds
  (ID, negative) label pairs, the parameters -> one score per image;
- ``"stream"``: a test-time-adaptive method (AdaNeg) whose score depends on the images before
  it: image embeddings ``(N, D)`` in stream order, ID text ``(K, D)``, negative text ``(M, D)``,
  the parameters -> one score per image, in stream order. The pipeline builds the streams (ID and
  one OOD set shuffled together, seeded by ``stream_seed``) and keeps each stream's ID scores.
The pipeline, the CLI's table and JSON, ``results_table`` and the notebooks iterate this
registry; adding a method is one :func:`register` call plus its score function in ``scores``.
A profile may list the methods it runs (``"methods"``); without it, those with ``main_table``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import adaneg, scores

ScoreFunction = Callable[[torch.Tensor, torch.Tensor, Mapping[str, Any]], torch.Tensor]
StreamFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Mapping[str, Any]], torch.Tensor]
NEEDS = ("id", "negatives")
KINDS = ("scores", "stream", "pairs")
BANKS = ("neglabel", "csp", "adaneg", "negrefine")
PairEmbedder = Callable[[torch.Tensor, torch.Tensor], np.ndarray]


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    score: ScoreFunction | StreamFunction
    params: tuple[str, ...] = ()
    needs: str = "id"
    main_table: bool = True  # run by default and shown in the main tables
    bank: str = "neglabel"  # the negative labels it reads (needs "negatives" or kind "stream")
    kind: str = "scores"
    reference: str = ""  # the paper, for tables and the bibliography
    groups: tuple[str, ...] = ()  # named groups the book's chapters iterate ("baselines", "successors")
    bank_param: str = ""  # a parameter that may name another bank for this method (AdaNeg's "adaneg_bank")


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (its name must be new)."""
    if method.name in REGISTRY:
        raise ValueError(f"method {method.name!r} is registered already")
    if method.needs not in NEEDS:
        raise ValueError(f"method {method.name!r} needs {method.needs!r}; expected one of {list(NEEDS)}")
    if method.kind not in KINDS:
        raise ValueError(f"method {method.name!r} has kind {method.kind!r}; expected one of {list(KINDS)}")
    if method.bank not in BANKS:
        raise ValueError(f"method {method.name!r} reads bank {method.bank!r}; expected one of {list(BANKS)}")
    REGISTRY[method.name] = method
    return method


def default_methods() -> tuple[str, ...]:
    """The methods a profile runs unless it lists its own: every ``main_table`` method."""
    return tuple(name for name, m in REGISTRY.items() if m.main_table)


def group(name: str) -> tuple[str, ...]:
    """The methods of a named group, in registry order: ``"baselines"`` (the zero-shot baselines
    NegLabel is compared with), ``"successors"`` (methods built on NegLabel's negative labels)."""
    known = sorted({g for m in REGISTRY.values() for g in m.groups})
    if name not in known:
        raise ValueError(f"unknown method group {name!r}; expected one of {known}")
    return tuple(n for n, m in REGISTRY.items() if name in m.groups)


def check_methods(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple, after checking each is registered."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {unknown or list(names)}; expected some of {list(REGISTRY)}")
    return tuple(names)


def bank_of(name: str, params: Mapping[str, Any]) -> str:
    """The bank ``name`` reads with ``params``: its own (``Method.bank``) unless its ``bank_param``
    names another (e.g. ``{"adaneg_bank": "neglabel"}``: AdaNeg on NegLabel's bank)."""
    method = REGISTRY[name]
    bank = params.get(method.bank_param, method.bank) if method.bank_param else method.bank
    if bank not in BANKS:
        raise ValueError(f"{method.bank_param}={bank!r}; expected one of {list(BANKS)}")
    return bank


def label(name: str) -> str:
    return REGISTRY[name].label if name in REGISTRY else name


def is_stream(name: str) -> bool:
    return REGISTRY[name].kind == "stream"


# ---------------------------------------------------------------- the two call shapes


def method_scores(
    image_emb: np.ndarray, id_text: np.ndarray, neg_text: np.ndarray, params: Mapping[str, Any],
    methods: Sequence[str] | None = None, other_banks: Mapping[str, np.ndarray] | None = None,
    other_id_text: Mapping[str, np.ndarray] | None = None, pair_embedders: Mapping[str, PairEmbedder] | None = None,
) -> dict[str, np.ndarray]:
    """Each registered one-score method's score for a set of images (higher = more
    in-distribution): ``methods`` (default: :func:`methods.default_methods`). ``neg_text`` is
    NegMining's bank; a method reading another bank finds it in ``other_banks``, and, where that
    bank embeds the ID labels its own way (CSP's official templates), those in ``other_id_text``;
    a ``"pairs"`` method finds its bank's pair embedder in ``pair_embedders``."""
    names = check_methods(default_methods() if methods is None else methods)
    streams = [m for m in names if is_stream(m)]
    if streams:
        raise ValueError(f"stream method(s) {streams} score a stream, not a set of images; use the pipeline's score()")
    x = torch.from_numpy(np.array(image_emb, dtype=np.float32))  # a writable copy (cache reads are memory maps)
    plain_ids = x @ torch.from_numpy(np.asarray(id_text)).T
    id_sims = {bank: x @ torch.from_numpy(np.asarray(t, dtype=np.float32)).T for bank, t in (other_id_text or {}).items()}
    sims = {"neglabel": x @ torch.from_numpy(np.asarray(neg_text)).T}
    out = {}
    for m in names:
        bank = bank_of(m, params)
        if bank not in sims:
            sims[bank] = x @ torch.from_numpy(np.asarray((other_banks or {})[bank])).T
        if REGISTRY[m].kind == "pairs":
            embedder = (pair_embedders or {}).get(bank)
            if embedder is None:
                raise ValueError(f"method {m!r} composes label pairs; expected the pair embedder of bank {bank!r} "
                                 "(the pipeline's score() supplies it)")
            out[m] = REGISTRY[m].score(x, id_sims.get(bank, plain_ids), sims[bank], embedder, params).cpu().numpy()
        else:
            out[m] = REGISTRY[m].score(id_sims.get(bank, plain_ids), sims[bank], params).cpu().numpy()
    return out


def stream_scores(method: str, id_emb: np.ndarray, ood_emb: np.ndarray, id_text: np.ndarray, neg_text: np.ndarray,
                  params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A stream method on one stream: the ID and OOD images shuffled together by
    ``np.random.default_rng(params["stream_seed"]).permutation`` (as AdaNeg's authors evaluate:
    one shuffled ID+OOD loader per OOD set, the memory reset for each), scored in that order.
    Returns the ID and the OOD scores, each in its images' own order."""
    x = np.concatenate([id_emb, ood_emb]).astype(np.float32)
    order = np.random.default_rng(params.get("stream_seed", 0)).permutation(len(x))
    scored = REGISTRY[method].score(torch.from_numpy(x[order]), torch.from_numpy(np.asarray(id_text)),
                                             torch.from_numpy(np.asarray(neg_text)), params).cpu().numpy()
    back = np.empty_like(scored)
    back[order] = scored
    return back[:len(id_emb)], back[len(id_emb):]


# ---------------------------------------------------------------- the methods


def _adaneg(mode: str) -> StreamFunction:
    """AdaNeg's own parameters, as its official run sets them and independent of NegLabel's: the
    logit scale CLIP's 100 (not 1 / tau), the grouping seed 0 (not ``seed``), beta rounded down
    with ``int()`` as the official postprocessor does (5.5 -> 5)."""
    def run(x: torch.Tensor, id_text: torch.Tensor, neg_text: torch.Tensor, p: Mapping[str, Any]) -> torch.Tensor:
        return adaneg.adaneg_stream(
            x, id_text, neg_text, mode=mode, batch_size=p.get("adaneg_batch_size", 256),
            memory_length=p.get("adaneg_memory_length", 10), gamma=p.get("adaneg_gamma", 0.5),
            gap=p.get("adaneg_gap", 0.5), lam=p.get("adaneg_lambda", 0.1), beta=float(int(p.get("adaneg_beta", 5.0))),
            n_groups=p.get("adaneg_n_groups", 5), seed=p.get("adaneg_seed", 0),
            logit_scale=p.get("adaneg_logit_scale", 100.0))
    return run


ADANEG_PARAMS = ("adaneg_batch_size", "adaneg_memory_length", "adaneg_gamma", "adaneg_gap", "adaneg_lambda",
                 "adaneg_n_groups", "adaneg_seed", "adaneg_logit_scale", "adaneg_bank", "adaneg_m", "adaneg_prompts",
                 "stream_seed")


def grouped_params(p: Mapping[str, Any]) -> dict[str, Any]:
    """NegLabel's grouped-score parameters (Eq. 6 with grouping), read by NegLabel, its log-odds and CSP."""
    return {"tau": p["tau"], "n_groups": p["n_groups"], "seed": p["seed"], "perm_device": p.get("perm_device_used", "cpu")}


register(Method("neglabel", "NegLabel", lambda ids, negs, p: scores.neglabel_score(ids, negs, **grouped_params(p)),
    params=("tau", "n_groups", "seed", "perm_device"), needs="negatives"))
register(Method("mcm", "MCM", lambda ids, negs, p: scores.mcm_score(ids, tau=p.get("mcm_tau", 1.0)), params=("mcm_tau",),
                groups=("baselines",)))
register(Method("max_cos", "max cosine", lambda ids, negs, p: scores.max_cos_score(ids), groups=("baselines",)))
register(Method("energy", "energy", lambda ids, negs, p: scores.energy_score(ids, tau=p.get("energy_tau", 0.01)),
                params=("energy_tau",), groups=("baselines",)))
# NegLabel's log-odds log S - log(1 - S), computed stably: the same ranking, for plots (S piles up at 1).
register(Method("neglabel_log_odds", "NegLabel (log-odds)",
                lambda ids, negs, p: scores.neglabel_log_odds(ids, negs, **grouped_params(p)),
                params=("tau", "n_groups", "seed", "perm_device"), needs="negatives", main_table=False))
# The official code's n_g = 1 path (not Eq. 6): shown beside NegLabel in the n_g sweep only.
register(Method("neglabel_official_ng1", "official code, n_g = 1 (sum of ID logits)",
                lambda ids, negs, p: scores.official_ungrouped_score(ids, tau=p["tau"]), params=("tau",),
                main_table=False))

# Successors (CSP, AdaNeg; as their official code runs them): not in the main table; the successors chapter runs them.
register(Method("csp", "CSP", lambda ids, negs, p: scores.neglabel_score(ids, negs, **grouped_params(p)),
    params=("tau", "n_groups", "seed", "perm_device", "eta", "csp_fraction", "csp_lexicon", "csp_templates"),
    needs="negatives", bank="csp",
    main_table=False, reference="Chen et al., NeurIPS 2024", groups=("successors",)))
register(Method("adaneg", "AdaNeg (task-adaptive)", _adaneg("ta"), params=ADANEG_PARAMS, needs="negatives",
                kind="stream", main_table=False, reference="Zhang & Zhang, NeurIPS 2024", groups=("successors",),
                bank="adaneg", bank_param="adaneg_bank"))
register(Method("adaneg_sa", "AdaNeg (sample-adaptive)", _adaneg("sa"), params=(*ADANEG_PARAMS, "adaneg_beta"),
                needs="negatives", kind="stream", main_table=False, reference="Zhang & Zhang, NeurIPS 2024",
                groups=("successors",), bank="adaneg", bank_param="adaneg_bank"))

NEGREFINE_K = 5  # the official k_neg, and k_pos = min(5, K)
NEGREFINE_CHUNK = 1024  # images per chunk: their pairs' embeddings are (chunk, 25, D)


def negrefine(x: torch.Tensor, ids: torch.Tensor, negs: torch.Tensor, pair_emb: PairEmbedder,
              p: Mapping[str, Any]) -> torch.Tensor:
    """NegRefine's score (official ``CLIPood.detection_score``): S = S_NL + w S_MM, NegLabel's
    grouped score on its bank (the profile's tau, n_g and seed, as CSP here; the official 0.01,
    100, 0) plus ``negrefine_mm_weight`` w (official 2; 0 turns multi-matching off) times the
    multi-matching score (:func:`scores.multi_matching_score`, logit scale 100, top 5 ID and 5
    negative labels)."""
    out = scores.neglabel_score(ids, negs, **grouped_params(p))
    weight = float(p.get("negrefine_mm_weight", 2.0))
    if weight == 0:
        return out
    mm = []
    for start in range(0, x.shape[0], NEGREFINE_CHUNK):
        part = slice(start, start + NEGREFINE_CHUNK)
        top_ids, top_negs, vals = scores.multi_matching_top(ids[part], negs[part], k_pos=NEGREFINE_K,
                                                            k_neg=min(NEGREFINE_K, negs.shape[1]))
        mm.append(scores.multi_matching_score(x[part], torch.from_numpy(pair_emb(top_ids, top_negs)), vals))
    return out + weight * torch.cat(mm).to(out.dtype)


register(Method("negrefine", "NegRefine", negrefine, kind="pairs",
                params=("tau", "n_groups", "seed", "perm_device", "csp_lexicon", "negrefine_templates",
                        "negrefine_fraction", "negrefine_filter", "negrefine_mm_weight"),
                needs="negatives", bank="negrefine", main_table=False, reference="Ansari et al., ICCV 2025",
                groups=("successors",)))

# The book's own method (chapter 10): energy minus the negatives' evidence only where it beats the ID labels'.
# Fixed on the development setting (emoji-tiny, Apple images only) before any confirmation: weight 0.5, NegLabel's tau.
register(Method("neggate", "NegGate (ours)",
                lambda ids, negs, p: scores.neggate_score(ids, negs, tau=p["tau"], weight=p.get("neggate_weight", 0.5),
                                                          gate=p.get("neggate_gate", True),
                                                          per_label=p.get("neggate_per_label", True)),
                params=("tau", "neggate_weight", "neggate_gate", "neggate_per_label"), needs="negatives",
                main_table=False, groups=("ours",),
                reference="this book, chapter 10"))

