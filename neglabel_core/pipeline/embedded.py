"""A profile's data, model and every embedding, built once and cached: the pipeline's first half
(:mod:`.scoring` is the second)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import corpus as corpus_mod
from ..data import shifts as shifts_mod
from ..data.benchmarks import LOCAL_BENCHMARKS, BenchmarkData, benchmark_data
from ..data.images import DataNotFoundError, ImageFiles
from ..files import cache_root, remove_dead_temp_files
from ..models import alignment
from ..models.embed import encode_images
from ..models.emoji_training import load_snapshot, snapshot_epochs, trained_checkpoint
from ..models.factory import LoadedModel, shared_model
from ..ood import methods as registry
from ..profiles import Profile
from .text import TRAINED_HERE, build_corpus, embed_text_side, weights_problem


def ensure_model(profile: Profile, *, progress: bool = True, device: str = "auto") -> LoadedModel:
    """The profile's model, trained first if the profile says ``"pretrained": "@train"``, its
    projection aligned first for ``"@align"`` (:mod:`..models.alignment`)."""
    pretrained = profile.model.get("pretrained")
    if pretrained in TRAINED_HERE:
        remove_dead_temp_files(cache_root() / "models")  # a killed training's checkpoint.pt.tmp, once an hour old
    if pretrained == "@train":
        pretrained = str(trained_checkpoint(profile, progress=progress, snapshots=False))
    elif pretrained == alignment.TAG:
        pretrained = str(alignment.aligned_checkpoint(profile, progress=progress))
    return shared_model(profile.model["name"], pretrained, device=device)


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


def check_against_corpus(profile: Profile, corpus: corpus_mod.Corpus) -> None:
    """The profile's counts that the candidate corpus bounds: M (where no ``pos_fraction`` rule
    sets it) and AdaNeg's own M, each at most the number of candidates; a ValueError naming the key."""
    params = profile.params
    for key in ("m", "adaneg_m"):
        if key == "m" and params.get("pos_fraction") is not None:
            continue
        value = params.get(key)
        if value is not None and value > len(corpus):
            raise ValueError(f"params.{key}={value:,} is larger than the corpus {corpus.name!r} ({len(corpus):,} "
                             f"candidates); expected at most {len(corpus):,}")


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
    # negative-label banks other than NegMining's (CSP, AdaNeg) and their candidates, per (bank,
    # parameters): built once from the text side alone, so copies with other images share the dict
    # (:func:`with_images`); a copy with another corpus starts with an empty one
    text_cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    # the analysis's views, image side included, kept per Embedded (a copy starts with empty ones):
    # the corpus narrowed to a WordNet variant, by variant name
    corpus_views: dict[str, Embedded] = field(default_factory=dict, init=False, repr=False, compare=False)
    # the explorer's mined negatives and image-to-label similarities (ID and every OOD set: (x @ ID
    # labels, x @ negatives)) per (corpus variant, eta, M, pos_fraction)
    explorer_sims: dict[tuple[str | None, float, int, float | None],
                        tuple[np.ndarray, dict[str, tuple[torch.Tensor, torch.Tensor]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)


def with_images(emb: Embedded, **changes: Any) -> Embedded:
    """``emb`` with other images (``changes``: ``id_emb``, ``ood_emb``, ``data``, ...), sharing its
    text-side caches (the mining scores per eta and the banks: they depend on the text side alone,
    so a style subset, a shift style or a snapshot mines once with its parent)."""
    out = dataclasses.replace(emb, **changes)
    out.similarity_by_eta = emb.similarity_by_eta
    out.text_cache = emb.text_cache
    return out


def embed_profile(profile: Profile, *, progress: bool = True, device: str = "auto") -> Embedded:
    """Everything a profile's experiments need, each piece built once and cached: checks (weights,
    data), the data, the model (trained here first for ``"pretrained": "@train"``), embeddings of
    the ID labels, the candidate corpus and every image set. After the first run: seconds."""
    data = ready_data(profile, progress=progress)
    check_against_corpus(profile, build_corpus(profile.corpus, data.class_names))  # before any model or embedding
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


def embed_snapshot(emb: Embedded, epoch: int, *, progress: bool = False, device: str = "auto",
                   checkpoint: Path | None = None) -> Embedded:
    """``emb`` with its ID and OOD images embedded by the image tower saved after ``epoch`` of the
    same training run (:func:`emoji_training.load_snapshot`; the text tower is frozen, so the
    class and corpus embeddings, and hence the mined negatives, are the same). Cached.
    ``checkpoint``: the run's verified checkpoint, where the caller has it (a loop over epochs)."""
    if emb.profile.model.get("pretrained") != "@train":
        raise ValueError(f"profile {emb.profile.name!r} uses pretrained weights; only a model trained here has snapshots")
    loaded = load_snapshot(emb.profile, epoch, device=device, checkpoint=checkpoint)

    def images(files: ImageFiles) -> np.ndarray:
        return encode_images(loaded, files, progress=progress, desc=f"{files.name} (epoch {epoch})")

    return with_images(emb, id_emb=images(emb.data.id_images), shift_emb={}, model_identity=loaded.identity,
                       ood_emb={name: images(files) for name, files in emb.data.ood.items()})


def embed_snapshots(emb: Embedded, epochs: Sequence[int] | None = None, *, progress: bool = False,
                    device: str = "auto") -> Iterator[tuple[int, Embedded]]:
    """``(epoch, embed_snapshot(emb, epoch))`` for ``epochs`` (default: every point of the training
    run, :func:`emoji_training.snapshot_epochs`), the run verified once for all of them."""
    if emb.profile.model.get("pretrained") != "@train":
        raise ValueError(f"profile {emb.profile.name!r} uses pretrained weights; only a model trained here has snapshots")
    checkpoint = trained_checkpoint(emb.profile, progress=False)
    for epoch in epochs or snapshot_epochs(emb.profile, checkpoint=checkpoint):
        yield epoch, embed_snapshot(emb, epoch, progress=progress, device=device, checkpoint=checkpoint)


@dataclass
class Graded:
    """The ID test images under every graded shift of a profile, at every severity, and the OOD
    images under each shift at the control severity, embedded (cached by image set, shift,
    severity and parameters)."""

    shifts: dict[str, shifts_mod.GradedShift]
    control_severity: int
    seed: int
    id_emb: dict[tuple[str, int], np.ndarray]  # (shift, severity) -> (N_id, D); severity 0 is Embedded.id_emb
    ood_emb: dict[str, dict[str, np.ndarray]]  # shift -> OOD set -> (N, D), at the control severity
    # background shifts: images per set ("ID" or an OOD set) without an alpha channel, left unchanged
    unchanged: dict[str, dict[str, int]] = field(default_factory=dict)
    # ``graded_shifts.id_sample``: the ID test images the study uses (indices into the profile's, sorted), or None: all
    id_index: np.ndarray | None = None

    @property
    def severities(self) -> list[int]:
        return list(range(shifts_mod.N_SEVERITIES + 1))

    def restrict(self, emb: Embedded) -> Embedded:
        """``emb`` with the ID test images this study uses (all of them unless ``id_sample`` is set)."""
        return _on_id_images(emb, self.id_index)


def _on_id_images(emb: Embedded, index: np.ndarray | None) -> Embedded:
    """``emb`` with only the ID test images ``index`` (all of them for ``None``)."""
    if index is None:
        return emb
    files = emb.data.id_images.subset(index)
    return with_images(emb, data=dataclasses.replace(emb.data, id_images=files), id_emb=np.asarray(emb.id_emb)[index])


def graded_id_index(spec: Mapping[str, Any], n_id: int) -> np.ndarray | None:
    """The ID test images of ``graded_shifts.id_sample``: at most that many of the ``n_id``, drawn
    without replacement by ``np.random.default_rng(seed)`` and sorted; ``None`` (all of them) where
    it is unset or not smaller than the ID test set (a profile's default fits any data folder)."""
    size = spec.get("id_sample")
    if size is None or int(size) >= n_id:
        return None
    if int(size) < 1:
        raise ValueError(f"graded_shifts.id_sample={size}; expected a number of ID test images >= 1, or null for all")
    return np.sort(np.random.default_rng(int(spec.get("seed", 0))).choice(n_id, size=int(size), replace=False))


def embed_graded(emb: Embedded, *, progress: bool = True, device: str = "auto") -> Graded:
    """Every graded shift of ``emb``'s profile (``graded_shifts``) applied to the ID test images at
    severities 1..5 and to every OOD set at ``control_severity`` (default 3), embedded by the
    profile's model; severity 0 is the unshifted set. One progress bar over the sets; each set is
    cached, so a rerun costs seconds. A profile without ``graded_shifts`` gives no shifts.
    ``graded_shifts.id_sample``: the study uses a seeded subsample of the ID test images at every
    severity, 0 included (:func:`graded_id_index`; :meth:`Graded.restrict` gives ``emb`` on it)."""
    spec = emb.profile.data.get("graded_shifts") or {}
    graded = shifts_mod.graded_shifts(spec)
    control = int(spec.get("control_severity", 3))
    seed = int(spec.get("seed", 0))
    id_index = graded_id_index(spec, len(emb.data.id_images)) if graded else None
    study = _on_id_images(emb, id_index)
    jobs = [(name, severity, "ID", study.data.id_images) for name in graded
            for severity in range(1, shifts_mod.N_SEVERITIES + 1)]
    jobs += [(name, control, set_name, files) for name in graded for set_name, files in emb.data.ood.items()]
    id_emb = {(name, 0): study.id_emb for name in graded}
    ood_emb: dict[str, dict[str, np.ndarray]] = {name: {} for name in graded}
    if jobs:
        loaded = ensure_model(emb.profile, progress=progress, device=device)
        for name, severity, set_name, files in tqdm(jobs, desc="embed graded shifts", disable=not progress, unit="set"):
            vectors = encode_images(loaded, shifts_mod.shifted(files, graded[name], severity, seed=seed), progress=False)
            if set_name == "ID":
                id_emb[(name, severity)] = vectors
            else:
                ood_emb[name][set_name] = vectors
    sets = {"ID": study.data.id_images, **emb.data.ood}
    unchanged = {name: {set_name: shifts_mod.without_alpha(files) for set_name, files in sets.items()}
                 for name, shift in graded.items() if shift.transform == "background"}
    return Graded(graded, control, seed, id_emb, ood_emb, unchanged, id_index)
