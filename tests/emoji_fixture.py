"""A miniature emoji benchmark built by the tests: npm-like tarballs with the real packages'
layout (emoji.json, 64 px PNGs per vendor, OpenMoji and Fluent SVGs), and a fake `npm` that
serves them, so fetching, verification, extraction, rasterisation and indexing run for real."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

from PIL import Image

from neglabel_core.data import emoji
from neglabel_core.data.fetch import NpmPackage, sri_sha512

# (unified, name, short_names, category, subcategory, cldr slug for Fluent)
ENTRIES = [
    ("1F436", "DOG FACE", ["dog"], "Animals & Nature", "animal-mammal", "dog-face"),
    ("1F431", "CAT FACE", ["cat"], "Animals & Nature", "animal-mammal", "cat-face"),
    ("1F34E", "RED APPLE", ["apple"], "Food & Drink", "food-fruit", "red-apple"),
    ("1F697", "AUTOMOBILE", ["car"], "Travel & Places", "transport-ground", "automobile"),
    ("1F6B2", "BICYCLE", ["bike"], "Travel & Places", "transport-ground", "bicycle"),
    ("2764-FE0F", "HEAVY BLACK HEART", ["heart"], "Smileys & Emotion", "heart", "red-heart"),
    ("1F1EB-1F1F7", "France Flag", ["flag-fr"], "Flags", "country-flag", "flag-france"),
    ("1F3FB", "EMOJI MODIFIER FITZPATRICK TYPE-1-2", ["skin-tone-2"], "Component", "skin-tone", "light-skin-tone"),
]
COLORS = ["red", "blue", "green", "orange", "purple", "black", "gray", "pink"]


def _svg(color: str) -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72">'
            f'<circle cx="36" cy="36" r="30" fill="{color}"/></svg>').encode()


def _png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), color).save(buf, "PNG")
    return buf.getvalue()


def _tarball(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def build(folder: Path, monkeypatch) -> dict[str, NpmPackage]:
    """Write the fixture tarballs and a fake npm into ``folder``; patch PATH and emoji.PACKAGES."""
    folder.mkdir(parents=True, exist_ok=True)
    contents: dict[str, dict[str, bytes]] = {name: {} for name in emoji.PACKAGES}
    meta = []
    for i, (unified, name, shorts, cat, sub, _slug) in enumerate(ENTRIES):
        image = unified.lower() + ".png"
        meta.append({"name": name, "unified": unified, "non_qualified": None, "image": image, "short_name": shorts[0],
                     "short_names": shorts, "category": cat, "subcategory": sub, "sort_order": i,
                     **{f"has_img_{v}": not (v == "facebook" and unified == "1F6B2")
                        for v in ("google", "twitter", "apple", "facebook")}})
    for vendor in ("google", "twitter", "apple", "facebook"):
        pkg = f"emoji-datasource-{vendor}"
        for (unified, *_), color in zip(ENTRIES, COLORS):
            if not (vendor == "facebook" and unified == "1F6B2"):
                contents[pkg][f"img/{vendor}/64/{unified.lower()}.png"] = _png(color)
        contents[pkg]["README.md"] = b"not needed"
    contents["emoji-datasource-google"]["emoji.json"] = json.dumps(meta).encode()
    for (unified, *_rest, slug), color in zip(ENTRIES, COLORS):
        for kind in ("color", "black"):
            contents["openmoji"][f"{kind}/svg/{unified}.svg"] = _svg(color if kind == "color" else "black")
        if unified != "1F431":  # Fluent lacks the cat: a concept without a style
            for kind in ("flat", "modern", "high-contrast"):
                contents["fluentui-emoji"][f"icons/{kind}/{slug}.svg"] = _svg(color)
    contents["fluentui-emoji"]["icons/flat/unrelated.svg"] = _svg("white")
    store = folder / "registry"
    store.mkdir(exist_ok=True)
    packages = {}
    for name, files in contents.items():
        version = emoji.PACKAGES[name].version
        tgz = store / f"{name}-{version}.tgz"
        _tarball(tgz, files)
        packages[name] = NpmPackage(name, version, sri_sha512(tgz))
    npm = folder / "bin" / "npm"
    npm.parent.mkdir(exist_ok=True)
    # Fake `npm pack NAME@VERSION --json --silent --pack-destination DIR`: copies from the registry folder.
    npm.write_text(f"""#!/usr/bin/env python3
import json, shutil, sys
spec, dest = sys.argv[2], sys.argv[sys.argv.index("--pack-destination") + 1]
name, version = spec.rsplit("@", 1)
fn = f"{{name}}-{{version}}.tgz"
shutil.copy(f"{store}/" + fn, dest + "/" + fn)
print(json.dumps([{{"filename": fn}}]))
""")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{npm.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(emoji, "PACKAGES", packages)
    return packages
