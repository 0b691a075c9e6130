"""The dependency rules of neglabel_core as a test (the picture is in the package docstring):
every module's imports of our own modules must be in its allowed set below, and every module
must be placed in a layer, so a new one is placed deliberately."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "neglabel_core"
MATH = {"scores", "negmining", "metrics", "adaneg"}
BLOCKS = {"corpus", "data", "emoji", "imagenet", "fetch", "models", "embed", "cache", "training"}
LEAVES = {"validation", "files", "profiles", "numerics"}
ALLOWED: dict[str, set[str]] = {
    # leaves: nothing of ours
    "validation": set(), "files": set(), "profiles": set(), "data": set(), "training": set(), "browser_check": set(),
    "numerics": set(),  # the pinned CPU float configuration (applied when the package is imported)
    # pure tensor math: only the input checks
    "scores": {"validation"}, "negmining": {"validation"}, "metrics": {"validation"},
    "adaneg": {"scores", "validation"},  # AdaNeg's stream score is built on NegLabel's
    "methods": {"scores", "adaneg"},  # the registry: one entry per score
    # building blocks: no sideways imports but these documented ones
    "corpus": {"files"}, "cache": {"files"}, "models": {"files", "numerics"}, "fetch": {"files"},
    "embed": {"cache", "models"},  # embedding runs a model and caches its output
    "emoji": {"data", "fetch", "files"},  # the emoji benchmark is fetched, verified data
    "imagenet": {"data"},
    # what a profile evaluates on, and training the embedded model: under the pipeline
    "benchmarks": {"emoji", "imagenet", "data", "profiles", "corpus"},  # corpus: WordNet for the OOD filter
    "emoji_training": {"emoji", "training", "models", "embed", "files", "data", "metrics", "profiles", "cache",
                       "numerics", "__version__"},
    # the pipeline ties them together; analysis reads data only through it; the CLI calls the top
    "experiments": MATH | BLOCKS | LEAVES | {"methods", "benchmarks", "emoji_training"},
    "analysis": {"experiments", "methods", "metrics", "negmining", "corpus", "profiles"},
    "static_explorer": {"analysis", "experiments", "methods", "metrics"},  # the book's explorer: a grid through the pipeline
    "book": {"fetch", "files", "numerics"},  # vendors MathJax through the verified npm fetch; jobs by thread count
    "cli": {"analysis", "experiments", "profiles", "book", "browser_check", "emoji_training", "__version__"},
}


def our_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            names.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "neglabel_core":
            names.add((node.module.split(".") + [""])[1] or next(a.name for a in node.names))
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("neglabel_core."))
    return names - {"__init__"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_every_module_is_placed_in_a_layer():
    assert {p.stem for p in modules()} == set(ALLOWED)


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.stem)
def test_imports_point_one_way(path):
    extra = our_imports(path) - ALLOWED[path.stem]
    assert not extra, f"{path.stem} imports {sorted(extra)} against the layers (allowed: {sorted(ALLOWED[path.stem])})"


def test_nothing_imports_the_cli_the_book_tools_or_the_notebooks():
    for path in modules():
        imports = our_imports(path)
        assert "cli" not in imports, path.stem
        source = path.read_text("utf-8")
        assert "import notebooks" not in source and "from notebooks" not in source, path.stem


def test_the_rules_catch_a_violation(tmp_path):
    """The check itself: a math module importing a block, or analysis loading a model, is caught."""
    bad = tmp_path / "scores.py"
    bad.write_text("from .models import load_model\nfrom neglabel_core import embed\nimport neglabel_core.corpus\n")
    assert our_imports(bad) == {"models", "embed", "corpus"}
    assert our_imports(bad) - ALLOWED["scores"] == {"models", "embed", "corpus"}
    assert {"models", "embed"} - ALLOWED["analysis"] == {"models", "embed"}
