"""The top layer: a profile in, embeddings, mined negatives, scores and results out.

One code path for every profile: the benchmark provides class names and image sets, the model
comes from ``models`` (trained here first for the embedded default), ``embed`` caches every
embedding, and ``negmining``/``scores``/``metrics`` do the math. Notebooks and the CLI call this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, emoji, imagenet, metrics, negmining
from . import corpus as corpus_mod
from . import methods as registry
from .cache import StaleCacheWarning
from .data import DataNotFoundError, ImageFiles, load_rgb
from .embed import encode_images, encode_texts
from .files import atomic_write_text, cache_root, remove_dead_temp_files, sha256_file
from .models import (
    BUILTIN_CONFIGS,
    LoadedModel,
    ModelNotFoundError,
    WeightsUnavailableError,
    file_sha256,
    load_model,
    minilm_folder,
    require_weights,
)
from .profiles import Profile
from .training import TrainConfig, normalize_images, train_image_tower

log = logging.getLogger(__name__)


@dataclass
class BenchmarkData:
    """What a profile evaluates on: ID class names, the ID test images (label = class index),
    named OOD sets, and ID test sets under domain shift (labels = class index)."""

    class_names: list[str]
    id_images: ImageFiles
    ood: dict[str, ImageFiles]
    shift: dict[str, ImageFiles] = field(default_factory=dict)
    concepts: dict[str, Any] = field(default_factory=dict)  # unit id -> display info (emoji char, name)


def emoji_benchmark_data(profile: Profile, bench: emoji.EmojiBenchmark | None = None) -> BenchmarkData:
    spec = profile.benchmark
    bench = bench or emoji.prepare()
    split = bench.split(spec.get("split"))
    labels = list(range(len(split.id)))
    eval_styles, shift_styles = spec["eval_styles"], spec.get("shift_styles", [])
    return BenchmarkData(
        class_names=split.class_names,
        id_images=bench.images(split.id, eval_styles, labels=labels, name="ID"),
        ood={name: bench.images(members, eval_styles, name=name) for name, members in split.ood.items()},
        shift={s: bench.images(split.id, [s], labels=labels, name=s) for s in shift_styles},
        concepts={c.id: {"char": c.char, "name": c.name, "group": c.group, "subgroup": c.subgroup} for c in bench.concepts},
    )


def imagenet_benchmark_data(profile: Profile) -> BenchmarkData:
    """ImageNet-1k val as ID, the MOS OOD sets, the domain-shift sets that are present, from the
    local folders under ``benchmark.root`` (see :mod:`neglabel_core.imagenet`)."""
    spec = profile.benchmark
    sets = imagenet.load_sets(spec.get("root"), spec["id"], spec["ood"], spec.get("shift"))
    names = imagenet.class_names()
    concepts = {wnid: {"name": name} for wnid, name in zip(imagenet.synsets(), names)}
    for files in sets.ood.values():  # OOD sets in class folders (Textures): the folder names are their classes
        concepts.update({u: {"name": Path(u).name.replace("_", " ")} for u in set(files.units) if not Path(u).suffix})
    return BenchmarkData(class_names=names, id_images=sets.id, ood=sets.ood, shift=sets.shift, concepts=concepts)


BENCHMARKS: dict[str, Callable[[Profile], BenchmarkData]] = {"emoji": emoji_benchmark_data, "imagenet": imagenet_benchmark_data}
LOCAL_BENCHMARKS = frozenset({"imagenet"})  # read from local folders: checking them downloads nothing


def benchmark_data(profile: Profile) -> BenchmarkData:
    kind = profile.benchmark.get("kind")
    if kind not in BENCHMARKS:
        raise ValueError(f"unknown benchmark kind {kind!r} in profile {profile.name!r}; expected one of {list(BENCHMARKS)}")
    return BENCHMARKS[kind](profile)


# ---------------------------------------------------------------- training the embedded model


def captions_for(concepts: Sequence[emoji.Concept], templates: Sequence[str]) -> tuple[list[str], list[int]]:
    """Every template applied to every alias of every concept, with the owning concept's index."""
    texts, owners = [], []
    for i, concept in enumerate(concepts):
        for alias in concept.aliases:
            for template in templates:
                texts.append(template.format(alias))
                owners.append(i)
    return texts, owners


def load_style_images(bench: emoji.EmojiBenchmark, concepts: Sequence[emoji.Concept], styles: Sequence[str],
                      size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of ``concepts`` in ``styles`` as uint8 (N, 3, size, size) and their concept index."""
    arrays, owners = [], []
    for i, concept in enumerate(concepts):
        for style in styles:
            rel = concept.files.get(style)
            if rel is not None:
                image = load_rgb(bench.root / rel)
                if image.size != (size, size):
                    image = image.resize((size, size))
                arrays.append(np.asarray(image))
                owners.append(i)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(owners)


def _train_key(profile: Profile, train: TrainConfig, concepts: Sequence[emoji.Concept]) -> dict[str, Any]:
    config_file = BUILTIN_CONFIGS / f"{profile.model['name']}.json"
    return {
        "model_config": json.loads(config_file.read_text("utf-8")),
        "text_tower_sha256": sha256_file(Path(minilm_folder()) / "model.safetensors"),
        "train": train.to_dict(),
        "styles": list(profile.benchmark["train_styles"]),
        "packages": {k: p.integrity for k, p in emoji.PACKAGES.items()},
        "concepts": hashlib.sha256("|".join(c.id for c in concepts).encode()).hexdigest(),
        "torch": torch.__version__,
        "code": _training_code_sha256(),
    }


def _training_code_sha256() -> str:
    """The code that decides the trained weights: ``training.py`` and the functions here that feed
    it. A change to it gives a new checkpoint key, so a checkpoint trained by older code is never
    taken for the current one."""
    import inspect

    from . import training

    parts = [inspect.getsource(training), *(inspect.getsource(f) for f in (captions_for, load_style_images, train_emoji_model))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def training_concepts(profile: Profile, bench: emoji.EmojiBenchmark) -> list[emoji.Concept]:
    """Every concept (ID and OOD alike), or only ``benchmark.train_groups`` where a profile sets it."""
    groups = profile.benchmark.get("train_groups")
    return bench.select(groups) if groups else list(bench.concepts)


def checkpoint_path(profile: Profile, train: TrainConfig | None = None, concepts: Sequence[emoji.Concept] | None = None) -> Path:
    train = train or TrainConfig(**profile.data.get("train", {}))
    if concepts is None:
        concepts = training_concepts(profile, emoji.prepare(progress=False))
    key = hashlib.sha256(json.dumps(_train_key(profile, train, concepts), sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "models" / f"{profile.model['name']}-{key}.pt"


def zero_shot_top1(image_emb: np.ndarray, class_emb: np.ndarray, labels: Sequence[int]) -> float:
    """Fraction of images whose most similar class embedding is their own class."""
    predicted = np.argmax(np.asarray(image_emb) @ np.asarray(class_emb).T, axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def class_embeddings(loaded: LoadedModel, class_names: Sequence[str], templates: Sequence[str], *,
                     progress: bool = True) -> np.ndarray:
    """Prompt-ensemble class embeddings: the mean of each class's templates, re-normalised (K, D)."""
    texts = [t.format(name) for name in class_names for t in templates]
    emb = encode_texts(loaded, texts, progress=progress, desc="ID prompts").reshape(len(class_names), len(templates), -1)
    mean = emb.mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def train_emoji_model(profile: Profile, *, concepts: Sequence[emoji.Concept] | None = None,
                      train: TrainConfig | None = None, progress: bool = True, force: bool = False) -> Path:
    """Train the embedded model's image tower if its checkpoint is missing; returns the checkpoint.

    Saves ``<checkpoint>.pt`` (``{"state_dict": ...}``, reloads strict through
    ``load_model(name, pretrained=path)``) and ``<checkpoint>.json``, the manifest: data versions,
    model config, training config and seed, wall time, loss per epoch, ID top-1 on the
    evaluation styles. Both are written atomically.
    """
    bench = emoji.prepare(progress=progress)
    concepts = list(concepts) if concepts is not None else training_concepts(profile, bench)
    train = train or TrainConfig(**profile.data.get("train", {}))
    target = checkpoint_path(profile, train, concepts)
    if target.exists() and target.with_suffix(".json").exists() and not force:
        problem = checkpoint_problem(target)
        if problem is None:
            return target
        warnings.warn(f"checkpoint {target} {problem}; training it again", StaleCacheWarning, stacklevel=2)
    torch.manual_seed(train.seed)  # the image tower's initialisation
    loaded = load_model(profile.model["name"], None, device="cpu")
    loaded.model.lock_text_tower()  # frozen: the text side stays the pretrained MiniLM
    captions, owners = captions_for(concepts, train.caption_templates)
    caption_emb = torch.from_numpy(np.array(encode_texts(loaded, captions, progress=progress, desc="captions")))
    size = loaded.model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    images, image_owner = load_style_images(bench, concepts, profile.benchmark["train_styles"], size)
    train_log = train_image_tower(loaded.model, images, image_owner, caption_emb, torch.tensor(owners), train,
                                  progress=progress)
    # ID top-1 on the held-out evaluation styles, straight from the trained model in memory.
    split = bench.split(profile.benchmark.get("split"))
    id_text = class_embeddings(loaded, split.class_names, profile.id_templates, progress=False)
    eval_imgs, eval_labels = load_style_images(bench, split.id, profile.benchmark["eval_styles"], size)
    with torch.inference_mode():
        eval_emb = torch.nn.functional.normalize(loaded.model.visual(normalize_images(eval_imgs)), dim=-1).numpy()
    top1 = zero_shot_top1(eval_emb, id_text, eval_labels.numpy())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".pt.tmp")
    torch.save({"state_dict": loaded.model.state_dict()}, tmp)
    tmp.replace(target)
    manifest = {
        "checkpoint": target.name,
        "checkpoint_sha256": sha256_file(target),
        "model": profile.model["name"],
        "key": _train_key(profile, train, concepts),
        "n_concepts": len(concepts),
        "n_images": len(images),
        "n_captions": len(captions),
        "steps": train_log.steps,
        "wall_s": round(train_log.wall_s, 1),
        "epoch_loss": [round(x, 4) for x in train_log.epoch_loss],
        "logit_scale": round(train_log.logit_scale, 2),
        "id_top1_eval_styles": top1,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "neglabel_core": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(target.with_suffix(".json"), json.dumps(manifest, indent=1))
    log.info("trained %s: %d steps in %.0f s, ID top-1 %.3f", target.name, train_log.steps, train_log.wall_s, top1)
    return target


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a cached checkpoint must not be used (its manifest unreadable, or its bytes not those
    the manifest's SHA-256 records: a bit flip, a truncated or replaced file), or ``None``."""
    try:
        manifest = json.loads(checkpoint.with_suffix(".json").read_text("utf-8"))
        expected = manifest["checkpoint_sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return f"has an unreadable manifest ({exc.__class__.__name__}: {exc})"
    actual = file_sha256(checkpoint)
    if actual != expected:
        return f"does not match its manifest's SHA-256 (file {actual[:12]}..., manifest {str(expected)[:12]}...)"
    return None


def ensure_model(profile: Profile, *, progress: bool = True, device: str = "auto") -> LoadedModel:
    """The profile's model, trained first if the profile says ``"pretrained": "@train"``."""
    pretrained = profile.model.get("pretrained")
    if pretrained == "@train":
        remove_dead_temp_files(cache_root() / "models")  # a killed training's checkpoint.pt.tmp, once an hour old
        pretrained = str(train_emoji_model(profile, progress=progress))
    return load_model(profile.model["name"], pretrained, device=device)


def class_names(profile: Profile) -> list[str]:
    """The profile's ID class names; for ImageNet without touching the image folders."""
    if profile.benchmark.get("kind") == "imagenet":
        return imagenet.class_names()
    return benchmark_data(profile).class_names


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
        corpus_emb=encode_texts(loaded, candidates.prompts(profile.corpus["prompts"]), progress=progress, desc="corpus"),
    )


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


def prepare_data(profile: Profile, *, progress: bool = True) -> str:
    """Fetch and prepare the profile's benchmark where it fetches its own (the CLI's ``fetch``);
    returns what was done, in words."""
    if profile.benchmark.get("kind") != "emoji":
        return f"profile {profile.name!r} uses local data ({profile.benchmark.get('kind')}); nothing to fetch"
    bench = emoji.prepare(progress=progress)
    return f"emoji benchmark ready at {bench.root}: {len(bench.concepts)} concepts, styles {', '.join(bench.styles)}"


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


def percentile_similarity(emb: Embedded | TextSide, eta: float) -> torch.Tensor:
    """s(w) of every candidate (:func:`negmining.percentile_similarity`), computed once per eta
    (sweeps mine many times with the same eta)."""
    if eta not in emb.similarity_by_eta:
        emb.similarity_by_eta[eta] = negmining.percentile_similarity(emb.corpus_emb, emb.id_text, eta=eta)
    return emb.similarity_by_eta[eta]


def mine(emb: Embedded | TextSide, *, eta: float, m: int, pos_fraction: float | None = None) -> np.ndarray:
    """Indices into ``emb.corpus`` of the mined negatives: the ``m`` candidates with the smallest
    percentile similarity s(w), or, with ``pos_fraction`` (the official code's rule, 0.15), that
    fraction of each part of speech ranked separately (nouns first)."""
    similarity = percentile_similarity(emb, eta)
    if pos_fraction is not None:
        return negmining.lowest_fraction_per_group(similarity, emb.corpus.pos, pos_fraction).numpy()
    return negmining.lowest(similarity, m).numpy()


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
    methods: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Each registered method's score for a set of images (higher = more in-distribution):
    ``methods`` (default: :func:`methods.default_methods`)."""
    names = registry.check_methods(registry.default_methods() if methods is None else methods)
    x = torch.from_numpy(np.array(image_emb, dtype=np.float32))  # a writable copy (cache reads are memory maps)
    id_sims = x @ torch.from_numpy(np.asarray(id_text)).T
    neg_sims = x @ torch.from_numpy(np.asarray(neg_text)).T
    return {m: registry.REGISTRY[m].score(id_sims, neg_sims, params).cpu().numpy() for m in names}


@dataclass
class Scored:
    """Scores of every method on ID and every OOD set, with the parameters that produced them."""

    params: dict[str, Any]
    negatives: np.ndarray
    id: dict[str, np.ndarray]
    ood: dict[str, dict[str, np.ndarray]]


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
    id_scores = method_scores(emb.id_emb if id_emb is None else id_emb, emb.id_text, neg_text, p, methods)
    ood_scores = {name: method_scores(x, emb.id_text, neg_text, p, methods) for name, x in emb.ood_emb.items()}
    return Scored(p, negatives, id_scores, ood_scores)


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
    methods = list(scored.id) if methods is None else methods

    def row(method: str, ood: np.ndarray) -> dict[str, float]:
        return {"auroc": 100 * metrics.auroc(scored.id[method], ood),
                "fpr95": 100 * metrics.fpr_at_tpr(scored.id[method], ood, rule=rule)}

    out = {name: {m: row(m, scored.ood[name][m]) for m in methods} for name in scored.ood}
    out["average"] = {m: {k: float(np.mean([out[n][m][k] for n in scored.ood])) for k in ("auroc", "fpr95")}
                      for m in methods}
    out["pooled"] = {m: row(m, np.concatenate([scored.ood[n][m] for n in scored.ood])) for m in methods}
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
        "wall_s": round(time.perf_counter() - start, 1),
    }
