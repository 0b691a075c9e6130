"""Candidate corpora and what NegMining picks from them (chapters 01, 03, the CLI's ``wordnet``
and ``compare-list``): counts, the mining table, where the OOD names would rank, WordNet variants
and other word lists, overlap with a released list, and the corpus ablation."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..data import corpus as corpus_mod
from ..ood import negmining
from ..profiles import Profile
from .chapter import N_BOOTSTRAP, clear_of_zero, interval, md_text
from .tables import average_frame, paired_gaps

log = logging.getLogger(__name__)


def corpus_counts(corpus: corpus_mod.Corpus) -> pd.DataFrame:
    """Candidates per part of speech and group (WordNet lexname)."""
    frame = pd.DataFrame({"pos": corpus.pos, "group": corpus.groups})
    return frame.value_counts().rename("candidates").reset_index().sort_values(["pos", "candidates"], ascending=[True, False])


def mining_table(emb: pipeline.Embedded, *, eta: float | None = None, m: int | None = None) -> pd.DataFrame:
    """Every candidate with its percentile similarity s(w), rank (1 = farthest from the ID
    labels) and whether it is mined (by the profile's rule, or the lowest ``m`` when ``m`` is
    given), plus its nearest ID class."""
    eta = emb.profile.params["eta"] if eta is None else eta
    rule = pipeline.mining_rule(emb, m)
    score = pipeline.candidate_scores(emb, eta).numpy()
    order = np.argsort(score, kind="stable")
    rank = np.empty(len(score), dtype=int)
    rank[order] = np.arange(1, len(score) + 1)
    mined = np.zeros(len(score), dtype=bool)
    mined[pipeline.mine(emb, eta=eta, **rule)] = True
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


def ood_name_ranks(emb: pipeline.Embedded, *, eta: float | None = None) -> pd.DataFrame:
    """Where the OOD concepts' own names would rank by NegMining's score s(w) among the profile's
    candidates (embedded with the noun prompt, scored against the same ID labels): each name's
    s(w), the rank it would take (1 = farthest from the ID labels), whether it would fall within
    the mined M, its nearest ID class and cosine to it. Empty where the OOD sets carry no names."""
    names = word_list("oracle", emb=emb)
    columns = ["name", "OOD set", "score", "rank", "would be mined", "nearest ID class", "cosine to it"]
    if not names:
        return pd.DataFrame(columns=columns)
    eta = emb.profile.params["eta"] if eta is None else eta
    words = corpus_mod.word_list_corpus(names, name="OOD names", pos="noun")
    name_emb = pipeline.embed_words(emb.profile, words)
    score = negmining.percentile_similarity(name_emb, emb.id_text, eta=eta).numpy()
    corpus_scores = np.sort(pipeline.candidate_scores(emb, eta).numpy())
    rank = np.searchsorted(corpus_scores, score, side="left") + 1
    m = len(pipeline.mine(emb, eta=eta, **pipeline.mining_rule(emb)))
    sims = np.asarray(name_emb) @ np.asarray(emb.id_text).T
    set_of = {emb.data.concepts[u]["name"].strip().lower(): n for n, f in emb.data.ood.items() for u in f.units
              if u in emb.data.concepts}
    out = pd.DataFrame({"name": words.words, "OOD set": [set_of.get(w, "") for w in words.words], "score": score,
                        "rank": rank, "would be mined": rank <= m,
                        "nearest ID class": np.asarray(emb.data.class_names, dtype=object)[sims.argmax(axis=1)],
                        "cosine to it": sims.max(axis=1)})
    return out.sort_values("rank").reset_index(drop=True)[columns]


def ood_names_paragraph(emb: pipeline.Embedded, ranks: pd.DataFrame) -> str:
    """Chapter 01's reading of :func:`ood_name_ranks` as Markdown (names as text, never markup):
    how many OOD names would be mined, the worst one and its nearest ID class, and the median
    cosine to the nearest ID class of the names mined and not. Says so where the OOD sets carry
    no names (flat image folders)."""
    if not len(ranks):
        return ("This profile's OOD sets carry no concept names (flat image folders), so there is nothing to rank: "
                "NegMining's view of the OOD concepts cannot be checked here.")
    mined = ranks["would be mined"].to_numpy(bool)
    worst = ranks.iloc[-1]
    text = f"Of the {len(ranks):,} OOD names, {100 * mined.mean():.1f}% would be mined."
    if not mined.all():
        why = ("On this benchmark every ID class is itself an emoji, so words about faces, symbols and emoji in general "
               "are near *every* ID label, and their (1 − η) quantile is high however OOD they are."
               if emb.profile.benchmark.get("kind") == "emoji" else "Such names share the ID labels' vocabulary.")
        text += (f" The rest sit too close to some ID label: the last one, \"{md_text(worst['name'])}\", has cosine "
                 f"{worst['cosine to it']:.2f} to the ID class \"{md_text(worst['nearest ID class'])}\". {why}")
    medians = [f"{ranks.loc[part, 'cosine to it'].median():.2f} for the names that {label}"
               for part, label in ((~mined, "would not be mined"), (mined, "would")) if part.any()]
    return (text + " The median cosine to the nearest ID class is " + " and ".join(medians)
            + ": NegMining can only find OOD concepts that the text tower places away from all ID labels.")


def wordnet_counts(parts: Sequence[str] = ("noun", "adj"), *, official_exclusions: bool = False) -> dict[str, Any]:
    """Size of the WordNet candidate corpus, by part of speech (the CLI's ``wordnet``)."""
    from collections import Counter

    excluded = corpus_mod.OFFICIAL_EXCLUDED_LEXNAMES if official_exclusions else ()
    words = corpus_mod.wordnet_corpus(tuple(parts), exclude_lexnames=excluded)
    return {"name": words.name, "size": len(words), "by_pos": dict(Counter(words.pos))}


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
    reference = corpus_mod.read_prompt_list(path, profile.corpus["prompts"])
    reason = pipeline.weights_problem(profile) if with_mining else "mining not asked for"
    if reason is not None:
        return list_overlap(reference, pipeline.build_corpus(profile.corpus, pipeline.class_names(profile))), reason
    text = pipeline.embed_text_side(profile, progress=progress)
    p = profile.params
    mined = pipeline.mine(text, eta=p["eta"], m=p["m"], pos_fraction=p.get("pos_fraction"))
    return list_overlap(reference, text.corpus, mined), None


def with_corpus(emb: pipeline.Embedded, corpus_emb: np.ndarray, corpus: corpus_mod.Corpus | None = None) -> pipeline.Embedded:
    import dataclasses

    return dataclasses.replace(emb, corpus_emb=corpus_emb, corpus=corpus or emb.corpus)


def corpus_view(emb: pipeline.Embedded, corpus: str) -> pipeline.Embedded:
    """``emb`` with its corpus narrowed to the WordNet variant ``corpus`` (a key of
    :func:`wordnet_variants`), built once per ``emb`` and kept with its mining scores per eta."""
    if corpus not in emb.corpus_views:
        idx = wordnet_variants(emb)[corpus]
        emb.corpus_views[corpus] = with_corpus(emb, np.asarray(emb.corpus_emb)[idx], emb.corpus.subset(idx, corpus))
    return emb.corpus_views[corpus]


def wordnet_variants(emb: pipeline.Embedded) -> dict[str, np.ndarray]:
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


def word_list(name: str, *, size: int | None = None, emb: pipeline.Embedded | None = None) -> list[str]:
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


def corpus_ablation(emb: pipeline.Embedded, extra: Mapping[str, Sequence[str]] | None = None, *,
                    m: int | None = None, progress: bool = False, n_bootstrap: int = 0) -> pd.DataFrame:
    """NegLabel (and, for reference, max cosine) with the negatives mined from each corpus:
    the WordNet variants (from the profile's cached corpus embedding) and word lists in
    ``extra`` (embedded with the profile's noun prompt, cached). M is capped at a tenth of small
    corpora (mining all of a corpus selects nothing), rounded down to a multiple of n_g (grouping
    drops the remainder, so the M in the table is the M scored). AUROC and FPR95 are the mean over the OOD
    sets. With ``n_bootstrap``, NegLabel's rows also get the gap to the profile's own corpus mined
    at the same M (``AUROC gap``, ``FPR95 gap``) with paired bootstrap intervals over concepts."""
    frames = []
    m = emb.profile.params["m"] if m is None else m
    variants: dict[str, tuple[corpus_mod.Corpus, np.ndarray]] = {
        name: (emb.corpus.subset(idx, name), np.asarray(emb.corpus_emb)[idx]) for name, idx in wordnet_variants(emb).items()
    }
    if extra:
        loaded = pipeline.text_tower(emb.profile)
        for name, words in extra.items():
            words_corpus = corpus_mod.word_list_corpus(words, name=name).without(emb.data.class_names)
            variants[name] = (words_corpus, pipeline.embed_words(emb.profile, words_corpus, loaded=loaded, progress=progress))
    reference: dict[int, pipeline.Scored] = {}  # the profile's corpus, mined at each M used
    for name, (words_corpus, vectors) in variants.items():
        m_used = min(m, max(1, len(words_corpus) // 10)) if len(words_corpus) < 10 * m else m
        n_groups = min(emb.profile.params["n_groups"], m_used)
        m_used -= m_used % n_groups  # grouping drops M mod n_g labels: the M reported is the M scored
        params = {**emb.profile.params, "m": m_used, "n_groups": n_groups, "pos_fraction": None}  # every corpus mines the same M
        scored = pipeline.score(with_corpus(emb, vectors, words_corpus), params, methods=("neglabel", "max_cos"))
        frame = average_frame(scored)
        if n_bootstrap:
            if m_used not in reference:
                reference[m_used] = pipeline.score(emb, params, methods=("neglabel",))
            gap = paired_gaps(emb, (scored, "neglabel"), (reference[m_used], "neglabel"),
                              n_bootstrap=n_bootstrap).set_index("ood_set").loc["average"]
            for metric in ("AUROC", "FPR95"):
                frame.loc[frame["method"] == "neglabel", [f"{metric} gap", f"{metric} gap lo", f"{metric} gap hi"]] = (
                    gap[f"{metric} diff"], gap[f"{metric} lo"], gap[f"{metric} hi"])
        frame.insert(0, "corpus", name)
        frame.insert(1, "corpus_size", len(words_corpus))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


SELECTION_RULES = ("NegMining (farthest)", "random", "reverse (nearest)", "ORACLE: OOD names")


def selection_control(emb: pipeline.Embedded, ms: Sequence[int], *, seed: int = 0,
                      n_bootstrap: int = N_BOOTSTRAP) -> pd.DataFrame:
    """Does the negatives' meaning matter? NegLabel at each M with the negatives chosen four ways
    (the paper's NegMining ablation), all else equal (eta, tau, n_g = min(profile's, M)):

    - ``NegMining (farthest)``: the M candidates of the profile's corpus with the lowest s(w);
    - ``random``: M candidates of the same corpus drawn uniformly (``np.random.default_rng(seed)``);
    - ``reverse (nearest)``: the M candidates with the *highest* s(w), nearest the ID labels;
    - ``ORACLE: OOD names``: the OOD concepts' own names mined by NegMining (lowest s(w)) at the
      same M, where the benchmark names them and M does not exceed their number (leaks the answer).

    AUROC and FPR95 (mean over OOD sets) and each rule's paired gap to NegMining at the same M."""
    p = emb.profile.params
    scores = pipeline.candidate_scores(emb, p["eta"]).numpy()
    order = np.argsort(scores, kind="stable")
    names = word_list("oracle", emb=emb)
    oracle = None
    if names:
        words = corpus_mod.word_list_corpus(names, name="OOD names", pos="noun")
        oracle = (words, pipeline.embed_words(emb.profile, words))
    rows = []
    for m in ms:
        if not 1 <= m <= len(order):
            raise ValueError(f"M = {m} for the selection control; expected 1 <= M <= the corpus size {len(order):,}")
        params = {**p, "m": m, "n_groups": min(p["n_groups"], m), "pos_fraction": None}
        chosen = {"NegMining (farthest)": order[:m],
                  "random": np.sort(np.random.default_rng(seed).choice(len(order), m, replace=False)),
                  "reverse (nearest)": order[::-1][:m]}
        arms = {rule: with_corpus(emb, np.asarray(emb.corpus_emb)[idx], emb.corpus.subset(idx, rule))
                for rule, idx in chosen.items()}
        if oracle is not None and m <= len(oracle[0]):
            arms[SELECTION_RULES[3]] = with_corpus(emb, oracle[1], oracle[0])
        scored = {rule: pipeline.score(view, params, methods=("neglabel",)) for rule, view in arms.items()}
        base = scored["NegMining (farthest)"]
        for rule, s in scored.items():
            row = {"M": m, "negatives": rule, **average_frame(s).iloc[0][["AUROC", "FPR95"]].to_dict()}
            if rule != "NegMining (farthest)":
                gap = paired_gaps(emb, (s, "neglabel"), (base, "neglabel"), n_bootstrap=n_bootstrap)
                gap = gap.set_index("ood_set").loc["average"]
                for metric in ("AUROC", "FPR95"):
                    row.update({f"{metric} gap": gap[f"{metric} diff"], f"{metric} gap lo": gap[f"{metric} lo"],
                                f"{metric} gap hi": gap[f"{metric} hi"]})
            rows.append(row)
    return pd.DataFrame(rows)


# Chapter 03's tables and readings (does the corpus matter?).

def extra_corpora(emb: pipeline.Embedded, web_words: int, dictionary_words: int) -> dict[str, list[str]]:
    """The corpora chapter 03 sets beside the profile's: web text, a dictionary, and the OOD
    concept names as an oracle (where the OOD sets have names)."""
    extra = {"web text (wordfreq)": word_list("wordfreq", size=web_words),
             "dictionary (english-words)": word_list("english-words", size=dictionary_words)}
    oracle = word_list("oracle", emb=emb)  # empty where the OOD sets are flat image folders without class names
    if oracle:
        extra["ORACLE: OOD concept names"] = oracle
    return extra


def ablation_intro(emb: pipeline.Embedded) -> str:
    return (f"NegLabel with each corpus (AUROC and FPR95, mean over the OOD sets) and its gap to the profile's corpus "
            f"(`{emb.corpus.name}`) mined at the same M, with paired 95% bootstrap intervals over concepts:")


def ablation_table(ablation: pd.DataFrame) -> pd.DataFrame:
    """:func:`corpus_ablation`'s NegLabel rows as the page shows them: size, M, the metrics and
    each gap to the profile's corpus with its interval."""
    neg = ablation[ablation["method"] == "neglabel"]
    shown = neg.assign(**{"corpus size": neg["corpus_size"].map("{:,}".format), "M": neg["m"].map("{:,}".format),
                          **{f"{m} gap [95%]": ["(the profile's corpus)" if v[1] == v[2] == 0 else interval(*v, signed=True)
                                                for v in neg[[f"{m} gap", f"{m} gap lo", f"{m} gap hi"]].to_numpy()]
                             for m in ("AUROC", "FPR95")}})
    return (shown.set_index("corpus")[["corpus size", "M", "AUROC", "FPR95", "AUROC gap [95%]", "FPR95 gap [95%]"]].round(2)
            .rename_axis(None))


def ablation_readings(ablation: pd.DataFrame, profile_corpus: str) -> dict[str, Any]:
    """Chapter 03's numbers, by glue name: among the corpora large enough for the profile's M (the
    oracle left out), the one with the highest NegLabel AUROC (a point value) and the spread, how
    many beat max cosine, and where an FPR95 gap lies outside its own interval, why."""
    negs = ablation[ablation["method"] == "neglabel"].set_index("corpus")
    same_m = negs[(negs["m"] == negs["m"].max()) & ~negs.index.str.startswith("ORACLE")]
    best = same_m["AUROC"].idxmax()
    baseline = ablation[ablation["method"] == "max_cos"]["AUROC"].iloc[0]
    beat = int((same_m["AUROC"] > baseline).sum())
    gaps = negs.drop(index=profile_corpus, errors="ignore").dropna(subset=["AUROC gap"])
    outside = gaps[(gaps["FPR95 gap"] < gaps["FPR95 gap lo"]) | (gaps["FPR95 gap"] > gaps["FPR95 gap hi"])]
    return {"best_corpus": best, "best_corpus_auroc": same_m.loc[best, "AUROC"],
            "corpus_spread": same_m["AUROC"].max() - same_m["AUROC"].min(), "n_corpora": len(same_m),
            "m_profile": int(negs["m"].max()), "maxcos_auroc": baseline,
            "n_beat": {0: "none", len(same_m): "all"}.get(beat, str(beat)),
            "outside_sentence": "" if outside.empty else (
                f"In {len(outside)} row(s) ({', '.join(outside.index)}) the FPR95 gap lies outside its own percentile interval. "
                "That is not an error in the gap: FPR95 is read at one threshold (one ID image's score), and between two "
                "nearly identical banks its difference jumps in sign from one threshold to the next; the bootstrap moves the "
                "threshold to nearby ID images, where the gap is mostly of the other sign. Such a gap is noise at the "
                "threshold, and the interval says how large that noise is.")}


def control_table(control: pd.DataFrame) -> pd.DataFrame:
    """:func:`selection_control` as the page shows it: per (M, rule) the metrics and each gap to NegMining's."""
    cells = {f"{m} gap [95%]": [interval(*v, signed=True) if v[0] == v[0] else "(reference)"
                                for v in control[[f"{m} gap", f"{m} gap lo", f"{m} gap hi"]].to_numpy()]
             for m in ("AUROC", "FPR95")}
    columns = ["AUROC", "FPR95", "AUROC gap [95%]", "FPR95 gap [95%]"]
    return control.assign(**cells).set_index(["M", "negatives"])[columns].round(2)


def control_readings(control: pd.DataFrame, profile_m: int, ms: Sequence[int]) -> dict[str, Any]:
    """What the selection control says at the profile's M (else the largest M run), by glue name:
    random and reverse mining's gaps to NegMining, the verdict, and the oracle at its largest M."""
    at = (control[control["M"] == profile_m] if profile_m in ms else control[control["M"] == max(ms)]).set_index("negatives")

    def cell(rule: str, metric: str) -> str:
        return interval(*at.loc[rule, [f"{metric} gap", f"{metric} gap lo", f"{metric} gap hi"]], signed=True)

    def side(metric: str, rule: str, better: bool) -> str:
        gap, lo, hi = at.loc[rule, [f"{metric} gap", f"{metric} gap lo", f"{metric} gap hi"]]
        if clear_of_zero(lo, hi):
            return ("better" if (gap > 0) == better else "worse") + " (clear of zero)"
        return "no different (the interval includes zero)"

    out: dict[str, Any] = {"c_m": int(at["M"].iloc[0])}
    for key, rule in (("random", "random"), ("reverse", "reverse (nearest)")):
        for metric in ("AUROC", "FPR95"):
            out[f"c_{key}_{metric}"] = cell(rule, metric)
    out["c_verdict"] = (f"Against NegMining, reverse mining is {side('AUROC', 'reverse (nearest)', True)} in AUROC, and random "
                        f"negatives are {side('AUROC', 'random', True)} in AUROC and {side('FPR95', 'random', False)} in FPR95: "
                        "what the paper's mining rule buys on this benchmark is avoiding the words nearest the ID labels.")
    orc = control[control["negatives"].str.startswith("ORACLE")]
    out["c_oracle"] = ("This profile's OOD sets carry no names: no oracle." if orc.empty else
                       f"The oracle at its largest M here ({int(orc['M'].max()):,}) is "
                       f"{interval(*orc.iloc[-1][['AUROC gap', 'AUROC gap lo', 'AUROC gap hi']], signed=True)} AUROC points "
                       "against NegMining at the same M.")
    return out


RANK_COLUMNS = ["rank", "word", "pos", "group", "score", "nearest_id_class"]
RANK_NAMES = {"pos": "part of speech", "group": "WordNet group", "score": "s(w)", "nearest_id_class": "nearest ID class"}


def rank_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of :func:`mining_table` as chapter 01 shows them: by rank, named for the reader, s(w) to three decimals."""
    return rows[RANK_COLUMNS].set_index("rank").rename(columns=RANK_NAMES).round(3).rename_axis(index=None, columns="rank")


def mined_summary(mined: pd.DataFrame, path: str) -> str:
    """How many negative labels were written to ``path``, nouns and adjectives."""
    return (f"{len(mined):,} negative labels written to `{path}`: "
            f"{(mined['pos'] == 'noun').sum():,} nouns, {(mined['pos'] == 'adj').sum():,} adjectives.")
