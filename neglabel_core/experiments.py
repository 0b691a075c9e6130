"""The pipeline: a profile in, embeddings, mined negatives, scores and results out.

One code path for every profile: :mod:`benchmarks` provides class names and image sets, the model
comes from ``models`` (trained first by :mod:`emoji_training` for the embedded default),
``embed`` caches every embedding, :mod:`methods` scores and ``negmining``/``metrics`` do the
math. Notebooks (through ``analysis``) and the CLI call this.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from . import corpus as corpus_mod
from . import methods as registry
from . import metrics, negmining, numerics
from .benchmarks import LOCAL_BENCHMARKS, BenchmarkData, benchmark_data, class_names, prepare_data  # noqa: F401
from .data import DataNotFoundError, ImageFiles
from .embed import class_embeddings, encode_images, encode_texts
from .emoji_training import (  # noqa: F401  (re-exported for the CLI and analysis)
    checkpoint_path,
    checkpoint_problem,
    load_snapshot,
    snapshot_epochs,
    train_emoji_model,
)
from .files import cache_root, remove_dead_temp_files  # noqa: F401  (cache_root: the CLI's cache-dir)
from .metrics import zero_shot_top1
from .models import LoadedModel, ModelNotFoundError, WeightsUnavailableError, load_model, require_weights
from .profiles import Profile

log = logging.getLogger(__name__)


def ensure_model(profile: Profile, *, progress: bool = True, device: str = "auto") -> LoadedModel:
    """The profile's model, trained first if the profile says ``"pretrained": "@train"``."""
    pretrained = profile.model.get("pretrained")
    if pretrained == "@train":
        remove_dead_temp_files(cache_root() / "models")  # a killed training's checkpoint.pt.tmp, once an hour old
        pretrained = str(train_emoji_model(profile, progress=progress))
    return load_model(profile.model["name"], pretrained, device=device)


@dataclass
class TextSide:
    """What NegMining needs, from the text tower alone: ID class embeddings and the corpus."""

    class_names: list[str]
    corpus: corpus_mod.Corpus
    id_text: np.ndarray
    corpus_emb: np.ndarray
    similarity_by_eta: dict[float, torch.Tensor] = field(default_factory=dict, init=False, repr=False, compare=False)


def embed_text_side(profile: Profile, *, loaded: LoadedModel | None = None, names: Sequence[str] | None = None,
                    progress: bool = True, device: str = "auto") -> TextSide:
    """The ID prompts and the candidate corpus embedded with the profile's text tower (cached;
    no images needed). Without ``loaded``, the profile's model is loaded for its text tower (a
    model trained here trains only its image tower: its packaged text tower serves untrained)."""
    loaded = loaded or text_tower(profile, device=device)
    names = list(names) if names is not None else class_names(profile)
    candidates = build_corpus(profile.corpus, names)
    return TextSide(
        class_names=names,
        corpus=candidates,
        id_text=class_embeddings(loaded, names, profile.id_templates, progress=progress),
        corpus_emb=corpus_embeddings(loaded, profile.corpus, candidates, progress=progress),
    )


def full_corpus_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The corpus before the ID names are removed (the same for every split of a benchmark)."""
    return {**spec, "remove_id_names": False}


def corpus_embeddings(loaded: LoadedModel, spec: Mapping[str, Any], candidates: corpus_mod.Corpus, *,
                      progress: bool = True) -> np.ndarray:
    """``candidates`` embedded in the spec's prompts. Where they are the full corpus less the ID
    names, the full corpus is embedded (cached once for every split: emoji-tiny and its near-OOD
    variant share it) and the candidates' rows are taken from it."""
    if spec.get("remove_id_names", False) and not spec.get("sample"):
        full = build_corpus(full_corpus_spec(spec))
        full_emb = encode_texts(loaded, full.prompts(spec["prompts"]), progress=progress, desc="corpus")
        row = {w: i for i, w in enumerate(full.words)}
        return full_emb[[row[w] for w in candidates.words]]
    return encode_texts(loaded, candidates.prompts(spec["prompts"]), progress=progress, desc="corpus")


def text_tower(profile: Profile, *, device: str = "auto") -> LoadedModel:
    """The profile's model for its text tower: a model trained here trains only its image tower,
    so its packaged text tower serves untrained (no training needed)."""
    pretrained = profile.model.get("pretrained")
    return load_model(profile.model["name"], None if pretrained == "@train" else pretrained, device=device)


def embed_words(profile: Profile, words: corpus_mod.Corpus, *, loaded: LoadedModel | None = None,
                progress: bool = False) -> np.ndarray:
    """A corpus (e.g. a word list for an ablation) in the profile's prompts, embedded with its text
    tower (cached)."""
    loaded = loaded or text_tower(profile)
    return encode_texts(loaded, words.prompts(profile.corpus["prompts"]), progress=progress, desc=words.name)


def weights_problem(profile: Profile) -> str | None:
    """Why the profile's pretrained weights cannot be had here (checked before any download), or
    ``None`` (they can, or the model is trained here)."""
    if profile.model.get("pretrained") == "@train":
        return None
    try:
        require_weights(profile.model["name"], profile.model.get("pretrained"))
    except (ModelNotFoundError, WeightsUnavailableError) as exc:
        return str(exc)
    return None


def embed_corpus(profile: Profile, *, progress: bool = True, device: str = "auto") -> np.ndarray:
    """The profile's candidate corpus embedded with its text tower (cached; the CLI's ``embed-corpus``)."""
    return embed_text_side(profile, progress=progress, device=device).corpus_emb


class NotReadyError(RuntimeError):
    """A profile's weights or data are not on this machine."""


def profile_methods(profile: Profile) -> tuple[str, ...]:
    """The methods a profile runs: its ``methods`` list, else every main-table method of the registry."""
    return registry.check_methods(profile.data.get("methods") or registry.default_methods())


def ready_data(profile: Profile) -> BenchmarkData:
    """The profile's benchmark data, after checking that its weights can be had: fails fast (before
    any training, download of data or embedding) with one message that names everything missing.
    Local data (``BENCHMARKS`` kinds that download nothing) is checked even when the weights are
    missing, so a reader learns about both at once."""
    profile_methods(profile)  # an unknown method name stops here, before any work
    problem = weights_problem(profile)  # before any download
    problems = [problem] if problem else []
    kind = profile.benchmark.get("kind")
    data = None
    if not problems or kind in LOCAL_BENCHMARKS:
        try:
            data = benchmark_data(profile)
        except DataNotFoundError as exc:
            problems.append(str(exc))
    if problems:
        raise NotReadyError(f"profile {profile.name!r} cannot run on this machine:\n  - " + "\n  - ".join(problems))
    return data


# ---------------------------------------------------------------- embeddings, scores, results


@dataclass
class Embedded:
    """Every embedding an experiment needs, from the cache after the first run."""

    profile: Profile
    data: BenchmarkData
    corpus: corpus_mod.Corpus
    id_text: np.ndarray  # (K, D) class embeddings
    corpus_emb: np.ndarray  # (C, D)
    id_emb: np.ndarray  # (N_id, D)
    ood_emb: dict[str, np.ndarray]
    shift_emb: dict[str, np.ndarray]
    model_identity: dict[str, Any]
    # s(w) per eta, computed once (sweeps mine many times); a copy made with dataclasses.replace
    # (e.g. another corpus) starts with an empty one
    similarity_by_eta: dict[float, torch.Tensor] = field(default_factory=dict, init=False, repr=False, compare=False)
    # negative-label banks other than NegMining's (CSP), per (bank, parameters): built once
    bank_cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)


def build_corpus(spec: Mapping[str, Any], class_names: Sequence[str] = ()) -> corpus_mod.Corpus:
    """The candidate corpus a profile (or a notebook's ablation) asks for."""
    source = spec.get("source", "wordnet")
    if spec.get("lemmas", "all") not in ("all", "first"):
        raise ValueError(f"corpus lemmas={spec['lemmas']!r}; expected 'all' (every lemma of every synset) or "
                         "'first' (each synset's first lemma, as the official word files)")
    if source == "wordnet":
        built = corpus_mod.wordnet_corpus(
            tuple(spec.get("parts", ("noun", "adj"))),
            exclude_lexnames=tuple(spec.get("exclude_lexnames", ())),
            multiword=spec.get("multiword", True),
            first_lemma_only=spec.get("lemmas", "all") == "first",
        )
    elif source == "words":
        built = corpus_mod.word_list_corpus(spec["words"], name=spec.get("name", "words"), pos=spec.get("pos", "noun"))
    else:
        raise ValueError(f"unknown corpus source {source!r}; expected 'wordnet' or 'words'")
    if spec.get("remove_id_names", False):
        built = built.without(class_names)
    sample = spec.get("sample")
    if sample:  # an evenly spaced, deterministic subsample (quick explorations, tests)
        if not 1 <= sample <= len(built):
            raise ValueError(f"corpus sample={sample} must lie in [1, {len(built)}] (the corpus size)")
        built = built.subset(np.linspace(0, len(built) - 1, sample).round().astype(int), f"{built.name}-sample{sample}")
    return built


def embed_profile(profile: Profile, *, progress: bool = True, device: str = "auto") -> Embedded:
    """Everything a profile's experiments need, each piece built once and cached: checks (weights,
    data), the data, the model (trained here first for ``"pretrained": "@train"``), embeddings of
    the ID labels, the candidate corpus and every image set. After the first run: seconds."""
    data = ready_data(profile)
    loaded = ensure_model(profile, progress=progress, device=device)
    text = embed_text_side(profile, loaded=loaded, names=data.class_names, progress=progress)

    def images(files: ImageFiles) -> np.ndarray:
        return encode_images(loaded, files, progress=progress, desc=files.name)

    return Embedded(
        profile=profile,
        data=data,
        corpus=text.corpus,
        id_text=text.id_text,
        corpus_emb=text.corpus_emb,
        id_emb=images(data.id_images),
        ood_emb={name: images(files) for name, files in data.ood.items()},
        shift_emb={name: images(files) for name, files in data.shift.items()},
        model_identity=loaded.identity,
    )


def embed_snapshot(emb: Embedded, epoch: int, *, progress: bool = False, device: str = "auto") -> Embedded:
    """``emb`` with its ID and OOD images embedded by the image tower saved after ``epoch`` of the
    same training run (:func:`emoji_training.load_snapshot`; the text tower is frozen, so the
    class and corpus embeddings, and hence the mined negatives, are the same). Cached."""
    if emb.profile.model.get("pretrained") != "@train":
        raise ValueError(f"profile {emb.profile.name!r} uses pretrained weights; only a model trained here has snapshots")
    loaded = load_snapshot(emb.profile, epoch, device=device)

    def images(files: ImageFiles) -> np.ndarray:
        return encode_images(loaded, files, progress=progress, desc=f"{files.name} (epoch {epoch})")

    out = dataclasses.replace(emb, id_emb=images(emb.data.id_images), shift_emb={}, model_identity=loaded.identity,
                              ood_emb={name: images(files) for name, files in emb.data.ood.items()})
    out.similarity_by_eta.update(emb.similarity_by_eta)  # same text side: same mining scores
    out.bank_cache.update({k: v for k, v in emb.bank_cache.items()  # text-only banks; never cached image sims
                           if k == "csp" or (isinstance(k, tuple) and k[0] == "csp")})
    return out


def candidate_scores(emb: Embedded | TextSide, eta: float) -> torch.Tensor:
    """s(w) of every candidate (:func:`negmining.percentile_similarity`), computed once per eta
    (sweeps mine many times with the same eta)."""
    if eta not in emb.similarity_by_eta:
        emb.similarity_by_eta[eta] = negmining.percentile_similarity(emb.corpus_emb, emb.id_text, eta=eta)
    return emb.similarity_by_eta[eta]


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

    Deviation: the official nouns are embedded as the mean of eight templates; here with the
    profile's one noun prompt (eight times the corpus on a CPU would dominate the build)."""
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


def method_scores(
    image_emb: np.ndarray, id_text: np.ndarray, neg_text: np.ndarray, params: Mapping[str, Any],
    methods: Sequence[str] | None = None, other_banks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Each registered one-score method's score for a set of images (higher = more
    in-distribution): ``methods`` (default: :func:`methods.default_methods`). ``neg_text`` is
    NegMining's bank; a method reading another bank finds it in ``other_banks``."""
    names = registry.check_methods(registry.default_methods() if methods is None else methods)
    streams = [m for m in names if registry.is_stream(m)]
    if streams:
        raise ValueError(f"stream method(s) {streams} score a stream, not a set of images; use score()")
    x = torch.from_numpy(np.array(image_emb, dtype=np.float32))  # a writable copy (cache reads are memory maps)
    id_sims = x @ torch.from_numpy(np.asarray(id_text)).T
    sims = {"neglabel": x @ torch.from_numpy(np.asarray(neg_text)).T}
    out = {}
    for m in names:
        bank = registry.REGISTRY[m].bank
        if bank not in sims:
            sims[bank] = x @ torch.from_numpy(np.asarray((other_banks or {})[bank])).T
        out[m] = registry.REGISTRY[m].score(id_sims, sims[bank], params).cpu().numpy()
    return out


def stream_scores(method: str, id_emb: np.ndarray, ood_emb: np.ndarray, id_text: np.ndarray, neg_text: np.ndarray,
                  params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A stream method on one stream: the ID and OOD images shuffled together by
    ``np.random.default_rng(params["stream_seed"]).permutation`` (as AdaNeg's authors evaluate:
    one shuffled ID+OOD loader per OOD set, the memory reset for each), scored in that order.
    Returns the ID and the OOD scores, each in its images' own order."""
    x = np.concatenate([id_emb, ood_emb]).astype(np.float32)
    order = np.random.default_rng(params.get("stream_seed", 0)).permutation(len(x))
    scored = registry.REGISTRY[method].score(torch.from_numpy(x[order]), torch.from_numpy(np.asarray(id_text)),
                                             torch.from_numpy(np.asarray(neg_text)), params).cpu().numpy()
    back = np.empty_like(scored)
    back[order] = scored
    return back[:len(id_emb)], back[len(id_emb):]


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
          methods: Sequence[str] | None = None) -> Scored:
    """Mine negatives and score ID (or ``id_emb``, e.g. a domain-shifted ID set) and every OOD set
    with ``methods`` (default: the profile's ``methods``, else the registry's main-table methods)."""
    methods = profile_methods(emb.profile) if methods is None else registry.check_methods(methods)
    p = {**emb.profile.params, **(params or {})}
    negatives = mine(emb, eta=p["eta"], m=p["m"], pos_fraction=p.get("pos_fraction"))
    p["m"] = len(negatives)  # what was mined, whichever rule chose it
    p["perm_device_used"] = perm_device(p)
    p["fpr_rule"] = fpr_rule(p)
    neg_text = emb.corpus_emb[negatives]
    banks = {b: BANK_BUILDERS[b](emb, p) for b in dict.fromkeys(
        registry.REGISTRY[m].bank for m in methods if registry.REGISTRY[m].needs == "negatives") if b != "neglabel"}
    for name, bank in banks.items():
        p[f"m_{name}"] = len(bank.emb)
    other = {name: bank.emb for name, bank in banks.items()}
    one_score = [m for m in methods if not registry.is_stream(m)]
    id_x = emb.id_emb if id_emb is None else id_emb
    id_scores = method_scores(id_x, emb.id_text, neg_text, p, one_score, other) if one_score else {}
    ood_scores = {name: method_scores(x, emb.id_text, neg_text, p, one_score, other) if one_score else {}
                  for name, x in emb.ood_emb.items()}
    streams: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for m in (m for m in methods if registry.is_stream(m)):
        p.setdefault("stream_seed", 0)
        bank_text = neg_text if registry.REGISTRY[m].bank == "neglabel" else other[registry.REGISTRY[m].bank]
        sets = {**emb.ood_emb, "pooled": np.concatenate(list(emb.ood_emb.values()))}
        streams[m] = {name: stream_scores(m, id_x, x, emb.id_text, bank_text, p) for name, x in sets.items()}
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
