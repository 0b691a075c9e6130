"""Analyses the book's notebooks run: tables and sweeps over cached embeddings.

Top layer (with ``experiments``): notebooks call these and plot; they hold no algorithm of their own.
Every function takes an :class:`~neglabel_core.experiments.Embedded` (all embeddings of a
profile, from the cache) and returns a pandas DataFrame whose columns name the parameters that
produced each number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import corpus as corpus_mod
from . import experiments as ex
from . import methods as registry
from . import metrics, negmining
from .profiles import Profile, load_profile

log = logging.getLogger(__name__)
method_label = registry.label  # a method's display name, from the registry (tables, figures)


def load(profile: str | Profile = "emoji-tiny", overrides: Mapping[str, Any] | None = None, *,
         progress: bool = False) -> ex.Embedded:
    """Every embedding of a profile (preparing data, model and caches on first use)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if overrides:
        prof = prof.with_overrides(overrides)
    return ex.embed_profile(prof, progress=progress)


def setup(profile: str | Profile = "emoji-tiny", overrides: Mapping[str, Any] | None = None) -> ex.Embedded:
    """A chapter's one setup call: the plotting theme, every embedding of the profile (cached),
    and one line saying what the chapter runs on."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    pd.set_option("display.max_colwidth", None)  # tables show whole names and sources, never "..."
    emb = load(profile, overrides)
    try:
        from IPython.display import Markdown, display

        display(Markdown(describe(emb)))  # wraps on the page (a print runs off the right edge)
    except ImportError:
        print(describe(emb))
    return emb


def describe(emb: ex.Embedded) -> str:
    """One line: the profile, its ID classes and images, OOD sets and corpus."""
    return (f"profile {emb.profile.name}: {len(emb.data.class_names)} ID classes, {len(emb.id_emb)} ID images, "
            f"{sum(len(v) for v in emb.ood_emb.values())} OOD images in {len(emb.ood_emb)} sets, "
            f"corpus {emb.corpus.name} ({len(emb.corpus):,})")


def explore(emb: ex.Embedded, *, corpus: str | None = None, method: str = "neglabel", ood_set: str | None = None,
            **params: Any) -> dict[str, Any]:
    """One setting of the explorer: the profile's parameters with ``params`` (eta, m, n_groups,
    tau, ...) changed, the negatives mined from a WordNet variant (``corpus``, a key of
    :func:`wordnet_variants`; default the profile's corpus), one method's scores on ID and on one
    OOD set (default all OOD images pooled), AUROC and FPR95 (percent, the profile's rule) and
    the first mined words. Without ``m`` the profile's mining rule (e.g. ``pos_fraction``) holds;
    with ``m`` the lowest M are mined; M is capped at the corpus size and n_g at M.

    Built for a slider: the corpus views (with their mining scores per eta), the mined negatives
    and the image-to-label similarities are cached on ``emb`` per (corpus, eta, M), so moving
    n_g or tau only rescores, and returning to a setting reuses its mining."""
    cache = emb.bank_cache
    view = emb if corpus is None else corpus_view(emb, corpus)
    setting = {**emb.profile.params, **params}
    if "m" in params:
        setting["m"] = min(int(params["m"]), len(view.corpus))
        setting["pos_fraction"] = None
    if setting.get("pos_fraction") is None:
        setting["n_groups"] = min(setting["n_groups"], setting["m"])
    entry = registry.REGISTRY[method]
    if entry.kind == "stream" or entry.bank != "neglabel":
        scored = ex.score(view, setting, methods=(method,))
        id_scores, negatives = scored.id_scores(method, ood_set or "pooled"), scored.negatives
        ood = scored.ood_scores(method, ood_set or "pooled")
        used = scored.params
    else:
        key = ("explore-sims", corpus, setting["eta"], setting["m"], setting.get("pos_fraction"))
        if key not in cache:
            negatives = ex.mine(view, eta=setting["eta"], m=setting["m"], pos_fraction=setting.get("pos_fraction"))
            neg_text = torch.from_numpy(np.asarray(view.corpus_emb)[negatives])
            sims = {}
            for name, x in [("ID", view.id_emb), *view.ood_emb.items()]:
                x = torch.from_numpy(np.array(x, dtype=np.float32))
                sims[name] = (x @ torch.from_numpy(np.asarray(view.id_text)).T, x @ neg_text.T)
            cache[key] = (negatives, sims)
        negatives, sims = cache[key]
        used = {**setting, "m": len(negatives), "perm_device_used": ex.perm_device(setting), "fpr_rule": ex.fpr_rule(setting)}
        out = {name: entry.score(a, b, used).cpu().numpy() for name, (a, b) in sims.items()}
        id_scores = out.pop("ID")
        ood = out[ood_set] if ood_set else np.concatenate(list(out.values()))
    rule = ex.fpr_rule(used)
    return {"params": used, "id": id_scores, "ood": ood,
            "AUROC": 100 * metrics.auroc(id_scores, ood), "FPR95": 100 * metrics.fpr_at_tpr(id_scores, ood, rule=rule),
            "mined": [view.corpus.words[i] for i in negatives[:12]]}


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
    score = ex.candidate_scores(emb, eta).numpy()
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


def ood_name_ranks(emb: ex.Embedded, *, eta: float | None = None) -> pd.DataFrame:
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
    name_emb = ex.embed_words(emb.profile, words)
    score = negmining.percentile_similarity(name_emb, emb.id_text, eta=eta).numpy()
    corpus_scores = np.sort(ex.candidate_scores(emb, eta).numpy())
    rank = np.searchsorted(corpus_scores, score, side="left") + 1
    m = len(ex.mine(emb, eta=eta, **mining_rule(emb)))
    sims = np.asarray(name_emb) @ np.asarray(emb.id_text).T
    set_of = {emb.data.concepts[u]["name"].strip().lower(): n for n, f in emb.data.ood.items() for u in f.units
              if u in emb.data.concepts}
    out = pd.DataFrame({"name": words.words, "OOD set": [set_of.get(w, "") for w in words.words], "score": score,
                        "rank": rank, "would be mined": rank <= m,
                        "nearest ID class": np.asarray(emb.data.class_names, dtype=object)[sims.argmax(axis=1)],
                        "cosine to it": sims.max(axis=1)})
    return out.sort_values("rank").reset_index(drop=True)[columns]


# ---------------------------------------------------------------- scores and results


def log_odds(scores: np.ndarray) -> np.ndarray:
    """``log(S / (1 - S))`` for scores in [0, 1] (clipped 1e-12 from the ends): NegLabel's score
    piles up near 1 for most images, its log-odds spread what separates them. Monotone, so ranks,
    AUROC and FPR95 are those of the score itself."""
    s = np.asarray(scores, dtype=np.float64)
    return np.log(np.clip(s, 1e-12, None)) - np.log(np.clip(1 - s, 1e-12, None))


def score_frame(scored: ex.Scored, *, as_log_odds: Sequence[str] = ()) -> pd.DataFrame:
    """Long table: one row per (image, method): set ("ID" or an OOD set), score; the methods in
    ``as_log_odds`` (e.g. ``("neglabel",)``) as :func:`log_odds` of their score."""
    rows = []
    for name, by_method in [("ID", scored.id), *scored.ood.items()]:
        for method, values in by_method.items():
            rows.append(pd.DataFrame({"set": name, "method": method,
                                      "score": log_odds(values) if method in as_log_odds else values}))
    return pd.concat(rows, ignore_index=True)


def results_table(emb: ex.Embedded, scored: ex.Scored, *, n_bootstrap: int = 200, seed: int = 0,
                  fpr_rule: str | None = None) -> pd.DataFrame:
    """Per method: each OOD set, ``average`` (the mean over sets, as the paper reports) and
    ``pooled`` (all OOD images as one set, i.e. weighted by set size): AUROC, FPR95 (the
    profile's rule, or ``fpr_rule``), AUPR-In, AUPR-Out in percent with 95% bootstrap intervals
    that resample concepts, not images."""
    ex.check_set_names(list(scored.ood))
    rule = fpr_rule or ex.fpr_rule(scored.params)
    id_units = emb.data.id_images.units
    ood_units = {name: files.units for name, files in emb.data.ood.items()}
    pooled_units = {"pooled": [u for name in emb.data.ood for u in ood_units[name]]}
    tables = []
    for method in scored.id:
        ood = {name: s[method] for name, s in scored.ood.items()}
        common = {"n_bootstrap": n_bootstrap, "seed": seed, "fpr_rule": rule, "id_units": id_units}
        per_set = metrics.summarize(scored.id[method], ood, ood_units=ood_units, **common)
        pooled = metrics.summarize(scored.id[method], {"pooled": np.concatenate(list(ood.values()))},
                                   ood_units=pooled_units, **common).drop(index="average")
        table = pd.concat([per_set, pooled])
        table.insert(0, "method", method)
        tables.append(table.reset_index())
    out = pd.concat(tables, ignore_index=True)
    for key in ("m", "eta", "tau", "n_groups", "seed"):
        out[key] = scored.params[key]
    out["fpr_rule"] = rule
    return out


def paper_comparison(emb: ex.Embedded, scored: ex.Scored, paper_results: str | Path) -> pd.DataFrame:
    """Our rows beside the paper's: each method's ``average`` over the OOD sets (the mean of the
    per-set numbers, as the paper reports), FPR95 by the profile's rule, next to the rows of
    ``paper_results`` (``data/paper_results.csv``) whose ``ood_set`` is ``average``."""
    ours = results_table(emb, scored, n_bootstrap=0)
    ours = ours[ours["ood_set"] == "average"][["method", "AUROC", "FPR95"]].copy()
    ours["method"] = ours["method"].map(method_label)
    ours.insert(0, "setting", emb.profile.name)
    ours.insert(1, "OOD sets averaged", len(scored.ood))
    ours.insert(2, "FPR95 rule", scored.params["fpr_rule"])
    ours["source"] = "this build"
    paper = pd.read_csv(paper_results)
    paper = paper[paper["ood_set"] == "average"][["method", "AUROC", "FPR95", "source"]].copy()
    paper.insert(0, "setting", "ImageNet-1k, CLIP ViT-B/16")
    paper.insert(1, "OOD sets averaged", 4)
    paper.insert(2, "FPR95 rule", "closest")
    return pd.concat([ours, paper], ignore_index=True)


def fpr_rules_table(emb: ex.Embedded, scored: ex.Scored) -> pd.DataFrame:
    """FPR95 (percent) of every method on every OOD set and their average under both rules of
    :func:`metrics.fpr_at_tpr`: "closest" (the official code's) and "at_least" (the stricter
    reading), and their difference."""
    rows = []
    for method in scored.id:
        values = {rule: metrics.summarize(scored.id[method], {n: s[method] for n, s in scored.ood.items()},
                                          n_bootstrap=0, fpr_rule=rule)["FPR95"] for rule in metrics.FPR_RULES}
        for name in values["closest"].index:
            rows.append({"method": method, "ood_set": name, "closest": values["closest"][name],
                         "at_least": values["at_least"][name]})
    out = pd.DataFrame(rows)
    out["closest - at_least"] = out["closest"] - out["at_least"]
    return out


def paired_gaps(emb: ex.Embedded, arm_a: tuple[ex.Scored, str], arm_b: tuple[ex.Scored, str], *,
                n_bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The gap A - B in AUROC and FPR95 (percent points) between two arms, each a (scores,
    method) pair scored on the same images: two methods, or one method under two corpora, values
    of M or eta. Per OOD set and the average, with paired bootstrap intervals over concepts
    (:func:`metrics.paired_difference`)."""
    (scored_a, method_a), (scored_b, method_b) = arm_a, arm_b
    rule = ex.fpr_rule(scored_a.params)
    units = {"id_units": emb.data.id_images.units, "ood_units": {n: f.units for n, f in emb.data.ood.items()}}
    frames = []
    for metric in ("AUROC", "FPR95"):
        table = metrics.paired_difference(
            scored_a.id[method_a], {n: s[method_a] for n, s in scored_a.ood.items()},
            scored_b.id[method_b], {n: s[method_b] for n, s in scored_b.ood.items()},
            metric=metric, n_bootstrap=n_bootstrap, seed=seed, fpr_rule=rule, **units)
        frames.append(table.add_prefix(f"{metric} ").reset_index())
    out = frames[0].merge(frames[1], on="ood_set")
    out.insert(1, "a", method_label(method_a))
    out.insert(2, "b", method_label(method_b))
    return out


def seed_spread(emb: ex.Embedded, seeds: Iterable[int] = range(20), *, compare_with: str = "max_cos",
                n_bootstrap: int = 1000) -> dict[str, pd.DataFrame]:
    """How much of a NegLabel number is the grouping draw: NegLabel on every OOD set (and their
    average) for each grouping seed, summarised as mean, std, min and max of AUROC and FPR95,
    next to the width of the bootstrap interval of the profile's seed and the paired gap to
    ``compare_with`` (with its interval). Returns ``{"per_seed", "summary"}``."""
    seeds = list(seeds)
    rows = []
    for seed in seeds:
        scored = ex.score(emb, {"seed": seed}, methods=("neglabel",))
        for name, cells in ex.results(scored, ("neglabel",)).items():
            if name != "pooled":
                rows.append({"seed": seed, "ood_set": name, "AUROC": cells["neglabel"]["auroc"],
                             "FPR95": cells["neglabel"]["fpr95"]})
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby("ood_set", sort=False)[["AUROC", "FPR95"]].agg(["mean", "std", "min", "max"])
    summary.columns = [f"{metric} {stat}" for metric, stat in summary.columns]
    base = ex.score(emb, methods=("neglabel", compare_with))
    boot = results_table(emb, base, n_bootstrap=n_bootstrap).query("method == 'neglabel'").set_index("ood_set")
    gaps = paired_gaps(emb, (base, "neglabel"), (base, compare_with), n_bootstrap=n_bootstrap).set_index("ood_set")
    for metric in ("AUROC", "FPR95"):
        summary[f"{metric} bootstrap width"] = boot[f"{metric}_hi"] - boot[f"{metric}_lo"]
        summary[f"{metric} seed range"] = summary[f"{metric} max"] - summary[f"{metric} min"]
        summary[f"{metric} gap to {method_label(compare_with)}"] = gaps[f"{metric} diff"]
        summary[f"{metric} gap lo"] = gaps[f"{metric} lo"]
        summary[f"{metric} gap hi"] = gaps[f"{metric} hi"]
    summary["n_seeds"] = len(seeds)
    return {"per_seed": per_seed, "summary": summary.reset_index()}


def parameter_gaps(emb: ex.Embedded, values: Mapping[str, Iterable[Any]], *, n_bootstrap: int = 1000) -> pd.DataFrame:
    """NegLabel at each value of each parameter (e.g. ``{"eta": [...], "m": [...]}``) against the
    profile's own setting: the gap in AUROC and FPR95 (mean over OOD sets) with paired bootstrap
    intervals over concepts. The profile's own value, and M outside [n_groups, corpus size], are
    skipped; a value of M mines the lowest M (whatever the profile's rule)."""
    base = ex.score(emb, methods=("neglabel",))
    rows = []
    for param, options in values.items():
        for value in options:
            params = {param: value, **({"pos_fraction": None} if param == "m" else {})}
            if value == emb.profile.params[param] or (
                    param == "m" and not emb.profile.params["n_groups"] <= value <= len(emb.corpus)):
                continue
            gap = paired_gaps(emb, (ex.score(emb, params, methods=("neglabel",)), "neglabel"), (base, "neglabel"),
                              n_bootstrap=n_bootstrap).set_index("ood_set").loc["average"]
            rows.append({"change": f"{param} = {value} (profile: {emb.profile.params[param]})",
                         **gap.drop(["a", "b"]).to_dict()})
    return pd.DataFrame(rows)


def seed_spread_sentences(summary: pd.DataFrame, metric: str = "AUROC", against: str = "max cosine") -> list[str]:
    """One sentence per OOD set: is the NegLabel vs ``against`` gap larger than the spread over
    grouping seeds (the full min-max range), and is its paired interval clear of zero?"""
    out = []
    for values in summary.to_dict("records"):
        gap, lo, hi = values[f"{metric} gap to {against}"], values[f"{metric} gap lo"], values[f"{metric} gap hi"]
        spread = values[f"{metric} seed range"]
        sign = "clear of zero" if lo > 0 or hi < 0 else "includes zero"
        out.append(f"{values['ood_set']}: NegLabel {gap:+.2f} {metric} points vs {against} "
                   f"(paired 95% interval {lo:+.2f} to {hi:+.2f}, {sign}); the {int(values['n_seeds'])} grouping seeds span "
                   f"{spread:.2f} points, so the gap is {'larger' if abs(gap) > spread else 'not larger'} than the seed spread.")
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
    """The ROC curve (FPR, TPR) with ID as positive (:func:`metrics.roc_curve`)."""
    fpr, tpr = metrics.roc_curve(id_scores, ood_scores)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


# ---------------------------------------------------------------- sweeps


def evaluate_params(emb: ex.Embedded, params: Mapping[str, Any], *, id_emb: np.ndarray | None = None,
                    corpus_emb: np.ndarray | None = None, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """AUROC and FPR95 (percent, the profile's FPR rule) per method for one parameter setting:
    the mean over the OOD sets, as the paper reports."""
    view = emb if corpus_emb is None else with_corpus(emb, corpus_emb)
    return average_frame(ex.score(view, params, id_emb=id_emb, methods=methods))


def average_frame(scored: ex.Scored) -> pd.DataFrame:
    """One row per scored method: the parameters behind it and its AUROC and FPR95 (percent, the
    profile's FPR rule), the mean over the OOD sets."""
    average = ex.results(scored)["average"]
    return pd.DataFrame([{"method": method, **{k: scored.params[k] for k in ("m", "eta", "tau", "n_groups")},
                          "AUROC": average[method]["auroc"], "FPR95": average[method]["fpr95"]} for method in scored.id])


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
    reason = ex.weights_problem(profile) if with_mining else "mining not asked for"
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


def corpus_view(emb: ex.Embedded, corpus: str) -> ex.Embedded:
    """``emb`` with its corpus narrowed to the WordNet variant ``corpus`` (a key of
    :func:`wordnet_variants`), built once per ``emb`` and kept with its mining scores per eta."""
    key = ("corpus-view", corpus)
    if key not in emb.bank_cache:
        idx = wordnet_variants(emb)[corpus]
        emb.bank_cache[key] = with_corpus(emb, np.asarray(emb.corpus_emb)[idx], emb.corpus.subset(idx, corpus))
    return emb.bank_cache[key]


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
                    m: int | None = None, progress: bool = False, n_bootstrap: int = 0) -> pd.DataFrame:
    """NegLabel (and, for reference, max cosine) with the negatives mined from each corpus:
    the WordNet variants (from the profile's cached corpus embedding) and word lists in
    ``extra`` (embedded with the profile's noun prompt, cached). M is capped at a tenth of small
    corpora (mining all of a corpus selects nothing). AUROC and FPR95 are the mean over the OOD
    sets. With ``n_bootstrap``, NegLabel's rows also get the gap to the profile's own corpus mined
    at the same M (``AUROC gap``, ``FPR95 gap``) with paired bootstrap intervals over concepts."""
    frames = []
    m = emb.profile.params["m"] if m is None else m
    variants: dict[str, tuple[corpus_mod.Corpus, np.ndarray]] = {
        name: (emb.corpus.subset(idx, name), np.asarray(emb.corpus_emb)[idx]) for name, idx in wordnet_variants(emb).items()
    }
    if extra:
        loaded = ex.text_tower(emb.profile)
        for name, words in extra.items():
            words_corpus = corpus_mod.word_list_corpus(words, name=name).without(emb.data.class_names)
            variants[name] = (words_corpus, ex.embed_words(emb.profile, words_corpus, loaded=loaded, progress=progress))
    reference: dict[int, ex.Scored] = {}  # the profile's corpus, mined at each M used
    for name, (words_corpus, vectors) in variants.items():
        m_used = min(m, max(1, len(words_corpus) // 10)) if len(words_corpus) < 10 * m else m
        params = {**emb.profile.params, "m": m_used, "n_groups": min(emb.profile.params["n_groups"], m_used),
                  "pos_fraction": None}  # every corpus mines the same M
        scored = ex.score(with_corpus(emb, vectors, words_corpus), params, methods=("neglabel", "max_cos"))
        frame = average_frame(scored)
        if n_bootstrap:
            if m_used not in reference:
                reference[m_used] = ex.score(emb, params, methods=("neglabel",))
            gap = paired_gaps(emb, (scored, "neglabel"), (reference[m_used], "neglabel"),
                              n_bootstrap=n_bootstrap).set_index("ood_set").loc["average"]
            for metric in ("AUROC", "FPR95"):
                frame.loc[frame["method"] == "neglabel", [f"{metric} gap", f"{metric} gap lo", f"{metric} gap hi"]] = (
                    gap[f"{metric} diff"], gap[f"{metric} lo"], gap[f"{metric} hi"])
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


# ---------------------------------------------------------------- successors, VLM strength, near OOD

SUCCESSOR_METHODS = ("neglabel", "csp", "adaneg", "adaneg_sa", "mcm", "max_cos", "energy")


def method_table(emb: ex.Embedded, scored: ex.Scored, *, methods: Sequence[str] | None = None,
                 n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Every scored method (one-score and stream methods alike) on every OOD set, their
    ``average`` (the paper's way), and where the benchmark marks near-OOD sets, ``near average``
    and ``far average``: AUROC and FPR95 in percent with 95% bootstrap intervals over concepts.
    A stream method's ID scores are those of each set's own stream."""
    rule = ex.fpr_rule(scored.params)
    sets = list(scored.ood)
    near = [n for n in emb.data.near if n in sets]
    groups = {"average": sets, **({"near average": near, "far average": [n for n in sets if n not in near]} if near else {})}
    units = {"id_units": emb.data.id_images.units, "ood_units": {n: f.units for n, f in emb.data.ood.items()}}
    tables = []
    for method in methods or scored.methods:
        for label, members in groups.items():
            table = metrics.summarize({n: scored.id_scores(method, n) for n in members},
                                      {n: scored.ood_scores(method, n) for n in members},
                                      n_bootstrap=n_bootstrap, seed=seed, fpr_rule=rule, **units)
            table = table if label == "average" else table.loc[["average"]].rename(index={"average": label})
            table = table[[c for c in table.columns if c.split("_")[0] in ("AUROC", "FPR95")]]
            tables.append(table.reset_index().assign(method=method))
    out = pd.concat(tables, ignore_index=True)
    out.insert(1, "label", out["method"].map(method_label))
    out["kind"] = ["near" if n in near else ("summary" if n.endswith("average") else "far") for n in out["ood_set"]]
    return out[["method", "label", "ood_set", "kind", *[c for c in out.columns if c.startswith(("AUROC", "FPR95"))]]]


def stream_spread(emb: ex.Embedded, methods: Sequence[str] = ("adaneg", "adaneg_sa"),
                  stream_seeds: Iterable[int] = range(5)) -> dict[str, pd.DataFrame]:
    """How much a stream method's numbers depend on the order of the stream: each method under
    each ``stream_seed`` (the ID+OOD shuffle), per OOD set and the average; ``per_seed`` and
    ``summary`` (mean, min, max, std over orders)."""
    rows = []
    for s in stream_seeds:
        out = ex.results(ex.score(emb, {"stream_seed": s}, methods=methods), methods)
        rows += [{"stream_seed": s, "method": m, "ood_set": n, "AUROC": out[n][m]["auroc"], "FPR95": out[n][m]["fpr95"]}
                 for n in out if n != "pooled" for m in methods]
    per_seed = pd.DataFrame(rows)
    summary = per_seed.groupby(["method", "ood_set"], sort=False)[["AUROC", "FPR95"]].agg(["mean", "min", "max", "std"])
    summary.columns = [f"{a} {b}" for a, b in summary.columns]
    summary = summary.reset_index()
    summary.insert(1, "label", summary["method"].map(method_label))
    return {"per_seed": per_seed, "summary": summary}


def successors(emb: ex.Embedded, *, methods: Sequence[str] = SUCCESSOR_METHODS, n_bootstrap: int = 200) -> dict[str, Any]:
    """The successors chapter's table (:func:`method_table` for ``methods``) and what it was run
    with (the parameters, each bank's size)."""
    scored = ex.score(emb, methods=methods)
    return {"table": method_table(emb, scored, n_bootstrap=n_bootstrap), "params": scored.params, "scored": scored,
            "banks": {name: len(bank.words) for name, bank in scored.banks.items()}}


def vlm_strength(emb: ex.Embedded, *, methods: Sequence[str] = ("neglabel", "mcm", "max_cos", "energy"),
                 epochs: Sequence[int] | None = None, n_bootstrap: int = 200) -> dict[str, pd.DataFrame]:
    """Every method at every saved point of the one training run (:func:`ex.snapshot_epochs`):
    ``table`` (epoch, ID top-1 on the evaluation styles, method, set or average, AUROC/FPR95 with
    intervals) and ``gap``: NegLabel minus max cosine per OOD set and average, with paired
    bootstrap intervals, at each epoch. The text side (and so the mined negatives) is the same
    at every epoch: only the image tower grows stronger."""
    tables, gaps = [], []
    for epoch in epochs or ex.snapshot_epochs(emb.profile):
        e = ex.embed_snapshot(emb, epoch)
        top1 = 100 * metrics.zero_shot_top1(e.id_emb, e.id_text, emb.data.id_images.labels)
        scored = ex.score(e, methods=methods)
        tables.append(method_table(e, scored, n_bootstrap=n_bootstrap).assign(epoch=epoch, id_top1=top1))
        if "neglabel" in methods and "max_cos" in methods:
            gap = paired_gaps(e, (scored, "neglabel"), (scored, "max_cos"), n_bootstrap=n_bootstrap)
            gaps.append(gap.assign(epoch=epoch, id_top1=top1))
    return {"table": pd.concat(tables, ignore_index=True), "gap": pd.concat(gaps, ignore_index=True) if gaps else pd.DataFrame()}


def removed_concepts(emb: ex.Embedded) -> pd.DataFrame:
    """The OOD concepts the profile's OOD filter moved out of the OOD sets, with the reason."""
    rows = [{"OOD set": name, "emoji": r.get("char", ""), "concept": r["name"], "reason": r["reason"]}
            for name, removed in emb.data.removed.items() for r in removed]
    return pd.DataFrame(rows, columns=["OOD set", "emoji", "concept", "reason"])


def benchmark_sets(emb: ex.Embedded) -> pd.DataFrame:
    """The profile's image sets: role (ID, near OOD, far OOD, domain shift), concepts, images and
    concepts removed by the OOD filter."""
    def row(name: str, role: str, files: Any) -> dict[str, Any]:
        return {"set": name, "role": role, "concepts": len(set(files.units)), "images": len(files.paths),
                "removed by the OOD filter": len(emb.data.removed.get(name, []))}

    rows = [row("ID", "ID", emb.data.id_images)]
    rows += [row(n, "near OOD" if n in emb.data.near else "far OOD", f) for n, f in emb.data.ood.items()]
    rows += [row(n, "domain shift (ID)", f) for n, f in emb.data.shift.items()]
    return pd.DataFrame(rows)


def group_examples(emb: ex.Embedded, per_group: int = 8) -> dict[str, list[tuple[str, str]]]:
    """Up to ``per_group`` example images (path, concept name) of every Unicode group in the ID
    and OOD sets, evenly spaced through each group, on the first evaluation style."""
    by_group: dict[str, list[tuple[str, str]]] = {}
    for files in [emb.data.id_images, *emb.data.ood.values()]:
        for path, unit in zip(files.paths, files.units):
            info = emb.data.concepts.get(unit, {})
            by_group.setdefault(info.get("group", files.name), []).append((path, info.get("name", unit)))
    out = {}
    for group, items in by_group.items():
        seen, unique = set(), []
        for path, name in items:  # one image per concept (the first style)
            if name not in seen:
                seen.add(name)
                unique.append((path, name))
        idx = np.linspace(0, len(unique) - 1, min(per_group, len(unique))).round().astype(int)
        out[group] = [unique[i] for i in idx]
    return out


def with_intervals(table: pd.DataFrame, metric: str = "AUROC", *, rows: str = "label", columns: str = "ood_set",
                   digits: int = 1) -> pd.DataFrame:
    """A pivot of ``metric`` as "value [lo, hi]" text (one cell per row label and column), in the
    order the rows and columns first appear: tables a reader can scan."""
    cells = table.assign(cell=[f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if pd.notna(lo) else f"{v:.{digits}f}"
                               for v, lo, hi in zip(table[metric], table.get(f"{metric}_lo", np.nan),
                                                    table.get(f"{metric}_hi", np.nan))])
    out = cells.pivot(index=rows, columns=columns, values="cell")
    return out.loc[list(dict.fromkeys(table[rows])), list(dict.fromkeys(table[columns]))].rename_axis(
        index=None, columns=f"{metric} (%) [95% interval]")


def published(paper_results: str | Path, methods: Sequence[str]) -> pd.DataFrame:
    """The published ImageNet-1k rows (CLIP ViT-B/16) of ``methods``: FPR95 and AUROC per OOD set
    and average, with their source."""
    paper = pd.read_csv(paper_results)
    paper = paper[paper["method"].isin(methods)]
    table = paper.pivot_table(index="method", columns="ood_set", values=["AUROC", "FPR95"], sort=False)
    order = [s for s in ("iNaturalist", "SUN", "Places", "Textures", "average") if s in table.columns.get_level_values(1)]
    table = table.reindex(columns=pd.MultiIndex.from_product([["AUROC", "FPR95"], order])).loc[
        [m for m in methods if m in set(paper["method"])]]
    table["source"] = paper.groupby("method")["source"].first()
    return table


def near_variant(profile: str | Profile) -> str | None:
    """The built-in near-OOD variant of a built-in profile (``<name>-near``), or ``None``."""
    from .profiles import available_profiles

    name = profile.name if isinstance(profile, Profile) else str(profile)
    return f"{name}-near" if f"{name}-near" in available_profiles() else None


def glue(name: str, value: Any) -> None:
    """Glue ``value`` for the chapter's prose (myst-nb ``glue``, not displayed): a number as a
    plain Python number (so ``{glue:text}`name:.2f``` can format it), text as Markdown (for
    ``{glue:md}`name```). Outside a notebook build it does nothing."""
    try:
        from myst_nb import glue as nb_glue
    except ImportError:
        return
    if isinstance(value, str):
        from IPython.display import Markdown

        nb_glue(name, Markdown(value), display=False)
    elif isinstance(value, (bool, np.bool_)):
        nb_glue(name, bool(value), display=False)
    elif isinstance(value, (int, np.integer)):
        nb_glue(name, int(value), display=False)
    else:
        nb_glue(name, float(value), display=False)
