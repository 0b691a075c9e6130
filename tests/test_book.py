"""End to end: every notebook through papermill on a small configuration, the Jupyter Book build
with warnings as errors, and the browser check on the result. Minutes, not the full book."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from neglabel_core import cli
from neglabel_core.site.build import NOTEBOOKS

from .test_end_to_end import REAL_DATA, SMALL

ROOT = Path(__file__).resolve().parents[1]
# the near-OOD split of the small configuration: same model (train groups), a sibling subgroup as near OOD
SMALL_NEAR = {**SMALL, "name": "emoji-small-near-test",
              "benchmark": {**SMALL["benchmark"],
                            "split": {"id": ["Animals & Nature/animal-mammal", "Food & Drink/food-fruit"],
                                      "ood": {"near: bugs": ["Animals & Nature/animal-bug"], "arrows": ["Symbols/arrow"]},
                                      "near": ["near: bugs"]},
                            "ood_filter": None}}
# the small configuration's models: its own (trained here), the backbone aligned on its concepts, and
# (emoji configuration) its own against the second text tower
# the cheaper methods of each kind (one-score, stream): NegRefine's pairs and CSP's phrases run in chapter 08's test
SMALL_VLM_METHODS = ["neglabel", "mcm", "max_cos", "energy", "adaneg", "neggate"]
SMALL_VLMS = {"ResNet trained here": {},
              "MobileNetV2 aligned": {"model": {"name": "emoji-mobilenetv2-minilm", "pretrained": "@align"},
                                      "train": {"augmented_views": 0}}}
# the emoji run: its own model against the second text tower (the aligned backbone runs on a reader's folders)
SMALL_VLMS_TWO_TOWERS = {"ResNet trained here": {},
                         "ResNet, MPNet": {"model": {"name": "emoji-tiny-rn16-mpnet", "pretrained": "@train"}}}
# The chapters whose code takes an emoji-only path: the benchmark's groups and concept names (00, 01),
# the shift sets and style subsets (05), the near-OOD variant (06, 08, 10, 11), the cleaned OOD sets
# (08), the development/confirmation style split (10), the second text tower (11). The others (02,
# 03, 04, 07, 09, the paper profile's page) take the same path on a reader's folders of the same
# images, which the whole-book test below runs.
EMOJI_CHAPTERS = ("00_benchmark", "01_negmining", "05_domain_shift", "06_findings", "08_successors", "10_neggate",
                  "11_cross_vlm")
NOTEBOOK_PARAMS = {
    "00_benchmark": {"examples_per_group": 3},
    "02_scores": {"n_bootstrap": 20},
    "03_corpus_ablation": {"web_words": 300, "dictionary_words": 300, "n_bootstrap": 20, "control_ms": [20, 100]},
    "04_hyperparameters": {"etas": [0.05, 0.5], "ms": [20, 100], "groups": [1, 10], "taus": [0.01, 0.1],
                           "n_seeds": 3, "n_bootstrap": 20},
    "05_domain_shift": {"n_bootstrap": 20, "templates": ["{}", "The nice {}"]},
    "06_findings": {"n_bootstrap": 20, "near_overrides": SMALL_NEAR},
    "07_explorer": {"explorer_grid": {"eta": [0.05, 0.5], "m": [20, 100], "n_groups": [1, 10], "tau": [0.01, 0.1],
                                      "corpus": ["WordNet nouns + adjectives", "WordNet nouns"]}},
    "08_successors": {"n_bootstrap": 20, "stream_seeds": 2, "near_overrides": SMALL_NEAR},
    "09_vlm_strength": {"n_bootstrap": 20},
    "10_neggate": {"n_bootstrap": 20, "near_overrides": SMALL_NEAR, "timing_repeats": 1},
    "11_cross_vlm": {"n_bootstrap": 20, "near_overrides": SMALL_NEAR, "vlms": SMALL_VLMS_TWO_TOWERS,
                     "methods": SMALL_VLM_METHODS},
}


@pytest.fixture
def book_root(tmp_path):
    """A copy of the book's sources (config, toc, prose, notebooks, data) to build in."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "_static", root / "_static")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    shutil.copytree(ROOT / "data", root / "data")
    (root / "book").mkdir()
    for md in [*(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("*.bib")]:
        shutil.copy(md, root / "book" / md.name)
    vendored = ROOT / "book" / "_vendor"
    if vendored.is_dir():  # reuse MathJax vendored by an earlier build
        shutil.copytree(vendored, root / "book" / "_vendor")
    return root


@pytest.mark.long
@pytest.mark.slow
def test_every_notebook_runs_on_the_emoji_configuration(book_root, monkeypatch):
    """Every chapter with an emoji-only path (:data:`EMOJI_CHAPTERS`) on the embedded benchmark's
    small configuration, through ``neglabel book``'s execution. Every chapter, the HTML build, the
    browser check and the prose-edit rebuild run on a reader's folders of the same images
    (:func:`test_the_whole_book_on_a_readers_folders`): one site build for the suite, not two."""
    from neglabel_core.site.build import execute_notebooks

    assert set(EMOJI_CHAPTERS) <= set(NOTEBOOKS)
    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    monkeypatch.chdir(book_root)
    status = execute_notebooks("emoji-tiny", book_root / "book", source_dir=book_root / "notebooks", overrides=SMALL,
                               extra=NOTEBOOK_PARAMS, notebooks=EMOJI_CHAPTERS)
    assert status == {name: "executed" for name in EMOJI_CHAPTERS}
    assert (book_root / "book" / "mined_negatives.csv").read_text().startswith("word,pos,score,rank")


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists(),
                    reason="Chromium is not installed (make test installs it)")
def test_the_whole_book_on_a_readers_folders(book_root, monkeypatch, capsys, tmp_path):
    """A reader's own benchmark: the small configuration's images laid out as class folders (no
    shift sets, one OOD set marked near), a profile from init-profile, and the whole book on it:
    every chapter runs, none needs emoji groups or an emoji near variant, the browser check passes."""
    from neglabel_core.data.benchmarks import benchmark_data
    from neglabel_core.profiles import load_profile

    from .folders_fixture import folders_from

    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    monkeypatch.chdir(book_root)
    small = {**SMALL, "benchmark": {k: v for k, v in SMALL["benchmark"].items() if k != "train_groups"}}
    base = tmp_path / "small.json"
    base.write_text(load_profile("emoji-tiny", small).to_json())
    # Names a careless or hostile data source could give (each sets body[data-pwned] if it ever runs),
    # beside legitimate names with markup characters; the "ground transport" set is flat (no concept folders).
    payloads = {"profile": "my-folders <details open ontoggle=document.body.dataset.pwned=1>x</details>",
                "set": "ground </script><script>document.body.dataset.pwned++</script> & <unk>",
                "class": "AT&T *cat* <img src=x onerror=document.body.dataset.pwned=3> `x`"}
    made = folders_from(benchmark_data(load_profile(base)), tmp_path / "my data", shift=False, flat=("ground transport",),
                        class_names={0: payloads["class"]})
    mine = tmp_path / "mine.json"
    argv = ["init-profile", "--id", str(made["id"]), "--names", str(made["names"]), "--extends", str(base),
            "--near", "arrows", "--name", payloads["profile"], "--output", str(mine)]
    for name, folder in made["ood"].items():
        argv += ["--ood", f"{payloads['set'] if name == 'ground transport' else name}={folder}"]
    assert cli.main(argv) == 0
    params = {**NOTEBOOK_PARAMS, "06_findings": {"n_bootstrap": 20}, "08_successors": {"n_bootstrap": 20, "stream_seeds": 2},
              "10_neggate": {"n_bootstrap": 20, "timing_repeats": 1}, "11_cross_vlm": {"n_bootstrap": 20, "vlms": SMALL_VLMS,
                                                                                 "methods": SMALL_VLM_METHODS}}
    code = cli.main(["book", "--root", str(book_root), "--quiet", "--profile", str(mine),
                     "--notebook-params", json.dumps(params)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err[-3000:]
    assert "browser check passed" in captured.out and f"notebooks: {len(NOTEBOOKS)} executed" in captured.out
    site_book = book_root / "book"
    for name in NOTEBOOKS:
        assert (site_book / "_build" / "html" / "book" / f"{name}.html").is_file(), name
    assert len(list((site_book / "_build" / "screenshots").glob("*.png"))) >= len(NOTEBOOKS) + 2
    first = (site_book / "_build" / "html" / "book" / "01_negmining.html").read_text()
    assert "overrides = {}" not in first  # the parameters cell is hidden
    assert "cdn.jsdelivr" not in first and "mathjax/tex-mml-chtml.js" in first
    assert 'http-equiv="Content-Security-Policy"' in first
    html = book_root / "book" / "_build" / "html" / "book"
    assert "This profile has no domain-shift set here." in (html / "05_domain_shift.html").read_text()
    assert "near average" in (html / "06_findings.html").read_text()
    # one set is flat, the other has concept folders: chapter 01 ranks the names it has
    assert re.search(r"Of the [\d,]+ OOD names, [\d.]+% would be mined\.", (html / "01_negmining.html").read_text())
    # Every page in Chromium: no payload ran, and each name shows as the text it is.
    from playwright.sync_api import sync_playwright

    from neglabel_core.site.browser_check import CHROMIUM_FLAGS, find_chromium, pages_of, serve

    site = book_root / "book" / "_build" / "html"
    shown = {}
    with serve(site) as base_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
        page = browser.new_page()
        for path in pages_of(site):
            page.goto(base_url + str(path.relative_to(site)), wait_until="load")
            page.wait_for_timeout(300)
            assert page.evaluate("document.body.dataset.pwned") is None, f"a name ran as script on {path.name}"
            shown[path.name] = page.evaluate("document.body.innerText")
        browser.close()
    assert payloads["profile"] in shown["00_benchmark.html"]
    assert any(payloads["set"] in text for text in shown.values())

    # A prose edit: no notebook runs again, the edited page shows the new text.
    import nbformat

    path = book_root / "notebooks" / "02_scores.ipynb"
    nb = nbformat.read(path, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    first_md.source += "\n\nAn edited sentence for the warm-rebuild test."
    nbformat.write(nb, path)
    code = cli.main(["book", "--root", str(book_root), "--quiet", "--no-check", "--profile", str(mine),
                     "--notebook-params", json.dumps(params)])
    out = capsys.readouterr().out
    assert code == 0 and f"notebooks: {len(NOTEBOOKS) - 1} current, 1 prose updated (" in out
    assert "An edited sentence for the warm-rebuild test." in (html / "02_scores.html").read_text()


def test_failing_notebook_stops_the_build(tmp_path):
    import nbformat

    from neglabel_core.site.build import NotebookFailedError, execute_notebooks

    src = tmp_path / "src"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'x'\noverrides = {}", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src / "bad.ipynb")
    with pytest.raises(NotebookFailedError, match=r"^notebook bad failed: ValueError: broken on purpose"):
        execute_notebooks("x", tmp_path / "out", source_dir=src, notebooks=["bad"])
    assert not (tmp_path / "out" / "bad.ipynb").exists()
    assert os.listdir(tmp_path / "out") == [".bad.running.ipynb"]


def _tiny_notebook(path: Path, prose: str, code: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(prose),
                nbformat.v4.new_code_cell("profile = 'x'\noverrides = {}", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_unchanged_notebooks_are_not_run_again_and_prose_edits_carry_over(tmp_path):
    import nbformat

    from neglabel_core.site.build import execute_notebooks

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    runs = tmp_path / "runs.txt"
    code = f"with open({str(runs)!r}, 'a') as f:\n    f.write('run\\n')\nprint('answer', 6 * 7)"
    _tiny_notebook(src / "nb.ipynb", "# First title", code)

    def run(**kwargs):
        return execute_notebooks("x", out, source_dir=src, notebooks=["nb"], context={"model": "a"}, **kwargs)

    assert run() == {"nb": "executed"}
    assert run() == {"nb": "current"}
    assert runs.read_text() == "run\n"  # the second call did not execute anything

    _tiny_notebook(src / "nb.ipynb", "# A better title", code)
    assert run() == {"nb": "prose updated"}
    assert runs.read_text() == "run\n"
    executed = nbformat.read(out / "nb.ipynb", as_version=4)
    assert executed.cells[0].source == "# A better title"
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    assert tags[1] == ["parameters", "remove-cell"] and "injected-parameters" in tags[2]  # still hidden, in place
    assert executed.cells[3].outputs[0]["text"] == "answer 42\n"

    _tiny_notebook(src / "nb.ipynb", "# A better title", code.replace("6 * 7", "6 * 8"))
    assert run() == {"nb": "executed"}  # code changed
    assert execute_notebooks("x", out, source_dir=src, notebooks=["nb"], context={"model": "b"}) == {"nb": "executed"}
    assert execute_notebooks("x", out, source_dir=src, notebooks=["nb"], context={"model": "b"},
                             overrides={"params": {"eta": 0.1}}) == {"nb": "executed"}  # parameters changed
    assert run(force=True) == {"nb": "executed"}
    assert runs.read_text() == "run\n" * 5
    assert nbformat.read(out / "nb.ipynb", as_version=4).cells[3].outputs[0]["text"] == "answer 48\n"


def test_explorer_payload_cannot_end_its_script():

    from neglabel_core.analysis import vega

    name = "</script><img src=x onerror=document.body.dataset.pwned=2>&\u2028<!--"
    html_text = vega.explorer_html({"data": {"values": [{"set": name}]}})
    block = html_text.split('<script type="application/json" id="neglabel-explorer-spec">', 1)[1].split("</script>", 1)[0]
    assert json.loads(block) == {"data": {"values": [{"set": name}]}}
    assert "</script><img" not in html_text and "<!--" not in html_text and "\u2028" not in html_text
    text = vega.script_json({"set": name})
    assert text == ('{"set":"\\u003c/script\\u003e\\u003cimg src=x onerror=document.body.dataset.pwned=2'
                    '\\u003e\\u0026\\u2028\\u003c!--"}')
    assert json.loads(text) == {"set": name}  # the same value once parsed: the name shows as it is
    # no inline script at all: the data block never runs, the drawing code is the book's own file
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html_text)
    assert inline == ['<script type="application/json" id="neglabel-explorer-spec">']


def test_names_reach_the_prose_as_text_and_flat_ood_sets_get_a_sentence():
    from types import SimpleNamespace

    import pandas as pd

    from neglabel_core.analysis import chapter, corpora

    emb = SimpleNamespace(profile=SimpleNamespace(benchmark={"kind": "folders"}))
    assert corpora.ood_names_paragraph(emb, pd.DataFrame(columns=["name"])).startswith(
        "This profile's OOD sets carry no concept names (flat image folders)")
    ranks = pd.DataFrame({"name": ["tree", "<details open ontoggle=x>y</details>"], "would be mined": [True, False],
                          "nearest ID class": ["oak", "AT&T *co*"], "cosine to it": [0.25, 0.75]})
    text = corpora.ood_names_paragraph(emb, ranks)
    assert text == ('Of the 2 OOD names, 50.0% would be mined. The rest sit too close to some ID label: the last one, '
                    '"\\<details open ontoggle\\=x\\>y\\</details\\>", has cosine 0.75 to the ID class "AT\\&T \\*co\\*". '
                    "Such names share the ID labels' vocabulary. The median cosine to the nearest ID class is 0.75 for the "
                    "names that would not be mined and 0.25 for the names that would: NegMining can only find OOD "
                    "concepts that the text tower places away from all ID labels.")
    assert chapter.md_text("a\nb `c` $x$ [l](u)") == "a b \\`c\\` \\$x\\$ \\[l\\]\\(u\\)"



def test_names_in_figures_are_plain_text():
    """A pair of "$" in a class or set name: matplotlib's default reads it as mathtext (typesets a
    formula, or fails the draw); the chapters' theme draws every name as the text it is."""
    import matplotlib
    import matplotlib.pyplot as plt

    from neglabel_core.analysis import chapter

    names = ["price $\\nosuch$ *cat*", "$x_1$ <unk>"]
    with matplotlib.rc_context():
        fig, ax = plt.subplots()
        assert ax.set_title(names[1])._preprocess_math(names[1])[1]  # read as math by default
        ax.set_title(names[0])
        with pytest.raises(ValueError, match="nosuch"):
            fig.canvas.draw()
        plt.close(fig)
        chapter.plot_theme()
        fig, ax = plt.subplots()
        title = ax.set_title(names[0])
        ticks = [tick.label1 for tick in ax.set_xticks([0, 1], names)]
        fig.canvas.draw()
        assert [t.get_text() for t in [title, *ticks]] == [names[0], *names]
        assert not any(t._preprocess_math(t.get_text())[1] for t in [title, *ticks])
        plt.close(fig)
        # a log axis's default tick labels are mathtext ("$\\mathdefault{10^{2}}$"), shown raw without it:
        # under the theme they are plain numbers
        fig, ax = plt.subplots()
        ax.plot([10, 100, 10000], [1, 2, 3])
        ax.set_xscale("log")
        fig.canvas.draw()
        shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert "1,000" in shown and not any("$" in t or "mathdefault" in t for t in shown), shown
        plt.close(fig)


def test_chapter_parameters_are_checked_before_any_work(tmp_path):
    from neglabel_core.analysis import chapter
    from neglabel_core.site.build import NotebookFailedError, execute_notebooks

    chapter.check_parameters(m=None, etas=[0.05, 0.5], templates=["a {} photo"], near_overrides={"x": 1})
    with pytest.raises(ValueError, match=r"^bad chapter parameter\(s\): m=0; expected None \(the book's default\) or an "
                                         r"integer in \[1, 10,000,000\]; etas=5; expected None \(the book's default\) or a "
                                         r"list of 1 to 100 values, each a number in \(0, 1\); templates=\['\{0.__class__\}'\]; "
                                         r"expected None \(the book's default\) or a list of 1 to 100 values, each a prompt "
                                         r"with one \{\} and no other replacement field; colour: not a chapter parameter"):
        chapter.check_parameters(m=0, etas=5, templates=["{0.__class__}"], colour="red")
    # Through papermill, as `papermill ... -p m 0` runs it: the setup cell fails, nothing is loaded.
    with pytest.raises(NotebookFailedError, match=r"^notebook 01_negmining failed: ValueError: bad chapter parameter\(s\): "
                                                  r"m=0; expected"):
        execute_notebooks("emoji-tiny", tmp_path / "out", source_dir=ROOT / "notebooks", notebooks=["01_negmining"],
                          extra={"01_negmining": {"m": 0}})


@pytest.mark.parametrize("value", ["NegLabel trails **energy** <b>x</b>", 3, 2.5, True])
def test_glue_records_what_myst_nb_records(value):
    """The chapters glue without importing myst-nb (over a second per kernel): the display output
    (data and metadata) is the one myst-nb's own ``glue(name, value, display=False)`` writes."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import Markdown
    from IPython.utils.capture import capture_output
    from myst_nb import glue as nb_glue

    from neglabel_core.analysis import chapter

    InteractiveShell.instance()
    try:
        with capture_output() as ours:
            chapter.glue("name", value)
        with capture_output() as theirs:
            nb_glue("name", Markdown(value) if isinstance(value, str) else value, display=False)
    finally:
        InteractiveShell.clear_instance()
    assert [(o.data, o.metadata) for o in ours.outputs] == [(o.data, o.metadata) for o in theirs.outputs]
    assert len(ours.outputs) == 1 and all(k.startswith("application/papermill.record/") for k in ours.outputs[0].data)


def test_every_code_cell_is_hidden_on_the_page():
    """The book is read, not run: no code cell's source shows expanded (a reader opens it with the
    toggle); the parameters cell is removed from the page by the build."""
    import nbformat

    shown = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for k, cell in enumerate(nbformat.read(path, as_version=4).cells):
            tags = set(cell.metadata.get("tags", []))
            if cell.cell_type == "code" and not tags & {"hide-input", "remove-input", "remove-cell", "hide-cell", "parameters"}:
                shown.append(f"{path.name} cell {k}")
    assert not shown, shown
