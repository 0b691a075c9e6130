"""Graded shifts of the test images: one property of an image moved by a named amount.

A *shift* is data in the profile (``graded_shifts``): a name, a transform from
:data:`TRANSFORMS` and five severities, each a dict of that transform's parameters. Severity 0
is the unshifted image; severity 1..5 apply the parameters listed. The transforms work on the
RGBA image (before its transparent pixels are composited on white) so that a background or a
pose change keeps the object and moves only what it says it moves:

- ``background``: the transparent pixels filled with a colour far from the image's own palette
  (``colour: "far"``, or an ``[r, g, b]``) blended with a seeded texture of smooth noise
  (``texture``: 0..1, its share), laid over the white the model knows with weight ``strength``
  (0: white, 1: the colour alone), then ``clutter`` seeded random shapes; an image without an
  alpha channel has no background to replace and stays as it is (:func:`without_alpha` counts them);
- ``lighting``: ``gamma``, then ``contrast`` around mid-grey, then ``brightness`` (a factor), on
  the composited image: ``y = brightness * (contrast * (x^gamma - 1/2) + 1/2)``, x in [0, 1];
- ``pose``: a rotation by ``rotate`` degrees (sign seeded per image), scaling by ``scale`` and a
  move by ``offset`` of the image side in a seeded direction, about the image centre;
- ``blur``: a Gaussian blur of radius ``radius`` x the shorter image side;
- ``noise``: additive Gaussian noise of standard deviation ``sigma`` (in 0..255 units), seeded.

Every random choice is drawn from a generator seeded by (the study's seed, the shift's name,
the severity, the image's index in its set), so a shifted set is the same on every machine
and every run, and the cache keys it by shift, severity and parameters
(:meth:`ShiftedImages.variant`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .images import ImageFiles, has_alpha, load_rgb, load_rgba

SHIFT_VERSION = 1  # part of every cache key: bump when a transform changes what it draws
N_SEVERITIES = 5
# Candidate background colours for colour "far": saturated and dark/light extremes
FAR_COLOURS = ((0, 0, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0), (0, 0, 255), (255, 0, 0), (0, 160, 0),
               (128, 128, 128))


class ShiftError(ValueError):
    """A shift that cannot be applied as asked (unknown transform, bad parameters, no alpha)."""


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def _far_colour(rgba: Image.Image) -> tuple[int, int, int]:
    """The candidate colour farthest (Euclidean, RGB) from the mean colour of the opaque pixels."""
    pixels = np.asarray(rgba, dtype=np.float64)
    alpha = pixels[..., 3:] / 255.0
    weight = float(alpha.sum())
    mean = (pixels[..., :3] * alpha).sum(axis=(0, 1)) / weight if weight else np.full(3, 255.0)
    distances = [float(np.sum((np.array(c) - mean) ** 2)) for c in FAR_COLOURS]
    return FAR_COLOURS[int(np.argmax(distances))]


def _background(rgba: Image.Image, params: Mapping[str, Any], rng: np.random.Generator) -> Image.Image:
    if not _has_alpha(rgba):
        return _composite_on_white(rgba)  # no transparent pixels: no background to replace (counted: without_alpha)
    width, height = rgba.size
    colour = params.get("colour", "far")
    base = np.array(_far_colour(rgba) if colour == "far" else colour, dtype=np.float64)
    canvas = np.broadcast_to(base, (height, width, 3)).copy()
    texture = float(params.get("texture", 0.0))
    if texture:
        coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.uint8)  # smooth coloured noise, 8x8 cells upsampled
        smooth = np.asarray(Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BICUBIC), np.float64)
        canvas = (1 - texture) * canvas + texture * smooth
    strength = float(params.get("strength", 1.0))
    canvas = (1 - strength) * 255.0 + strength * canvas  # over the white the model knows
    image = Image.fromarray(np.clip(np.round(canvas), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(params.get("clutter", 0))):
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * (width, height)
        w, h = rng.uniform(0.1, 0.4, 2) * (width, height)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = (float(x0), float(y0), float(x0 + w), float(y0 + h))
        (draw.ellipse if rng.integers(0, 2) else draw.rectangle)(box, fill=fill)
    return Image.alpha_composite(image.convert("RGBA"), rgba).convert("RGB")


def _has_alpha(rgba: Image.Image) -> bool:
    """Whether the file had an alpha channel (:func:`load_rgba` records it)."""
    return bool(rgba.info.get("had_alpha", True))


def _lighting(rgba: Image.Image, params: Mapping[str, Any], rng: np.random.Generator) -> Image.Image:
    x = np.asarray(_composite_on_white(rgba), dtype=np.float64) / 255.0
    y = x ** float(params.get("gamma", 1.0))
    y = float(params.get("contrast", 1.0)) * (y - 0.5) + 0.5
    y = float(params.get("brightness", 1.0)) * y
    return Image.fromarray(np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8), "RGB")


def _pose(rgba: Image.Image, params: Mapping[str, Any], rng: np.random.Generator) -> Image.Image:
    width, height = rgba.size
    angle = math.radians(float(params.get("rotate", 0.0))) * (1 if rng.integers(0, 2) else -1)
    scale = float(params.get("scale", 1.0))
    direction = rng.uniform(0, 2 * math.pi)
    offset = float(params.get("offset", 0.0)) * min(width, height)
    dx, dy = offset * math.cos(direction), offset * math.sin(direction)
    cx, cy = width / 2, height / 2
    # PIL's affine maps each output pixel (x, y) to its input: the inverse of
    # "rotate by angle and scale about the centre, then move by (dx, dy)".
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    ox, oy = cx + dx, cy + dy
    coefficients = (cos, sin, cx - cos * ox - sin * oy, -sin, cos, cy + sin * ox - cos * oy)
    moved = rgba.convert("RGBa").transform(rgba.size, Image.Transform.AFFINE, coefficients,
                                           resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0, 0))
    return _composite_on_white(moved.convert("RGBA"))


def _blur(rgba: Image.Image, params: Mapping[str, Any], rng: np.random.Generator) -> Image.Image:
    radius = float(params.get("radius", 0.0)) * min(rgba.size)
    return _composite_on_white(rgba).filter(ImageFilter.GaussianBlur(radius))


def _noise(rgba: Image.Image, params: Mapping[str, Any], rng: np.random.Generator) -> Image.Image:
    x = np.asarray(_composite_on_white(rgba), dtype=np.float64)
    y = x + rng.normal(0.0, float(params.get("sigma", 0.0)), x.shape)
    return Image.fromarray(np.clip(np.round(y), 0, 255).astype(np.uint8), "RGB")


Transform = Callable[[Image.Image, Mapping[str, Any], np.random.Generator], Image.Image]
# Each transform: its function and the parameters it reads, with their identity values
TRANSFORMS: dict[str, tuple[Transform, dict[str, Any]]] = {
    "background": (_background, {"colour": "far", "strength": 0.0, "texture": 0.0, "clutter": 0}),
    "lighting": (_lighting, {"brightness": 1.0, "contrast": 1.0, "gamma": 1.0}),
    "pose": (_pose, {"rotate": 0.0, "scale": 1.0, "offset": 0.0}),
    "blur": (_blur, {"radius": 0.0}),
    "noise": (_noise, {"sigma": 0.0}),
}


@dataclass(frozen=True)
class GradedShift:
    """One shift of a profile: ``severities[s - 1]`` are the parameters of severity ``s`` (1..5)."""

    name: str
    transform: str
    severities: tuple[Mapping[str, Any], ...]

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ShiftError(f"shift {self.name!r}: unknown transform {self.transform!r}; expected one of {list(TRANSFORMS)}")
        if len(self.severities) != N_SEVERITIES:
            raise ShiftError(f"shift {self.name!r} has {len(self.severities)} severities; expected {N_SEVERITIES}")
        known = TRANSFORMS[self.transform][1]
        for level, params in enumerate(self.severities, 1):
            unknown = sorted(set(params) - set(known))
            if unknown:
                raise ShiftError(f"shift {self.name!r}, severity {level}: unknown parameter(s) {unknown} for transform "
                                 f"{self.transform!r}; expected some of {sorted(known)}")

    def params(self, severity: int) -> dict[str, Any]:
        """The transform's parameters at ``severity`` (0: every parameter at its identity value)."""
        if not (isinstance(severity, int) and 0 <= severity <= N_SEVERITIES):
            raise ShiftError(f"shift {self.name!r}: severity {severity!r} is out of range; expected an integer 0..{N_SEVERITIES}")
        identity = dict(TRANSFORMS[self.transform][1])
        return identity if severity == 0 else {**identity, **self.severities[severity - 1]}

    def apply(self, rgba: Image.Image, severity: int, rng: np.random.Generator) -> Image.Image:
        """The RGB image at ``severity`` (severity 0: the image composited on white, unchanged)."""
        params = self.params(severity)
        if severity == 0:
            return _composite_on_white(rgba)
        return TRANSFORMS[self.transform][0](rgba, params, rng)


def graded_shifts(spec: Mapping[str, Any] | None) -> dict[str, GradedShift]:
    """A profile's ``graded_shifts`` section as :class:`GradedShift` objects by name ({} if none)."""
    if not spec:
        return {}
    shifts = {}
    for item in spec.get("shifts", []):
        if item["name"] in shifts:
            raise ShiftError(f"shift name {item['name']!r} appears twice in graded_shifts; expected unique names")
        shifts[item["name"]] = GradedShift(item["name"], item["transform"], tuple(item["severities"]))
    return shifts


def image_seed(seed: int, shift: str, severity: int, index: int) -> np.random.Generator:
    """The generator of one shifted image: (study seed, CRC-32 of the shift's name, severity, index)."""
    return np.random.default_rng([seed, zlib.crc32(shift.encode("utf-8")), severity, index])


@dataclass
class ShiftedImages(ImageFiles):
    """An :class:`ImageFiles` whose images come out shifted: ``dataset[i]`` is the i-th image at
    ``severity`` of ``shift``. Severity 0 returns the unshifted image exactly as
    :class:`ImageFiles` does (:func:`load_rgb`)."""

    shift: GradedShift | None = None
    severity: int = 0
    seed: int = 0
    _variant: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shift is None:
            raise ShiftError("ShiftedImages needs a shift")
        self._variant = {"shift": self.shift.name, "transform": self.shift.transform, "severity": self.severity,
                         "params": self.shift.params(self.severity), "seed": self.seed, "version": SHIFT_VERSION}

    def variant(self) -> dict[str, Any] | None:
        """What the cache key adds to the files: the shift, its severity and parameters (None at severity 0,
        so the unshifted set shares the plain set's cache entry)."""
        return None if self.severity == 0 else dict(self._variant)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        if self.severity == 0:
            return load_rgb(self.paths[index]), self.labels[index]
        rgba = load_rgba(self.paths[index])
        try:
            image = self.shift.apply(rgba, self.severity, image_seed(self.seed, self.shift.name, self.severity, index))
        except ShiftError as exc:
            raise ShiftError(f"image {self.paths[index]!r}: {exc}") from None
        return image, self.labels[index]


def shifted(files: ImageFiles, shift: GradedShift, severity: int, *, seed: int = 0) -> ShiftedImages:
    """``files`` at ``severity`` of ``shift`` (same paths, labels and units; name "<set> / <shift> <severity>")."""
    shift.params(severity)  # range check first
    return ShiftedImages(list(files.paths), list(files.labels), list(files.units),
                         f"{files.name} / {shift.name} {severity}", shift=shift, severity=severity, seed=seed)


def without_alpha(files: ImageFiles) -> int:
    """How many of ``files`` have no alpha channel (the background shift leaves them unchanged)."""
    count = 0
    for path in files.paths:
        with Image.open(path) as image:  # the header only
            count += not has_alpha(image)
    return count
