"""Scores and results: the pipeline's second half. The profile's methods (from the registry)
score ID and every OOD set, one-score methods on each set, stream methods on each set's shuffled
ID+OOD stream; results are AUROC and FPR95 per set, their average and the pooled set."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .. import numerics
from ..ood import methods as registry
from ..ood import metrics
from ..ood.metrics import zero_shot_top1
from ..profiles import Profile
from . import score_cache
from .banks import BANK_BUILDERS, Bank, mine
from .embedded import Embedded, embed_profile, profile_methods

log = logging.getLogger(__name__)


def perm_device(params: Mapping[str, Any]) -> str:
    """Where the grouping permutation is drawn: ``params["perm_device"]`` ("cpu", the default, or
    "cuda" as the official code). "cuda" without CUDA falls back to the CPU with a warning (other
    groups than the official draw); :func:`score` records the device used."""
    wanted = params.get("perm_device", "cpu")
    if wanted not in ("cpu", "cuda"):
        raise ValueError(f"perm_device {wanted!r}; expected 'cpu' or 'cuda'")
    if wanted == "cuda" and not torch.cuda.is_available():
        _warn_cpu_draw()
        return "cpu"
    return wanted


@lru_cache(maxsize=1)
def _warn_cpu_draw() -> None:
    """Once per process: sweeps score hundreds of times."""
    log.warning("perm_device 'cuda': CUDA is not available, so the grouping permutation is drawn on the CPU "
                "(other groups than the official code's GPU draw for the same seed)")


@dataclass
class Scored:
    """Scores of every method on ID and every OOD set, with the parameters that produced them.

    One-score methods: ``id[method]`` and ``ood[set][method]``. Stream methods (AdaNeg) score ID
    anew in every stream: ``stream[method][set] = (id_scores, ood_scores)``, with ``set`` every OOD
    set and ``"pooled"`` (one stream of ID and all OOD images)."""

    params: dict[str, Any]
    negatives: np.ndarray
    id: dict[str, np.ndarray]
    ood: dict[str, dict[str, np.ndarray]]
    stream: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    banks: dict[str, Bank] = field(default_factory=dict, repr=False)

    @property
    def methods(self) -> list[str]:
        return [*self.id, *self.stream]

    def id_scores(self, method: str, ood_set: str) -> np.ndarray:
        """ID scores of ``method`` as compared with ``ood_set`` (the same for every set unless a stream method)."""
        return self.stream[method][ood_set][0] if method in self.stream else self.id[method]

    def ood_scores(self, method: str, ood_set: str) -> np.ndarray:
        if method in self.stream:
            return self.stream[method][ood_set][1]
        if ood_set == "pooled":
            return np.concatenate([s[method] for s in self.ood.values()])
        return self.ood[ood_set][method]


def score(emb: Embedded, params: Mapping[str, Any] | None = None, *, id_emb: np.ndarray | None = None,
          ood_emb: Mapping[str, np.ndarray] | None = None, methods: Sequence[str] | None = None,
          pooled_streams: bool = True, negatives: np.ndarray | None = None) -> Scored:
    """Mine negatives and score ID (or ``id_emb``, e.g. a domain-shifted ID set) and every OOD set
    (or ``ood_emb``: the same sets' images, e.g. shifted too) with ``methods`` (default: the
    profile's ``methods``, else the registry's main-table methods). ``pooled_streams=False``
    skips a stream method's pooled stream (ID with every OOD set at once), for studies that
    read the per-set streams only. ``negatives`` (indices into ``emb.corpus``, in their order)
    replaces NegMining's bank, e.g. the same words embedded in another prompt."""
    methods = profile_methods(emb.profile) if methods is None else registry.check_methods(methods)
    p = {**emb.profile.params, **(params or {})}
    if negatives is None:
        negatives = mine(emb, eta=p["eta"], m=p["m"], pos_fraction=p.get("pos_fraction"))
    else:
        negatives = np.asarray(negatives, dtype=np.int64)
        if negatives.ndim != 1 or not len(negatives) or negatives.min() < 0 or negatives.max() >= len(emb.corpus):
            raise ValueError(f"negatives must be indices into the corpus of {len(emb.corpus):,} words; got "
                             f"{negatives.shape} values in [{negatives.min() if negatives.size else None}, "
                             f"{negatives.max() if negatives.size else None}]")
    p["m"] = len(negatives)  # what was mined, whichever rule chose it
    p["perm_device_used"] = perm_device(p)
    p["fpr_rule"] = fpr_rule(p)
    neg_text = emb.corpus_emb[negatives]
    banks = {b: BANK_BUILDERS[b](emb, p) for b in dict.fromkeys(
        registry.bank_of(m, p) for m in methods if registry.REGISTRY[m].needs == "negatives") if b != "neglabel"}
    for name, bank in banks.items():
        p[f"m_{name}"] = len(bank.emb)
    other = {name: bank.emb for name, bank in banks.items()}
    own_ids = {name: bank.id_emb for name, bank in banks.items() if bank.id_emb is not None}
    if any(registry.is_stream(m) for m in methods):
        p.setdefault("stream_seed", 0)
    id_x = emb.id_emb if id_emb is None else id_emb
    ood_x = emb.ood_emb if ood_emb is None else dict(ood_emb)
    if list(ood_x) != list(emb.ood_emb):
        raise ValueError(f"ood_emb has the sets {list(ood_x)}; expected the profile's OOD sets {list(emb.ood_emb)}")

    def texts_of(m: str) -> dict[str, np.ndarray]:
        """The label embeddings method ``m`` reads (its scores' cache key holds their content)."""
        bank = registry.bank_of(m, p)
        return {"id": own_ids.get(bank, emb.id_text),
                **({"negatives": neg_text if bank == "neglabel" else other[bank]}
                   if registry.REGISTRY[m].needs == "negatives" or registry.is_stream(m) else {})}

    # One-score methods: each method's scores of ID and every OOD set, one kept array per method.
    one_score = [m for m in methods if not registry.is_stream(m)]
    sets = [id_x, *ood_x.values()]
    payloads = {m: score_cache.score_payload(m, p, sets, texts_of(m)) for m in one_score}
    kept = {m: score_cache.cache().load(payloads[m]) for m in one_score}
    todo = [m for m in one_score if kept[m] is None]
    if todo:
        pair_embedders = {name: bank.pair_emb for name, bank in banks.items() if bank.pair_emb is not None}
        fresh = [registry.method_scores(x, emb.id_text, neg_text, p, todo, other, own_ids, pair_embedders) for x in sets]
        for m in todo:
            kept[m] = np.concatenate([f[m] for f in fresh])
            score_cache.cache().store(payloads[m], kept[m])
    bounds = np.cumsum([0, *map(len, sets)])
    parts = {m: [kept[m][a:b] for a, b in zip(bounds[:-1], bounds[1:])] for m in one_score}
    id_scores = {m: parts[m][0] for m in one_score}
    ood_scores = {name: {m: parts[m][i + 1] for m in one_score} for i, name in enumerate(ood_x)}
    streams: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    stream_methods = [m for m in methods if registry.is_stream(m)]
    stream_sets = {**ood_x, **({"pooled": np.concatenate(list(ood_x.values()))} if pooled_streams and stream_methods
                               else {})}
    for m in stream_methods:
        texts = texts_of(m)
        streams[m] = {}
        for name, x in stream_sets.items():
            payload = score_cache.score_payload(m, p, [id_x, x], texts)
            both = score_cache.cache().load(payload)
            if both is None:
                both = np.concatenate(registry.stream_scores(m, id_x, x, texts["id"], texts["negatives"], p))
                score_cache.cache().store(payload, both)
            streams[m][name] = (both[:len(id_x)], both[len(id_x):])
    return Scored(p, negatives, id_scores, ood_scores, streams, banks)


RESERVED_SET_NAMES = ("average", "pooled")
FPR_RULE_DEFAULT = "closest"


def fpr_rule(params: Mapping[str, Any]) -> str:
    """The FPR95 rule a profile reports (:func:`metrics.fpr_at_tpr`): ``params["fpr_rule"]``,
    "closest" (the official code's, so tables compare with the paper's) unless set."""
    return params.get("fpr_rule", FPR_RULE_DEFAULT)


def check_set_names(names: Sequence[str]) -> None:
    clash = [n for n in names if n in RESERVED_SET_NAMES]
    if clash:
        raise ValueError(f"OOD set name(s) {clash} are reserved for the summary rows {list(RESERVED_SET_NAMES)}; "
                         "rename the set(s)")


def results(scored: Scored, methods: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """``results[set][method] = {"auroc", "fpr95"}`` in percent (``methods``: default every method
    scored), for every OOD set, ``average``
    (the plain mean over the sets, as the paper's tables) and ``pooled`` (all OOD images as one
    set: weighted by set size, not the paper's number). FPR95 by :func:`fpr_rule`."""
    check_set_names(list(scored.ood))
    rule = fpr_rule(scored.params)
    methods = scored.methods if methods is None else methods

    def row(method: str, ood_set: str) -> dict[str, float]:
        id_s, ood_s = scored.id_scores(method, ood_set), scored.ood_scores(method, ood_set)
        return {"auroc": 100 * metrics.auroc(id_s, ood_s), "fpr95": 100 * metrics.fpr_at_tpr(id_s, ood_s, rule=rule)}

    out = {name: {m: row(m, name) for m in methods} for name in scored.ood}
    out["average"] = {m: {k: float(np.mean([out[n][m][k] for n in scored.ood])) for k in ("auroc", "fpr95")}
                      for m in methods}
    out["pooled"] = {m: row(m, "pooled") for m in methods}
    return out


def results_dict(scored: Scored, methods: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`results` rounded to two decimals (the JSON of ``neglabel evaluate``)."""
    return {name: {m: {k: round(v, 2) for k, v in cells.items()} for m, cells in by_method.items()}
            for name, by_method in results(scored, methods).items()}


def evaluate(profile: Profile, *, progress: bool = True, device: str = "auto") -> dict[str, Any]:
    """The CLI's ``evaluate``: ID top-1 and the OOD table, with everything needed to trace them."""
    start = time.perf_counter()
    emb = embed_profile(profile, progress=progress, device=device)
    scored = score(emb)
    return {
        "profile": profile.name,
        "params": scored.params,
        "model": emb.model_identity,
        "id_classes": len(emb.data.class_names),
        "id_images": len(emb.id_emb),
        "ood_images": {k: len(v) for k, v in emb.ood_emb.items()},
        "corpus": {"name": emb.corpus.name, "size": len(emb.corpus)},
        "id_top1": zero_shot_top1(emb.id_emb, emb.id_text, emb.data.id_images.labels),
        "results": results_dict(scored),
        "numerics": numerics.in_force(),  # the CPU float configuration behind every number above
        "wall_s": round(time.perf_counter() - start, 1),
    }
