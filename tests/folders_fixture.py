"""A reader's folders benchmark built from images the project already has: the emoji profile's
own ID classes and OOD sets laid out as class folders (links to the prepared images), with a
names file, so a folders profile can be checked against the emoji profile's numbers."""

from __future__ import annotations

import os
from pathlib import Path

from neglabel_core.data.benchmarks import BenchmarkData


def _link(source: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target)


def folders_from(data: BenchmarkData, root: Path, *, shift: bool = True, max_classes: int | None = None,
                 max_ood_concepts: int | None = None, flat: tuple[str, ...] = (),
                 class_names: dict[int, str] | None = None) -> dict[str, object]:
    """Lay ``data`` out under ``root``: ``id/<NNN>_<concept>/``, ``ood/<set>/<concept>/`` (``flat``
    sets: ``ood/<set>/`` with no concept folders) and ``shift/<style>/<NNN>_<concept>/``, class
    folders numbered so that their sorted order is the class order, and ``names.tsv`` giving each
    class its name (``class_names`` replaces some). Returns the init-profile arguments."""
    n = len(data.class_names) if max_classes is None else max_classes
    folder = {label: f"{label:03d}_{data.class_names[label].replace(' ', '_')}" for label in range(n)}
    names = {label: (class_names or {}).get(label, data.class_names[label]) for label in range(n)}
    lines = [f"{folder[label]}\t{names[label]}" for label in range(n)]
    (root / "names.tsv").parent.mkdir(parents=True, exist_ok=True)
    (root / "names.tsv").write_text("\n".join(lines) + "\n", "utf-8")
    counts: dict[str, int] = {}

    def place(files, base: Path) -> None:
        for i, (path, label) in enumerate(zip(files.paths, files.labels)):
            if label < n:
                _link(path, base / folder[label] / f"{i:05d}{Path(path).suffix}")

    place(data.id_images, root / "id")
    ood = {}
    for name, files in data.ood.items():
        safe = name.replace(" & ", "_and_").replace(" ", "_")
        units = list(dict.fromkeys(files.units))[:max_ood_concepts]
        for i, (path, unit) in enumerate(zip(files.paths, files.units)):
            if unit in units:
                concept = data.concepts.get(unit, {}).get("name", unit).replace(" ", "_")
                inside = root / "ood" / safe if name in flat else root / "ood" / safe / concept
                _link(path, inside / f"{i:05d}{Path(path).suffix}")
                counts[name] = counts.get(name, 0) + 1
        ood[name] = root / "ood" / safe
    shifts = {}
    if shift:
        for name, files in data.shift.items():
            place(files, root / "shift" / name)
            shifts[name] = root / "shift" / name
    return {"id": root / "id", "names": root / "names.tsv", "ood": ood, "shift": shifts}
