"""The embedded benchmark: emoji concepts drawn in many styles, from pinned npm packages.

A *concept* is one base emoji (skin-tone variants excluded) with its Unicode group and subgroup;
a *style* is one artist's rendering (Google, Twitter, Apple, Facebook, OpenMoji, Fluent).
Style roles define the benchmark (see data/README.md):

- pretraining styles: every concept, ID and OOD alike (as CLIP saw OOD concepts while pretraining);
- evaluation styles, never seen in training: the ID and OOD test images;
- domain-shift styles (sketch-like): ID test images under a shift of drawing style.

The split is data: ID = a list of groups or "group/subgroup" names, OOD sets = a mapping from set
name to such a list. Everything is fetched with ``npm pack``, verified, extracted and rasterised
to 64 px PNG once, under the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..files import atomic_write_text, cache_root, sha256_file
from .fetch import NpmPackage, extract, npm_pack
from .images import ImageFiles

INDEX_VERSION = 2  # 2: every prepared file's size and SHA-256
IMAGE_SIZE = 64

PACKAGES: dict[str, NpmPackage] = {
    p.name: p
    for p in (
        NpmPackage("emoji-datasource-google", "16.0.0",
                   "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=="),
        NpmPackage("emoji-datasource-twitter", "16.0.0",
                   "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ=="),
        NpmPackage("emoji-datasource-apple", "16.0.0",
                   "sha512-dVYjsK0FnCry9F+PBtnivhG2K0xdwlmqYaSgiUtztUdAGPYiHYhZcVKvNBqC791g2qyEcFNTBO6utg4eQ3uLTw=="),
        NpmPackage("emoji-datasource-facebook", "16.0.0",
                   "sha512-b9ZxJdB7nMWGckH1vyCjPSosaa6MJYuojPPFiQ0LmDIZS8vlG454XKcmTFKrXIMAA72O4MRJMYFhvWI8pjyciQ=="),
        NpmPackage("openmoji", "17.0.0",
                   "sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w=="),
        NpmPackage("fluentui-emoji", "1.3.0",
                   "sha512-JTXXwqIie2rWTgOkIJDJxr0WtwTz2WU4kdOq8buLVThYwQ264aFR2jdTyuon2oEbLqqGMT64zI4btyn1saB2xw=="),
    )
}
METADATA_PACKAGE = "emoji-datasource-google"  # its emoji.json names, groups and lists every emoji


@dataclass(frozen=True)
class Style:
    name: str
    package: str
    folder: str  # inside the package
    kind: str  # "png" (vendor sheet images, by emoji.json's image name) or "svg-codepoint" / "svg-slug"


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style("google", "emoji-datasource-google", "img/google/64", "png"),
        Style("twitter", "emoji-datasource-twitter", "img/twitter/64", "png"),
        Style("apple", "emoji-datasource-apple", "img/apple/64", "png"),
        Style("facebook", "emoji-datasource-facebook", "img/facebook/64", "png"),
        Style("openmoji-color", "openmoji", "color/svg", "svg-codepoint"),
        Style("openmoji-black", "openmoji", "black/svg", "svg-codepoint"),
        Style("fluent-flat", "fluentui-emoji", "icons/flat", "svg-slug"),
        Style("fluent-modern", "fluentui-emoji", "icons/modern", "svg-slug"),
        Style("fluent-high-contrast", "fluentui-emoji", "icons/high-contrast", "svg-slug"),
    )
}
def style_of(path: str | os.PathLike) -> str | None:
    """The style an image file of the benchmark is drawn in, from its place under the cache
    (``packages/<package>/<style folder>/...`` for vendor PNGs, ``raster/<style>/...`` for
    rasterised SVGs); None for a file that is not one of the benchmark's."""
    parts = Path(path).as_posix()
    for name, style in STYLES.items():
        marker = f"/raster/{name}/" if style.kind != "png" else f"/{style.package}-"
        if marker in parts and (style.kind != "png" or f"/{style.folder}/" in parts):
            return name
    return None


STYLE_ROLES: dict[str, tuple[str, ...]] = {
    "pretraining": ("google", "twitter", "openmoji-color", "fluent-flat", "fluent-modern"),
    "evaluation": ("apple", "facebook"),
    "domain_shift": ("openmoji-black", "fluent-high-contrast"),
}
EXCLUDED_GROUPS: tuple[str, ...] = ("Flags", "Component")
DEFAULT_SPLIT: dict[str, object] = {
    "id": ["Animals & Nature", "Food & Drink"],
    "ood": {g: [g] for g in ("Travel & Places", "Objects", "Symbols", "Activities", "Smileys & Emotion", "People & Body")},
}


class EmojiDataError(ValueError):
    """The emoji benchmark's data or split is not what was expected."""


@dataclass(frozen=True)
class Concept:
    """One base emoji. ``id`` is its code point sequence (unique; names are not)."""

    id: str
    char: str
    name: str  # CLDR short name, e.g. "grinning face with big eyes"
    old_name: str  # Unicode character name as emoji-datasource has it
    short_names: tuple[str, ...]
    group: str
    subgroup: str
    files: Mapping[str, str] = field(default_factory=dict)  # style -> image path relative to the data root

    @property
    def aliases(self) -> list[str]:
        """Distinct names for captions: CLDR name, old name, short names (underscores as spaces)."""
        names = [self.name, self.old_name.lower(), *(s.replace("_", " ") for s in self.short_names)]
        return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def _char(unified: str) -> str:
    return "".join(chr(int(cp, 16)) for cp in unified.split("-"))


def cldr_name(entry: Mapping) -> str:
    """The CLDR short name (from the ``emoji`` package) of an emoji.json entry, else its old name."""
    import emoji as emoji_lib

    for code in (entry["unified"], entry.get("non_qualified")):
        if not code:
            continue
        for char in (_char(code), _char(code) + "\ufe0f"):
            data = emoji_lib.EMOJI_DATA.get(char)
            if data:
                return data["en"].strip(":").replace("_", " ")
    return entry["name"].lower()


def fluent_slug(name: str) -> str:
    """Fluent UI Emoji file stem for a CLDR name: lowercase words joined by '-'."""
    slug = re.sub(r"[^a-z0-9-]", "", name.lower().replace("_", "-").replace(" ", "-"))
    return re.sub("-+", "-", slug).strip("-")


def _style_file(style: Style, entry: Mapping, name: str, listing: set[str]) -> str | None:
    """The file of ``entry`` in ``style`` (relative to the package folder), if the style has one."""
    if style.kind == "png":
        vendor = style.name
        return f"{style.folder}/{entry['image']}" if entry.get(f"has_img_{vendor}") else None
    if style.kind == "svg-codepoint":
        candidates = [entry["unified"], entry["unified"].replace("-FE0F", ""), entry.get("non_qualified") or ""]
    else:
        slug = fluent_slug(name)
        candidates = [slug, f"{slug}-default"]
    for stem in candidates:
        if stem and f"{style.folder}/{stem}.svg" in listing:
            return f"{style.folder}/{stem}.svg"
    return None


def _package_dir(root: Path, package: str) -> Path:
    return root / "packages" / f"{package}-{PACKAGES[package].version}"


def _needed(package: str, styles: Sequence[str]) -> Callable[[str], bool]:
    folders = [STYLES[s].folder + "/" for s in styles if STYLES[s].package == package]
    keep_meta = package == METADATA_PACKAGE

    def keep(path: str) -> bool:
        return (keep_meta and path == "emoji.json") or any(path.startswith(f) for f in folders)

    return keep


def _rasterize(svg: Path, png: Path) -> None:
    import cairosvg

    tmp = png.with_suffix(".tmp.png")
    cairosvg.svg2png(url=str(svg), write_to=str(tmp), output_width=IMAGE_SIZE, output_height=IMAGE_SIZE)
    tmp.replace(png)


DATA_ENV = "NEGLABEL_DATA"


def data_root() -> Path:
    """``$NEGLABEL_DATA/emoji-benchmark`` if set, else ``<cache root>/emoji-benchmark``."""
    base = os.environ.get(DATA_ENV)
    return (Path(base).expanduser() if base else cache_root()) / "emoji-benchmark"


def prepare(root: Path | None = None, *, styles: Sequence[str] = tuple(STYLES), progress: bool = True,
            repair: bool = False) -> EmojiBenchmark:
    """Fetch (``npm pack``, verified), extract, rasterise and index the benchmark; idempotent.

    Returns the :class:`EmojiBenchmark`. The index records every prepared file's size and SHA-256.
    A complete earlier preparation is reused after a check of every file's size (cheap; the
    hashes too with ``repair``). A missing or damaged file is an :class:`EmojiDataError` naming
    it, or, with ``repair`` (``neglabel fetch``), restored: a raster redrawn, a package's file
    extracted again from its verified tarball.
    """
    root = Path(root) if root is not None else data_root()
    index_path = root / "index.json"
    bench = None
    with contextlib.suppress(EmojiDataError):  # an older or corrupt index is rebuilt below
        bench = EmojiBenchmark.load(root) if index_path.exists() else None
    if bench is not None and set(styles) <= set(bench.styles):
        damaged = bench.damaged_files(hashes=repair)
        if not damaged:
            return bench
        if not repair:
            raise EmojiDataError(f"{len(damaged)} prepared file(s) of the emoji benchmark are missing or damaged, "
                                 f"e.g. {root / damaged[0]}; run `neglabel fetch` to restore them")
        for rel in damaged:
            _discard(root, rel)
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise EmojiDataError(f"unknown style(s) {unknown}; expected some of {list(STYLES)}")
    packages = sorted({STYLES[s].package for s in styles} | {METADATA_PACKAGE})
    for package in tqdm(packages, desc="fetch emoji packages", disable=not progress):
        target = _package_dir(root, package)
        if not target.exists():
            tarball = npm_pack(PACKAGES[package], root / "downloads")
            extract(tarball, target, _needed(package, styles))
    entries = json.loads((_package_dir(root, METADATA_PACKAGE) / "emoji.json").read_text("utf-8"))
    listings = {
        p: {str(f.relative_to(_package_dir(root, p))) for f in _package_dir(root, p).rglob("*") if f.is_file()} for p in packages
    }
    concepts, jobs = [], []
    for entry in sorted(entries, key=lambda e: e["sort_order"]):
        if entry["category"] in EXCLUDED_GROUPS:
            continue
        name = cldr_name(entry)
        files = {}
        for style_name in styles:
            style = STYLES[style_name]
            found = _style_file(style, entry, name, listings[style.package])
            if found is None:
                continue
            source = _package_dir(root, style.package) / found
            if style.kind == "png":
                files[style_name] = str(source.relative_to(root))
            else:
                png = root / "raster" / style_name / f"{entry['unified']}.png"
                files[style_name] = str(png.relative_to(root))
                if not _readable_png(png):  # missing, or cut short by a killed run
                    jobs.append((source, png))
        concepts.append(
            Concept(entry["unified"], _char(entry["unified"]), name, entry["name"] or name,
                    tuple(entry.get("short_names") or ()), entry["category"], entry["subcategory"], files)
        )
    for svg, png in tqdm(jobs, desc="rasterise SVG to 64 px", disable=not progress or not jobs, unit="img"):
        png.parent.mkdir(parents=True, exist_ok=True)
        _rasterize(svg, png)
    records = {rel: _record(root / rel) for c in concepts for rel in c.files.values()}
    bench = EmojiBenchmark(root, concepts, tuple(styles), records)
    index = {
        "version": INDEX_VERSION,
        "packages": {p: asdict(PACKAGES[p]) for p in packages},
        "styles": list(styles),
        "concepts": [asdict(c) for c in concepts],
        "files": records,  # relative path -> [size in bytes, SHA-256]
    }
    atomic_write_text(index_path, json.dumps(index, ensure_ascii=False, indent=0))
    return bench


def _record(path: Path) -> list:
    return [path.stat().st_size, sha256_file(path)]


def _readable_png(path: Path) -> bool:
    """A PNG that decodes whole (a truncated one does not)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def _inside(root: Path, rel: str, *, follow_links: bool = True) -> bool:
    """Whether the index key ``rel`` names a file under ``raster/`` or ``packages/<name>/`` of
    ``root``: relative, no ``..`` part, and (``follow_links``, before anything is removed) resolving
    inside ``root`` with links followed."""
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts or len(parts) < 2 or parts[0] not in ("raster", "packages"):
        return False
    return not follow_links or (root / rel).resolve().is_relative_to(root.resolve())


def _discard(root: Path, rel: str) -> None:
    """Remove a damaged prepared file so that :func:`prepare` makes it again: a raster is
    redrawn; a package's file is extracted again (the whole package, from its verified tarball).
    Only a key :func:`_inside` accepts is touched (:meth:`EmojiBenchmark.load` refuses others)."""
    if not _inside(root, rel):
        raise EmojiDataError(f"refusing to remove {rel!r}: not a path inside the data folder {root}")
    parts = Path(rel).parts
    if parts[0] == "raster":
        (root / rel).unlink(missing_ok=True)
    elif parts[0] == "packages" and len(parts) > 1:
        shutil.rmtree(root / "packages" / parts[1], ignore_errors=True)
    else:
        (root / rel).unlink(missing_ok=True)


@dataclass
class Split:
    """ID concepts (in class order) and named OOD sets of concepts."""

    id: list[Concept]
    ood: dict[str, list[Concept]]

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.id]


class EmojiBenchmark:
    """The prepared benchmark: concepts with their image files per style."""

    def __init__(self, root: Path, concepts: list[Concept], styles: Sequence[str],
                 files: Mapping[str, Sequence] | None = None):
        self.root, self.concepts, self.styles = Path(root), concepts, tuple(styles)
        self.by_id = {c.id: c for c in concepts}
        self.files = dict(files or {})  # relative path -> [size, SHA-256], recorded at preparation

    def damaged_files(self, *, hashes: bool = False) -> list[str]:
        """The prepared files (relative paths) that are missing, or differ from the index in size
        (and, with ``hashes``, in SHA-256)."""
        bad = []
        for rel, (size, digest) in self.files.items():
            path = self.root / rel
            try:
                if path.stat().st_size != size or (hashes and sha256_file(path) != digest):
                    bad.append(rel)
            except OSError:
                bad.append(rel)
        return bad

    @classmethod
    def load(cls, root: Path | None = None) -> EmojiBenchmark:
        root = Path(root) if root is not None else data_root()
        path = root / "index.json"
        if not path.exists():
            raise EmojiDataError(f"the emoji benchmark is not prepared: {path} is missing; run `neglabel fetch`")
        try:
            index = json.loads(path.read_text("utf-8"))
            if index.get("version") != INDEX_VERSION:
                raise EmojiDataError(f"{path} has index version {index.get('version')}, expected {INDEX_VERSION}")
            concepts = [Concept(**{**c, "short_names": tuple(c["short_names"])}) for c in index["concepts"]]
            files = {rel: (int(size), str(digest)) for rel, (size, digest) in index["files"].items()}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise EmojiDataError(f"{path} is corrupt ({exc}); delete it and run `neglabel fetch` again") from None
        outside = next((rel for rel in files if not _inside(root, rel, follow_links=False)), None)
        if outside is not None:
            raise EmojiDataError(f"{path} lists the file {outside!r}, which is not a path inside the data folder "
                                 "(absolute, '..' or outside raster/ and packages/); delete it and run `neglabel fetch` again")
        return cls(root, concepts, index["styles"], files)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Group name -> its subgroups, in Unicode order."""
        out: dict[str, list[str]] = {}
        for c in self.concepts:
            subs = out.setdefault(c.group, [])
            if c.subgroup not in subs:
                subs.append(c.subgroup)
        return out

    def select(self, names: Iterable[str]) -> list[Concept]:
        """Concepts in the given groups or "group/subgroup"s (Unicode order, no duplicates)."""
        names = list(names)
        groups = self.groups
        valid = set(groups) | {f"{g}/{s}" for g, subs in groups.items() for s in subs}
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise EmojiDataError(f"unknown group(s) {unknown} in the split; expected groups {list(groups)} or 'group/subgroup'")
        wanted = set(names)
        return [c for c in self.concepts if c.group in wanted or f"{c.group}/{c.subgroup}" in wanted]

    def split(self, spec: Mapping[str, object] | None = None) -> Split:
        """ID and OOD concepts from a split spec such as :data:`DEFAULT_SPLIT`.

        ``spec["ood"]`` is a mapping set name -> groups, or a list of groups (one set each).
        ID and OOD must not share a concept.
        """
        spec = DEFAULT_SPLIT if spec is None else spec
        ood_spec = spec.get("ood", {})
        if not isinstance(ood_spec, Mapping):
            ood_spec = {g: [g] for g in ood_spec}
        id_concepts = self.select(spec["id"])
        if not id_concepts:
            raise EmojiDataError(f"the ID part of the split {spec['id']} selects no concept")
        id_set = {c.id for c in id_concepts}
        ood = {}
        for name, groups in ood_spec.items():
            members = self.select(groups)
            shared = [c.name for c in members if c.id in id_set]
            if shared:
                raise EmojiDataError(f"OOD set {name!r} shares {len(shared)} concept(s) with ID, e.g. {shared[:3]}")
            ood[name] = members
        return Split(id_concepts, ood)

    def images(self, concepts: Sequence[Concept], styles: Sequence[str], *, labels: Sequence[int] | None = None,
               name: str = "images") -> ImageFiles:
        """The image files of ``concepts`` in ``styles`` (concepts without a style are skipped).

        ``labels``: one label per concept (e.g. the ID class index); default -1. Units are concept ids.
        """
        unknown = [s for s in styles if s not in self.styles]
        if unknown:
            raise EmojiDataError(f"style(s) {unknown} are not prepared; prepared styles: {list(self.styles)}")
        labels = [-1] * len(concepts) if labels is None else list(labels)
        paths, out_labels, units = [], [], []
        for style in styles:
            for concept, label in zip(concepts, labels):
                rel = concept.files.get(style)
                if rel is not None:
                    paths.append(str(self.root / rel))
                    out_labels.append(label)
                    units.append(concept.id)
        return ImageFiles(paths, out_labels, units, name)


def remove(root: Path | None = None) -> None:
    """Delete the prepared benchmark (downloads included)."""
    shutil.rmtree(Path(root) if root is not None else data_root(), ignore_errors=True)
