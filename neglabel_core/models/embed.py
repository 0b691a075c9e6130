"""Batched text and image embedding, L2-normalised float32, through the on-disk cache.

Texts: tokenised in batches; where the text tower's pooling ignores padding, each batch is
padded only to its longest member and batches are formed in order of text length (same
embeddings, 3.4x faster on a CPU than padding to the context length).
Images: a DataLoader with workers, pinned memory and autocast on CUDA, streamed batch by batch
into the cache, so N never bounds memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .cache import ArrayCache

if TYPE_CHECKING:  # typing only: embed does not depend on how models are loaded
    from .factory import LoadedModel

CacheArg = Union[bool, ArrayCache, None]


def _cache(cache: CacheArg) -> ArrayCache | None:
    if cache is True:
        return ArrayCache()
    return cache or None


def _autocast(device: torch.device):
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def _pad_token_id(loaded: LoadedModel) -> int | None:
    """The pad id when trimming padding leaves the text embeddings unchanged, else ``None``.

    True for Hugging Face text towers with masked mean or CLS pooling (their attention mask
    comes from the pad id). Not for open_clip's own text transformers: they add positional
    embeddings and the causal mask for the full context length.
    """
    text = getattr(loaded.model, "text", None)
    if text is not None and hasattr(text, "pooler") and hasattr(text, "config"):  # HFTextEncoder
        if type(text.pooler).__name__ in {"MeanPooler", "ClsPooler", "ClsLastHiddenStatePooler"}:
            return int(text.config.pad_token_id)
    return None


def _trim_padding(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    used = (tokens != pad_id).any(dim=0).nonzero()
    length = int(used.max()) + 1 if used.numel() else 1
    return tokens[:, :length]


def text_payload(loaded: LoadedModel, texts: Sequence[str]) -> dict[str, Any]:
    """Cache payload of a text list: the text tower's own identity where the model has a separate
    one (CustomTextCLIP: text embeddings then survive retraining the image tower), else the whole
    model's; the tokenizer's context length; the exact texts."""
    tower = loaded.identity.get("text") or loaded.identity
    return {"kind": "text", "model": tower, "context_length": loaded.context_length, "texts": list(texts)}


def encode_texts(
    loaded: LoadedModel,
    texts: Sequence[str],
    *,
    batch_size: int = 256,
    cache: CacheArg = True,
    dynamic_padding: bool = True,
    sort_by_length: bool = True,
    progress: bool = True,
    desc: str = "texts",
    normalize: bool = True,
) -> np.ndarray:
    """Embed ``texts`` (already in their prompt) with the model's text tower.

    Returns an ``(N, D)`` float32 array of L2-normalised rows (``normalize=False``: the text
    tower's raw outputs, for means taken before normalising), in the order of ``texts``.
    ``cache``: True (default location), an :class:`ArrayCache`, or False. The cache key is the
    model identity plus the exact text list. ``dynamic_padding``/``sort_by_length`` change speed,
    not results (where the tower's pooling ignores padding; otherwise they are not used).
    """
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty; expected at least one text to embed")
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts must be strings, got {bad[0]!r}")
    store = _cache(cache)
    payload = text_payload(loaded, texts)
    if not normalize:  # raw outputs are another array; normalised ones keep their existing key
        payload["normalized"] = False
    if store is not None and (hit := store.load(payload)) is not None:
        return hit
    pad_id = _pad_token_id(loaded) if dynamic_padding else None
    # With dynamic padding, batches of similar length waste the least compute: embed in order of
    # length, then put the rows back in the caller's order.
    by_length = pad_id is not None and sort_by_length
    order = np.argsort([len(t) for t in texts], kind="stable") if by_length else np.arange(len(texts))
    chunks = []
    with torch.inference_mode(), _autocast(loaded.device):
        for start in tqdm(range(0, len(texts), batch_size), desc=f"embed {desc}", disable=not progress, unit="batch"):
            tokens = loaded.tokenizer([texts[i] for i in order[start : start + batch_size]])
            if pad_id is not None:
                tokens = _trim_padding(tokens, pad_id)
            feats = loaded.model.encode_text(tokens.to(loaded.device)).float()
            chunks.append((torch.nn.functional.normalize(feats, dim=-1) if normalize else feats).cpu())
    embedded = torch.cat(chunks).numpy()
    result = np.empty_like(embedded)
    result[order] = embedded
    if store is not None:
        store.store(payload, result)
    return result


def split_transform(transform: Callable | None) -> tuple[Callable | None, torch.Tensor | None, torch.Tensor | None]:
    """Split a ``Compose([..., ToTensor(), Normalize(mean, std)])`` into its PIL part (run in the
    loader workers, which then ship uint8 tensors: 4x less to move than float32) and the
    normalisation, done on the model's device as ``(x / 255 - mean) / std``. Identical results.
    Returns ``(pil_part, mean, std)``, or ``(transform, None, None)`` when it does not split."""
    from torchvision import transforms as T

    steps = getattr(transform, "transforms", None)
    if not steps or len(steps) < 2 or not isinstance(steps[-1], T.Normalize) or not isinstance(steps[-2], T.ToTensor):
        return transform, None, None
    normalize = steps[-1]
    mean = torch.tensor(normalize.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(normalize.std, dtype=torch.float32).view(1, -1, 1, 1)
    return T.Compose(list(steps[:-2])), mean, std


def _to_uint8_tensor(image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB") if getattr(image, "mode", "RGB") != "RGB" else image)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


class _Transformed(Dataset):
    """Applies the image transform in the DataLoader workers; yields (tensor, index). With
    ``as_uint8`` the transform stops before ``ToTensor`` and images travel as uint8."""

    def __init__(self, dataset: Dataset, transform: Callable | None, as_uint8: bool = False):
        self.dataset, self.transform, self.as_uint8 = dataset, transform, as_uint8

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        item = self.dataset[index]
        image = item[0] if isinstance(item, tuple) else item
        if self.transform is not None and not isinstance(image, torch.Tensor):
            image = self.transform(image)
        if self.as_uint8 and not isinstance(image, torch.Tensor):
            image = _to_uint8_tensor(image)
        return image, index


def image_payload(loaded: LoadedModel, dataset: Any, transform: Callable | None | str) -> dict[str, Any] | None:
    """Cache payload for an image dataset with a ``paths`` attribute: each file by its path
    relative to the folder all of them share, its size and mtime. No absolute path, so a moved or
    copied cache or data folder (``cp -a`` keeps mtimes) keeps its entries. A dataset that
    changes its images on the way (``variant()``, e.g. a graded shift) adds what it changes."""
    paths = getattr(dataset, "paths", None)
    if paths is None:
        return None
    absolute = [os.path.abspath(p) for p in paths]
    base = os.path.commonpath([os.path.dirname(p) for p in absolute]) if absolute else ""
    files = []
    for p in absolute:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise FileNotFoundError(f"image file {p} does not exist; for a benchmark that fetches its own data, "
                                    "run `neglabel fetch` to restore it") from None
        files.append([os.path.relpath(p, base), st.st_size, st.st_mtime_ns])
    shown = loaded.preprocess_text if isinstance(transform, str) and transform == "model" else repr(transform)
    payload = {"kind": "image", "model": loaded.identity, "transform": shown, "files": files}
    variant = getattr(dataset, "variant", None)
    if callable(variant) and (extra := variant()) is not None:
        payload["variant"] = extra  # e.g. a graded shift and its severity (data.shifts.ShiftedImages)
    return payload


def default_num_workers(device: torch.device) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cuda":
        return max(1, min(cpus - 1, 16))
    return 0 if cpus <= 2 else min(cpus - 1, 4)


def encode_images(
    loaded: LoadedModel,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    num_workers: int | None = None,
    transform: Callable | None | str = "model",
    cache: CacheArg = True,
    progress: bool = True,
    desc: str = "images",
) -> np.ndarray:
    """Embed every image of ``dataset`` with the model's image tower.

    ``dataset[i]`` returns a PIL image (or ``(image, ...)``), transformed here by
    ``transform`` (default: the model's preprocess), or an already transformed tensor. Datasets
    with a ``paths`` attribute are cached (key: model identity, transform, files with sizes
    and mtimes); the result is then a read-only memory map of the cache file.
    Returns ``(N, D)`` float32, L2-normalised rows.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("dataset is empty; expected at least one image")
    store = _cache(cache)
    payload = image_payload(loaded, dataset, transform) if store is not None else None
    if payload is not None and (hit := store.load(payload, mmap=True)) is not None:
        return hit
    transform = loaded.preprocess if isinstance(transform, str) and transform == "model" else transform
    device = loaded.device
    on_cuda = device.type == "cuda"
    workers = default_num_workers(device) if num_workers is None else num_workers
    pil_part, mean, std = split_transform(transform)
    if mean is not None:
        mean, std = mean.to(device), std.to(device)
    loader = DataLoader(
        _Transformed(dataset, pil_part, as_uint8=mean is not None),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=on_cuda,
        persistent_workers=False,
        prefetch_factor=2 if workers else None,
    )
    model = loaded.model
    if on_cuda:
        model = model.to(memory_format=torch.channels_last)

    with contextlib.ExitStack() as stack, torch.inference_mode(), _autocast(device):
        out: np.ndarray | None = None
        for images, index in tqdm(loader, desc=f"embed {desc}", disable=not progress, unit="batch"):
            images = images.to(device, non_blocking=on_cuda)
            if mean is not None:
                images = (images.float().div_(255) - mean) / std
            if on_cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            feats = torch.nn.functional.normalize(model.encode_image(images).float(), dim=-1).cpu().numpy()
            if out is None:  # the embedding width is known from the first batch
                shape = (n, feats.shape[1])
                out = np.empty(shape, np.float32) if payload is None else stack.enter_context(store.writer(payload, shape))
            out[int(index[0]) : int(index[-1]) + 1] = feats
        if payload is None:
            return out
    return store.load(payload, mmap=True)


TEMPLATE_MEANS = ("normalized", "raw")


def class_embeddings(loaded: LoadedModel, class_names: Sequence[str], templates: Sequence[str], *,
                     progress: bool = True, mean: str = "normalized", desc: str = "ID prompts") -> np.ndarray:
    """Prompt-ensemble class embeddings (K, D): for each class, the mean of its templates'
    embeddings, re-normalised, normalize(sum_t e_t / T). ``mean="normalized"`` averages the
    L2-normalised e_t (CLIP's ensembling); ``"raw"`` averages the text tower's raw outputs (as CSP's
    official code), which weights each template by its output norm."""
    if mean not in TEMPLATE_MEANS:
        raise ValueError(f"template mean {mean!r}; expected one of {list(TEMPLATE_MEANS)}")
    texts = [t.format(name) for name in class_names for t in templates]
    emb = encode_texts(loaded, texts, progress=progress, desc=desc, normalize=mean == "normalized")
    avg = emb.reshape(len(class_names), len(templates), -1).mean(axis=1)
    return avg / np.linalg.norm(avg, axis=1, keepdims=True)
