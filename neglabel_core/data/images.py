"""Image datasets as lists of files: what the embed layer consumes (``paths`` + ``__getitem__``).

Every benchmark (the emoji one built here, ImageNet folders for the paper profile) becomes an
:class:`ImageFiles`: file paths, an integer label per image (-1 for OOD), and a unit id per image
(the concept or class it shows, the resampling unit of the bootstrap).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DataNotFoundError(FileNotFoundError):
    """A dataset folder or file is missing or incomplete (the message names it and what is expected)."""


class CorruptImageError(ValueError):
    """An image file could not be read or decoded."""


def load_rgb(path: os.PathLike | str) -> Image.Image:
    """Open an image as RGB (transparent pixels composited on white), or raise a clear error."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "P"):
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(canvas, rgba).convert("RGB")
            return image.convert("RGB")
    except FileNotFoundError:
        raise CorruptImageError(f"image file {str(path)!r} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"cannot decode image {str(path)!r}: {exc}; expected a readable image file") from None


@dataclass
class ImageFiles:
    """A list of image files with labels and unit ids; ``dataset[i]`` is ``(PIL image, label)``."""

    paths: list[str]
    labels: list[int] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    name: str = "images"

    def __post_init__(self) -> None:
        self.paths = [str(p) for p in self.paths]
        if not self.labels:
            self.labels = [-1] * len(self.paths)
        if not self.units:
            self.units = list(self.paths)
        if not (len(self.paths) == len(self.labels) == len(self.units)):
            raise ValueError(
                f"{self.name}: paths, labels and units must have equal lengths, got "
                f"{len(self.paths)}, {len(self.labels)}, {len(self.units)}"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return load_rgb(self.paths[index]), self.labels[index]

    def subset(self, indices: Sequence[int], name: str | None = None) -> ImageFiles:
        return ImageFiles(
            [self.paths[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.units[i] for i in indices],
            name or self.name,
        )


def list_images(folder: os.PathLike | str) -> list[Path]:
    """All image files under ``folder`` (recursively), sorted; a clear error when it is missing."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist; expected a folder of images")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
