import numpy as np
import pytest
import torch

from neglabel_core.models.factory import CheckpointMismatchError, load_model
from neglabel_core.models.training import TrainConfig, augment, lr_at, normalize_images, train_image_tower


def toy_data(n_concepts=24, styles=2, dim=384, seed=0):
    """Each concept a coloured square in a few styles; captions random unit vectors per concept."""
    g = torch.Generator().manual_seed(seed)
    colors = torch.randint(0, 256, (n_concepts, 3), generator=g, dtype=torch.uint8)
    images = colors.repeat(styles, 1)[:, :, None, None].expand(-1, -1, 32, 32).clone()
    owners = torch.arange(n_concepts).repeat(styles)
    captions = torch.nn.functional.normalize(torch.randn(n_concepts * 2, dim, generator=g), dim=1)
    return images, owners, captions, torch.arange(n_concepts).repeat(2)


@pytest.fixture
def tiny_hf(tiny_model_name):
    def make():
        torch.manual_seed(0)
        return load_model(tiny_model_name.replace("clip", "minilm"), device="cpu")
    return make


def test_training_lowers_the_loss_and_leaves_text_frozen(tiny_hf):
    loaded = tiny_hf()
    text_before = {k: v.clone() for k, v in loaded.model.text.state_dict().items()}
    data = toy_data()
    log = train_image_tower(loaded.model, *data, TrainConfig(epochs=12, batch_size=8, lr=5e-3, warmup_epochs=1),
                            progress=False)
    assert log.steps == 12 * 2 * 3 and len(log.epoch_loss) == 12
    assert log.epoch_loss[-1] < 0.8 * log.epoch_loss[0]
    for k, v in loaded.model.text.state_dict().items():
        assert torch.equal(v, text_before[k]), k


def test_training_is_deterministic_and_reload_bit_identical(tiny_hf, tmp_path, tiny_model_name):
    runs = []
    for _ in range(2):
        loaded = tiny_hf()
        train_image_tower(loaded.model, *toy_data(), TrainConfig(epochs=1, batch_size=8, max_steps=4), progress=False)
        runs.append(loaded)
    for (k, a), (_, b) in zip(runs[0].model.state_dict().items(), runs[1].model.state_dict().items()):
        assert torch.equal(a, b), k
    ckpt = tmp_path / "trained.pt"
    torch.save({"state_dict": runs[0].model.state_dict()}, ckpt)
    again = load_model(tiny_model_name.replace("clip", "minilm"), str(ckpt), device="cpu")
    for (k, a), (_, b) in zip(runs[0].model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_checkpoint_of_another_config_is_rejected(tmp_path, tiny_hf, tiny_model_name):
    loaded = tiny_hf()
    ckpt = tmp_path / "other.pt"
    torch.save({"state_dict": loaded.model.state_dict()}, ckpt)
    with pytest.raises(CheckpointMismatchError, match=r"^checkpoint '.*other\.pt' does not fit model 'nl-test-tiny-clip'"):
        load_model(tiny_model_name, str(ckpt), device="cpu")


def test_augment_keeps_range_shape_and_white_fill():
    g = torch.Generator().manual_seed(0)
    white = torch.full((16, 3, 32, 32), 255, dtype=torch.uint8)
    out = augment(white, g, blur_p=1.0)
    assert out.shape == (16, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    # A white image stays uniform whatever the affine/blur; only brightness/contrast can scale it.
    assert torch.allclose(out.std(dim=(1, 2, 3)), torch.zeros(16), atol=1e-5)
    x = normalize_images(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), [-0.48145466 / 0.26862954, -0.4578275 / 0.26130258,
                                                       -0.40821073 / 0.27577711], rtol=1e-6)


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [lr_at(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.5, abs=1e-9)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 1e-3


def test_batch_larger_than_concepts_is_an_error(tiny_hf):
    with pytest.raises(ValueError, match=r"^batch_size=64 is larger than the number of concepts \(24\)$"):
        train_image_tower(tiny_hf().model, *toy_data(), TrainConfig(batch_size=64), progress=False)


def test_checkpoint_key_follows_the_training_code(monkeypatch):
    """A checkpoint trained by other training code must not be taken for the current one."""
    from neglabel_core.models import emoji_training as ex
    from neglabel_core.profiles import load_profile

    profile = load_profile("emoji-tiny")
    before = ex.checkpoint_path(profile, concepts=[])
    assert before == ex.checkpoint_path(profile, concepts=[])

    def load_style_images(bench, concepts, styles, size):  # a different data feed, same name
        raise NotImplementedError

    monkeypatch.setattr(ex, "load_style_images", load_style_images)
    assert ex.checkpoint_path(profile, concepts=[]) != before


def test_checkpoint_key_ignores_docstrings_and_comments(monkeypatch):
    """A documentation edit to the training code keeps the key (and so the packaged weights); a
    code edit does not."""
    import inspect

    from neglabel_core.models import emoji_training as ex
    from neglabel_core.models import training
    from neglabel_core.profiles import load_profile

    profile = load_profile("emoji-tiny")
    before = ex.checkpoint_path(profile, concepts=[])
    real = inspect.getsource

    def edited(change):
        def getsource(obj):
            return change(real(obj)) if obj in (training, ex.train_emoji_model) else real(obj)
        return getsource

    monkeypatch.setattr(inspect, "getsource", edited(lambda src: src.replace('"""', '"""An edited sentence. ', 1)
                                                     .replace("\n", "\n# a new comment\n", 1)))
    assert ex.checkpoint_path(profile, concepts=[]) == before
    monkeypatch.setattr(inspect, "getsource", edited(lambda src: src + "\nEXTRA = 1\n"))
    assert ex.checkpoint_path(profile, concepts=[]) != before


def test_snapshots_are_copies_taken_after_their_epochs_and_change_nothing(tiny_hf):
    """Snapshots are the image tower's state after each listed epoch, and taking them leaves the
    final weights bit-identical to a run without them."""
    taken = {}

    def keep(epoch, state, log):
        taken[epoch] = (state, log.steps)

    plain, snap = tiny_hf(), tiny_hf()
    config = TrainConfig(epochs=3, batch_size=8, snapshot_epochs=())
    train_image_tower(plain.model, *toy_data(), config, progress=False)
    log = train_image_tower(snap.model, *toy_data(), TrainConfig(epochs=3, batch_size=8, snapshot_epochs=(1, 2)),
                            progress=False, on_snapshot=keep)
    assert sorted(taken) == [1, 2] and [s for _, s in taken.values()] == [6, 12] and log.steps == 18
    for (k, a), (_, b) in zip(plain.model.state_dict().items(), snap.model.state_dict().items()):
        assert torch.equal(a, b), k
    # a snapshot holds every image-tower tensor, taken before the later epochs changed them
    final = snap.model.visual.state_dict()
    assert set(taken[1][0]) == set(final)
    assert any(not torch.equal(taken[1][0][k], final[k]) for k in final)
    assert all(v.is_contiguous() for v in taken[2][0].values())


def test_snapshot_loading_and_its_errors(monkeypatch, tmp_path, tiny_model_name):
    """load_snapshot puts the saved image tower into the model, names it in the identity (so the
    embedding cache keeps snapshots apart) and refuses an epoch that was not saved or a corrupt file."""
    from neglabel_core.models import emoji_training
    from neglabel_core.profiles import load_profile

    profile = load_profile("emoji-tiny", {"model": {"name": tiny_model_name.replace("clip", "minilm")},
                                          "train": {"epochs": 4, "snapshot_epochs": [1, 2, 3]}})
    target = tmp_path / "m.pt"
    monkeypatch.setattr(emoji_training, "train_emoji_model", lambda p, progress=False, force=False: target)
    import json
    # the run saved epochs 1 and 2 only (cut short), as its manifest records
    target.with_suffix(".json").write_text(json.dumps({"snapshots": [1, 2]}))
    assert emoji_training.snapshot_epochs(profile) == [1, 2, 4]
    base = load_model(profile.model["name"], None, device="cpu")
    torch.save({"state_dict": base.model.state_dict()}, target)
    state = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in base.model.visual.state_dict().items()}
    snap = emoji_training.snapshot_path(target, 2)
    assert snap.name == "m.epoch02.pt"
    torch.save({"state_dict": state}, snap)
    import json

    from neglabel_core.files import sha256_file
    snap.with_suffix(".json").write_text(json.dumps({"checkpoint_sha256": sha256_file(snap)}))
    loaded = emoji_training.load_snapshot(profile, 2, device="cpu")
    assert all(torch.equal(v, state[k]) for k, v in loaded.model.visual.state_dict().items())
    assert loaded.identity["pretrained"] == "m.epoch02.pt" and loaded.identity["state_sha256"] != base.identity["state_sha256"]
    with pytest.raises(ValueError, match=r"^epoch 3 was not saved; the training run saved epochs \[1, 2, 4\]$"):
        emoji_training.load_snapshot(profile, 3)
    snap.write_bytes(snap.read_bytes()[:-10])  # truncated
    with pytest.raises(RuntimeError,
                       match=r"m\.epoch02\.pt does not match its manifest's SHA-256 .*; run `neglabel train --force"):
        emoji_training.load_snapshot(profile, 2)
