"""Analyses the book's notebooks run: tables and sweeps over cached embeddings.

Top layer (with ``experiments``): notebooks call these and plot; they hold no algorithm of their own.
Every function takes an :class:`~neglabel_core.experiments.Embedded` (all embeddings of a
profile, from the cache) and returns a pandas DataFrame whose columns name the parameters that
produced each number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import corpus as corpus_mod
from . import experiments as ex
from . import metrics
from .profiles import Profile, load_profile

log = logging.getLogger(__name__)
METHOD_LABELS = {"neglabel": "NegLabel", "mcm": "MCM", "max_cos": "max cosine", "energy": "energy"}


def load(profile: str | Profile = "emoji-tiny", overrides: Mapping[str, Any] | None = None, *,
         progress: bool = False) -> ex.Embedded:
    """Every embedding of a profile (preparing data, model and caches on first use)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if overrides:
        prof = prof.with_overrides(overrides)
    return ex.embed_profile(prof, progress=progress)


# ---------------------------------------------------------------- NegMining


def mining_rule(emb: ex.Embedded, m: int | None = None) -> dict[str, Any]:
    """The profile's mining rule (``m``, or ``pos_fraction`` where set), or the lowest ``m``."""
    if m is None:
        return {"m": emb.profile.params["m"], "pos_fraction": emb.profile.params.get("pos_fraction")}
    return {"m": m, "pos_fraction": None}


def corpus_counts(corpus: corpus_mod.Corpus) -> pd.DataFrame:
    """Candidates per part of speech and group (WordNet lexname)."""
    frame = pd.DataFrame({"pos": corpus.pos, "group": corpus.groups})
    return frame.value_counts().rename("candidates").reset_index().sort_values(["pos", "candidates"], ascending=[True, False])


def mining_table(emb: ex.Embedded, *, eta: float | None = None, m: int | None = None) -> pd.DataFrame:
    """Every candidate with its percentile similarity s(w), rank (1 = farthest from the ID
    labels) and whether it is mined (by the profile's rule, or the lowest ``m`` when ``m`` is
    given), plus its nearest ID class."""
    eta = emb.profile.params["eta"] if eta is None else eta
    rule = mining_rule(emb, m)
    score = ex.percentile_similarity(emb, eta).numpy()
    order = np.argsort(score, kind="stable")
    rank = np.empty(len(score), dtype=int)
    rank[order] = np.arange(1, len(score) + 1)
    mined = np.zeros(len(score), dtype=bool)
    mined[ex.mine(emb, eta=eta, **rule)] = True
    nearest = np.argmax(np.asarray(emb.corpus_emb) @ emb.id_text.T, axis=1)
    return pd.DataFrame({
        "word": emb.corpus.words,
        "pos": emb.corpus.pos,
        "group": emb.corpus.groups,
        "score": score,
        "rank": rank,
        "mined": mined,
        "nearest_id_class": np.asarray(emb.data.class_names, dtype=object)[nearest],
        "eta": eta,
        "m": int(mined.sum()),
    }).sort_values("rank").reset_index(drop=True)


# ---------------------------------------------------------------- scores and results


def score_frame(scored: ex.Scored) -> pd.DataFrame:
    """Long table: one row per (image, method): set ("ID" or an OOD set), score."""
    rows = []
    for name, by_method in [("ID", scored.id), *scored.ood.items()]:
        for method, values in by_method.items():
            rows.append(pd.DataFrame({"set": name, "method": method, "score": values}))
    return pd.concat(rows, ignore_index=True)


def results_table(emb: ex.Embedded, scored: ex.Scored, *, n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per method and OOD set (plus ``all`` and the mean over sets): AUROC, FPR95, AUPR-In,
    AUPR-Out in percent with 95% bootstrap intervals that resample concepts, not images."""
    id_units = emb.data.id_images.units
    ood_units = {name: files.units for name, files in emb.data.ood.items()}
    ood_units["all"] = [u for name in emb.data.ood for u in ood_units[name]]
    tables = []
    for method in scored.id:
        ood = {name: s[method] for name, s in scored.ood.items()}
        ood["all"] = np.concatenate(list(ood.values()))
        table = metrics.summarize(scored.id[method], ood, id_units=id_units, ood_units=ood_units,
                                  n_bootstrap=n_bootstrap, seed=seed)
        table = table.drop(index="average")
        table.insert(0, "method", method)
        tables.append(table.reset_index())
    out = pd.concat(tables, ignore_index=True)
    for key in ("m", "eta", "tau", "n_groups"):
        out[key] = scored.params[key]
    return out


def hardest(emb: ex.Embedded, scored: ex.Scored, method: str, k: int = 8) -> dict[str, pd.DataFrame]:
    """The images a method gets most wrong: OOD images scored most in-distribution, and ID images
    scored least in-distribution."""
    ood_rows = []
    for name, files in emb.data.ood.items():
        ood_rows.append(pd.DataFrame({"path": files.paths, "unit": files.units, "set": name, "score": scored.ood[name][method]}))
    ood = pd.concat(ood_rows).nlargest(k, "score")
    id_files = emb.data.id_images
    idf = pd.DataFrame({"path": id_files.paths, "unit": id_files.units, "set": "ID", "score": scored.id[method]})
    idf = idf.nsmallest(k, "score")
    for frame in (ood, idf):
        frame["name"] = [emb.data.concepts.get(u, {}).get("name", u) for u in frame["unit"]]
    return {"ood_scored_as_id": ood.reset_index(drop=True), "id_scored_as_ood": idf.reset_index(drop=True)}


def roc_points(id_scores: np.ndarray, ood_scores: np.ndarray) -> pd.DataFrame:
    """The ROC curve (FPR, TPR) with ID as positive."""
    thresholds = np.unique(np.concatenate([id_scores, ood_scores]))[::-1]
    tpr = [(id_scores >= t).mean() for t in thresholds]
    fpr = [(ood_scores >= t).mean() for t in thresholds]
    return pd.DataFrame({"fpr": [0.0, *fpr, 1.0], "tpr": [0.0, *tpr, 1.0]})


# ---------------------------------------------------------------- sweeps


def evaluate_params(emb: ex.Embedded, params: Mapping[str, Any], *, id_emb: np.ndarray | None = None,
                    corpus_emb: np.ndarray | None = None, methods: Sequence[str] = ex.METHODS) -> pd.DataFrame:
    """AUROC and FPR95 (percent) on all OOD sets together, per method, for one parameter setting."""
    view = emb if corpus_emb is None else with_corpus(emb, corpus_emb)
    scored = ex.score(view, params, id_emb=id_emb)
    rows = []
    for method in methods:
        ood = np.concatenate([scored.ood[s][method] for s in scored.ood])
        rows.append({"method": method, **{k: scored.params[k] for k in ("m", "eta", "tau", "n_groups")},
                     "AUROC": 100 * metrics.auroc(scored.id[method], ood),
                     "FPR95": 100 * metrics.fpr_at_tpr(scored.id[method], ood)})
    return pd.DataFrame(rows)


def sweep(emb: ex.Embedded, param: str, values: Iterable[Any], *, fixed: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """NegLabel's AUROC/FPR95 (all OOD sets) as one parameter varies, the others at the profile's
    values (or ``fixed``). M values above the corpus size are skipped with a log line."""
    frames = []
    for value in values:
        params = {**emb.profile.params, **(fixed or {}), param: value}
        if param == "m":
            params["pos_fraction"] = None  # a sweep over M mines the lowest M, whatever the profile's rule
        if params.get("pos_fraction") is None and not params["n_groups"] <= params["m"] <= len(emb.corpus):
            log.info("skipping %s=%s: needs n_groups <= M <= corpus size", param, value)
            continue
        frames.append(evaluate_params(emb, params, methods=("neglabel",)))
    if not frames:
        raise ValueError(f"no value of {param} in {list(values)} fits: M must lie in [n_groups, corpus size "
                         f"{len(emb.corpus):,}]; pass fixed={{'m': ...}} or other values")
    return pd.concat(frames, ignore_index=True)


def mined_overlap(emb: ex.Embedded, etas: Sequence[float], m: int | None = None) -> pd.DataFrame:
    """Jaccard overlap of the mined sets between every pair of eta values."""
    rule = mining_rule(emb, m)
    sets = {eta: set(ex.mine(emb, eta=eta, **rule).tolist()) for eta in etas}
    return pd.DataFrame([[len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for b in etas] for a in etas],
                        index=pd.Index(etas, name="eta"), columns=pd.Index(etas, name="eta"))


def list_overlap(reference: corpus_mod.Corpus, pool: corpus_mod.Corpus, mined: Sequence[int] | None = None) -> pd.DataFrame:
    """A released negative-label list (``reference``, e.g. the official ImageNet-1k list) against
    ours, per part of speech and overall: how many of its words our candidate ``pool`` holds
    (coverage), and, given our ``mined`` indices into ``pool``, the Jaccard overlap |A & B| / |A | B|."""
    rows = []
    for part in [*dict.fromkeys(reference.pos), "all"]:
        ref = {w for w, p in zip(reference.words, reference.pos) if part in (p, "all")}
        ours = {w for w, p in zip(pool.words, pool.pos) if part in (p, "all")}
        row = {"part": part, "reference words": len(ref), "pool words": len(ours),
               "coverage": len(ref & ours) / len(ref)}
        if mined is not None:
            got = {pool.words[i] for i in mined if part in (pool.pos[i], "all")}
            row.update({"mined": len(got), "jaccard": len(ref & got) / len(ref | got)})
        rows.append(row)
    return pd.DataFrame(rows)


def compare_with_list(profile: Profile, path: str, *, with_mining: bool = True, progress: bool = False
                      ) -> tuple[pd.DataFrame, str | None]:
    """The profile's corpus (and, where its weights are available and ``with_mining``, its mined
    labels) against a released list such as the official ImageNet-1k one: :func:`list_overlap`.
    Returns the table and, when no mining was done, the reason."""
    from .models import ModelNotFoundError, WeightsUnavailableError, require_weights

    reference = corpus_mod.read_prompt_list(path, profile.corpus["prompts"])
    reason = None if with_mining else "mining not asked for"
    if with_mining and profile.model.get("pretrained") != "@train":
        try:
            require_weights(profile.model["name"], profile.model.get("pretrained"))
        except (ModelNotFoundError, WeightsUnavailableError) as exc:
            reason = str(exc)
    if reason is not None:
        return list_overlap(reference, ex.build_corpus(profile.corpus, ex.class_names(profile))), reason
    text = ex.embed_text_side(profile, progress=progress)
    p = profile.params
    mined = ex.mine(text, eta=p["eta"], m=p["m"], pos_fraction=p.get("pos_fraction"))
    return list_overlap(reference, text.corpus, mined), None


# ---------------------------------------------------------------- corpus ablation


def with_corpus(emb: ex.Embedded, corpus_emb: np.ndarray, corpus: corpus_mod.Corpus | None = None) -> ex.Embedded:
    import dataclasses

    return dataclasses.replace(emb, corpus_emb=corpus_emb, corpus=corpus or emb.corpus)


def wordnet_variants(emb: ex.Embedded) -> dict[str, np.ndarray]:
    """Index sets into the profile's WordNet corpus: nouns, adjectives, both, and each without
    the official lexname exclusions (noun.animal, noun.food)."""
    pos = np.asarray(emb.corpus.pos)
    groups = np.asarray(emb.corpus.groups)
    official = ~np.isin(groups, corpus_mod.OFFICIAL_EXCLUDED_LEXNAMES)
    return {
        "WordNet nouns": np.flatnonzero(pos == "noun"),
        "WordNet adjectives": np.flatnonzero(pos == "adj"),
        "WordNet nouns + adjectives": np.arange(len(pos)),
        "WordNet nouns, official exclusions": np.flatnonzero((pos == "noun") & official),
        "WordNet nouns + adjectives, official exclusions": np.flatnonzero(official),
    }


def word_list(name: str, *, size: int | None = None, emb: ex.Embedded | None = None) -> list[str]:
    """Other corpora: ``"wordfreq"`` (the most frequent English words on the web, top ``size``),
    ``"english-words"`` (a dictionary word list), ``"oracle"`` (the OOD concepts' own names where
    the benchmark knows them: leaks the answer; needs ``emb``)."""
    if name == "wordfreq":
        from wordfreq import top_n_list

        words = [w for w in top_n_list("en", size or 30000) if w.isalpha() and len(w) > 2]
    elif name == "english-words":
        from english_words import get_english_words_set

        words = sorted(get_english_words_set(["web2"], lower=True, alpha=True))
        if size:
            words = words[:: max(1, len(words) // size)][:size]
    elif name == "oracle":
        if emb is None:
            raise ValueError("the oracle corpus needs the embedded benchmark (emb=...)")
        names = [emb.data.concepts[u]["name"] for files in emb.data.ood.values() for u in dict.fromkeys(files.units)
                 if u in emb.data.concepts]
        words = list(dict.fromkeys(names))  # empty where no OOD set has class names (flat image folders)
    else:
        raise ValueError(f"unknown word list {name!r}; expected 'wordfreq', 'english-words' or 'oracle'")
    return words


def corpus_ablation(emb: ex.Embedded, extra: Mapping[str, Sequence[str]] | None = None, *,
                    m: int | None = None, progress: bool = False) -> pd.DataFrame:
    """NegLabel (and, for reference, max cosine) with the negatives mined from each corpus:
    the WordNet variants (from the profile's cached corpus embedding) and word lists in
    ``extra`` (embedded with the profile's noun prompt, cached). M is capped at a tenth of small
    corpora (mining all of a corpus selects nothing)."""
    from .embed import encode_texts
    from .models import load_model

    frames = []
    m = emb.profile.params["m"] if m is None else m
    variants: dict[str, tuple[corpus_mod.Corpus, np.ndarray]] = {
        name: (emb.corpus.subset(idx, name), np.asarray(emb.corpus_emb)[idx]) for name, idx in wordnet_variants(emb).items()
    }
    if extra:
        model = emb.profile.model
        pretrained = model.get("pretrained")
        loaded = load_model(model["name"], str(ex.checkpoint_path(emb.profile)) if pretrained == "@train" else pretrained)
        for name, words in extra.items():
            words_corpus = corpus_mod.word_list_corpus(words, name=name).without(emb.data.class_names)
            vectors = encode_texts(loaded, words_corpus.prompts(emb.profile.corpus["prompts"]), progress=progress, desc=name)
            variants[name] = (words_corpus, vectors)
    for name, (words_corpus, vectors) in variants.items():
        m_used = min(m, max(1, len(words_corpus) // 10)) if len(words_corpus) < 10 * m else m
        params = {**emb.profile.params, "m": m_used, "n_groups": min(emb.profile.params["n_groups"], m_used),
                  "pos_fraction": None}  # every corpus mines the same M
        frame = evaluate_params(with_corpus(emb, vectors, words_corpus), params, methods=("neglabel", "max_cos"))
        frame.insert(0, "corpus", name)
        frame.insert(1, "corpus_size", len(words_corpus))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- domain shift


def domain_shift(emb: ex.Embedded) -> pd.DataFrame:
    """ID top-1 and OOD detection (all OOD sets, every method) with the ID test images in each
    domain-shift style instead of the evaluation styles."""
    frames = []
    sets = {"evaluation styles": (emb.id_emb, emb.data.id_images), **{
        name: (emb.shift_emb[name], files) for name, files in emb.data.shift.items()}}
    for name, (vectors, files) in sets.items():
        frame = evaluate_params(emb, emb.profile.params, id_emb=vectors)
        frame.insert(0, "ID images", name)
        frame.insert(1, "ID top-1", 100 * ex.zero_shot_top1(vectors, emb.id_text, files.labels))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
