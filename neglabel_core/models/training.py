"""Contrastive training of a small image tower against a frozen text tower (CLIP's objective).

Pure training logic on tensors: images as a uint8 tensor, the frozen text side as precomputed
caption embeddings (the text tower never runs in the loop). What the images and captions are,
and where the checkpoint goes, is the caller's business (:mod:`.emoji_training`).

Loss: open_clip's ``ClipLoss``, the symmetric cross-entropy of ``s * v_i . t_j`` over a batch of
distinct concepts (a repeated concept would be a false negative). Optimiser: AdamW, no weight
decay on gains, biases and the logit scale; linear warm-up then cosine decay to zero; the logit
scale s is learned and clamped at 100.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)
CAPTION_TEMPLATES: tuple[str, ...] = ("a photo of a {}", "an emoji of a {}", "{}", "a {} emoji", "an icon of a {}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in the checkpoint's manifest)."""

    epochs: int = 32
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    seed: int = 0
    max_logit_scale: float = 100.0
    blur_p: float = 0.3
    caption_templates: tuple[str, ...] = CAPTION_TEMPLATES
    max_steps: int | None = None  # stop early (smoke tests); the schedule still spans all epochs
    # the image tower is also saved after these epochs (the VLM-strength chapter; no extra training)
    snapshot_epochs: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 24)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainLog:
    epoch_loss: list[float] = field(default_factory=list)
    steps: int = 0
    wall_s: float = 0.0
    logit_scale: float = 0.0


def normalize_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) or float in [0, 1] -> CLIP-normalised float."""
    if x.dtype == torch.uint8:
        x = x.float().div_(255)
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD  # open_clip is imported when used

    mean = torch.tensor(OPENAI_DATASET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(images: torch.Tensor, gen: torch.Generator, *, blur_p: float = 0.3) -> torch.Tensor:
    """Batched augmentation of uint8 images on a white background, returned in [0, 1].

    Random affine (scale 0.75-1.1, rotation +-20 degrees, translation +-12%; white fill), brightness
    and contrast x0.75-1.25, saturation x0.6-1.4, a 3x3 blur with probability ``blur_p``.
    No horizontal flips (arrows, text) and no hue shifts (colour names).
    """
    b = images.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=gen) * (hi - lo) + lo

    x = images.float().div_(255)
    scale, angle = uniform(0.75, 1.1), uniform(-20, 20) * math.pi / 180
    tx, ty = uniform(-0.12, 0.12), uniform(-0.12, 0.12)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x - 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 1  # white outside
    x = x * uniform(0.75, 1.25).view(b, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.75, 1.25).view(b, 1, 1, 1) + mean
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = gray + (x - gray) * uniform(0.6, 1.4).view(b, 1, 1, 1)
    blur = torch.rand(b, generator=gen) < blur_p
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        kernel = (k[:, None] * k[None, :] / 16).expand(3, 1, 3, 3)
        x[blur] = F.conv2d(F.pad(x[blur], (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    return x.clamp_(0, 1)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "logit_scale" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, total: int, warmup: int, base_lr: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, progress)))


def train_image_tower(
    model: torch.nn.Module,
    images: torch.Tensor,
    image_concepts: torch.Tensor,
    caption_emb: torch.Tensor,
    caption_concepts: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    *,
    progress: bool = True,
    on_snapshot: Callable[[int, dict[str, torch.Tensor], TrainLog], None] | None = None,
) -> TrainLog:
    """Train ``model.visual`` (and ``model.logit_scale``) in place; the text tower stays frozen.

    ``images``: uint8 (N, 3, H, W); ``image_concepts``: (N,) concept index of each image;
    ``caption_emb``: (C, D) L2-normalised frozen text embeddings; ``caption_concepts``: (C,).
    An epoch makes one pass over a fresh permutation of the concepts per image style present
    (``N // n_concepts`` passes); each step takes ``batch_size`` distinct concepts, one random
    image and one random caption of each. Only full batches count.

    After each epoch in ``config.snapshot_epochs``, ``on_snapshot(epoch, state, log)`` receives a
    copy of the image tower's state (contiguous tensors); it touches no random state, so the
    final weights are those of a run without snapshots.
    """
    n_concepts = int(image_concepts.max()) + 1
    if int(caption_concepts.max()) + 1 != n_concepts or torch.bincount(caption_concepts, minlength=n_concepts).min() == 0:
        raise ValueError("every concept needs at least one caption and one image")
    if config.batch_size > n_concepts:
        raise ValueError(f"batch_size={config.batch_size} is larger than the number of concepts ({n_concepts})")
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    images_of = [torch.nonzero(image_concepts == c).flatten() for c in range(n_concepts)]
    captions_of = [torch.nonzero(caption_concepts == c).flatten() for c in range(n_concepts)]
    passes = max(1, round(len(images) / n_concepts))
    steps_per_epoch = passes * (n_concepts // config.batch_size)
    total = config.epochs * steps_per_epoch
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.visual.parameters():
        p.requires_grad_(True)
    model.logit_scale.requires_grad_(True)
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    from open_clip.loss import ClipLoss

    loss_fn = ClipLoss()
    max_log_scale = math.log(config.max_logit_scale)
    log, step = TrainLog(), 0
    start = time.perf_counter()
    model.visual.train()
    # channels-last convolutions (faster with oneDNN; the pinned numerics switch oneDNN off, see numerics)
    model.visual.to(memory_format=torch.channels_last)
    bar = tqdm(total=config.max_steps or total, desc="train image tower", disable=not progress, unit="step")
    for _epoch in range(config.epochs):
        losses = []
        for _ in range(passes):
            order = torch.randperm(n_concepts, generator=gen)
            for b in range(n_concepts // config.batch_size):
                concepts = order[b * config.batch_size : (b + 1) * config.batch_size]
                pick = torch.stack([images_of[c][torch.randint(len(images_of[c]), (1,), generator=gen)] for c in concepts])
                cap = torch.stack([captions_of[c][torch.randint(len(captions_of[c]), (1,), generator=gen)] for c in concepts])
                x = normalize_images(augment(images[pick.flatten()], gen, blur_p=config.blur_p))
                x = x.contiguous(memory_format=torch.channels_last)
                feats = F.normalize(model.visual(x), dim=-1)
                loss = loss_fn(feats, caption_emb[cap.flatten()], model.logit_scale.exp())
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, total, warmup, config.lr)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, max_log_scale)
                losses.append(loss.item())
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                if config.max_steps and step >= config.max_steps:
                    break
            if config.max_steps and step >= config.max_steps:
                break
        log.epoch_loss.append(sum(losses) / max(1, len(losses)))
        logger.info("epoch %d/%d: mean loss %.4f, logit scale %.1f", _epoch + 1, config.epochs, log.epoch_loss[-1],
                    model.logit_scale.detach().exp().item())
        if on_snapshot is not None and _epoch + 1 in config.snapshot_epochs:
            log.steps, log.logit_scale = step, model.logit_scale.detach().exp().item()
            state = {k: v.detach().clone().contiguous() for k, v in model.visual.state_dict().items()}
            on_snapshot(_epoch + 1, state, log)
        if config.max_steps and step >= config.max_steps:
            break
    bar.close()
    model.visual.to(memory_format=torch.contiguous_format)
    model.eval()
    log.steps, log.wall_s, log.logit_scale = step, time.perf_counter() - start, model.logit_scale.detach().exp().item()
    return log
