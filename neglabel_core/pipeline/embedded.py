"""A profile's data, model and every embedding, built once and cached: the pipeline's first half
(:mod:`.scoring` is the second)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import corpus as corpus_mod
from ..data.benchmarks import LOCAL_BENCHMARKS, BenchmarkData, benchmark_data
from ..data.images import DataNotFoundError, ImageFiles
from ..files import cache_root, remove_dead_temp_files
from ..models.embed import encode_images
from ..models.emoji_training import load_snapshot, trained_checkpoint
from ..models.factory import LoadedModel, load_model
from ..ood import methods as registry
from ..profiles import Profile
from .text import embed_text_side, weights_problem


def ensure_model(profile: Profile, *, progress: bool = True, device: str = "auto") -> LoadedModel:
    """The profile's model, trained first if the profile says ``"pretrained": "@train"``."""
    pretrained = profile.model.get("pretrained")
    if pretrained == "@train":
        remove_dead_temp_files(cache_root() / "models")  # a killed training's checkpoint.pt.tmp, once an hour old
        pretrained = str(trained_checkpoint(profile, progress=progress, snapshots=False))
    return load_model(profile.model["name"], pretrained, device=device)


class NotReadyError(RuntimeError):
    """A profile's weights or data are not on this machine."""


def profile_methods(profile: Profile) -> tuple[str, ...]:
    """The methods a profile runs: its ``methods`` list, else every main-table method of the registry."""
    return registry.check_methods(profile.data.get("methods") or registry.default_methods())


def ready_data(profile: Profile, *, progress: bool = False) -> BenchmarkData:
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
            data = benchmark_data(profile, progress=progress)
        except DataNotFoundError as exc:
            problems.append(str(exc))
    if problems:
        raise NotReadyError(f"profile {profile.name!r} cannot run on this machine:\n  - " + "\n  - ".join(problems))
    return data


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


def embed_profile(profile: Profile, *, progress: bool = True, device: str = "auto") -> Embedded:
    """Everything a profile's experiments need, each piece built once and cached: checks (weights,
    data), the data, the model (trained here first for ``"pretrained": "@train"``), embeddings of
    the ID labels, the candidate corpus and every image set. After the first run: seconds."""
    data = ready_data(profile, progress=progress)
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
