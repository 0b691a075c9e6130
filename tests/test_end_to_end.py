"""The whole pipeline on the real emoji benchmark with a small configuration: fetch (cached),
train a few steps, embed, mine, score, and the CLI's JSON. A wiring test: its numbers mean nothing."""

import json
import os
from pathlib import Path

import pytest

from neglabel_core import cli
from neglabel_core.data import emoji
from neglabel_core.models import emoji_training
from neglabel_core.profiles import load_profile

REAL_DATA = os.environ.get("NEGLABEL_DATA") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neglabel")

SMALL = {
    "name": "emoji-small-test",
    "benchmark": {
        "split": {"id": ["Animals & Nature/animal-mammal", "Food & Drink/food-fruit"],
                  "ood": {"arrows": ["Symbols/arrow"], "ground transport": ["Travel & Places/transport-ground"]}},
        "train_groups": ["Animals & Nature/animal-mammal", "Food & Drink/food-fruit", "Symbols/arrow",
                         "Travel & Places/transport-ground"],
    },
    "corpus": {"sample": 400},
    "params": {"m": 100, "n_groups": 10},
    "train": {"epochs": 2, "batch_size": 32, "max_steps": 6},
}


@pytest.fixture
def small_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    path = tmp_path / "small.json"
    path.write_text(load_profile("emoji-tiny", SMALL).to_json())
    return str(path)


@pytest.mark.slow
def test_cli_evaluate_json_end_to_end(small_profile, capsys, isolated_cache):
    assert cli.main(["evaluate", "--profile", small_profile, "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["profile"] == "emoji-small-test"
    split = emoji.EmojiBenchmark.load().split(SMALL["benchmark"]["split"])
    assert result["id_classes"] == len(split.id) and result["ood_images"]["arrows"] > 0
    assert 0.0 <= result["id_top1"] <= 1.0
    assert list(result["results"]) == ["arrows", "ground transport", "average", "pooled"]
    for row in result["results"].values():
        assert set(row) == {"neglabel", "mcm", "max_cos", "energy"}
        for cell in row.values():
            assert 0 <= cell["auroc"] <= 100 and 0 <= cell["fpr95"] <= 100
    assert result["params"]["m"] == 100 and result["corpus"]["size"] == 400
    assert result["params"]["fpr_rule"] == "closest" and result["params"]["perm_device_used"] == "cpu"
    for method in ("neglabel", "mcm", "max_cos", "energy"):  # the paper's average: the plain mean of the set rows
        for key in ("auroc", "fpr95"):
            mean = (result["results"]["arrows"][method][key] + result["results"]["ground transport"][method][key]) / 2
            assert result["results"]["average"][method][key] == pytest.approx(mean, abs=0.006)
    files_before = sorted(p for p in isolated_cache.rglob("*") if p.is_file())
    # Everything cached: a second call trains and embeds nothing new and gives the same numbers.
    assert cli.main(["evaluate", "--profile", small_profile, "--json", "--quiet"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["results"] == result["results"] and again["id_top1"] == result["id_top1"]
    assert sorted(p for p in isolated_cache.rglob("*") if p.is_file()) == files_before


@pytest.mark.slow
def test_corrupt_checkpoint_is_retrained_not_used(small_profile, capsys, isolated_cache):
    from neglabel_core import pipeline as ex
    from neglabel_core.models.cache import StaleCacheWarning

    profile = load_profile(small_profile)
    checkpoint = ex.train_emoji_model(profile, progress=False)
    good = checkpoint.read_bytes()
    data = bytearray(good)
    data[len(data) // 2 : len(data) // 2 + 4] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 4])
    checkpoint.write_bytes(bytes(data))  # four bytes flipped inside the weights
    with pytest.warns(StaleCacheWarning, match=r"checkpoint .*\.pt does not match its manifest's SHA-256 .*; training it again"):
        again = ex.train_emoji_model(profile, progress=False)
    assert again == checkpoint and checkpoint.read_bytes() == good  # retrained, bit-identical
    checkpoint.with_suffix(".json").write_text("{")
    with pytest.warns(StaleCacheWarning, match=r"has an unreadable manifest \(JSONDecodeError"):
        ex.train_emoji_model(profile, progress=False)
    assert emoji_training.checkpoint_problem(checkpoint) is None


@pytest.mark.slow
def test_cli_train_reports_checkpoint(small_profile, capsys):
    assert cli.main(["train", "--profile", small_profile, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checkpoint ") and "ID top-1 on the evaluation styles" in out
