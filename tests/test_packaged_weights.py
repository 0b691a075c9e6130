"""The embedded model's packaged weights: they are those of the current training key (a change to
the training code, data or numerics without re-packaging fails here), they install into an empty
cache as the trained model bit for bit, and a damaged packaged file is refused."""

import json
import shutil

import pytest

from neglabel_core import numerics
from neglabel_core.models import emoji_training as et
from neglabel_core.models.factory import load_model, state_fingerprint
from neglabel_core.profiles import load_profile

from .test_end_to_end import REAL_DATA

# The packaged weights carry the pinned numerics in their key: elsewhere the model is trained.
pytestmark = pytest.mark.skipif(not numerics.in_force()["pinned"], reason="CPU numerics not pinned on this machine")


@pytest.fixture
def profile(monkeypatch):
    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    return load_profile("emoji-tiny")


def _packaged(profile):
    target = et.checkpoint_path(profile)
    manifest = et.PACKAGED / f"{target.stem}.json"
    assert manifest.is_file(), (f"no packaged weights for the current training key {target.stem} (the training "
                                "code, data or numerics changed): run `neglabel train --force --package`")
    return target, json.loads(manifest.read_text())


@pytest.mark.slow
def test_packaged_weights_install_as_the_trained_model(profile):
    target, packaged = _packaged(profile)
    path = et.train_emoji_model(profile, progress=False)  # an empty cache: installs, does not train
    assert path == target
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["installed_from"] == f"{target.stem}.json"
    assert manifest["steps"] == packaged["training"]["steps"] and et.checkpoint_problem(path) is None
    assert state_fingerprint(load_model(profile.model["name"], str(path)).model) == packaged["state_sha256"]
    assert et.saved_snapshots(path) == [int(e) for e in packaged["snapshot_files"]] == list(
        et.TrainConfig().snapshot_epochs)
    for epoch in et.saved_snapshots(path):
        assert et.checkpoint_problem(et.snapshot_path(path, epoch)) is None, epoch
    # the snapshots are image towers that the pipeline loads (fingerprints differ from the final one)
    early = et.load_snapshot(profile, 1, device="cpu")
    assert early.identity["state_sha256"] != packaged["state_sha256"]


def test_a_damaged_packaged_file_is_refused(profile, tmp_path, monkeypatch):
    target, packaged = _packaged(profile)
    copy = tmp_path / "weights"
    shutil.copytree(et.PACKAGED, copy)
    monkeypatch.setattr(et, "PACKAGED", copy)
    damaged = copy / packaged["trained_file"]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match=rf"^packaged weights {damaged} are damaged \(SHA-256 "):
        et.train_emoji_model(profile, progress=False)
    assert not target.exists()


def test_another_training_key_is_not_served_from_the_package(profile):
    """A profile whose training differs (here: the seed) has no packaged weights: it trains."""
    other = load_profile("emoji-tiny", {"train": {"seed": 1}})
    target, _ = _packaged(profile)
    assert et.checkpoint_path(other) != target
    assert not (et.PACKAGED / f"{et.checkpoint_path(other).stem}.json").exists()


def test_packaging_on_a_full_disk_keeps_the_old_package_whole(tmp_path, monkeypatch):
    import errno
    import hashlib
    import json

    import safetensors.torch
    import torch

    from neglabel_core.models import emoji_training

    packaged = tmp_path / "weights"
    packaged.mkdir()
    old = {"m-old.safetensors": b"old weights", "m-old.json": b"{}"}
    for name, content in old.items():
        (packaged / name).write_bytes(content)
    monkeypatch.setattr(emoji_training, "PACKAGED", packaged)
    target = tmp_path / "m-new.pt"
    torch.save({"state_dict": {"visual.w": torch.ones(2), "text.w": torch.zeros(2)}}, target)
    target.with_suffix(".json").write_text(json.dumps({
        "model": "m", "key": "k", "state_sha256": "s", "checkpoint_sha256": hashlib.sha256(target.read_bytes()).hexdigest()}))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    from neglabel_core.files import DiskFullError

    with pytest.raises(DiskFullError, match=rf"{packaged}"):
        emoji_training.package_weights(target)
    assert {p.name: p.read_bytes() for p in packaged.iterdir()} == old  # nothing lost, no staging left
    monkeypatch.undo()
    monkeypatch.setattr(emoji_training, "PACKAGED", packaged)
    out = emoji_training.package_weights(target)
    assert sorted(p.name for p in packaged.iterdir()) == ["m-new.json", "m-new.safetensors"] and out == packaged / "m-new.json"
