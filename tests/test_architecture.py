"""The dependency rules of neglabel_core as a test (the picture is in the package docstring): the
folders are the layers, and every import of our own code from a layer must land in the layer
itself or in one it may use. Every file must sit in a known layer, so a new one is placed
deliberately."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "neglabel_core"
ROOT = "<package>"  # ``from .. import __version__``: the package's own __init__ (which imports numerics only)
ALLOWED: dict[str, set[str]] = {
    # leaves: nothing of ours (profiles: the files leaf only)
    "numerics": set(),  # the pinned CPU float configuration (applied when the package is imported)
    "files": set(),  # atomic writes, the cache root, temp-file sweeps
    "profiles": {"files"},  # configs as data and their schema (each check's answer kept in the cache)
    # pure tensor math and the method registry: nothing of ours outside the folder
    "ood": set(),
    # what a profile evaluates on, and the models: on the leaves and the math, never on each other
    "data": {"files", "profiles"},
    "models": {"files", "numerics", "profiles", "ood", ROOT},
    # the pipeline ties them together
    "pipeline": {"ood", "data", "models", "profiles", "files", "numerics"},
    # what the chapters compute reads models only through the pipeline
    "analysis": {"pipeline", "ood", "data", "profiles", "files", "numerics"},
    # building and checking the site: nothing of the analysis, nothing of the models
    "site": {"data", "files", "numerics"},
    "cli": {"analysis", "site", "pipeline", "ood", "data", "models", "profiles", "files", "numerics", ROOT},
    ROOT: {"numerics"},
}
# The documented sideways imports (package docstring): module -> the extra layers it may use.
EXCEPTIONS: dict[str, set[str]] = {
    "models/emoji_training.py": {"data"},  # the embedded model is trained on the emoji benchmark's images
    "models/alignment.py": {"data"},  # the backbone's projection is aligned on the same images
}


def layer_of(path: Path) -> str:
    """The layer of a file: its folder under the package, or its own name for a top-level module."""
    parts = path.relative_to(PACKAGE).parts
    if parts == ("__init__.py",):
        return ROOT
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def our_imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The layers ``path`` imports from (relative imports resolved against its place in ``package``)."""
    here = ["neglabel_core", *path.relative_to(package).with_suffix("").parts]
    if here[-1] == "__init__":
        here = here[:-1] + ["__init__"]  # ``from . import x`` in a package's __init__ is the package itself
    targets: list[list[str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = here[:-node.level] if node.level else []
            if node.module:
                targets.append(base + node.module.split(".")) if node.level or node.module.startswith(
                    "neglabel_core") else None
                if not node.level and node.module == "neglabel_core":
                    targets += [["neglabel_core", a.name] for a in node.names]
            else:
                targets += [base + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            targets += [a.name.split(".") for a in node.names if a.name.startswith("neglabel_core.")]
    layers = set()
    for target in targets:
        if target[0] != "neglabel_core" or len(target) == 1:
            continue
        name = target[1]
        layers.add(name if (package / name).is_dir() or (package / f"{name}.py").is_file() else ROOT)
    return layers


def files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_file_is_placed_in_a_layer():
    unplaced = sorted(str(p.relative_to(PACKAGE)) for p in files() if layer_of(p) not in ALLOWED)
    assert not unplaced, f"files outside every layer: {unplaced} (place them in tests/test_architecture.py)"


def test_the_layers_are_folders():
    """The tree shows the layers: every layer but the leaves, the CLI and the package root is a folder."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == {"ood", "data", "models", "profiles", "pipeline", "analysis", "site"}


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    layer = layer_of(path)
    allowed = ALLOWED[layer] | {layer} | EXCEPTIONS.get(str(path.relative_to(PACKAGE)), set())
    extra = our_imports(path) - allowed
    assert not extra, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(extra)} against the layers " \
                      f"(allowed: {sorted(ALLOWED[layer])})"


def test_nothing_imports_the_cli_the_analysis_the_site_or_the_notebooks():
    """Only the CLI imports the analysis and the site; neither imports the other."""
    for path in files():
        layer = layer_of(path)
        if layer == "cli":
            continue
        assert not our_imports(path) & ({"cli", "analysis", "site"} - {layer}), path
        source = path.read_text("utf-8")
        assert "import notebooks" not in source and "from notebooks" not in source, path


def test_the_rules_catch_a_violation(tmp_path):
    """The check itself: the math importing a model, data importing a model, the pipeline importing
    the analysis are each caught, in every import form."""
    package = tmp_path / "neglabel_core"
    (package / "ood").mkdir(parents=True)
    (package / "data").mkdir()
    (package / "models").mkdir()
    (package / "analysis").mkdir()
    (package / "pipeline").mkdir()
    bad = package / "ood" / "scores.py"
    bad.write_text("from ..models import load_model\nfrom neglabel_core.data import corpus\n"
                   "import neglabel_core.pipeline.scoring\nfrom . import validation\nfrom .metrics import auroc\n")
    assert our_imports(bad, package) == {"models", "data", "pipeline", "ood"}
    assert our_imports(bad, package) - ALLOWED["ood"] - {"ood"} == {"models", "data", "pipeline"}
    sideways = package / "data" / "emoji.py"
    sideways.write_text("from ..models.factory import load_model\nfrom .images import ImageFiles\n")
    assert our_imports(sideways, package) - ALLOWED["data"] - {"data"} == {"models"}
    init = package / "analysis" / "__init__.py"
    init.write_text("from . import tables\nfrom .. import pipeline\n")
    assert our_imports(init, package) == {"analysis", "pipeline"}


def test_the_documented_exception_is_used():
    """An exception nobody needs any more is removed, not kept."""
    for name, extra in EXCEPTIONS.items():
        assert extra <= our_imports(PACKAGE / name), name


def module_imports(path: Path, package: Path = PACKAGE) -> set[Path]:
    """The files of ours that ``path`` imports, at module level or inside a function alike."""
    here = ["neglabel_core", *path.relative_to(package).with_suffix("").parts]
    if here[-1] == "__init__":
        here = here[:-1] + ["__init__"]

    def file_of(parts: list[str]) -> Path | None:
        rel = Path(*parts[1:]) if len(parts) > 1 else Path()
        for candidate in (package / rel.with_suffix(".py") if parts[1:] else None, package / rel / "__init__.py"):
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("neglabel_core")):
            base = (here[:-node.level] if node.level else []) + (node.module.split(".") if node.module else [])
            for alias in node.names:  # ``from . import tables`` names a module; ``from .x import f`` a name in x
                target = file_of(base + [alias.name]) or file_of(base)
                found.add(target) if target is not None else None
        elif isinstance(node, ast.Import):
            found |= {t for a in node.names if a.name.startswith("neglabel_core.") if (t := file_of(a.name.split(".")))}
    return found - {path}


def test_no_two_modules_import_each_other():
    """No circle between modules, counting the imports inside functions (they hide one, not break it);
    a package's ``__init__`` that gathers its own modules is not a circle of theirs."""
    graph = {p: {q for q in module_imports(p) if q.name != "__init__.py"} for p in files()}
    circles = []

    def visit(node: Path, trail: list[Path]) -> None:
        for nxt in graph.get(node, ()):
            if nxt in trail:
                circles.append(" -> ".join(str(p.relative_to(PACKAGE)) for p in trail[trail.index(nxt):] + [nxt]))
            elif len(trail) < 12:
                visit(nxt, trail + [nxt])

    for start in graph:
        visit(start, [start])
    assert not circles, sorted(set(circles))[:5]
