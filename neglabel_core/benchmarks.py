"""Benchmarks: what a profile evaluates on, one loader per kind (configs as data: the profile's
``benchmark.kind`` picks the loader). Emoji data is fetched and prepared here; ImageNet data is
read from local folders (:mod:`neglabel_core.imagenet`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import emoji, imagenet
from .data import ImageFiles
from .profiles import Profile


@dataclass
class BenchmarkData:
    """What a profile evaluates on: ID class names, the ID test images (label = class index),
    named OOD sets, and ID test sets under domain shift (labels = class index)."""

    class_names: list[str]
    id_images: ImageFiles
    ood: dict[str, ImageFiles]
    shift: dict[str, ImageFiles] = field(default_factory=dict)
    concepts: dict[str, Any] = field(default_factory=dict)  # unit id -> display info (emoji char, name)


def emoji_benchmark_data(profile: Profile, bench: emoji.EmojiBenchmark | None = None) -> BenchmarkData:
    spec = profile.benchmark
    bench = bench or emoji.prepare()
    split = bench.split(spec.get("split"))
    labels = list(range(len(split.id)))
    eval_styles, shift_styles = spec["eval_styles"], spec.get("shift_styles", [])
    return BenchmarkData(
        class_names=split.class_names,
        id_images=bench.images(split.id, eval_styles, labels=labels, name="ID"),
        ood={name: bench.images(members, eval_styles, name=name) for name, members in split.ood.items()},
        shift={s: bench.images(split.id, [s], labels=labels, name=s) for s in shift_styles},
        concepts={c.id: {"char": c.char, "name": c.name, "group": c.group, "subgroup": c.subgroup} for c in bench.concepts},
    )


def imagenet_benchmark_data(profile: Profile) -> BenchmarkData:
    """ImageNet-1k val as ID, the MOS OOD sets, the domain-shift sets that are present, from the
    local folders under ``benchmark.root`` (see :mod:`neglabel_core.imagenet`)."""
    spec = profile.benchmark
    sets = imagenet.load_sets(spec.get("root"), spec["id"], spec["ood"], spec.get("shift"))
    names = imagenet.class_names()
    concepts = {wnid: {"name": name} for wnid, name in zip(imagenet.synsets(), names)}
    for files in sets.ood.values():  # OOD sets in class folders (Textures): the folder names are their classes
        concepts.update({u: {"name": Path(u).name.replace("_", " ")} for u in set(files.units) if not Path(u).suffix})
    return BenchmarkData(class_names=names, id_images=sets.id, ood=sets.ood, shift=sets.shift, concepts=concepts)


BENCHMARKS: dict[str, Callable[[Profile], BenchmarkData]] = {"emoji": emoji_benchmark_data, "imagenet": imagenet_benchmark_data}
LOCAL_BENCHMARKS = frozenset({"imagenet"})  # read from local folders: checking them downloads nothing


def benchmark_data(profile: Profile) -> BenchmarkData:
    kind = profile.benchmark.get("kind")
    if kind not in BENCHMARKS:
        raise ValueError(f"unknown benchmark kind {kind!r} in profile {profile.name!r}; expected one of {list(BENCHMARKS)}")
    return BENCHMARKS[kind](profile)


def class_names(profile: Profile) -> list[str]:
    """The profile's ID class names; for ImageNet without touching the image folders."""
    if profile.benchmark.get("kind") == "imagenet":
        return imagenet.class_names()
    return benchmark_data(profile).class_names


def prepare_data(profile: Profile, *, progress: bool = True) -> str:
    """Fetch and prepare the profile's benchmark where it fetches its own (the CLI's ``fetch``);
    returns what was done, in words."""
    if profile.benchmark.get("kind") != "emoji":
        return f"profile {profile.name!r} uses local data ({profile.benchmark.get('kind')}); nothing to fetch"
    bench = emoji.prepare(progress=progress)
    return f"emoji benchmark ready at {bench.root}: {len(bench.concepts)} concepts, styles {', '.join(bench.styles)}"
