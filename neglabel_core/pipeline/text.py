"""The text side of a profile: the candidate corpus, and the ID labels and candidates embedded
with the profile's text tower (cached). NegMining needs nothing else, so no image is read here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import corpus as corpus_mod
from ..data.benchmarks import class_names
from ..models import alignment, backbones, text_towers
from ..models.embed import class_embeddings, encode_texts
from ..models.factory import (
    LoadedModel,
    ModelNotFoundError,
    WeightsUnavailableError,
    configured_text_tower,
    require_weights,
    shared_model,
)
from ..profiles import Profile

# pretrained tags for a model whose trained part is made here (its text tower is the packaged one)
TRAINED_HERE = ("@train", alignment.TAG)


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
    """``candidates`` embedded in the spec's prompts. Where they are the full corpus (or its
    sample) less the ID names, the full corpus is embedded (cached once for every split:
    emoji-tiny and its near-OOD variant share it) and the candidates' rows are taken from it."""
    if spec.get("remove_id_names", False):
        full = build_corpus(full_corpus_spec(spec))
        full_emb = encode_texts(loaded, full.prompts(spec["prompts"]), progress=progress, desc="corpus")
        row = {w: i for i, w in enumerate(full.words)}
        return full_emb[[row[w] for w in candidates.words]]
    return encode_texts(loaded, candidates.prompts(spec["prompts"]), progress=progress, desc="corpus")


def text_tower(profile: Profile, *, device: str = "auto") -> LoadedModel:
    """The profile's model for its text tower: a model trained here trains only its image tower,
    so its packaged text tower serves untrained (no training needed)."""
    pretrained = profile.model.get("pretrained")
    return shared_model(profile.model["name"], None if pretrained in TRAINED_HERE else pretrained, device=device,
                        text_only=pretrained in TRAINED_HERE)


def embed_words(profile: Profile, words: corpus_mod.Corpus, *, loaded: LoadedModel | None = None,
                progress: bool = False) -> np.ndarray:
    """A corpus (e.g. a word list for an ablation) in the profile's prompts, embedded with its text
    tower (cached)."""
    loaded = loaded or text_tower(profile)
    return encode_texts(loaded, words.prompts(profile.corpus["prompts"]), progress=progress, desc=words.name)


def in_template(profile: Profile, class_names: Sequence[str], words: corpus_mod.Corpus, template: str, *,
                loaded: LoadedModel | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ID labels and ``words`` (e.g. the mined negatives) all in one ``template`` (no
    ensemble, the same for nouns and adjectives), embedded with the profile's text tower
    (cached): ``(id_text (K, D), word_emb (len(words), D))``."""
    loaded = loaded or text_tower(profile)
    id_text = class_embeddings(loaded, class_names, [template], progress=progress)
    prompts = words.prompts(dict.fromkeys(set(words.pos), template))
    return id_text, encode_texts(loaded, prompts, progress=progress, desc=f"words in {template!r}")


def text_side_name(profile: Profile) -> str:
    """Which text tower a profile's model reads with: a pinned tower's tag (``"@minilm"``,
    ``"@mpnet"``), else its open_clip model and weights (CLIP's text tower is its own). Two
    profiles with one text side embed text, and so mine negative labels, alike."""
    model = profile.model
    return configured_text_tower(model["name"]) or f"{model['name']}/{model.get('pretrained')}"


def weights_problem(profile: Profile) -> str | None:
    """Why the profile's pretrained weights cannot be had here (checked before any download), or
    ``None`` (they can, or the model is trained here). A model aligned here needs its backbone's
    package (checked by hash); a model whose config names a pinned text tower, that tower's packages."""
    if (tag := configured_text_tower(profile.model["name"])) is not None and (problem := text_towers.missing(tag)):
        return problem
    if profile.model.get("pretrained") == "@train":
        return None
    if profile.model.get("pretrained") == alignment.TAG:
        try:
            backbones.weights_file(alignment.backbone_of(profile.model["name"]))
        except (ValueError, backbones.BackboneUnavailableError) as exc:
            return str(exc)
        return None
    try:
        require_weights(profile.model["name"], profile.model.get("pretrained"))
    except (ModelNotFoundError, WeightsUnavailableError) as exc:
        return str(exc)
    return None


def embed_corpus(profile: Profile, *, progress: bool = True, device: str = "auto") -> np.ndarray:
    """The profile's candidate corpus embedded with its text tower (cached; the CLI's ``embed-corpus``)."""
    return embed_text_side(profile, progress=progress, device=device).corpus_emb


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
    # the sample first: every split of a benchmark (its own ID names removed) reads the same words
    built = sampled(built, spec.get("sample"))
    if spec.get("remove_id_names", False):
        built = built.without(class_names)
    return built


def sampled(built: corpus_mod.Corpus, sample: int | None) -> corpus_mod.Corpus:
    """``sample`` evenly spaced words of ``built`` (a deterministic subsample for quick
    explorations, tests and the cross-model chapter), or ``built`` itself when ``sample`` is
    unset. A profile's corpus is sampled before its ID names are removed (:func:`build_corpus`)."""
    if not sample:
        return built
    if not 1 <= sample <= len(built):
        raise ValueError(f"corpus sample={sample} must lie in [1, {len(built)}] (the corpus size)")
    return built.subset(np.linspace(0, len(built) - 1, sample).round().astype(int), f"{built.name}-sample{sample}")
