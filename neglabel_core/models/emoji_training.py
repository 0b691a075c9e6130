"""Training the embedded default's image tower (profile ``"pretrained": "@train"``) and its
cached checkpoint: the key that names it (config, data, training code, the pinned CPU numerics),
the manifest, and the check of a cached checkpoint against its manifest before use.

The project ships what its own training produced for the built-in profile: the trained weights
outside the frozen text tower, and the image tower at each snapshot epoch, as safetensors under
``neglabel_core/weights/`` with a manifest (training key, SHA-256 of each file, the full model's
state fingerprint). Where the packaged key equals the current one, the checkpoint is installed
from them (seconds, bit-identical to training again under the pinned numerics; verified by
fingerprint) instead of trained (minutes). ``neglabel train --force`` trains anyway and
``neglabel train --package`` writes the packaged files from the cached run."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, numerics
from ..data import emoji
from ..data.images import load_rgb
from ..files import atomic_write_text, cache_root, full_disk_reported, is_disk_full, sha256_file, source_code_text
from ..ood.metrics import zero_shot_top1
from ..profiles import Profile
from . import text_towers
from .cache import StaleCacheWarning
from .embed import class_embeddings, encode_texts
from .factory import BUILTIN_CONFIGS, LoadedModel, file_sha256, load_model, state_fingerprint
from .training import TrainConfig, normalize_images, train_image_tower

log = logging.getLogger(__name__)
PACKAGED = Path(__file__).parent / "weights"
TEXT_PREFIX = "text."  # the frozen text tower: comes from the packaged MiniLM, never shipped here


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


def data_key(profile: Profile, concepts: Sequence[emoji.Concept]) -> dict[str, Any]:
    """What every model trained (or aligned) here on the emoji art depends on besides its own
    settings and code: the model config, the frozen text tower's weights, the training styles and
    concepts, the emoji packages, torch and the float configuration in force."""
    config_file = BUILTIN_CONFIGS / f"{profile.model['name']}.json"
    config = json.loads(config_file.read_text("utf-8"))
    return {
        "model_config": config,
        "text_tower_sha256": text_towers.weights_sha256(config["text_cfg"]),
        "styles": list(profile.benchmark["train_styles"]),
        "packages": {k: p.integrity for k, p in emoji.PACKAGES.items()},
        "concepts": hashlib.sha256("|".join(c.id for c in concepts).encode()).hexdigest(),
        "torch": torch.__version__,
        # the float configuration the weights were computed under (numerics pins it on x86-64 with AVX2)
        "numerics": {k: v for k, v in numerics.in_force().items() if k not in {"torch"}},
    }


def _train_key(profile: Profile, train: TrainConfig, concepts: Sequence[emoji.Concept]) -> dict[str, Any]:
    return {**data_key(profile, concepts), "train": train.to_dict(), "code": _training_code_sha256()}


def _training_code_sha256() -> str:
    """The code that decides the trained weights: ``training.py`` and the functions here that feed
    it, as syntax trees without docstrings or comments (:func:`files.source_code_text`). A change to
    the code gives a new checkpoint key, so a checkpoint trained by older code is never taken for
    the current one; a documentation edit keeps the key (and the packaged weights)."""
    import inspect

    from . import training

    parts = [source_code_text(inspect.getsource(training)),
             *(source_code_text(inspect.getsource(f)) for f in (captions_for, load_style_images, train_emoji_model,
                                                                 write_snapshot))]
    return hashlib.sha256(b"\n".join(parts)).hexdigest()


def training_concepts(profile: Profile, bench: emoji.EmojiBenchmark) -> list[emoji.Concept]:
    """Every concept (ID and OOD alike), or only ``benchmark.train_groups`` where a profile sets it."""
    groups = profile.benchmark.get("train_groups")
    return bench.select(groups) if groups else list(bench.concepts)


TRAINING_PROFILE = "emoji-tiny"  # where a benchmark of another kind gets its training setup


def training_profile(profile: Profile) -> Profile:
    """The profile the embedded model is trained under: ``profile`` itself on the emoji benchmark;
    for a benchmark of another kind (a reader's folders), the built-in emoji-tiny's benchmark
    (its training styles and concepts) with ``profile``'s model and training settings. The model
    trained here always learns from the emoji art, whatever it is evaluated on, so a folders
    profile with emoji-tiny's model and training shares its checkpoint."""
    if profile.benchmark.get("kind") == "emoji":
        return profile
    from ..profiles import load_profile

    base = load_profile(TRAINING_PROFILE).data
    return Profile({**base, "model": profile.model, "train": profile.data.get("train", base.get("train", {}))})


def checkpoint_path(profile: Profile, train: TrainConfig | None = None, concepts: Sequence[emoji.Concept] | None = None) -> Path:
    profile = training_profile(profile)
    train = train or TrainConfig(**profile.data.get("train", {}))
    if concepts is None:
        concepts = training_concepts(profile, emoji.prepare(progress=False))
    key = hashlib.sha256(json.dumps(_train_key(profile, train, concepts), sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "models" / f"{profile.model['name']}-{key}.pt"


def trained_checkpoint(profile: Profile, *, progress: bool = True, force: bool = False, snapshots: bool = True) -> Path:
    """The embedded model's checkpoint, trained (or installed from the packaged weights) where
    missing: :func:`train_emoji_model`, with two things around it. Without ``snapshots`` (what
    ``evaluate`` needs), a verified checkpoint is used whatever became of its snapshots; the
    chapter that reads snapshots asks for them and gets them rebuilt. A full disk is one
    :class:`DiskFullError` naming the folder, with this run's temporary files removed."""
    profile = training_profile(profile)
    if not force and not snapshots:
        target = checkpoint_path(profile)
        if target.is_file() and target.with_suffix(".json").is_file() and checkpoint_problem(target) is None:
            return target
    try:
        return train_emoji_model(profile, progress=progress, force=force)
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        target = checkpoint_path(profile)
        for leftover in [target.with_suffix(".pt.tmp"), *target.parent.glob(f"*.{os.getpid()}.tmp")]:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        packaged = sum(f.stat().st_size for f in PACKAGED.glob(f"{profile.model['name']}-*.safetensors"))
        with full_disk_reported(target.parent, packaged or None):
            raise


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
        problem = checkpoint_problem(target) or next(
            (f"has a snapshot that {p}" for e in saved_snapshots(target) if (p := checkpoint_problem(snapshot_path(target, e)))),
            None)
        if problem is None:
            return target
        warnings.warn(f"checkpoint {target} {problem}; training it again", StaleCacheWarning, stacklevel=2)
    if not force and install_packaged(profile, target, _train_key(profile, train, concepts)):
        return target
    torch.manual_seed(train.seed)  # the image tower's initialisation
    loaded = load_model(profile.model["name"], None, device="cpu")
    loaded.model.lock_text_tower()  # frozen: the text side stays the pretrained MiniLM
    captions, owners = captions_for(concepts, train.caption_templates)
    caption_emb = torch.from_numpy(np.array(encode_texts(loaded, captions, progress=progress, desc="captions")))
    size = loaded.model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    images, image_owner = load_style_images(bench, concepts, profile.benchmark["train_styles"], size)
    target.parent.mkdir(parents=True, exist_ok=True)
    saved: list[int] = []

    def save_snapshot(epoch: int, state: dict[str, torch.Tensor], log: Any) -> None:
        write_snapshot(target, epoch, state, {"steps": log.steps, "epoch_loss": round(log.epoch_loss[-1], 4),
                                              "logit_scale": round(log.logit_scale, 2)})
        saved.append(epoch)

    train_log = train_image_tower(loaded.model, images, image_owner, caption_emb, torch.tensor(owners), train,
                                  progress=progress, on_snapshot=save_snapshot)
    # ID top-1 on the held-out evaluation styles, straight from the trained model in memory.
    split = bench.split(profile.benchmark.get("split"))
    id_text = class_embeddings(loaded, split.class_names, profile.id_templates, progress=False)
    eval_imgs, eval_labels = load_style_images(bench, split.id, profile.benchmark["eval_styles"], size)
    with torch.inference_mode():
        eval_emb = torch.nn.functional.normalize(loaded.model.visual(normalize_images(eval_imgs)), dim=-1).numpy()
    top1 = zero_shot_top1(eval_emb, id_text, eval_labels.numpy())
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
        "snapshots": saved,  # epochs whose image tower was saved beside the checkpoint
        "state_sha256": state_fingerprint(loaded.model),
        "numerics": numerics.in_force(),
        "machine": platform.machine(),
        "neglabel_core": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(target.with_suffix(".json"), json.dumps(manifest, indent=1))
    log.info("trained %s: %d steps in %.0f s, ID top-1 %.3f", target.name, train_log.steps, train_log.wall_s, top1)
    return target


def write_snapshot(target: Path, epoch: int, state: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """The image tower after ``epoch`` of the run that makes ``target``, with its manifest (atomically)."""
    path = snapshot_path(target, epoch)
    tmp = path.with_suffix(f".pt.{os.getpid()}.tmp")
    torch.save({"state_dict": state}, tmp)
    tmp.replace(path)
    atomic_write_text(path.with_suffix(".json"), json.dumps({
        "checkpoint": path.name, "checkpoint_sha256": sha256_file(path), "of": target.name, "epoch": epoch, **info,
        "weights": "image tower only (model.visual); the text tower is the packaged MiniLM, frozen"}, indent=1))
    return path


def _packaged_manifest(target: Path) -> Path:
    return PACKAGED / f"{target.stem}.json"


def install_packaged(profile: Profile, target: Path, key: dict[str, Any], *,
                     build: Callable[[dict[str, Any]], LoadedModel] | None = None,
                     frozen: tuple[str, ...] = (TEXT_PREFIX,)) -> bool:
    """Install the packaged weights for ``target`` into the cache, if the package holds this key.

    Every packaged file is checked against its SHA-256 before it is read; the model is rebuilt
    (``build(key)``; default: the profile's model drawn from the training seed, as training starts)
    with the packaged tensors in it, every tensor not packaged under one of the ``frozen`` prefixes
    (rebuilt from their own packages), and its state fingerprint must equal the one the training
    run recorded. Returns False where no package matches (then the caller trains)."""
    from safetensors.torch import load_file

    manifest_file = _packaged_manifest(target)
    if not manifest_file.is_file():
        return False
    manifest = json.loads(manifest_file.read_text("utf-8"))
    if manifest.get("key") != json.loads(json.dumps(key)):  # as JSON: tuples are lists there
        return False
    for name, expected in manifest["packaged_files"].items():
        actual = sha256_file(PACKAGED / name)
        if actual != expected:
            raise RuntimeError(f"packaged weights {PACKAGED / name} are damaged (SHA-256 {actual[:12]}..., expected "
                               f"{expected[:12]}...); reinstall the package or run `neglabel train --force`")
    if build is None:
        torch.manual_seed(key["train"]["seed"])  # as in training: the frozen text side's initialisation
        loaded = load_model(profile.model["name"], None, device="cpu")
    else:
        loaded = build(key)
    trained = load_file(PACKAGED / manifest["trained_file"])
    missing, unexpected = loaded.model.load_state_dict(trained, strict=False)
    if unexpected or any(not k.startswith(frozen) for k in missing):
        raise RuntimeError(f"packaged weights {manifest['trained_file']} do not fit {profile.model['name']}")
    if state_fingerprint(loaded.model) != manifest["state_sha256"]:
        raise RuntimeError(f"the model rebuilt from {manifest['trained_file']} is not the one trained "
                           "(state fingerprint differs); run `neglabel train --force`")
    target.parent.mkdir(parents=True, exist_ok=True)
    for epoch, name in manifest.get("snapshot_files", {}).items():
        info = manifest["snapshot_info"][epoch]
        write_snapshot(target, int(epoch), load_file(PACKAGED / name), info)
    tmp = target.with_suffix(f".pt.{os.getpid()}.tmp")
    torch.save({"state_dict": loaded.model.state_dict()}, tmp)
    tmp.replace(target)
    local = {**manifest["training"], "checkpoint": target.name, "checkpoint_sha256": sha256_file(target),
             "installed_from": manifest_file.name, "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(target.with_suffix(".json"), json.dumps(local, indent=1))
    log.info("installed %s from the packaged weights (trained %s)", target.name, manifest["training"]["created"])
    return True


def package_weights(target: Path, *, shipped: Callable[[str], bool] = lambda key: not key.startswith(TEXT_PREFIX)) -> Path:
    """Write the packaged files for the cached run ``target`` (a developer's step after training
    the built-in profile: ``neglabel train --package``): the checkpoint's tensors whose key
    ``shipped`` accepts (default: all but the frozen text tower's), its snapshots, a manifest;
    older packages of the model are removed."""
    from safetensors.torch import save_file

    training = json.loads(target.with_suffix(".json").read_text("utf-8"))
    if problem := checkpoint_problem(target):
        raise RuntimeError(f"checkpoint {target} {problem}")
    PACKAGED.mkdir(exist_ok=True)
    # Everything is written into a staging folder first and moved in only when complete, so a full
    # disk or an interrupt leaves the previous package whole; older packages go last.
    staging = PACKAGED / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    state = torch.load(target, map_location="cpu", weights_only=True)["state_dict"]
    files: dict[str, str] = {}

    def save(name: str, tensors: dict[str, torch.Tensor]) -> str:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(staging / name))
        files[name] = sha256_file(staging / name)
        return name

    try:
        with full_disk_reported(PACKAGED):
            trained_file = save(f"{target.stem}.safetensors", {k: v for k, v in state.items() if shipped(k)})
            snapshot_files, snapshot_info = {}, {}
            for epoch in saved_snapshots(target):
                path = snapshot_path(target, epoch)
                snapshot_files[str(epoch)] = save(f"{path.stem}.safetensors",
                                                  torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
                info = json.loads(path.with_suffix(".json").read_text("utf-8"))
                snapshot_info[str(epoch)] = {k: info[k] for k in ("steps", "epoch_loss", "logit_scale")}
            manifest = {"key": training["key"], "state_sha256": training["state_sha256"], "trained_file": trained_file,
                        "snapshot_files": snapshot_files, "snapshot_info": snapshot_info, "packaged_files": files,
                        "training": training}
            out = _packaged_manifest(target)
            for name in files:
                (staging / name).replace(PACKAGED / name)
            atomic_write_text(out, json.dumps(manifest, indent=1))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in PACKAGED.glob(f"{training['model']}-*"):
        if old.name not in files and old != out:
            old.unlink()
    return out


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


def snapshot_path(checkpoint: Path, epoch: int) -> Path:
    """The image tower saved after ``epoch`` during the run that made ``checkpoint``."""
    return checkpoint.with_name(f"{checkpoint.stem}.epoch{epoch:02d}.pt")


def saved_snapshots(checkpoint: Path) -> list[int]:
    """The epochs whose image tower the run that made ``checkpoint`` saved (its manifest says;
    a run cut short by ``max_steps`` saves fewer than its config lists)."""
    try:
        return [int(e) for e in json.loads(checkpoint.with_suffix(".json").read_text("utf-8")).get("snapshots", [])]
    except (OSError, ValueError, TypeError):
        return []


def snapshot_epochs(profile: Profile, *, checkpoint: Path | None = None) -> list[int]:
    """The points of the profile's training run that can be read: the saved snapshots' epochs and
    the last epoch (the checkpoint itself). Trains first if needed. ``checkpoint``: the run's
    checkpoint as :func:`trained_checkpoint` returned it, where the caller has it (not verified again)."""
    checkpoint = checkpoint if checkpoint is not None else trained_checkpoint(profile, progress=False)
    train = TrainConfig(**training_profile(profile).data.get("train", {}))
    return sorted({*(e for e in saved_snapshots(checkpoint) if e < train.epochs), train.epochs})


def load_snapshot(profile: Profile, epoch: int, *, device: str = "auto", checkpoint: Path | None = None) -> LoadedModel:
    """The profile's model with the image tower saved after ``epoch`` (the final checkpoint for
    the last epoch), trained first if needed; its identity names the snapshot and the weights'
    fingerprint, so cached embeddings of one snapshot are never taken for another's.
    ``checkpoint``: the run's checkpoint as :func:`trained_checkpoint` returned it (verified, its
    snapshots included), where a caller loading several epochs has it: not verified again."""
    target = checkpoint if checkpoint is not None else trained_checkpoint(profile, progress=False)
    epochs = snapshot_epochs(profile, checkpoint=target)
    if epoch not in epochs:
        raise ValueError(f"epoch {epoch} was not saved; the training run saved epochs {epochs}")
    if epoch == epochs[-1]:
        return load_model(profile.model["name"], str(target), device=device)
    path = snapshot_path(target, epoch)
    problem = checkpoint_problem(path)
    if problem is not None:
        raise RuntimeError(f"snapshot {path} {problem}; run `neglabel train --force --profile {profile.name}`")
    loaded = load_model(profile.model["name"], None, device=device)
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    loaded.model.visual.load_state_dict(state, strict=True)
    loaded.model.eval()
    identity = {**loaded.identity, "pretrained": path.name, "weights_sha256": file_sha256(path),
                "state_sha256": state_fingerprint(loaded.model)}
    return dataclasses.replace(loaded, pretrained=path.name, identity=identity)
