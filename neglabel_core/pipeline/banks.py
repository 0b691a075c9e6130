"""The negative-label banks a method reads (``Method.bank`` in the registry): NegMining's on the
profile's corpus, CSP's "modified superclass names", AdaNeg's own official mining, and
NegRefine's (CSP's candidates, mined by their largest ID cosine, then filtered). Each is built once per parameters and
kept on the :class:`~.embedded.Embedded` it was built from. Their specification, the official
code's file:line and where we differ: ``docs/methods.md`` (sections 1 and 5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import files
from ..data import corpus as corpus_mod
from ..models.embed import class_embeddings, encode_texts
from ..ood import negmining
from ..profiles import Profile
from .score_cache import kept_array
from .text import TextSide, build_corpus, corpus_embeddings, full_corpus_spec, sampled, text_tower

if TYPE_CHECKING:
    from .embedded import Embedded


def candidate_scores(emb: Embedded | TextSide, eta: float) -> torch.Tensor:
    """s(w) of every candidate (:func:`negmining.percentile_similarity`), computed once per eta
    (sweeps mine many times with the same eta) and kept on disk by the embeddings' content
    (:func:`.score_cache.kept_array`: every chapter mines from the same text side)."""
    if eta not in emb.similarity_by_eta:
        kept = kept_array("percentile_similarity", {"candidates": emb.corpus_emb, "id": emb.id_text, "eta": float(eta)},
                          lambda: negmining.percentile_similarity(emb.corpus_emb, emb.id_text, eta=eta).cpu().numpy())
        emb.similarity_by_eta[eta] = torch.from_numpy(np.array(kept))
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
    where the method embeds the ID labels its own way (CSP's eight templates, AdaNeg's official
    prompts), those (K, D)."""

    name: str
    words: list[str]
    pos: list[str]
    emb: np.ndarray
    id_emb: np.ndarray | None = None
    # NegRefine: the combined labels "<ID label> and <negative>" of (ID index, negative index)
    # pairs, embedded on demand: top ID indices (N, k_pos), top negative indices (N, k_neg) ->
    # (N, k_pos * k_neg, D), p-major (:func:`ood.scores.multi_matching_score`)
    pair_emb: Callable[[torch.Tensor, torch.Tensor], np.ndarray] | None = field(default=None, repr=False)
    removed: dict[str, str] = field(default_factory=dict, repr=False)  # word -> why its filter removed it


def neglabel_bank(emb: Embedded, params: Mapping[str, Any]) -> Bank:
    """NegMining on the profile's corpus (:func:`mine`)."""
    idx = mine(emb, eta=params["eta"], m=params["m"], pos_fraction=params.get("pos_fraction"))
    return Bank("neglabel", [emb.corpus.words[i] for i in idx], [emb.corpus.pos[i] for i in idx], emb.corpus_emb[idx])


CSP_FRACTION = 0.15  # the official CSP code keeps the lowest 15% of nouns and of phrases
CSP_RULES = ("official", "profile")


def csp_rule(params: Mapping[str, Any], name: str) -> str:
    """The rule a profile declares for CSP (``csp_lexicon``: default "official"; ``csp_templates``:
    default "profile", the safe choice for any text tower)."""
    return _checked_csp_rule(name, params.get(name, "official" if name == "csp_lexicon" else "profile"))


def _checked_csp_rule(name: str, rule: str) -> str:
    if rule not in CSP_RULES:
        raise ValueError(f"{name}={rule!r}; expected one of {list(CSP_RULES)}")
    return rule


def csp_lexicon(profile: Profile, rule: str = "official") -> corpus_mod.Corpus:
    """The words CSP's bank is built from. ``"official"``: CSP's own lexicon
    (:func:`corpus.csp_lexicon`: WordNet 3.0's word files less CSP's exclusions, adjectives first);
    ``"profile"``: the profile's corpus before the ID names are removed. Either way the
    profile's corpus ``sample`` (quick runs, tests) takes the same evenly spaced subsample. As
    in the official code, ID names are not removed: the > 0.95 rule of :func:`csp_bank` drops
    them, so the phrases are the same for every split."""
    spec = profile.corpus
    if _checked_csp_rule("csp_lexicon", rule) == "profile":
        return build_corpus(full_corpus_spec(spec))
    return sampled(corpus_mod.csp_lexicon(), spec.get("sample"))


def _in_noun_prompt(emb: Embedded, loaded: Any, nouns: list[str]) -> np.ndarray:
    """``nouns`` in the profile's noun prompt: the rows of the full corpus's embedding where a
    word is a noun there (no second embedding), the rest embedded (cached)."""
    spec = emb.profile.corpus
    full = build_corpus(full_corpus_spec(spec)) if spec.get("remove_id_names") else emb.corpus
    full_emb = emb.corpus_emb if full is emb.corpus else corpus_embeddings(loaded, full_corpus_spec(spec), full,
                                                                          progress=False)
    row = {w: i for i, (w, p) in enumerate(zip(full.words, full.pos)) if p == "noun"}
    out = np.empty((len(nouns), np.asarray(full_emb).shape[1]), dtype=np.float32)
    found = [i for i, w in enumerate(nouns) if w in row]
    out[found] = np.asarray(full_emb)[[row[nouns[i]] for i in found]]
    missing = [i for i, w in enumerate(nouns) if w not in row]
    if missing:
        prompt = spec["prompts"]["noun"]
        out[missing] = encode_texts(loaded, [prompt.format(nouns[i]) for i in missing], progress=False,
                                    desc="CSP nouns")
    return out


def csp_candidates(emb: Embedded, params: Mapping[str, Any] | None = None
                   ) -> tuple[list[str], list[str], np.ndarray, np.ndarray | None]:
    """CSP's candidates (the official code: MengyuanChen21/NeurIPS2024-CSP), by the profile's
    declared rules (``docs/methods.md``, section 5): the nouns of :func:`csp_lexicon`
    (``csp_lexicon``) and, in place of its adjectives, the "modified superclass names"
    ``"<adjective> <superclass word>"`` (:func:`corpus.csp_phrases`, the lexicon's order), nouns
    first. ``csp_templates`` says how they are embedded:
    ``"official"``: nouns and ID labels as the raw mean of CSP's eight templates, phrases of its
    four, each mean then normalised (:data:`corpus.CSP_NOUN_TEMPLATES`; the official code's);
    ``"profile"``: the nouns in the profile's noun prompt, the ID labels the profile's own, the
    phrases the mean of CSP's four templates after normalising each (where CSP's prompts do not
    suit the text tower, e.g. the emoji default's MiniLM, trained on its own captions).
    Returns words, parts of speech ("noun" or "csp"), their embeddings, and CSP's own ID label
    embeddings (``None`` under the profile's templates).

    Where this still differs from the official run (``docs/methods.md``, section 5): the lexicon
    derived from WordNet 3.0 holds 46,446 nouns and 11,047 adjectives against the official files'
    46,560 and 10,060 (another parse of WordNet); within a file the words are in WordNet's synset
    order, not the official files' unordered-set order, so most adjectives draw another
    superclass word; the official template means are of fp16 outputs, ours of float32 ones."""
    p = {**emb.profile.params, **(params or {})}
    lexicon = csp_lexicon(emb.profile, csp_rule(p, "csp_lexicon"))
    templates = csp_rule(p, "csp_templates")
    loaded = text_tower(emb.profile)
    nouns = [w for w, pos in zip(lexicon.words, lexicon.pos) if pos == "noun"]
    phrases = corpus_mod.csp_phrases([w for w, pos in zip(lexicon.words, lexicon.pos) if pos == "adj"])
    mean = "raw" if templates == "official" else "normalized"
    phrase_emb = class_embeddings(loaded, phrases, corpus_mod.CSP_PHRASE_TEMPLATES, progress=False, mean=mean,
                                  desc="CSP phrases")
    if templates == "official":
        noun_emb = class_embeddings(loaded, nouns, corpus_mod.CSP_NOUN_TEMPLATES, progress=False, mean="raw",
                                    desc="CSP nouns")
        id_emb = class_embeddings(loaded, list(emb.data.class_names), corpus_mod.CSP_NOUN_TEMPLATES,
                                  progress=False, mean="raw").astype(np.float32)
    else:
        noun_emb, id_emb = _in_noun_prompt(emb, loaded, nouns), None
    words = nouns + phrases
    pos = ["noun"] * len(nouns) + ["csp"] * len(phrases)
    return words, pos, np.concatenate([noun_emb, phrase_emb]).astype(np.float32), id_emb


def _kept_csp_candidates(emb: Embedded, lexicon: str, templates: str
                         ) -> tuple[list[str], list[str], np.ndarray, np.ndarray | None]:
    """:func:`csp_candidates` under these rules, built once per text side (CSP's and NegRefine's
    banks read the same candidates)."""
    key = ("csp-candidates", lexicon, templates)
    if key not in emb.text_cache:
        emb.text_cache[key] = csp_candidates(emb, {"csp_lexicon": lexicon, "csp_templates": templates})
    return emb.text_cache[key]


def csp_bank(emb: Embedded, params: Mapping[str, Any]) -> Bank:
    """CSP's mining on :func:`csp_candidates`: :func:`negmining.csp_similarity` against its ID
    label embeddings (the profile's eta; near-duplicates of an ID name, cosine > 0.95, never
    mined), then the lowest ``csp_fraction`` (0.15) of the nouns and of the phrases separately,
    nouns first. The bank carries CSP's own ID embeddings where its templates are official
    (the score then reads them too)."""
    fraction = params.get("csp_fraction", CSP_FRACTION)
    rules = (csp_rule(params, "csp_lexicon"), csp_rule(params, "csp_templates"))
    key = ("csp", *rules, params["eta"], fraction)
    if key not in emb.text_cache:
        words, pos, cand, id_emb = _kept_csp_candidates(emb, *rules)
        ids = emb.id_text if id_emb is None else id_emb
        s = torch.from_numpy(np.array(kept_array("csp_similarity", {"candidates": cand, "id": ids, "eta": float(params["eta"])},
                                                 lambda: negmining.csp_similarity(cand, ids, eta=params["eta"]).numpy())))
        idx = negmining.lowest_fraction_per_group(s, pos, fraction).numpy()
        emb.text_cache[key] = Bank("csp", [words[i] for i in idx], [pos[i] for i in idx], cand[idx], id_emb)
    return emb.text_cache[key]


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
    if key not in emb.text_cache:
        if ("adaneg-candidates", rule) not in emb.text_cache:
            emb.text_cache[("adaneg-candidates", rule)] = adaneg_candidates(emb, rule)
        corpus, cand, id_emb = emb.text_cache[("adaneg-candidates", rule)]
        s = kept_array("sorted_index_similarity", {"candidates": cand, "id": id_emb, "q": 0.95},
                       lambda: negmining.sorted_index_similarity(cand, id_emb, q=0.95).numpy())
        pos = np.asarray(corpus.pos)
        parts = [np.flatnonzero(pos == p) for p in ("adj", "noun")]
        sizes = negmining.proportional_split(min(m, len(pos)), [len(p) for p in parts])
        idx = np.concatenate([part[np.argsort(s[part], kind="stable")][:k] for part, k in zip(parts, sizes)])
        emb.text_cache[key] = Bank("adaneg", [corpus.words[i] for i in idx], [corpus.pos[i] for i in idx],
                                   np.asarray(cand[idx], dtype=np.float32),
                                   None if rule == "profile" else np.asarray(id_emb, dtype=np.float32))
    return emb.text_cache[key]


NEGREFINE_FRACTION = 0.15  # the official create_negs: neg_top_p
NEGREFINE_NEAREST = 10  # the official filter asks about each word's 10 nearest ID labels
NEGREFINE_FILTERS = ("wordnet", "none")


def negrefine_rule(params: Mapping[str, Any], name: str) -> str:
    """NegRefine's declared rules: ``negrefine_templates`` ("profile", default, or "official", as
    CSP's ``csp_templates``) and ``negrefine_filter`` ("wordnet", default: WordNet in place of its
    LLM, :func:`corpus.negrefine_filter_reasons`; "none": the initial negatives unfiltered)."""
    if name == "negrefine_templates":
        return _checked_csp_rule(name, params.get(name, "profile"))
    rule = params.get(name, "wordnet")
    if rule not in NEGREFINE_FILTERS:
        raise ValueError(f"{name}={rule!r}; expected one of {list(NEGREFINE_FILTERS)}")
    return rule


def _pair_embedder(emb: Embedded, words: list[str], templates: str) -> Callable[[torch.Tensor, torch.Tensor], np.ndarray]:
    """The combined labels of NegRefine's multi-matching, "<ID label> and <negative>", embedded:
    official, as the raw mean of its eight noun templates; profile, in the profile's first ID
    template alone (an image brings up to 25 new pairs, so one prompt per pair keeps the text
    tower's work to the distinct pairs). Each distinct pair text is embedded once per text side
    and process (shared by every bank built from it) and kept on disk by the text cache."""
    loaded = text_tower(emb.profile)
    names = list(emb.data.class_names)
    if templates == "official":
        prompts, mean = corpus_mod.CSP_NOUN_TEMPLATES, "raw"
    else:
        prompts, mean = tuple(emb.profile.id_templates[:1]), "normalized"
    memo: dict[str, np.ndarray] = emb.text_cache.setdefault(("negrefine-pairs", templates), {})

    def embed(top_ids: torch.Tensor, top_negs: torch.Tensor) -> np.ndarray:
        texts = [f"{names[a]} and {words[b]}" for ids_row, negs_row in zip(top_ids.tolist(), top_negs.tolist())
                 for a in ids_row for b in negs_row]
        missing = sorted(set(texts) - memo.keys())
        if missing:
            vectors = class_embeddings(loaded, missing, prompts, progress=False, mean=mean, desc="NegRefine pairs")
            memo.update(zip(missing, vectors.astype(np.float32)))
        width = top_ids.shape[1] * top_negs.shape[1]
        return np.stack([memo[t] for t in texts]).reshape(len(top_ids), width, -1)
    return embed


def negrefine_bank(emb: Embedded, params: Mapping[str, Any]) -> Bank:
    """NegRefine's negatives (Ansari et al., ICCV 2025; official code ah-ansari/NegRefine,
    ``create_negs`` and ``neg_filter``; ``docs/methods.md`` section 8): CSP's candidates
    (:func:`csp_candidates`, under ``negrefine_templates``), each scored by its largest cosine to
    an ID label (:func:`negmining.max_similarity`, 1.0 above 0.95), the lowest
    ``negrefine_fraction`` (0.15) of the nouns and of the phrases, nouns first; then its filter
    (``negrefine_filter``): the words that are proper nouns, an ID label, or a subcategory of one
    of their 10 nearest ID labels are removed (:func:`corpus.negrefine_filter_reasons`, WordNet in
    place of the official LLM). The bank embeds its multi-matching pairs on demand (``pair_emb``)."""
    fraction = params.get("negrefine_fraction", NEGREFINE_FRACTION)
    lexicon, templates = csp_rule(params, "csp_lexicon"), negrefine_rule(params, "negrefine_templates")
    rule = negrefine_rule(params, "negrefine_filter")
    key = ("negrefine", lexicon, templates, rule, fraction)
    if key not in emb.text_cache:
        words, pos, cand, id_emb = _kept_csp_candidates(emb, lexicon, templates)
        ids = emb.id_text if id_emb is None else id_emb
        s = torch.from_numpy(np.array(kept_array("max_similarity", {"candidates": cand, "id": ids},
                                                 lambda: negmining.max_similarity(cand, ids).numpy())))
        idx = negmining.lowest_fraction_per_group(s, pos, fraction).numpy()
        removed: dict[str, str] = {}
        if rule == "wordnet":
            names = list(emb.data.class_names)
            k = min(NEGREFINE_NEAREST, len(names))
            nearest = torch.from_numpy(np.asarray(cand[idx]) @ np.asarray(ids).T).topk(k, dim=1).indices.tolist()
            chosen, kinds = [words[i] for i in idx], [pos[i] for i in idx]
            nearest_names = [[names[j] for j in row] for row in nearest]
            reasons = files.kept_json("negrefine_filter", {"words": chosen, "kinds": kinds, "nearest": nearest_names,
                                                           "code": _filter_code()},
                                      lambda: {str(i): r for i, r in corpus_mod.negrefine_filter_reasons(
                                          chosen, kinds, nearest_names).items()}, best_effort=True)
            removed = {chosen[int(i)]: r for i, r in reasons.items()}
            idx = np.array([i for j, i in enumerate(idx) if str(j) not in reasons], dtype=np.int64)
        if len(idx) == 0:
            raise ValueError("NegRefine's filter removed every negative label; expected some to remain "
                             "(negrefine_filter: \"none\" skips it)")
        emb.text_cache[key] = Bank("negrefine", [words[i] for i in idx], [pos[i] for i in idx],
                                   np.asarray(cand[idx], dtype=np.float32), id_emb,
                                   pair_emb=_pair_embedder(emb, [words[i] for i in idx], templates), removed=removed)
    return emb.text_cache[key]


def _filter_code() -> str:
    """What the kept filter answers depend on besides their inputs: the deciding functions' code."""
    import inspect

    return "".join(inspect.getsource(f) for f in (corpus_mod.negrefine_clean, corpus_mod.negrefine_filter_reasons))


BANK_BUILDERS = {"neglabel": neglabel_bank, "csp": csp_bank, "adaneg": adaneg_bank, "negrefine": negrefine_bank}
