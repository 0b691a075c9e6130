"""A reader's own benchmark from plain folders (benchmark kind ``"folders"``).

The layout, under one root (the profile's ``benchmark.root``, relative to the profile file's
folder, or ``--data-root``)::

    id/<class folder>/**/*.jpg          one sub-folder per ID class, images anywhere below it
    <ood folder>/**/*.jpg               an OOD set: flat, or with class sub-folders (their names
                                        become the book's concept names)
    <shift folder>/<class folder>/...   optional: the ID classes in another domain (same folders)

As data (a profile's ``benchmark`` section)::

    {"kind": "folders", "root": "my-data",
     "id": {"path": "id", "names": "names.tsv"},
     "ood": {"textures": {"path": "ood/textures"}, "cars": {"path": "ood/cars"}},
     "shift": {"sketch": {"path": "sketch"}}, "near": ["cars"]}

Class names come from the folder names (``golden_retriever`` -> "golden retriever") or from a
names file (``names``: one ``folder<TAB>name`` per line, or a CSV ``folder,name``), so prompts get
proper names. Images are found by suffix; zero-byte files, files of other kinds and files whose
header is no image's, and JPEG or PNG files cut short (no end of image, :func:`cut_short`) are
skipped and counted (a warning naming them); an empty class folder, an
OOD folder without images, two folders that map to the same class name, or a names file naming a
folder that is not there, are one :class:`~.images.DataNotFoundError` naming each, before any
model runs. Links to folders are not followed (no loops); an image of another format that is cut
short, or one too large to decode, is named when it is read (:func:`~.images.load_rgb`).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .images import IMAGE_SUFFIXES, DataNotFoundError, ImageFiles, checked_data_root

log = logging.getLogger(__name__)


def folder_name(name: str) -> str:
    """A folder name as a class name: underscores and runs of spaces to one space, trimmed
    (``golden_retriever`` -> ``golden retriever``)."""
    return re.sub(r"[\s_]+", " ", name).strip()


@dataclass
class Scan:
    """The images found under a folder, and what was skipped."""

    images: list[Path] = field(default_factory=list)
    empty: list[Path] = field(default_factory=list)  # zero-byte files
    other: list[Path] = field(default_factory=list)  # not images by their suffix
    unreadable: list[Path] = field(default_factory=list)  # an image suffix, but no image header Pillow knows
    cut_short: list[Path] = field(default_factory=list)  # a JPEG or PNG header, but no end (:func:`cut_short`)
    not_utf8: list[Path] = field(default_factory=list)  # file or folder names that are not UTF-8 text


def _is_utf8(name: str) -> bool:
    """Whether a name read from the file system is UTF-8 text (Python keeps other bytes as lone
    surrogates, which cannot be written to a cache key, a page or a terminal)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def scan(folder: Path) -> Scan:
    """Every file below ``folder`` (sorted, links to folders not followed: no loops), sorted into
    images, zero-byte files and other files."""
    out = Scan()
    for top, dirs, files in os.walk(folder, followlinks=False):
        out.not_utf8 += [Path(top) / d for d in dirs if not _is_utf8(d)]
        dirs[:] = sorted(d for d in dirs if _is_utf8(d))
        for name in sorted(files):
            path = Path(top) / name
            if name.startswith("."):
                continue  # hidden files (.DS_Store, editors' temporaries) are not data
            if not _is_utf8(name):
                out.not_utf8.append(path)
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                out.other.append(path)
            elif not path.is_file():
                continue  # a dangling link
            elif path.stat().st_size == 0:
                out.empty.append(path)
            elif (kind := _image_format(path)) is None:
                out.unreadable.append(path)
            elif cut_short(path, kind):
                out.cut_short.append(path)
            else:
                out.images.append(path)
    return out


def _image_format(path: Path) -> str | None:
    """The format Pillow recognises from the file's header (reads its first bytes, decodes
    nothing), or None."""
    try:
        with Image.open(path) as image:
            return image.format or ""
    except Image.DecompressionBombError:
        return ""  # an image: refused, with its own message, when it is read
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


_TAIL_BYTES = 1 << 16
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def cut_short(path: Path, kind: str) -> bool:
    """Whether a JPEG or PNG file ends before its image does (a copy or download cut off), read
    from its bytes without decoding: a JPEG's end-of-image marker (FF D9, which cannot occur in
    its entropy-coded data) must follow the main image's first scan (found by walking the marker
    segments, so an EXIF thumbnail's own marker does not count); a PNG's chunks must run to an
    IEND chunk. The common case reads the first 128 KiB and the last 64 KiB; a file with data
    appended after its image (a motion photo's video) is read from its first scan on. Other
    formats are named when they are read."""
    if kind not in ("JPEG", "MPO", "PNG"):
        return False
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(0)
        if kind == "PNG":
            return not _png_has_end(handle, size)
        head = handle.read(2 * _TAIL_BYTES)
        scan_at = _jpeg_first_scan(head)
        if scan_at >= len(head):  # headers longer than the head read: walk the whole file
            data = head + handle.read()
            return data.find(b"\xff\xd9", _jpeg_first_scan(data)) < 0
        handle.seek(max(scan_at, size - _TAIL_BYTES))
        if b"\xff\xd9" in handle.read():
            return False
        handle.seek(scan_at)  # no end marker near the end: data appended after the image, or cut short
        return b"\xff\xd9" not in handle.read()


def _jpeg_first_scan(data: bytes) -> int:
    """Offset of the main image's first start-of-scan segment: the marker segments after SOI are
    walked by their lengths (so an EXIF thumbnail inside APP1 is skipped); the end of the data
    when the walk runs out."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return len(data)
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:
            return at
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return len(data)


def _png_has_end(handle, size: int) -> bool:
    """Whether the PNG's chunks (length, type, data, CRC) run, within the file, to IEND."""
    if handle.read(8) != _PNG_SIGNATURE:
        return False
    at = 8
    while at + 8 <= size:
        handle.seek(at)
        header = handle.read(8)
        length = int.from_bytes(header[:4], "big")
        if header[4:8] == b"IEND":
            return at + 12 <= size
        at += 12 + length
    return False


def read_names(path: Path, folders: Sequence[str]) -> dict[str, str]:
    """Class names from a names file: ``folder<TAB>name`` per line (``.tsv``/``.txt``) or a CSV
    ``folder,name`` (a header row ``folder,name`` is allowed). Folders it does not list keep
    their folder name."""
    if not path.is_file():
        raise DataNotFoundError(f"names file {str(path)!r} does not exist; expected one 'folder<TAB>name' per line or "
                                "a CSV 'folder,name'")
    text = path.read_text("utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        if rows and [c.strip().lower() for c in rows[0][:2]] == ["folder", "name"]:
            rows = rows[1:]
    else:
        rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    names, problems = {}, []
    for number, row in enumerate(rows, 1):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            problems.append(f"line {number} of {path} is {row!r}; expected 'folder<TAB>name' (or 'folder,name' in a CSV)")
            continue
        names[row[0].strip()] = row[1].strip()
    unknown = sorted(set(names) - set(folders))
    if unknown:
        problems.append(f"names file {path} names folder(s) {unknown[:5]}{' ...' if len(unknown) > 5 else ''} that are not "
                        f"class folders of the ID set; expected some of {list(folders)[:5]}{' ...' if len(folders) > 5 else ''}")
    if problems:
        raise DataNotFoundError("\n    ".join(problems))
    return names


@dataclass
class FolderSets:
    """The loaded benchmark: ID class names (class-index order), ID images, OOD and shift sets,
    display names of units (class folders), and what was skipped."""

    class_names: list[str]
    id: ImageFiles
    ood: dict[str, ImageFiles]
    shift: dict[str, ImageFiles]
    concepts: dict[str, dict[str, str]]
    skipped: dict[str, int]


def _resolve(root: Path, spec: Mapping[str, Any], what: str) -> Path:
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise DataNotFoundError(f"{what}: expected {{\"path\": FOLDER}}, got {spec!r}")
    path = Path(spec["path"]).expanduser()
    return path if path.is_absolute() else root / path


def _shown(path: Path) -> str:
    """A path for a message: as text where it is UTF-8, else its bytes' repr."""
    return repr(str(path)) if _is_utf8(str(path)) else repr(os.fsencode(path))


def _overlap(a: Path, b: Path) -> bool:
    """Whether one folder is the other or lies inside it (links resolved)."""
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def load_folders(root: os.PathLike | str | None, spec: Mapping[str, Any]) -> FolderSets:
    """Every set of a ``folders`` benchmark; all problems are collected and raised together."""
    root = checked_data_root(root, holds="the benchmark's id/ and OOD folders", missing=(
        "no data root for the folders benchmark: set \"benchmark\": {\"root\": DIR} in the profile (relative to the "
        "profile file) or pass --data-root DIR"))
    problems: list[str] = []
    skipped = {"zero-byte files": 0, "files that are not images": 0, "unreadable image files": 0,
               "image files cut short": 0}
    concepts: dict[str, dict[str, str]] = {}

    def found(folder: Path) -> list[Path]:
        result = scan(folder)
        skipped["zero-byte files"] += len(result.empty)
        skipped["files that are not images"] += len(result.other)
        skipped["unreadable image files"] += len(result.unreadable)
        skipped["image files cut short"] += len(result.cut_short)
        if result.unreadable:
            log.warning("skipped unreadable image file(s) %s", ", ".join(map(str, result.unreadable[:3])))
        if result.cut_short:
            log.warning("skipped image file(s) cut short (the file ends before the image) %s",
                        ", ".join(map(str, result.cut_short[:3])))
        if result.not_utf8:
            problems.append(f"{len(result.not_utf8)} file or folder name(s) under {_shown(folder)} are not UTF-8 text, "
                            f"e.g. {os.fsencode(result.not_utf8[0])!r}; expected UTF-8 names (rename them)")
        return result.images

    id_dir = _resolve(root, spec.get("id"), "benchmark.id")
    class_dirs: list[Path] = []
    if not id_dir.is_dir():
        problems.append(f"ID folder {str(id_dir)!r} does not exist; expected one sub-folder per ID class")
    else:
        class_dirs = sorted(p for p in id_dir.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
        bad = [p for p in class_dirs if not _is_utf8(p.name)]
        if bad:
            problems.append(f"ID class folder name(s) under {_shown(id_dir)} are not UTF-8 text, e.g. "
                            f"{os.fsencode(bad[0])!r}; expected UTF-8 names (rename them)")
            class_dirs = [p for p in class_dirs if p not in bad]
        if not class_dirs:
            problems.append(f"ID folder {str(id_dir)!r} has no class sub-folders; expected one sub-folder per ID class")
    names = {p.name: folder_name(p.name) for p in class_dirs}
    if spec["id"].get("names") and class_dirs:
        names_path = Path(spec["id"]["names"]).expanduser()
        try:
            names.update(read_names(names_path if names_path.is_absolute() else root / names_path, list(names)))
        except DataNotFoundError as exc:
            problems.append(str(exc))
    by_name: dict[str, list[str]] = {}
    for folder, name in names.items():
        by_name.setdefault(name.lower(), []).append(folder)
    for folders in by_name.values():
        if len(folders) > 1:
            problems.append(f"ID folders {folders} all map to the class name {names[folders[0]]!r}; expected one folder "
                            "per class (merge them, or name them apart in the names file)")

    def class_set(folder: Path, set_name: str) -> ImageFiles | None:
        paths, labels, units = [], [], []
        for label, class_dir in enumerate(class_dirs):
            here = folder / class_dir.name
            images = found(here) if here.is_dir() else []
            if not images and folder == id_dir:
                problems.append(f"ID class folder {str(here)!r} holds no images; expected image files "
                                f"({', '.join(IMAGE_SUFFIXES)}) anywhere below it")
            paths += images
            labels += [label] * len(images)
            units += [class_dir.name] * len(images)
        if folder != id_dir:
            extra = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in names) if folder.is_dir() else []
            if extra:
                problems.append(f"{set_name}: sub-folder(s) {extra[:5]} of {folder} are not ID classes; expected the ID "
                                "set's class folders")
            if not paths:
                problems.append(f"{set_name}: {str(folder)!r} holds no images of the ID classes")
        return ImageFiles(paths, labels, units, set_name)

    id_images = class_set(id_dir, "ID") if class_dirs else None
    for folder, name in names.items():
        concepts[folder] = {"name": name}

    ood: dict[str, ImageFiles] = {}
    for set_name, set_spec in (spec.get("ood") or {}).items():
        folder = _resolve(root, set_spec, f"benchmark.ood.{set_name}")
        if not folder.is_dir():
            problems.append(f"OOD set {set_name!r}: folder {str(folder)!r} does not exist")
            continue
        if id_dir.is_dir() and _overlap(folder, id_dir):
            problems.append(f"OOD set {set_name!r}: folder {str(folder)!r} is, holds or lies inside the ID folder "
                            f"{str(id_dir)!r}; expected images of concepts that are not ID classes")
            continue
        images = found(folder)
        if not images:
            problems.append(f"OOD set {set_name!r}: {str(folder)!r} holds no images; expected image files "
                            f"({', '.join(IMAGE_SUFFIXES)}), flat or in class sub-folders")
            continue
        by_class = len({p.parent for p in images}) > 1 or images[0].parent != folder
        units = []
        for p in images:
            if by_class:  # class sub-folders: the first folder below the set is the concept
                sub = p.relative_to(folder).parts[0] if len(p.relative_to(folder).parts) > 1 else p.stem
                unit = f"{set_name}/{sub}"
                concepts.setdefault(unit, {"name": folder_name(sub)})
            else:
                unit = f"{set_name}/{p.name}"  # flat: each image its own unit, no name
            units.append(unit)
        ood[set_name] = ImageFiles(images, units=units, name=set_name)

    shift: dict[str, ImageFiles] = {}
    for set_name, set_spec in (spec.get("shift") or {}).items():
        folder = _resolve(root, set_spec, f"benchmark.shift.{set_name}")
        if not folder.is_dir():
            problems.append(f"shift set {set_name!r}: folder {str(folder)!r} does not exist; expected the ID class "
                            "folders in another domain")
            continue
        if class_dirs:
            shift[set_name] = class_set(folder, set_name)
    if problems:
        raise DataNotFoundError(f"the folders benchmark under {str(root)!r} is not usable:\n    " + "\n    ".join(problems))
    counted = {k: v for k, v in skipped.items() if v}
    if counted:
        log.warning("skipped %s under %s", ", ".join(f"{n:,} {k}" for k, n in counted.items()), root)
    return FolderSets([names[p.name] for p in class_dirs], id_images, ood, shift, concepts, counted)
