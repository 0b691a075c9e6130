"""Benchmarks: what a profile evaluates on, one loader per kind (configs as data: the profile's
``benchmark.kind`` picks the loader). Emoji data is fetched and prepared here; ImageNet data is
read from local folders (:mod:`neglabel_core.data.imagenet`)."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import kept_json, sha256_file
from ..profiles import Profile
from . import corpus, emoji, folders, imagenet
from .images import ImageFiles


@dataclass
class BenchmarkData:
    """What a profile evaluates on: ID class names, the ID test images (label = class index),
    named OOD sets, and ID test sets under domain shift (labels = class index)."""

    class_names: list[str]
    id_images: ImageFiles
    ood: dict[str, ImageFiles]
    shift: dict[str, ImageFiles] = field(default_factory=dict)
    concepts: dict[str, Any] = field(default_factory=dict)  # unit id -> display info (emoji char, name)
    removed: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # OOD set -> concepts the filter removed
    near: list[str] = field(default_factory=list)  # the OOD sets that are near OOD (the rest are far)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


HEAD_BREAKS = ("with", "in", "of", "on", "for", "and", "without")


def head_words(name: str) -> list[str]:
    """The words of a name up to its head noun: everything before the first "with", "in", "of",
    ... ("cat with tears of joy" -> ["cat"], "see-no-evil monkey" -> ["see", "no", "evil", "monkey"])."""
    words = _tokens(name)
    cut = next((i for i, w in enumerate(words) if w in HEAD_BREAKS and i > 0), len(words))
    return words[:cut]


def ood_filter_reasons(concepts: Sequence[emoji.Concept], id_names: Sequence[str],
                       rule: Mapping[str, Any]) -> dict[str, str]:
    """Why each OOD concept that is an ID concept by meaning must leave the OOD sets (concept id ->
    reason), by the profile's rule (``benchmark.ood_filter``), read off the head noun of its CLDR
    name (:func:`head_words`; "horse racing" is racing, "carousel horse" a horse). The head noun is
    the last two words where they are one WordNet noun ("teddy bear", "Christmas tree", "mount
    fuji"), else the last word:

    - ``"id_names": true``: the head is an ID class name ("see-no-evil monkey", "grinning cat");
    - ``"wordnet_roots": [...]``: the head's first WordNet noun sense is under one of these synsets
      ("Christmas tree" is a plant.n.02; "computer mouse" is a device, not a mouse).
    """
    id_phrases = {" ".join(_tokens(n)) for n in id_names if _tokens(n)}
    words = {c.id: head_words(c.name) for c in concepts}
    compounds = corpus.wordnet_nouns({" ".join(w[-2:]) for w in words.values() if len(w) > 1})

    def head(w: list[str]) -> str:
        two = " ".join(w[-2:])
        return two if len(w) > 1 and (two in compounds or two in id_phrases) else (w[-1] if w else "")

    heads = {cid: head(w) for cid, w in words.items()}
    roots = list(rule.get("wordnet_roots", []))
    under = corpus.first_sense_under(sorted(set(heads.values()) - {""}), roots) if roots else {}
    reasons = {}
    for c in concepts:
        h = heads[c.id]
        if rule.get("id_names", False) and h in id_phrases:
            reasons[c.id] = f"its head noun '{h}' is an ID class"
        elif h in under:
            reasons[c.id] = f"its head noun '{h}' falls under WordNet's {under[h]}"
    return reasons


def cached_ood_filter_reasons(concepts: Sequence[emoji.Concept], id_names: Sequence[str],
                              rule: Mapping[str, Any]) -> dict[str, str]:
    """:func:`ood_filter_reasons`, kept as JSON under ``<cache>/ood_filter`` (:func:`files.kept_json`):
    reading WordNet through nltk costs every chapter seconds, and the answer only changes with its
    inputs: the concepts, the ID names, the rule, the WordNet noun files it reads (by content) and
    the source of the functions that decide."""
    root = corpus.wordnet_root()
    code = "".join(inspect.getsource(f) for f in (_tokens, head_words, ood_filter_reasons, corpus.wordnet_nouns,
                                                  corpus.first_sense_under))
    payload = {"concepts": [[c.id, c.name] for c in concepts], "id_names": list(id_names), "rule": rule,
               "wordnet": {f: sha256_file(root / f) for f in ("data.noun", "index.noun", "noun.exc")},
               "code": hashlib.sha256(code.encode()).hexdigest(), "head_breaks": HEAD_BREAKS}
    return kept_json("ood_filter", payload, lambda: ood_filter_reasons(concepts, id_names, rule))


def emoji_benchmark_data(profile: Profile, bench: emoji.EmojiBenchmark | None = None, *,
                         progress: bool = False) -> BenchmarkData:
    spec = profile.benchmark
    bench = bench or emoji.prepare(progress=progress)
    split = bench.split(spec.get("split"))
    labels = list(range(len(split.id)))
    eval_styles, shift_styles = spec["eval_styles"], spec.get("shift_styles", [])
    removed: dict[str, list[dict[str, str]]] = {}
    if spec.get("ood_filter"):
        members = [c for cs in split.ood.values() for c in cs]
        reasons = cached_ood_filter_reasons(members, split.class_names, spec["ood_filter"])
        for name, cs in split.ood.items():
            removed[name] = [{"name": c.name, "char": c.char, "reason": reasons[c.id]} for c in cs if c.id in reasons]
            split.ood[name] = [c for c in cs if c.id not in reasons]
            if not split.ood[name]:
                raise emoji.EmojiDataError(f"the OOD filter removes every concept of OOD set {name!r}; "
                                           "expected a rule that leaves some")
    near = list((spec.get("split") or {}).get("near", []))
    unknown = [n for n in near if n not in split.ood]
    if unknown:
        raise emoji.EmojiDataError(f"split.near names {unknown}, which are not OOD sets; expected some of {list(split.ood)}")
    return BenchmarkData(
        class_names=split.class_names,
        id_images=bench.images(split.id, eval_styles, labels=labels, name="ID"),
        ood={name: bench.images(members, eval_styles, name=name) for name, members in split.ood.items()},
        shift={s: bench.images(split.id, [s], labels=labels, name=s) for s in shift_styles},
        concepts={c.id: {"char": c.char, "name": c.name, "group": c.group, "subgroup": c.subgroup} for c in bench.concepts},
        removed=removed,
        near=near,
    )


def imagenet_benchmark_data(profile: Profile, *, progress: bool = False) -> BenchmarkData:
    """ImageNet-1k val as ID, the MOS OOD sets, the domain-shift sets that are present, from the
    local folders under ``benchmark.root`` (see :mod:`neglabel_core.data.imagenet`)."""
    spec = profile.benchmark
    sets = imagenet.load_sets(spec.get("root"), spec["id"], spec["ood"], spec.get("shift"))
    names = imagenet.class_names()
    concepts = {wnid: {"name": name} for wnid, name in zip(imagenet.synsets(), names)}
    for files in sets.ood.values():  # OOD sets in class folders (Textures): the folder names are their classes
        concepts.update({u: {"name": Path(u).name.replace("_", " ")} for u in set(files.units) if not Path(u).suffix})
    return BenchmarkData(class_names=names, id_images=sets.id, ood=sets.ood, shift=sets.shift, concepts=concepts)


def folders_benchmark_data(profile: Profile, *, progress: bool = False) -> BenchmarkData:
    """A reader's own benchmark from plain folders (:mod:`neglabel_core.data.folders`)."""
    spec = profile.benchmark
    sets = folders.load_folders(spec.get("root"), spec)
    near = list(spec.get("near", []))
    unknown = [n for n in near if n not in sets.ood]
    if unknown:
        raise folders.DataNotFoundError(f"benchmark.near names {unknown}, which are not OOD sets; expected some of "
                                        f"{list(sets.ood)}")
    return BenchmarkData(class_names=sets.class_names, id_images=sets.id, ood=sets.ood, shift=sets.shift,
                         concepts=sets.concepts, near=near)


BENCHMARKS: dict[str, Callable[..., BenchmarkData]] = {"emoji": emoji_benchmark_data, "imagenet": imagenet_benchmark_data,
                                                       "folders": folders_benchmark_data}
LOCAL_BENCHMARKS = frozenset({"imagenet", "folders"})  # read from local folders: checking them downloads nothing


def benchmark_data(profile: Profile, *, progress: bool = False) -> BenchmarkData:
    """The profile's benchmark (fetched and prepared first where it fetches its own; a bar only with ``progress``)."""
    kind = profile.benchmark.get("kind")
    if kind not in BENCHMARKS:
        raise ValueError(f"unknown benchmark kind {kind!r} in profile {profile.name!r}; expected one of {list(BENCHMARKS)}")
    return BENCHMARKS[kind](profile, progress=progress)


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
    bench = emoji.prepare(progress=progress, repair=True)  # every file checked against its recorded hash
    return f"emoji benchmark ready at {bench.root}: {len(bench.concepts)} concepts, styles {', '.join(bench.styles)}"
