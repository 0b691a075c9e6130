"""Image datasets as lists of files: what the embed layer consumes (``paths`` + ``__getitem__``).

Every benchmark (the emoji one built here, ImageNet folders for the paper profile) becomes an
:class:`ImageFiles`: file paths, an integer label per image (-1 for OOD), and a unit id per image
(the concept or class it shows, the resampling unit of the bootstrap).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DataNotFoundError(FileNotFoundError):
    """A dataset folder or file is missing or incomplete (the message names it and what is expected)."""


class CorruptImageError(ValueError):
    """An image file could not be read or decoded."""


ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")  # Pillow modes with an alpha channel


@contextlib.contextmanager
def _decoding(path: os.PathLike | str):
    """What a missing, unreadable or oversized file raises while it is opened and decoded, as one
    :class:`CorruptImageError` naming the file and what is expected."""
    try:
        yield
    except CorruptImageError:
        raise
    except FileNotFoundError:
        raise CorruptImageError(f"image file {str(path)!r} does not exist") from None
    except Image.DecompressionBombError as exc:
        raise CorruptImageError(f"image {str(path)!r} is too large to decode safely ({exc}); expected at most "
                                f"{Image.MAX_IMAGE_PIXELS:,} pixels (raise PIL.Image.MAX_IMAGE_PIXELS if you trust it)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"cannot decode image {str(path)!r}: {exc}; expected a readable image file") from None


# The longest side over the shortest side an image may have: CLIP's preprocessing scales the short
# side to the input size, so a 1,000,000 x 1 image (3 KB as a PNG) would become gigapixels.
MAX_ASPECT_RATIO = 100


def _check_size(image: Image.Image, path: os.PathLike | str) -> None:
    """Refuse, from the header alone (before any pixel is decoded), an image past Pillow's pixel
    limit (Pillow itself refuses only past twice it) or past :data:`MAX_ASPECT_RATIO`."""
    width, height = image.size
    if width * height > Image.MAX_IMAGE_PIXELS:
        raise CorruptImageError(f"image {str(path)!r} is {width:,} x {height:,} = {width * height:,} pixels; expected "
                                f"at most {Image.MAX_IMAGE_PIXELS:,} (raise PIL.Image.MAX_IMAGE_PIXELS if you trust it)")
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise CorruptImageError(f"image {str(path)!r} is {width:,} x {height:,} pixels; expected sides at most "
                                f"{MAX_ASPECT_RATIO} times as long as each other")


def load_rgb(path: os.PathLike | str) -> Image.Image:
    """Open an image as RGB, as CLIP's preprocessing expects, or raise a clear error naming it:
    EXIF orientation applied (phone photos), transparent pixels composited on white, CMYK and
    palette images converted, 16-bit greyscale scaled to 8 bits. An image whose pixel count is
    past Pillow's decompression-bomb limit, or whose sides differ by more than
    :data:`MAX_ASPECT_RATIO`, is refused from its header, not decoded."""
    with _decoding(path), Image.open(path) as image:
        _check_size(image, path)
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            scale = 65535.0 if image.mode.startswith("I;16") or np.asarray(image).max() > 255 else 255.0
            image = Image.fromarray((np.asarray(image, dtype=np.float64) * (255.0 / scale)).round().astype(np.uint8), "L")
        if image.mode in ("RGBA", "LA", "P", "PA"):
            rgba = image.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(canvas, rgba).convert("RGB")
        return image.convert("RGB")


def has_alpha(image: Image.Image) -> bool:
    """Whether an opened image carries transparency (an alpha channel or a transparent palette entry)."""
    return image.mode in ALPHA_MODES or "transparency" in image.info


def load_rgba(path: os.PathLike | str) -> Image.Image:
    """Open an image as RGBA, keeping its transparency (for transforms that act behind the object,
    :mod:`.shifts`): EXIF orientation applied; an image without an alpha channel becomes fully
    opaque, and ``info["had_alpha"]`` says which it was. Errors as :func:`load_rgb`."""
    with _decoding(path), Image.open(path) as image:
        _check_size(image, path)
        image.load()
        image = ImageOps.exif_transpose(image)
        had_alpha = has_alpha(image)
        rgba = (load_rgb(path) if image.mode in ("I;16", "I;16B", "I;16L", "I") else image).convert("RGBA")
    rgba.info["had_alpha"] = had_alpha
    return rgba


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


def checked_data_root(root: os.PathLike | str | None, *, missing: str, holds: str) -> Path:
    """A benchmark's data root, checked before anything is read: ``missing`` is the error where none
    is given, ``holds`` what the folder should hold (both benchmarks on folders, the paper's and a
    reader's, check their root here)."""
    if not root:
        raise DataNotFoundError(missing)
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"data root {str(path)!r} does not exist; expected the folder that holds {holds}")
    return path


def list_images(folder: os.PathLike | str) -> list[Path]:
    """All image files under ``folder`` (recursively), sorted; a clear error when it is missing.

    The paper profile's sets are read with this listing, a reader's folders with
    :func:`.folders.scan`, which also opens each file's header and end to skip (and report)
    zero-byte, unreadable and cut-short files. The paper's sets stay on this listing: they are fixed
    downloads whose image counts are checked exactly (:func:`.imagenet.load_set`), a damaged file
    among them is named when it is embedded (:func:`load_rgb`), and scanning their 85,000 files'
    headers and ends at every load would cost more than it finds."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist; expected a folder of images")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
