"""Locked-image alignment: a frozen pretrained ImageNet backbone joined to the frozen text tower by
a linear projection trained here (profile ``"pretrained": "@align"``).

LiT's recipe (Zhai et al., CVPR 2022, "LiT: Zero-Shot Transfer with Locked-image text Tuning")
turned around, as ShareLock does (Ruthardt et al., 2025): both towers stay frozen and only the map
between them learns. The image side is a backbone of :mod:`.backbones` (weights from a pinned
package, ImageNet-trained, never seen an emoji), its pooled features ``f`` (1280-D for
MobileNetV2) projected by ``W`` (D x 1280, no bias: open_clip's ``timm_proj: linear``) into the
text tower's D-dimensional space. Loss: CLIP's symmetric cross-entropy over ``s * (Wf_i / |Wf_i|) . t_j``
for a batch of distinct concepts, ``t_j`` one caption embedding of concept j, the logit scale s
learned and clamped at ``max_logit_scale``. Data: the emoji art of the training styles, as the
image tower trained from scratch (:mod:`.emoji_training`) sees it, with ``augmented_views``
augmented copies of each image (:func:`.training.augment`).

The backbone is frozen, so its features are computed once (the whole cost: about a minute per
view on a 2-core CPU) and training runs on them (seconds). The trained part, W and s, ships under
``neglabel_core/models/weights/`` with a manifest, as the trained image tower does; installing it
rebuilds the model from the backbone package and checks the state fingerprint the run recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import __version__, numerics
from ..data import emoji
from ..files import atomic_write_text, cache_root, sha256_file, source_code_text
from ..ood.metrics import zero_shot_top1
from ..profiles import Profile
from . import backbones, emoji_training
from .embed import class_embeddings, encode_texts
from .emoji_training import (
    TEXT_PREFIX,
    captions_for,
    checkpoint_problem,
    load_style_images,
    training_concepts,
    training_profile,
)
from .factory import BUILTIN_CONFIGS, LoadedModel, load_model, state_fingerprint
from .training import CAPTION_TEMPLATES, TrainLog, augment, lr_at, normalize_images

log = logging.getLogger(__name__)
TAG = "@align"
TRAINED_PREFIXES = ("visual.head.", "logit_scale")  # what alignment trains (and the package ships)
FROZEN_PREFIXES = (TEXT_PREFIX, "visual.trunk.")  # rebuilt from the text tower's and the backbone's packages


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    """Everything that decides an alignment run (recorded in the checkpoint's manifest). Read from
    a profile's ``train`` section (:meth:`from_profile`)."""

    epochs: int = 32
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    seed: int = 0
    max_logit_scale: float = 100.0
    blur_p: float = 0.3
    augmented_views: int = 2  # augmented copies of each training image, beside the image itself
    caption_templates: tuple[str, ...] = CAPTION_TEMPLATES
    max_steps: int | None = None  # stop early (smoke tests); the schedule still spans all epochs

    @classmethod
    def from_profile(cls, profile: Profile) -> AlignConfig:
        """The profile's ``train`` settings; ``snapshot_epochs`` (an image tower's training
        snapshots) has no meaning here and is refused."""
        train = dict(profile.data.get("train", {}))
        if "snapshot_epochs" in train:
            raise ValueError(f"profile {profile.name!r}: train.snapshot_epochs is for a model trained here "
                             f"(\"@train\"); a model aligned here ({TAG}) saves no snapshots")
        if "caption_templates" in train:
            train["caption_templates"] = tuple(train["caption_templates"])
        return cls(**train)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def backbone_of(model_name: str) -> backbones.Backbone:
    """The pinned backbone of one of the project's model configs (its ``vision_cfg.timm_model_name``)."""
    path = BUILTIN_CONFIGS / f"{model_name}.json"
    if not path.is_file():
        raise ValueError(f"model {model_name!r} is not one of the project's configs ({BUILTIN_CONFIGS}); "
                         f"{TAG} aligns a config whose image tower is a pinned backbone")
    timm_name = json.loads(path.read_text("utf-8")).get("vision_cfg", {}).get("timm_model_name")
    if timm_name is None:
        raise ValueError(f"model {model_name!r} has no timm image tower; {TAG} expects one of {sorted(backbones.BACKBONES)}")
    return backbones.backbone(timm_name)


def with_backbone(loaded: LoadedModel) -> LoadedModel:
    """``loaded`` (a freshly built model of a backbone config) with the pinned backbone's weights in
    its image trunk, ImageNet's normalisation folded into the stem, the trunk in eval mode."""
    spec = backbone_of(loaded.name)
    trunk = loaded.model.visual.trunk
    state = backbones.timm_state(spec, trunk.state_dict())
    mean, std = _clip_normalisation()
    trunk.load_state_dict(backbones.fold_clip_normalisation(spec, state, mean, std), strict=True)
    trunk.eval()
    return loaded


def _clip_normalisation() -> tuple[tuple[float, ...], tuple[float, ...]]:
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    return tuple(OPENAI_DATASET_MEAN), tuple(OPENAI_DATASET_STD)


def frozen_features(trunk: torch.nn.Module, images: torch.Tensor, config: AlignConfig, *, batch_size: int = 256,
                    progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen trunk's pooled features of every image (uint8 (N, 3, H, W)) and of
    ``config.augmented_views`` augmented copies: ``(features ((1 + views) N, C), view_of_image
    index into images)``. The augmentations draw from their own generator seeded with ``config.seed``."""
    gen = torch.Generator().manual_seed(config.seed)
    chunks, owners = [], []
    total = (1 + config.augmented_views) * len(images)
    bar = tqdm(total=total, desc="backbone features", disable=not progress, unit="img")
    with torch.inference_mode():
        for view in range(1 + config.augmented_views):
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size]
                x = batch.float().div_(255) if view == 0 else augment(batch, gen, blur_p=config.blur_p)
                chunks.append(trunk(normalize_images(x)))
                owners.append(torch.arange(start, start + len(batch)))
                bar.update(len(batch))
    bar.close()
    return torch.cat(chunks), torch.cat(owners)


def train_projection(proj: torch.nn.Linear, logit_scale: torch.nn.Parameter, features: torch.Tensor,
                     feature_concepts: torch.Tensor, caption_emb: torch.Tensor, caption_concepts: torch.Tensor,
                     config: AlignConfig, *, progress: bool = True) -> TrainLog:
    """Train ``proj`` and ``logit_scale`` in place on frozen features (the module docstring's loss).

    Batching as the image tower's training (:func:`.training.train_image_tower`): an epoch makes
    one pass over a fresh permutation of the concepts per feature row of a concept
    (``N // n_concepts`` passes); each step takes ``batch_size`` distinct concepts, one random
    feature row (an image or one of its augmented views) and one random caption of each. AdamW
    (no weight decay on the logit scale), linear warm-up then cosine decay to zero."""
    from open_clip.loss import ClipLoss

    n_concepts = int(feature_concepts.max()) + 1
    if int(caption_concepts.max()) + 1 != n_concepts or torch.bincount(caption_concepts, minlength=n_concepts).min() == 0:
        raise ValueError("every concept needs at least one caption and one image")
    if config.batch_size > n_concepts:
        raise ValueError(f"batch_size={config.batch_size} is larger than the number of concepts ({n_concepts})")
    gen = torch.Generator().manual_seed(config.seed)
    rows_of = [torch.nonzero(feature_concepts == c).flatten() for c in range(n_concepts)]
    captions_of = [torch.nonzero(caption_concepts == c).flatten() for c in range(n_concepts)]
    passes = max(1, round(len(features) / n_concepts))
    steps_per_epoch = passes * (n_concepts // config.batch_size)
    total = config.epochs * steps_per_epoch
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    proj.weight.requires_grad_(True)
    logit_scale.requires_grad_(True)
    optimizer = torch.optim.AdamW([{"params": [proj.weight], "weight_decay": config.weight_decay},
                                   {"params": [logit_scale], "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    loss_fn = ClipLoss()
    max_log_scale = math.log(config.max_logit_scale)
    train_log, step = TrainLog(), 0
    start = time.perf_counter()
    bar = tqdm(total=config.max_steps or total, desc="align projection", disable=not progress, unit="step")
    for epoch in range(config.epochs):
        losses = []
        for _ in range(passes):
            order = torch.randperm(n_concepts, generator=gen)
            for b in range(n_concepts // config.batch_size):
                concepts = order[b * config.batch_size:(b + 1) * config.batch_size]
                rows = torch.stack([rows_of[c][torch.randint(len(rows_of[c]), (1,), generator=gen)] for c in concepts])
                cap = torch.stack([captions_of[c][torch.randint(len(captions_of[c]), (1,), generator=gen)] for c in concepts])
                feats = F.normalize(proj(features[rows.flatten()]), dim=-1)
                loss = loss_fn(feats, caption_emb[cap.flatten()], logit_scale.exp())
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, total, warmup, config.lr)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    logit_scale.clamp_(0, max_log_scale)
                losses.append(loss.item())
                step += 1
                bar.update(1)
                if config.max_steps and step >= config.max_steps:
                    break
            if config.max_steps and step >= config.max_steps:
                break
        train_log.epoch_loss.append(sum(losses) / max(1, len(losses)))
        log.info("epoch %d/%d: mean loss %.4f", epoch + 1, config.epochs, train_log.epoch_loss[-1])
        if config.max_steps and step >= config.max_steps:
            break
    bar.close()
    proj.weight.requires_grad_(False)
    logit_scale.requires_grad_(False)
    train_log.steps, train_log.wall_s = step, time.perf_counter() - start
    train_log.logit_scale = logit_scale.detach().exp().item()
    return train_log


def _alignment_code_sha256() -> str:
    """This module's and the backbone mapping's code as syntax trees without docstrings, with the
    shared pieces of the image tower's training it calls: a code change gives a new key."""
    import inspect

    from . import training

    parts = [source_code_text(inspect.getsource(m)) for m in (backbones,)]
    parts += [source_code_text(inspect.getsource(f)) for f in (with_backbone, frozen_features, train_projection,
                                                              align_model, captions_for, load_style_images,
                                                              training.augment, training.lr_at,
                                                              training.normalize_images)]
    return hashlib.sha256(b"\n".join(parts)).hexdigest()


def _align_key(profile: Profile, config: AlignConfig, concepts: Sequence[emoji.Concept]) -> dict[str, Any]:
    spec = backbone_of(profile.model["name"])
    return {**emoji_training.data_key(profile, concepts), "align": config.to_dict(), "code": _alignment_code_sha256(),
            "backbone": {"timm": spec.timm_name, "package": spec.package, "sha256": spec.sha256}}


def checkpoint_path(profile: Profile, config: AlignConfig | None = None,
                    concepts: Sequence[emoji.Concept] | None = None) -> Path:
    """Where the aligned model of ``profile`` is cached: its name and a hash of everything that decides it."""
    profile = training_profile(profile)
    config = config or AlignConfig.from_profile(profile)
    if concepts is None:
        concepts = training_concepts(profile, emoji.prepare(progress=False))
    key = hashlib.sha256(json.dumps(_align_key(profile, config, concepts), sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "models" / f"{profile.model['name']}-{key}.pt"


def aligned_checkpoint(profile: Profile, *, progress: bool = True, force: bool = False) -> Path:
    """The aligned model's checkpoint: the cached one where verified, else installed from the
    packaged projection where its key matches, else aligned now (:func:`align_model`)."""
    return align_model(training_profile(profile), progress=progress, force=force)


def _new_model(profile: Profile, config: AlignConfig) -> LoadedModel:
    """The model before alignment: the projection drawn from the seeded generator, the text tower
    the packaged MiniLM, the trunk the pinned backbone."""
    torch.manual_seed(config.seed)
    loaded = load_model(profile.model["name"], None, device="cpu")
    loaded.model.lock_text_tower()
    loaded.model.requires_grad_(False)
    loaded.model.eval()
    return with_backbone(loaded)


def align_model(profile: Profile, *, concepts: Sequence[emoji.Concept] | None = None, config: AlignConfig | None = None,
                progress: bool = True, force: bool = False) -> Path:
    """Align the projection if its checkpoint is missing (or ``force``); returns the checkpoint.

    Saves ``<checkpoint>.pt`` (``{"state_dict": ...}``: the whole model, loaded strict through
    ``load_model(name, pretrained=path)``) and ``<checkpoint>.json``, the manifest (key, data
    sizes, steps, loss per epoch, logit scale, ID top-1 on the evaluation styles, the state
    fingerprint), both atomically."""
    bench = emoji.prepare(progress=progress)
    concepts = list(concepts) if concepts is not None else training_concepts(profile, bench)
    config = config or AlignConfig.from_profile(profile)
    target = checkpoint_path(profile, config, concepts)
    key = _align_key(profile, config, concepts)
    if not force and target.is_file() and target.with_suffix(".json").is_file() and checkpoint_problem(target) is None:
        return target
    if not force and install_packaged(profile, target, key):
        return target
    loaded = _new_model(profile, config)
    size = loaded.model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    captions, owners = captions_for(concepts, config.caption_templates)
    caption_emb = torch.from_numpy(np.array(encode_texts(loaded, captions, progress=progress, desc="captions")))
    images, image_owner = load_style_images(bench, concepts, profile.benchmark["train_styles"], size)
    features, rows = frozen_features(loaded.model.visual.trunk, images, config, progress=progress)
    proj = loaded.model.visual.head.proj
    train_log = train_projection(proj, loaded.model.logit_scale, features, image_owner[rows], caption_emb,
                                 torch.tensor(owners), config, progress=progress)
    split = bench.split(profile.benchmark.get("split"))
    id_text = class_embeddings(loaded, split.class_names, profile.id_templates, progress=False)
    eval_images, eval_labels = load_style_images(bench, split.id, profile.benchmark["eval_styles"], size)
    with torch.inference_mode():
        eval_emb = F.normalize(loaded.model.visual(normalize_images(eval_images)), dim=-1).numpy()
    top1 = zero_shot_top1(eval_emb, id_text, eval_labels.numpy())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".pt.{os.getpid()}.tmp")
    torch.save({"state_dict": loaded.model.state_dict()}, tmp)
    tmp.replace(target)
    manifest = {
        "checkpoint": target.name,
        "checkpoint_sha256": sha256_file(target),
        "model": profile.model["name"],
        "key": key,
        "n_concepts": len(concepts),
        "n_images": len(images),
        "n_feature_rows": len(features),
        "n_captions": len(captions),
        "steps": train_log.steps,
        "wall_s": round(train_log.wall_s, 1),
        "epoch_loss": [round(x, 4) for x in train_log.epoch_loss],
        "logit_scale": round(train_log.logit_scale, 2),
        "id_top1_eval_styles": top1,
        "state_sha256": state_fingerprint(loaded.model),
        "numerics": numerics.in_force(),
        "machine": platform.machine(),
        "neglabel_core": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(target.with_suffix(".json"), json.dumps(manifest, indent=1))
    log.info("aligned %s: %d steps, ID top-1 %.3f", target.name, train_log.steps, top1)
    return target


def install_packaged(profile: Profile, target: Path, key: dict[str, Any]) -> bool:
    """Install the packaged projection for ``target`` where the package holds this key
    (:func:`emoji_training.install_packaged`): the model rebuilt from the backbone and text tower
    packages, the packaged tensors loaded into it, the state fingerprint checked."""
    def build(key: dict[str, Any]) -> LoadedModel:
        settings = {**key["align"], "caption_templates": tuple(key["align"]["caption_templates"])}
        return _new_model(profile, AlignConfig(**settings))

    return emoji_training.install_packaged(profile, target, key, build=build, frozen=FROZEN_PREFIXES)


def package_weights(target: Path) -> Path:
    """Write the packaged files for the cached alignment ``target`` (``neglabel train --package``):
    the trained tensors only (the projection and the logit scale; the backbone and the text tower
    come from their own packages) and a manifest (:func:`emoji_training.package_weights`)."""
    return emoji_training.package_weights(target, shipped=lambda key: key.startswith(TRAINED_PREFIXES))
