"""The paper profile's data layer on tiny generated folders, and its wiring end to end with a
random-weight tiny open_clip model standing in for ViT-B/16 (a wiring test: its numbers mean nothing)."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neglabel_core import cli
from neglabel_core import pipeline as ex
from neglabel_core.data import imagenet
from neglabel_core.data.imagenet import SetSpec, load_set, load_sets
from neglabel_core.data.images import DataNotFoundError
from neglabel_core.profiles import load_profile

from .imagenet_fixture import CLASSES, OOD, PER_CLASS, fixture_overrides, make_data_root


@pytest.fixture
def data_root(tmp_path):
    return make_data_root(tmp_path / "data")


def test_class_names_and_synsets_line_up():
    names, ids = imagenet.class_names(), imagenet.synsets()
    assert len(names) == len(ids) == 1000 and len(set(ids)) == 1000
    assert (ids[0], names[0]) == ("n01440764", "tench")
    assert (ids[207], names[207]) == ("n02099601", "Golden Retriever")
    assert (ids[999], names[999]) == ("n15075141", "toilet paper")


def test_id_folders_map_to_class_indices(data_root):
    files = load_set(data_root, SetSpec("ImageNet-1k", "imagenet/val", "synset_folders", len(CLASSES) * PER_CLASS))
    assert sorted(set(files.labels)) == list(CLASSES)
    assert files.units[0] == "n01440764" and files.labels[0] == 0
    image, label = files[len(files) - 1]
    assert label == 207 and image.size == (48, 40)


def test_ood_units_are_texture_classes_or_images(data_root):
    textures = load_set(data_root, SetSpec("Textures", "ood/dtd/images", expected=4))
    assert sorted(set(textures.units)) == ["banded", "woven"] and set(textures.labels) == {-1}
    sun = load_set(data_root, SetSpec("SUN", "ood/SUN", expected=3))
    assert sun.units == ["sun_0.jpg", "sun_1.jpg", "sun_2.jpg"]
    # One folder below the set's root (as iNaturalist/images/ unpacks): still one unit per image
    nested = data_root / "ood" / "inat-nested"
    (nested / "images").mkdir(parents=True)
    for path in (data_root / "ood" / "iNaturalist").iterdir():
        (nested / "images" / path.name).write_bytes(path.read_bytes())
    inat = load_set(data_root, SetSpec("iNaturalist", "ood/inat-nested", expected=3))
    assert inat.units == [f"images/inaturalist_{i}.jpg" for i in range(3)]


def test_labels_file_layout(data_root):
    # The official code's val_labeled.txt: "<path relative to the image folder> <class index>"
    lines = [f"{ids}/val_{label}_{i}.JPEG {label}" for label in CLASSES for i in range(PER_CLASS)
             for ids in [imagenet.synsets()[label]]]
    (data_root / "imagenet" / "val_labeled.txt").write_text("\n".join(lines) + "\n")
    spec = SetSpec("ImageNet-1k", "imagenet/val", "labels_file", 6, labels_file="imagenet/val_labeled.txt")
    files = load_set(data_root, spec)
    folders = load_set(data_root, SetSpec("ImageNet-1k", "imagenet/val", "synset_folders", 6))
    assert sorted(zip(files.paths, files.labels)) == sorted(zip(folders.paths, folders.labels))

    (data_root / "imagenet" / "val_labeled.txt").write_text(lines[0] + "\nval_x.JPEG tench\n")
    with pytest.raises(DataNotFoundError, match=r"^ImageNet-1k: line 2 of .*val_labeled.txt is 'val_x.JPEG tench'; "
                                                r"expected '<image path> <class index 0-999>'$"):
        load_set(data_root, spec)
    (data_root / "imagenet" / "val_labeled.txt").write_text(lines[0] + "\nmissing/val_9.JPEG 3\n")
    with pytest.raises(DataNotFoundError, match=r"^ImageNet-1k: 1 of the 2 images listed in .* do not exist, "
                                                r"e.g. '.*missing/val_9.JPEG'"):
        load_set(data_root, spec)


def test_index_folders_layout(data_root):
    v2 = load_set(data_root, SetSpec("ImageNet-V2", "shift/imagenetv2-matched-frequency", "index_folders", 3))
    assert sorted(v2.labels) == list(CLASSES) and "n02099601" in v2.units


def test_counts_checked_with_clear_errors(data_root):
    root = data_root / "ood" / "SUN"
    with pytest.raises(DataNotFoundError, match=(
            rf"^SUN: '{root}' is incomplete: found 3 images, expected 10,000 \(10,000 images \(any folder structure\); "
            r'set "expected": null to use a subset\)$')):
        load_set(data_root, SetSpec("SUN", "ood/SUN", expected=10000))
    with pytest.raises(DataNotFoundError, match=rf"^SUN: '{root}' holds extra files: found 3 images, expected 2 "):
        load_set(data_root, SetSpec("SUN", "ood/SUN", expected=2))
    assert len(load_set(data_root, SetSpec("SUN", "ood/SUN", expected=None))) == 3  # a deliberate subset
    (data_root / "imagenet" / "val" / "not-a-class").mkdir()
    with pytest.raises(DataNotFoundError, match=r"^ImageNet-1k: sub-folder\(s\) \['not-a-class'\] of .* are not "
                                                r"ImageNet classes; expected WordNet ids such as n01440764"):
        load_set(data_root, SetSpec("ImageNet-1k", "imagenet/val", "synset_folders", 6))
    with pytest.raises(ValueError, match=r"^image set 'X': unknown layout 'zip'; expected one of \['synset_folders'"):
        SetSpec.from_dict("X", {"path": "x", "layout": "zip"})
    with pytest.raises(ValueError, match=r"^image set 'X': keys \['expect'\] are not understood"):
        SetSpec.from_dict("X", {"path": "x", "expect": 3})


def test_every_problem_reported_at_once(data_root):
    ood = {name: {"path": path, "expected": n} for name, (path, n) in OOD.items()}
    ood["Places"]["expected"] = 10000
    ood["iNaturalist"]["path"] = "ood/inat"
    shift = {"ImageNet-R": {"path": "shift/imagenet-r", "layout": "synset_folders", "expected": 30000, "optional": True},
             "ImageNet-V2": {"path": "shift/imagenetv2-matched-frequency", "layout": "index_folders", "expected": 10000,
                             "optional": True}}
    with pytest.raises(DataNotFoundError) as info:
        load_sets(data_root, {"path": "imagenet/val", "layout": "synset_folders", "expected": 6}, ood, shift)
    message = str(info.value)
    assert message.startswith(f"the data under '{data_root}' is not complete:\n")
    assert "iNaturalist: folder" in message and "ood/inat' does not exist" in message
    assert "Places: " in message and "found 2 images, expected 10,000" in message
    assert "ImageNet-V2: " in message and "found 3 images, expected 10,000" in message  # present: checked
    assert "ImageNet-R" not in message and "SUN" not in message  # optional and absent; complete
    with pytest.raises(DataNotFoundError, match=r"^no data root: pass --data-root DIR"):
        load_sets(None, {"path": "imagenet/val"}, ood)
    with pytest.raises(DataNotFoundError, match=r"^data root '/nonexistent/data' does not exist"):
        load_sets("/nonexistent/data", {"path": "imagenet/val"}, ood)


def test_paper_profile_settings():
    profile = load_profile("imagenet-clip")
    assert profile.model == {"name": "ViT-B-16", "pretrained": "openai"}
    assert profile.id_templates == ["the nice {}"]
    assert profile.corpus["prompts"] == {"noun": "the nice {}", "adj": "This is a {} photo"}
    assert profile.corpus["exclude_lexnames"] == ["noun.animal", "noun.food"]
    assert profile.params["pos_fraction"] == 0.15 and profile.params["eta"] == 0.05 and profile.params["n_groups"] == 100
    expected = {name: spec["expected"] for name, spec in profile.benchmark["ood"].items()}
    assert expected == {"iNaturalist": 10000, "SUN": 10000, "Places": 10000, "Textures": 5640}
    assert profile.benchmark["id"]["expected"] == 50000


def test_pipeline_end_to_end_with_a_random_weight_model(data_root, tiny_model_name, tmp_path, capsys):
    overrides = fixture_overrides(data_root, tiny_model_name)
    path = tmp_path / "fixture.json"
    path.write_text(load_profile("imagenet-clip", overrides).to_json())
    assert cli.main(["evaluate", "--profile", str(path), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["id_classes"] == 1000 and result["id_images"] == len(CLASSES) * PER_CLASS
    assert result["ood_images"] == {name: n for name, (_, n) in OOD.items()}
    assert set(result["results"]) == {*OOD, "average", "pooled"}
    assert result["params"]["fpr_rule"] == "closest" and result["params"]["perm_device"] == "cuda"
    assert result["params"]["perm_device_used"] == ("cuda" if torch.cuda.is_available() else "cpu")
    emb = ex.embed_profile(load_profile(str(path)), progress=False)
    assert set(emb.shift_emb) == {"ImageNet-V2"}  # present optional sets only
    # The official rule: 15% of each part of speech, nouns first
    negatives = ex.mine(emb, eta=0.05, m=10, pos_fraction=0.15)
    pos = [emb.corpus.pos[i] for i in negatives]
    n_noun, n_adj = emb.corpus.pos.count("noun"), emb.corpus.pos.count("adj")
    assert pos == ["noun"] * int(0.15 * n_noun) + ["adj"] * int(0.15 * n_adj)
    assert result["params"]["m"] == len(negatives)  # the table records what was mined
    # Sweeps keep the profile's rule (15% per part of speech) except over M, which mines the lowest M
    from neglabel_core.analysis import sweeps

    by_eta = sweeps.sweep(emb, "eta", [0.05, 0.5])
    assert by_eta["eta"].tolist() == [0.05, 0.5] and set(by_eta["m"]) == {len(negatives)}
    assert sweeps.sweep(emb, "m", [20, 10**6])["m"].tolist() == [20]  # M above the corpus size is skipped
    with pytest.raises(ValueError, match=r"^no value of m in \[1000000\] fits: M must lie in \[n_groups, corpus size 600\]"):
        sweeps.sweep(emb, "m", [10**6])


def test_warm_run_writes_nothing_so_a_read_only_cache_works(data_root, tiny_model_name, tmp_path, capsys, monkeypatch):
    import errno
    import os
    import tempfile

    path = tmp_path / "fixture.json"
    path.write_text(load_profile("imagenet-clip", fixture_overrides(data_root, tiny_model_name)).to_json())
    torch.manual_seed(0)  # the fixture's model has random weights: the same ones each run
    assert cli.main(["evaluate", "--profile", str(path), "--json", "--quiet"]) == 0
    first = json.loads(capsys.readouterr().out)

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    for module, name in ((os, "replace"), (os, "rename"), (tempfile, "mkstemp"), (tempfile, "mkdtemp")):
        monkeypatch.setattr(module, name, read_only)  # every write path of the cache goes through these
    torch.manual_seed(0)
    assert cli.main(["evaluate", "--profile", str(path), "--json", "--quiet"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["results"] == first["results"] and again["id_top1"] == first["id_top1"]
    monkeypatch.setattr("neglabel_core.data.imagenet.class_names", lambda: ["changed"] * 1000)  # now a write is needed
    assert cli.main(["evaluate", "--profile", str(path), "--quiet"]) == 2
    assert "cannot write to the cache at " in capsys.readouterr().err


def test_a_method_is_added_by_one_registry_entry(data_root, tiny_model_name, tmp_path, capsys, monkeypatch):
    """A toy method (the mean ID cosine) registered once appears in the CLI's table and JSON,
    results_table and evaluate_params, with nothing else edited; a profile lists what it runs."""
    from neglabel_core.analysis import tables
    from neglabel_core.ood import methods as registry

    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))  # leave the real registry as it was
    registry.register(registry.Method("mean_cos", "mean cosine", lambda ids, negs, p: ids.mean(dim=1)))
    overrides = {**fixture_overrides(data_root, tiny_model_name), "methods": ["max_cos", "mean_cos"]}
    path = tmp_path / "fixture.json"
    path.write_text(load_profile("imagenet-clip", overrides).to_json())
    torch.manual_seed(0)
    assert cli.main(["evaluate", "--profile", str(path), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert all(list(row) == ["max_cos", "mean_cos"] for row in result["results"].values())
    emb = ex.embed_profile(load_profile(str(path)), progress=False)
    scored = ex.score(emb)
    mean_id = (emb.id_emb @ emb.id_text.T).mean(axis=1)
    np.testing.assert_allclose(scored.id["mean_cos"], mean_id, rtol=1e-5, atol=1e-6)
    assert set(tables.results_table(emb, scored, n_bootstrap=0)["method"]) == {"max_cos", "mean_cos"}
    assert list(tables.evaluate_params(emb, emb.profile.params)["method"]) == ["max_cos", "mean_cos"]
    torch.manual_seed(0)
    assert cli.main(["evaluate", "--profile", str(path), "--quiet"]) == 0
    assert "mean_cos AUROC/FPR95" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(load_profile("imagenet-clip", {**overrides, "methods": ["odin"]}).to_json())
    assert cli.main(["evaluate", "--profile", str(bad), "--quiet"]) == 2
    assert "unknown method(s) ['odin']; expected some of ['neglabel', 'mcm', 'max_cos', 'energy', " in capsys.readouterr().err


def test_each_parameter_moves_only_the_methods_that_read_it(data_root, tiny_model_name, tmp_path):
    """Property tests of the pipeline: a parameter changes exactly the scores of the methods whose
    registry entry reads it (a swapped tau / mcm_tau would show here), and the explorer's initial
    setting reproduces the profile's own result."""
    from neglabel_core.analysis import corpora, explorer
    from neglabel_core.ood import methods as registry

    path = tmp_path / "fixture.json"
    path.write_text(load_profile("imagenet-clip", fixture_overrides(data_root, tiny_model_name)).to_json())
    emb = ex.embed_profile(load_profile(str(path)), progress=False)
    base = ex.score(emb)
    # The tiny random model's NegLabel scores sit at 0.986-0.999, where a new grouping (seed) moves
    # S by about one float32 ulp, or not at all on another machine: judge NegLabel by its log-odds,
    # the same code path and parameters (grouped_params) with the saturation taken out.
    assert registry.REGISTRY["neglabel_log_odds"].params == registry.REGISTRY["neglabel"].params
    probed = [m if m != "neglabel" else "neglabel_log_odds" for m in base.id]
    reference = ex.score(emb, methods=probed)
    changes = {"tau": 0.05, "mcm_tau": 0.5, "energy_tau": 0.05, "seed": 3, "n_groups": 2, "eta": 0.5}
    for param, value in changes.items():
        other = ex.score(emb, {param: value}, methods=probed)
        moved = {m for m in probed if not np.array_equal(reference.id[m], other.id[m])}
        entries = {m: registry.REGISTRY[m] for m in probed}
        readers = {m for m, e in entries.items() if param in e.params or (param == "eta" and e.needs == "negatives")}
        assert moved == readers, (param, moved, readers)
    view = explorer.explore(emb, method="neglabel")
    pooled = ex.results(base)["pooled"]["neglabel"]
    assert view["AUROC"] == pytest.approx(pooled["auroc"]) and view["FPR95"] == pytest.approx(pooled["fpr95"])
    assert view["params"]["m"] == base.params["m"]  # the profile's own mining rule (15% per part of speech)
    small = explorer.explore(emb, m=10**6, n_groups=1000, corpus="WordNet nouns")
    assert small["params"]["m"] == len(corpora.wordnet_variants(emb)["WordNet nouns"])
    assert small["params"]["n_groups"] <= small["params"]["m"]


def test_tables_read_as_the_papers(data_root, tiny_model_name, tmp_path):
    """results_table's average is the mean of its set rows, pooled is the concatenation, the
    paper comparison takes the average; the seed spread and paired gaps are consistent."""
    from neglabel_core.analysis import corpora, sweeps, tables
    from neglabel_core.ood import metrics

    path = tmp_path / "fixture.json"
    path.write_text(load_profile("imagenet-clip", fixture_overrides(data_root, tiny_model_name)).to_json())
    emb = ex.embed_profile(load_profile(str(path)), progress=False)
    scored = ex.score(emb)
    table = tables.results_table(emb, scored, n_bootstrap=0)
    assert set(table["fpr_rule"]) == {"closest"}
    for method, rows in table.groupby("method"):
        rows = rows.set_index("ood_set")
        assert sorted(rows.index[:-2]) == sorted(OOD) and list(rows.index[-2:]) == ["average", "pooled"]
        for metric in ("AUROC", "FPR95"):
            assert rows.loc["average", metric] == pytest.approx(rows.loc[list(OOD), metric].mean())
        pooled = np.concatenate([scored.ood[n][method] for n in OOD])
        assert rows.loc["pooled", "FPR95"] == pytest.approx(100 * metrics.fpr_at_tpr(scored.id[method], pooled, rule="closest"))
        inat = scored.ood["iNaturalist"][method]
        assert rows.loc["iNaturalist", "AUROC"] == pytest.approx(100 * metrics.auroc(scored.id[method], inat))
    comparison = tables.paper_comparison(emb, scored, Path(__file__).resolve().parents[1] / "data" / "paper_results.csv")
    ours = comparison[comparison["source"] == "this build"]
    average = table[table["ood_set"] == "average"]
    assert ours["AUROC"].tolist() == average["AUROC"].tolist() and ours["FPR95"].tolist() == average["FPR95"].tolist()
    assert comparison["source"].notna().all()
    paper = comparison[comparison["source"] != "this build"].set_index("method")
    assert paper.loc["NegLabel", "FPR95"] == 25.40 and paper.loc["NegLabel", "AUROC"] == 94.21

    rules = tables.fpr_rules_table(emb, scored)
    assert (rules["closest - at_least"] == rules["closest"] - rules["at_least"]).all()
    spread = sweeps.seed_spread(emb, range(3), n_bootstrap=20)
    per_seed = spread["per_seed"]
    assert sorted(per_seed["seed"].unique()) == [0, 1, 2] and set(per_seed["ood_set"]) == {*OOD, "average"}
    seed0 = ex.results(ex.score(emb, methods=("neglabel",)), ("neglabel",))
    row = per_seed[(per_seed["seed"] == 0) & (per_seed["ood_set"] == "SUN")].iloc[0]
    assert row["AUROC"] == seed0["SUN"]["neglabel"]["auroc"]
    summary = spread["summary"].set_index("ood_set")
    assert summary.loc["SUN", "AUROC max"] == per_seed[per_seed["ood_set"] == "SUN"]["AUROC"].max()
    gaps = tables.paired_gaps(emb, (scored, "neglabel"), (scored, "max_cos"), n_bootstrap=20).set_index("ood_set")
    results = ex.results(scored)
    sun = results["SUN"]
    assert gaps.loc["SUN", "AUROC diff"] == pytest.approx(sun["neglabel"]["auroc"] - sun["max_cos"]["auroc"])
    assert summary.loc["SUN", "AUROC gap to max cosine"] == pytest.approx(gaps.loc["SUN", "AUROC diff"])
    assert len(sweeps.seed_spread_sentences(spread["summary"])) == len(OOD) + 1
    ablation = corpora.corpus_ablation(emb, n_bootstrap=20).set_index(["corpus", "method"])
    same = ablation.loc[("WordNet nouns + adjectives", "neglabel")]  # the profile's own corpus: a zero gap
    assert (same[["AUROC gap", "AUROC gap lo", "AUROC gap hi", "FPR95 gap"]] == 0).all()
    assert ablation.loc[("WordNet nouns", "max_cos"), ["AUROC gap"]].isna().all()  # gaps are NegLabel's only


def test_data_root_flag_reaches_the_profile(data_root, tiny_model_name, tmp_path, capsys):
    overrides = fixture_overrides(data_root, tiny_model_name)
    overrides["benchmark"]["root"] = None
    path = tmp_path / "fixture.json"
    path.write_text(load_profile("imagenet-clip", overrides).to_json())
    assert cli.main(["evaluate", "--profile", str(path), "--quiet"]) == 2
    assert "no data root: pass --data-root DIR" in capsys.readouterr().err
    assert cli.main(["evaluate", "--profile", str(path), "--quiet", "--json", "--data-root", str(data_root)]) == 0


def test_paper_profile_fails_fast_here_naming_what_is_missing(tmp_path):
    """The real console script, offline, no weights, no data: exit 2, one message, no traceback, seconds."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin", "NEGLABEL_CACHE": str(tmp_path / "c")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "neglabel_core.cli", "evaluate", "--profile", "imagenet-clip",
                           "--data-root", str(tmp_path / "nowhere")], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("neglabel: error: profile 'imagenet-clip' cannot run on this machine:\n")
    assert "weights for 'ViT-B-16' / 'openai'" in done.stderr
    assert f"data root '{tmp_path / 'nowhere'}' does not exist" in done.stderr
    assert time.monotonic() - start < 60


@pytest.mark.long
@pytest.mark.slow
def test_every_notebook_runs_on_the_paper_profile_layout(data_root, tmp_path, monkeypatch):
    """The book's notebooks, unchanged, on the paper profile's data layout (fixture folders,
    random-weight tiny model registered for the notebook kernels through $NEGLABEL_MODEL_CONFIGS)."""
    import nbformat

    from neglabel_core.site.build import NOTEBOOKS, execute_notebooks

    from .conftest import TINY_CLIP, TINY_NAME
    from .test_book import NOTEBOOK_PARAMS

    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / f"{TINY_NAME}.json").write_text(json.dumps(TINY_CLIP))
    monkeypatch.setenv("NEGLABEL_MODEL_CONFIGS", str(configs))
    shutil.rmtree(data_root / "shift")  # no domain-shift set present: chapter 5 shows the ID test set alone
    profile = tmp_path / "imagenet-fixture.json"
    profile.write_text(load_profile("imagenet-clip", fixture_overrides(data_root, TINY_NAME)).to_json())
    root = Path(__file__).resolve().parents[1]
    paper_results = str(root / "data" / "paper_results.csv")
    params = {**NOTEBOOK_PARAMS, "04_hyperparameters": {**NOTEBOOK_PARAMS["04_hyperparameters"], "groups": [1, 5]},
              "05_domain_shift": {**NOTEBOOK_PARAMS["05_domain_shift"], "paper_results": paper_results},
              "06_findings": {**NOTEBOOK_PARAMS["06_findings"], "paper_results": str(root / "data" / "paper_results.csv")},
              "08_successors": {**NOTEBOOK_PARAMS["08_successors"], "paper_results": str(root / "data" / "paper_results.csv")},
              "11_cross_vlm": {"n_bootstrap": 20, "methods": NOTEBOOK_PARAMS["11_cross_vlm"]["methods"],
                               "vlms": {"tiny CLIP": {}, "tiny CLIP, M = 50": {"params": {"m": 50}}}},
              "paper_profile": {"paper_results": str(root / "data" / "paper_results.csv"),
                                "official_list": str(root / "data" / "official" / "selected_neg_labels_in1k_10k.txt")}}
    status = execute_notebooks(str(profile), tmp_path / "book", source_dir=root / "notebooks", extra=params)
    assert status == {name: "executed" for name in NOTEBOOKS}
    mined = (tmp_path / "book" / "mined_negatives.csv").read_text().splitlines()
    assert mined[0] == "word,pos,score,rank" and len(mined) > 10
    ablation = nbformat.read(tmp_path / "book" / "03_corpus_ablation.ipynb", as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in ablation.cells])
    assert "ORACLE: OOD concept names" in outputs  # from the Textures class folders
