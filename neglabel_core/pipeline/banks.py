"""The negative-label banks a method reads (``Method.bank`` in the registry): NegMining's on the
profile's corpus, and CSP's "modified superclass names". Each is built once per parameters and
kept on the :class:`~.embedded.Embedded` it was built from. Their specification, the official
code's file:line and where we differ: ``docs/methods.md`` (sections 1 and 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data import corpus as corpus_mod
from ..models.embed import class_embeddings
from ..ood import negmining
from .text import TextSide, build_corpus, corpus_embeddings, full_corpus_spec, text_tower

if TYPE_CHECKING:
    from .embedded import Embedded


def candidate_scores(emb: Embedded | TextSide, eta: float) -> torch.Tensor:
    """s(w) of every candidate (:func:`negmining.percentile_similarity`), computed once per eta
    (sweeps mine many times with the same eta)."""
    if eta not in emb.similarity_by_eta:
        emb.similarity_by_eta[eta] = negmining.percentile_similarity(emb.corpus_emb, emb.id_text, eta=eta)
    return emb.similarity_by_eta[eta]


def mining_rule(emb: Embedded, m: int | None = None) -> dict[str, Any]:
    """The profile's mining rule (``m``, or ``pos_fraction`` where set), or the lowest ``m``."""
    if m is None:
        return {"m": emb.profile.params["m"], "pos_fraction": emb.profile.params.get("pos_fraction")}
    return {"m": m, "pos_fraction": None}


def mine(emb: Embedded | TextSide, *, eta: float, m: int, pos_fraction: float | None = None) -> np.ndarray:
    """Indices into ``emb.corpus`` of the mined negatives: the ``m`` candidates with the smallest
    percentile similarity s(w), or, with ``pos_fraction`` (the official code's rule, 0.15), that
    fraction of each part of speech ranked separately (nouns first)."""
    similarity = candidate_scores(emb, eta)
    if pos_fraction is not None:
        return negmining.lowest_fraction_per_group(similarity, emb.corpus.pos, pos_fraction).numpy()
    return negmining.lowest(similarity, m).numpy()


@dataclass
class Bank:
    """A bank of mined negative labels: their text, part of speech and embeddings (M, D)."""

    name: str
    words: list[str]
    pos: list[str]
    emb: np.ndarray


def neglabel_bank(emb: Embedded, params: Mapping[str, Any]) -> Bank:
    """NegMining on the profile's corpus (:func:`mine`)."""
    idx = mine(emb, eta=params["eta"], m=params["m"], pos_fraction=params.get("pos_fraction"))
    return Bank("neglabel", [emb.corpus.words[i] for i in idx], [emb.corpus.pos[i] for i in idx], emb.corpus_emb[idx])


CSP_FRACTION = 0.15  # the official CSP code keeps the lowest 15% of nouns and of phrases


def csp_candidates(emb: Embedded) -> tuple[list[str], list[str], np.ndarray]:
    """CSP's candidates (the official code: MengyuanChen21/NeurIPS2024-CSP): the corpus's nouns (embedded with the
    profile's noun prompt) and, in place of its adjectives, the "modified superclass names"
    ``"<adjective> <superclass word>"`` (:func:`corpus.csp_phrases`), each embedded as the mean of
    CSP's four templates. Nouns first, as the official code. As there, ID names are not removed
    from the lexicon (the > 0.95 rule of :func:`csp_bank` drops them), so the phrases (and the
    random superclass word each adjective draws) are the same for every split.

    Deviations (``docs/methods.md``, section 5): the official nouns and ID labels are embedded as
    the mean of eight templates; here with the profile's one noun prompt and its ID templates (eight
    times the corpus on a CPU would dominate the build); CSP's lexicon drops noun.person,
    noun.quantity, noun.group and adj.pert, ours is the profile's corpus; the four phrase templates
    are averaged after normalising each (the official code averages the raw fp16 outputs)."""
    spec = emb.profile.corpus
    loaded = text_tower(emb.profile)
    full = build_corpus(full_corpus_spec(spec)) if not spec.get("sample") else emb.corpus
    full_emb = corpus_embeddings(loaded, full_corpus_spec(spec), full, progress=False) if full is not emb.corpus \
        else emb.corpus_emb
    nouns = [i for i, p in enumerate(full.pos) if p == "noun"]
    adjectives = [w for w, p in zip(full.words, full.pos) if p == "adj"]
    phrases = corpus_mod.csp_phrases(adjectives)
    phrase_emb = class_embeddings(loaded, phrases, corpus_mod.CSP_PHRASE_TEMPLATES, progress=False)
    words = [full.words[i] for i in nouns] + phrases
    pos = ["noun"] * len(nouns) + ["csp"] * len(phrases)
    return words, pos, np.concatenate([full_emb[nouns], phrase_emb]).astype(np.float32)


def csp_bank(emb: Embedded, params: Mapping[str, Any]) -> Bank:
    """CSP's mining: :func:`negmining.csp_similarity` (the profile's eta; near-duplicates of an ID
    name, cosine > 0.95, never mined), then the lowest ``csp_fraction`` (0.15) of the nouns and of
    the phrases separately, nouns first."""
    fraction = params.get("csp_fraction", CSP_FRACTION)
    key = ("csp", params["eta"], fraction)
    if key not in emb.bank_cache:
        if "csp" not in emb.bank_cache:
            emb.bank_cache["csp"] = csp_candidates(emb)
        words, pos, cand = emb.bank_cache["csp"]
        s = negmining.csp_similarity(cand, emb.id_text, eta=params["eta"])
        idx = negmining.lowest_fraction_per_group(s, pos, fraction).numpy()
        emb.bank_cache[key] = Bank("csp", [words[i] for i in idx], [pos[i] for i in idx], cand[idx])
    return emb.bank_cache[key]


BANK_BUILDERS = {"neglabel": neglabel_bank, "csp": csp_bank}
