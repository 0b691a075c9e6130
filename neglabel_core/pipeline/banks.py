"""The negative-label banks a method reads (``Method.bank`` in the registry): NegMining's on the
profile's corpus, CSP's "modified superclass names", and AdaNeg's own official mining. Each is built once per parameters and
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
    """A bank of mined negative labels: their text, part of speech and embeddings (M, D), and,
    where the method embeds the ID labels its own way (AdaNeg's official prompts), those (K, D)."""

    name: str
    words: list[str]
    pos: list[str]
    emb: np.ndarray
    id_emb: np.ndarray | None = None


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


ADANEG_M = 10000  # the official run's ood_number
ADANEG_PROMPTS = {"noun": "The nice {}.", "adj": "This is a {} photo."}  # the official AdaNeg candidate prompts
ADANEG_ID_TEMPLATE = "The nice {}."
ADANEG_RULES = ("official", "profile")


def adaneg_candidates(emb: Embedded, rule: str) -> tuple[corpus_mod.Corpus, np.ndarray, np.ndarray]:
    """AdaNeg's candidates and the ID labels they are mined against. The words are the profile's
    corpus less the exact ID class names (the official ``Deduplication`` against the class names;
    a word that is both noun and adjective is already a noun only, as the official code keeps it).
    ``rule`` says how they are embedded, as the profile declares (``adaneg_prompts``):
    ``"official"``: "The nice {}." for the ID labels and nouns, "This is a {} photo." for
    adjectives (the official code's; the corpus is embedded a second time, cached);
    ``"profile"``: the profile's own corpus prompts and ID templates (where the official prompts
    do not suit the text tower, e.g. the emoji default's MiniLM, trained on its own captions)."""
    if rule not in ADANEG_RULES:
        raise ValueError(f"adaneg_prompts={rule!r}; expected one of {list(ADANEG_RULES)}")
    names = getattr(getattr(emb, "data", None), "class_names", None) or []
    drop = {n.strip().lower() for n in names}
    keep = np.array([i for i, w in enumerate(emb.corpus.words) if w.strip().lower() not in drop], dtype=int)
    corpus = emb.corpus.subset(keep, f"{emb.corpus.name}-adaneg")
    if rule == "profile":
        return corpus, np.asarray(emb.corpus_emb)[keep], np.asarray(emb.id_text)
    loaded = text_tower(emb.profile)
    spec = {**emb.profile.corpus, "prompts": ADANEG_PROMPTS, "remove_id_names": False}
    return corpus, corpus_embeddings(loaded, spec, corpus, progress=False), class_embeddings(
        loaded, list(names), [ADANEG_ID_TEMPLATE], progress=False)


def adaneg_bank(emb: Embedded, params: Mapping[str, Any]) -> Bank:
    """AdaNeg's own negatives, as its official code mines them (``docs/methods.md`` section 6):
    :func:`negmining.sorted_index_similarity` (the value at sorted index int(0.95 K), no
    interpolation), ``adaneg_m`` (default 10,000, capped at the candidates) split between
    adjectives and nouns in proportion to their candidates (:func:`negmining.proportional_split`),
    the lowest of each kind, in the official column order [adjectives | nouns]."""
    rule = params.get("adaneg_prompts", "profile")
    m = params.get("adaneg_m", ADANEG_M)
    key = ("adaneg", rule, m)
    if key not in emb.bank_cache:
        if ("adaneg-candidates", rule) not in emb.bank_cache:
            emb.bank_cache[("adaneg-candidates", rule)] = adaneg_candidates(emb, rule)
        corpus, cand, id_emb = emb.bank_cache[("adaneg-candidates", rule)]
        s = negmining.sorted_index_similarity(cand, id_emb, q=0.95).numpy()
        pos = np.asarray(corpus.pos)
        parts = [np.flatnonzero(pos == p) for p in ("adj", "noun")]
        sizes = negmining.proportional_split(min(m, len(pos)), [len(p) for p in parts])
        idx = np.concatenate([part[np.argsort(s[part], kind="stable")][:k] for part, k in zip(parts, sizes)])
        emb.bank_cache[key] = Bank("adaneg", [corpus.words[i] for i in idx], [corpus.pos[i] for i in idx],
                                   np.asarray(cand[idx], dtype=np.float32),
                                   None if rule == "profile" else np.asarray(id_emb, dtype=np.float32))
    return emb.bank_cache[key]


BANK_BUILDERS = {"neglabel": neglabel_bank, "csp": csp_bank, "adaneg": adaneg_bank}
