"""A tiny data root in the paper profile's layout (imagenet/val class folders, ood/ image folders,
shift/ sets), with small random JPEGs, and a profile that points at it and expects its counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from neglabel_core.data import imagenet

CLASSES = (0, 1, 207)  # tench, goldfish, golden retriever
PER_CLASS = 2
OOD = {"iNaturalist": ("ood/iNaturalist", 3), "SUN": ("ood/SUN", 3), "Places": ("ood/Places", 2),
       "Textures": ("ood/dtd/images", 4)}


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG")


def make_data_root(root: Path) -> Path:
    seed = 0
    for label in CLASSES:
        for i in range(PER_CLASS):
            _jpeg(root / "imagenet" / "val" / imagenet.synsets()[label] / f"val_{label}_{i}.JPEG", seed := seed + 1)
    for name, (path, count) in OOD.items():
        for i in range(count):
            # Textures comes as class folders (dtd/images/<texture>/...), the others flat
            sub = f"{'banded' if i % 2 else 'woven'}/" if name == "Textures" else ""
            _jpeg(root / path / f"{sub}{name.lower()}_{i}.jpg", seed := seed + 1)
    for i, label in enumerate(CLASSES):  # ImageNet-V2 style: folders named by class index
        _jpeg(root / "shift" / "imagenetv2-matched-frequency" / str(label) / f"v2_{i}.jpeg", seed := seed + 1)
    return root


def fixture_overrides(root: Path, model_name: str) -> dict[str, Any]:
    """imagenet-clip with the fixture's counts, a random-weight tiny model and a small corpus."""
    ood = {name: {"path": path, "expected": count} for name, (path, count) in OOD.items()}
    return {
        "name": "imagenet-fixture",
        "model": {"name": model_name, "pretrained": None},
        "benchmark": {
            "root": str(root),
            "id": {"path": "imagenet/val", "layout": "synset_folders", "expected": len(CLASSES) * PER_CLASS},
            "ood": ood,
            "shift": {"ImageNet-V2": {"path": "shift/imagenetv2-matched-frequency", "layout": "index_folders",
                                      "expected": len(CLASSES), "optional": True},
                      "ImageNet-A": {"path": "shift/imagenet-a", "layout": "synset_folders", "expected": 7500,
                                     "optional": True}},
        },
        "corpus": {"sample": 600},
        "params": {"n_groups": 5},
    }
