"""The paper profile's data: ImageNet-1k validation (ID), the MOS OOD sets and the ImageNet
domain-shift sets, read from local folders under one data root. Nothing is downloaded.

Every set is described as data (a profile's ``benchmark`` section)::

    {"path": "imagenet/val", "layout": "synset_folders", "expected": 50000}

``layout`` is one of

- ``"synset_folders"``: one sub-folder per WordNet id (``n01440764/...``), the usual ImageNet
  val layout (also ImageNet-Sketch, -A and -R); labels follow CLIP's class order;
- ``"index_folders"``: one sub-folder per class index ``0`` ... ``999`` (ImageNet-V2);
- ``"labels_file"``: an mmpretrain-style list, one ``<relative path> <class index>`` per line,
  e.g. the official NegLabel code's ``val_labeled.txt`` (``labels_file`` names it, relative to
  the data root; image paths are relative to ``path``);
- ``"images"`` (default, OOD sets): every image file under ``path``, recursively.

``expected`` is the number of images a complete copy holds; a folder with another count is an
error that names the folder, the count found and the count expected (``null`` skips the check,
e.g. for a deliberate subset). Sets marked ``"optional": true`` are left out when their folder
is absent, and reported as errors like any other when present but incomplete.

Class names: ``open_clip.zero_shot_metadata.IMAGENET_CLASSNAMES`` (CLIP's cleaned names, class
index order); WordNet ids in the same order: timm's ``imagenet_synsets.txt``.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .images import DataNotFoundError, ImageFiles, checked_data_root, list_images

LAYOUTS = ("synset_folders", "index_folders", "labels_file", "images")
N_CLASSES = 1000


@lru_cache(maxsize=1)
def synsets() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k WordNet ids in class-index order (shipped with timm)."""
    text = importlib.resources.files("timm.data._info").joinpath("imagenet_synsets.txt").read_text("utf-8")
    ids = tuple(text.split())
    if len(ids) != N_CLASSES:
        raise RuntimeError(f"timm's imagenet_synsets.txt lists {len(ids)} ids; expected {N_CLASSES}")
    return ids


def class_names() -> list[str]:
    """CLIP's ImageNet-1k class names in class-index order (shipped with open_clip)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


@dataclass(frozen=True)
class SetSpec:
    """Where one image set lies under the data root and what a complete copy holds."""

    name: str
    path: str
    layout: str = "images"
    expected: int | None = None
    optional: bool = False
    labels_file: str | None = None

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> SetSpec:
        unknown = sorted(set(spec) - {"path", "layout", "expected", "optional", "labels_file"})
        if unknown or "path" not in spec:
            raise ValueError(f"image set {name!r}: keys {unknown or sorted(spec)} are not understood; expected 'path' "
                             "and optionally 'layout', 'expected', 'optional', 'labels_file'")
        layout = spec.get("layout", "images")
        if layout not in LAYOUTS:
            raise ValueError(f"image set {name!r}: unknown layout {layout!r}; expected one of {list(LAYOUTS)}")
        if layout == "labels_file" and not spec.get("labels_file"):
            raise ValueError(f"image set {name!r}: layout 'labels_file' needs a 'labels_file' (e.g. 'imagenet/val_labeled.txt')")
        return cls(name, spec["path"], layout, spec.get("expected"), bool(spec.get("optional", False)), spec.get("labels_file"))


def _labelled_folders(root: Path, spec: SetSpec) -> ImageFiles:
    """Images in per-class sub-folders; label = class index, unit = the class's WordNet id."""
    names = synsets() if spec.layout == "synset_folders" else [str(i) for i in range(N_CLASSES)]
    index = {name: i for i, name in enumerate(names)}
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    unknown = [p.name for p in folders if p.name not in index]
    if unknown:
        kind = "WordNet ids such as n01440764" if spec.layout == "synset_folders" else "class indices 0 ... 999"
        raise DataNotFoundError(f"{spec.name}: sub-folder(s) {unknown[:5]}{' ...' if len(unknown) > 5 else ''} of {root} are "
                                f"not ImageNet classes; expected {kind} (layout {spec.layout!r})")
    paths, labels, units = [], [], []
    for folder in folders:
        label = index[folder.name]
        for path in list_images(folder):
            paths.append(path)
            labels.append(label)
            units.append(synsets()[label])
    return ImageFiles(paths, labels, units, spec.name)


def _from_labels_file(data_root: Path, root: Path, spec: SetSpec) -> ImageFiles:
    """Images listed in an mmpretrain-style file: ``<path relative to root> <class index>``."""
    listing = data_root / spec.labels_file
    if not listing.is_file():
        raise DataNotFoundError(f"{spec.name}: labels file {str(listing)!r} does not exist; expected lines "
                                "'<image path relative to the image folder> <class index 0-999>'")
    paths, labels = [], []
    for number, line in enumerate(listing.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit() or not 0 <= int(parts[1]) < N_CLASSES:
            raise DataNotFoundError(f"{spec.name}: line {number} of {listing} is {line!r}; expected "
                                    "'<image path> <class index 0-999>'")
        paths.append(root / parts[0])
        labels.append(int(parts[1]))
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"{spec.name}: {len(missing):,} of the {len(paths):,} images listed in {listing} do not "
                                f"exist, e.g. {str(missing[0])!r}; expected them under {str(root)!r}")
    return ImageFiles(paths, labels, [synsets()[i] for i in labels], spec.name)


def _unlabelled(root: Path, spec: SetSpec) -> ImageFiles:
    """Every image under ``root``. Where the images lie in several sub-folders (class folders,
    e.g. Textures) the unit is the sub-folder; where they share one folder (``iNaturalist/`` or
    ``iNaturalist/images/``), each image is its own unit."""
    paths = list_images(root)
    by_class = len({p.parent for p in paths}) > 1
    units = [str(p.parent.relative_to(root)) if by_class else str(p.relative_to(root)) for p in paths]
    return ImageFiles(paths, units=units, name=spec.name)


def load_set(data_root: os.PathLike | str, spec: SetSpec) -> ImageFiles:
    """One image set, its count checked against ``spec.expected``."""
    root = Path(data_root) / spec.path
    if not root.is_dir():
        raise DataNotFoundError(f"{spec.name}: folder {str(root)!r} does not exist; expected "
                                f"{_describe(spec)} there (see data/README.md)")
    if spec.layout == "labels_file":
        files = _from_labels_file(Path(data_root), root, spec)
    elif spec.layout == "images":
        files = _unlabelled(root, spec)
    else:
        files = _labelled_folders(root, spec)
    if spec.expected is not None and len(files) != spec.expected:
        state = "is empty" if not len(files) else "is incomplete" if len(files) < spec.expected else "holds extra files"
        raise DataNotFoundError(f"{spec.name}: {str(root)!r} {state}: found {len(files):,} images, expected "
                                f"{spec.expected:,} ({_describe(spec)}; set \"expected\": null to use a subset)")
    return files


def _describe(spec: SetSpec) -> str:
    count = f"{spec.expected:,} images" if spec.expected is not None else "images"
    return {
        "synset_folders": f"{count} in one sub-folder per WordNet id (n01440764, ...)",
        "index_folders": f"{count} in one sub-folder per class index (0 ... 999)",
        "labels_file": f"{count} listed in {spec.labels_file}",
        "images": f"{count} (any folder structure)",
    }[spec.layout]


@dataclass
class ImageNetSets:
    """The loaded sets: ID, OOD by name and (present) domain-shift sets by name."""

    id: ImageFiles
    ood: dict[str, ImageFiles]
    shift: dict[str, ImageFiles]


def load_sets(data_root: os.PathLike | str | None, id_spec: Mapping[str, Any], ood: Mapping[str, Mapping[str, Any]],
              shift: Mapping[str, Mapping[str, Any]] | None = None, *, id_name: str = "ImageNet-1k") -> ImageNetSets:
    """Every set of the profile. All problems are collected and raised together in one
    :class:`DataNotFoundError`, so a reader sees every missing or partial folder at once."""
    root = checked_data_root(data_root, holds="imagenet/ and ood/ (see data/README.md)", missing=(
        "no data root: pass --data-root DIR (make book ... DATA_ROOT=DIR), or set \"benchmark\": {\"root\": DIR} in the "
        "profile overrides; see data/README.md for the layout"))
    problems: list[str] = []
    loaded: dict[str, ImageFiles] = {}

    def attempt(spec: SetSpec) -> None:
        if spec.optional and not (root / spec.path).exists():
            return
        try:
            loaded[spec.name] = load_set(root, spec)
        except DataNotFoundError as exc:
            problems.append(str(exc))

    specs_ood = [SetSpec.from_dict(name, s) for name, s in ood.items()]
    specs_shift = [SetSpec.from_dict(name, s) for name, s in (shift or {}).items()]
    for spec in [SetSpec.from_dict(id_name, id_spec), *specs_ood, *specs_shift]:
        attempt(spec)
    if problems:
        raise DataNotFoundError(f"the data under {str(root)!r} is not complete:\n    " + "\n    ".join(problems))
    return ImageNetSets(loaded[id_name], {s.name: loaded[s.name] for s in specs_ood},
                        {s.name: loaded[s.name] for s in specs_shift if s.name in loaded})

