import json
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from neglabel_core.data.images import CorruptImageError, ImageFiles
from neglabel_core.models import embed, factory
from neglabel_core.models.cache import ArrayCache, StaleCacheWarning
from neglabel_core.models.factory import ModelNotFoundError, WeightsUnavailableError, load_model

TEXTS = ["the nice dog", "This is a sunny photo", "a photo of a very long and detailed description of a cat", "x"]


@pytest.fixture(scope="module")
def tiny(tiny_model_name):
    torch.manual_seed(0)
    return load_model(tiny_model_name, device="cpu")


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(7):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return ImageFiles(paths, labels=list(range(7)), name="random")


def test_unknown_model_name():
    with pytest.raises(ModelNotFoundError, match=r"^unknown model 'ViT-Q-99': expected an open_clip model name"):
        load_model("ViT-Q-99")


def test_unknown_tag_lists_valid_ones():
    with pytest.raises(ModelNotFoundError, match=r"unknown pretrained tag 'nope' for model 'ViT-B-16': expected one of \["):
        load_model("ViT-B-16", "nope")


def test_missing_checkpoint_file(tmp_path, tiny_model_name):
    with pytest.raises(ModelNotFoundError, match=r"checkpoint file '.*missing\.pt' does not exist"):
        load_model(tiny_model_name, str(tmp_path / "missing.pt"))


def test_offline_weights_fail_fast_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match=r"weights for 'ViT-B-32' / 'openai' .* are not in the local cache"):
        load_model("ViT-B-32", "openai")
    assert time.monotonic() - start < 60


def test_hub_and_folder_models_are_checked_and_never_fetched_offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from neglabel_core.models import factory

    with pytest.raises(ModelNotFoundError, match=r"^model 'hf-hub:no slash' is not a Hugging Face Hub name; expected "
                                                 r"'hf-hub:OWNER/REPO'$"):
        load_model("hf-hub:no slash")
    with pytest.raises(ModelNotFoundError, match=rf"^model 'local-dir:{tmp_path}': '{tmp_path}' holds no "
                                                 r"open_clip_config.json; expected a folder saved for open_clip"):
        load_model(f"local-dir:{tmp_path}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(factory, "_reachable", lambda url, **k: pytest.fail("the hub was probed while offline"))
    with pytest.raises(WeightsUnavailableError, match=r"^model 'hf-hub:someone/clip' is not in the local Hugging Face "
                                                      r"cache and cannot be downloaded from this machine \(offline\)"):
        load_model("hf-hub:someone/clip")
    # In the cache (the hub's layout: a ref naming a snapshot that holds the files): no network needed.
    snapshot = tmp_path / "hub" / "models--someone--clip" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "hub" / "models--someone--clip" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--clip" / "refs" / "main").write_text("abc123")
    for name in ("open_clip_config.json", "open_clip_model.safetensors"):
        (snapshot / name).write_text("{}")
    assert factory.require_hub_model("hf-hub:someone/clip") is True


def test_checkpoint_roundtrip_is_bit_identical(tmp_path, tiny, tiny_model_name):
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": tiny.model.state_dict()}, ckpt)
    again = load_model(tiny_model_name, str(ckpt), device="cpu")
    for (k, a), (_, b) in zip(tiny.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), k
    assert len(again.identity["weights_sha256"]) == 64


def test_a_shared_model_loads_once_until_its_checkpoint_changes(tmp_path, tiny, tiny_model_name):
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": tiny.model.state_dict()}, ckpt)
    first = factory.shared_model(tiny_model_name, str(ckpt), device="cpu")
    assert factory.shared_model(tiny_model_name, str(ckpt), device="cpu") is first
    state = {k: v + 1 if v.is_floating_point() else v for k, v in tiny.model.state_dict().items()}
    torch.save({"state_dict": state}, ckpt)  # retrained in place: other weights, same path
    again = factory.shared_model(tiny_model_name, str(ckpt), device="cpu")
    assert again is not first and again.identity["state_sha256"] != first.identity["state_sha256"]
    assert again.identity == load_model(tiny_model_name, str(ckpt), device="cpu").identity
    # Random weights are another model at each load (as torch's generator stands), unless only the text is read
    torch.manual_seed(0)
    drawn = factory.shared_model(tiny_model_name, None, device="cpu")
    assert factory.shared_model(tiny_model_name, None, device="cpu").identity["state_sha256"] != drawn.identity["state_sha256"]
    text = factory.shared_model(tiny_model_name, None, device="cpu", text_only=True)
    assert factory.shared_model(tiny_model_name, None, device="cpu", text_only=True) is text


def test_text_embeddings_normalised_and_dynamic_padding_equal(tiny_model_name):
    torch.manual_seed(0)
    custom = load_model(tiny_model_name.replace("clip", "minilm"), device="cpu")
    assert embed._pad_token_id(custom) == 0
    fast = embed.encode_texts(custom, TEXTS, cache=False, dynamic_padding=True, batch_size=3, progress=False)
    full = embed.encode_texts(custom, TEXTS, cache=False, dynamic_padding=False, progress=False)
    assert fast.dtype == np.float32 and fast.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(fast, full, atol=1e-5)
    assert not np.allclose(fast[0], fast[1])
    # Batches are formed in order of length (3 + 1 here); rows come back in the caller's order.
    alone = np.concatenate([embed.encode_texts(custom, [t], cache=False, progress=False) for t in TEXTS])
    np.testing.assert_allclose(fast, alone, atol=1e-5)
    given_order = embed.encode_texts(custom, TEXTS, cache=False, sort_by_length=False, batch_size=3, progress=False)
    np.testing.assert_allclose(fast, given_order, atol=1e-5)


def test_plain_clip_text_is_padded_to_context(tiny):
    assert embed._pad_token_id(tiny) is None
    out = embed.encode_texts(tiny, TEXTS, cache=False, progress=False)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_text_cache_hit_skips_the_model(tiny, tmp_path, monkeypatch):
    cache = ArrayCache(tmp_path)
    first = embed.encode_texts(tiny, TEXTS, cache=cache, progress=False)
    monkeypatch.setattr(tiny.model, "encode_text", lambda *a, **k: pytest.fail("model ran on a cache hit"))
    np.testing.assert_array_equal(embed.encode_texts(tiny, TEXTS, cache=cache, progress=False), first)


def test_image_embeddings_cached_and_invalidated_by_file_change(tiny, images, tmp_path):
    cache = ArrayCache(tmp_path / "c")
    first = embed.encode_images(tiny, images, cache=cache, batch_size=3, num_workers=0, progress=False)
    uncached = embed.encode_images(tiny, images, cache=False, batch_size=7, num_workers=0, progress=False)
    np.testing.assert_allclose(np.asarray(first), uncached, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(uncached, axis=1), 1.0, rtol=1e-5)
    Image.new("RGB", (40, 40), "red").save(images.paths[2])  # new content, size and mtime change
    changed = embed.encode_images(tiny, images, cache=cache, batch_size=3, num_workers=0, progress=False)
    assert not np.allclose(changed[2], first[2]) and np.allclose(changed[0], first[0], atol=1e-6)


def test_image_workers_give_same_result(tiny, images):
    a = embed.encode_images(tiny, images, cache=False, num_workers=0, batch_size=2, progress=False)
    b = embed.encode_images(tiny, images, cache=False, num_workers=2, batch_size=2, progress=False)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_corrupt_image_names_the_file(tiny, images):
    with open(images.paths[4], "wb") as f:
        f.write(b"not an image at all")
    with pytest.raises(CorruptImageError, match=r"^cannot decode image '.*img4\.png'"):
        embed.encode_images(tiny, images, cache=False, num_workers=0, progress=False)


def test_no_partial_cache_entry_after_failure(tiny, images, tmp_path):
    cache = ArrayCache(tmp_path / "c")
    with open(images.paths[6], "wb") as f:
        f.write(b"\x89PNG broken")
    with pytest.raises(CorruptImageError):
        embed.encode_images(tiny, images, cache=cache, batch_size=2, num_workers=0, progress=False)
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]


def test_embed_input_errors(tiny):
    with pytest.raises(ValueError, match=r"^texts is empty; expected at least one text to embed$"):
        embed.encode_texts(tiny, [], cache=False)
    with pytest.raises(ValueError, match=r"^dataset is empty; expected at least one image$"):
        embed.encode_images(tiny, ImageFiles([]), cache=False)


def test_no_stale_warnings_on_repeat(tiny, tmp_path):
    cache = ArrayCache(tmp_path)
    embed.encode_texts(tiny, TEXTS, cache=cache, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StaleCacheWarning)
        embed.encode_texts(tiny, TEXTS, cache=cache, progress=False)


def test_uint8_loader_path_equals_full_transform(tiny, images):
    from neglabel_core.data.images import load_rgb

    pil_part, mean, std = embed.split_transform(tiny.preprocess)
    assert mean is not None and "Normalize" not in repr(pil_part)
    got = embed.encode_images(tiny, images, cache=False, num_workers=0, progress=False)
    x = torch.stack([tiny.preprocess(load_rgb(p)) for p in images.paths])
    with torch.inference_mode():
        ref = torch.nn.functional.normalize(tiny.model.encode_image(x), dim=-1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_text_cache_survives_retraining_the_image_tower(tiny_model_name, tmp_path):
    """A separate text tower keys text embeddings by itself: new image-tower weights reuse them."""
    torch.manual_seed(0)
    first = load_model(tiny_model_name.replace("clip", "minilm"), device="cpu")
    torch.manual_seed(1)
    second = load_model(tiny_model_name.replace("clip", "minilm"), device="cpu")
    assert first.identity["state_sha256"] != second.identity["state_sha256"]
    assert embed.text_payload(first, TEXTS) == embed.text_payload(second, TEXTS)
    plain = load_model(tiny_model_name, device="cpu")
    assert embed.text_payload(plain, TEXTS)["model"] == plain.identity  # no separate tower: the whole model


def test_identity_holds_no_path_of_this_environment_or_cache(tiny_model_name, tmp_path):
    """Cache keys survive moving the clone, the virtual environment or the cache: no absolute
    path in a model's identity (the weights are pinned by their hashes)."""
    from neglabel_core.models.factory import minilm_folder

    loaded = load_model(tiny_model_name.replace("clip", "minilm"), device="cpu")
    text = json.dumps(loaded.identity)
    assert minilm_folder() not in text and '"@minilm"' in text
    ckpt = tmp_path / "deep" / "folder" / "tiny.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": loaded.model.state_dict()}, ckpt)
    again = load_model(tiny_model_name.replace("clip", "minilm"), str(ckpt), device="cpu")
    assert again.identity["pretrained"] == "tiny.pt" and str(tmp_path) not in json.dumps(again.identity)


def test_template_means_raw_and_normalized_by_hand(tiny, tmp_path, monkeypatch):
    """Two templates whose raw outputs are (3, 0) and (0, 1): the raw mean (CSP's official) is
    normalize(1.5, 0.5) = (0.9487, 0.3162), the normalised mean normalize(0.5, 0.5) = (0.7071, 0.7071)."""
    table = {"a {}": [3.0, 0.0], "the {}": [0.0, 1.0]}
    order = list(table)
    monkeypatch.setattr(tiny, "tokenizer", lambda texts: torch.tensor([[order.index(t.replace("x", "{}"))]
                                                                        for t in texts]))
    monkeypatch.setattr(tiny.model, "encode_text", lambda tokens: torch.tensor([table[order[int(i)]] for i in tokens[:, 0]]))
    cache = ArrayCache(tmp_path)
    monkeypatch.setattr(embed, "_cache", lambda _: cache)
    raw = embed.class_embeddings(tiny, ["x"], order, mean="raw", progress=False)
    np.testing.assert_allclose(raw, [[3 / np.sqrt(10), 1 / np.sqrt(10)]], rtol=1e-6)
    normalized = embed.class_embeddings(tiny, ["x"], order, progress=False)  # same texts: another cache entry
    np.testing.assert_allclose(normalized, [[np.sqrt(0.5), np.sqrt(0.5)]], rtol=1e-6)
    np.testing.assert_allclose(embed.encode_texts(tiny, ["a x"], normalize=False, cache=cache, progress=False), [[3.0, 0.0]])
    with pytest.raises(ValueError, match=r"^template mean 'median'; expected one of \['normalized', 'raw'\]$"):
        embed.class_embeddings(tiny, ["x"], order, mean="median")


def _clear_shared_models():
    factory._lazy_model.cache_clear()
    factory._shared_model.cache_clear()


def test_a_recorded_model_is_lazy_and_its_embeddings_equal_a_loaded_ones(tmp_path, tiny, tiny_model_name, images,
                                                                         isolated_cache):
    """A model with a weights file, loaded once, is recorded (identity, transform, context length);
    a later process gets a LazyModel with exactly what loading would give, built only when an
    embedding is not cached. A damaged record is not trusted; other weights are another record."""
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": tiny.model.state_dict()}, ckpt)
    _clear_shared_models()
    eager = factory.shared_model(tiny_model_name, str(ckpt), device="cpu")
    assert not isinstance(eager, factory.LazyModel)
    expected = (embed.encode_texts(eager, TEXTS, progress=False), embed.encode_images(eager, images, progress=False))
    _clear_shared_models()  # as a new process
    lazy = factory.shared_model(tiny_model_name, str(ckpt), device="cpu")
    assert isinstance(lazy, factory.LazyModel) and lazy._loaded is None
    assert (lazy.identity, lazy.context_length, lazy.preprocess_text, lazy.pretrained, lazy.device) == (
        eager.identity, eager.context_length, eager.preprocess_text, eager.pretrained, eager.device)
    assert np.array_equal(embed.encode_texts(lazy, TEXTS, progress=False), expected[0])
    assert np.array_equal(embed.encode_images(lazy, images, progress=False), expected[1])
    assert lazy._loaded is None  # both were cached: the network was never built
    fresh = embed.encode_texts(lazy, [*TEXTS, "one more"], progress=False)  # not cached: built now
    assert lazy._loaded is not None and np.allclose(fresh[:4], expected[0], atol=1e-6)
    assert lazy.loaded().identity == lazy.identity
    for record in (isolated_cache / "model_identities").glob("*.json"):
        record.write_text('{"key": "')  # damaged
    _clear_shared_models()
    assert not isinstance(factory.shared_model(tiny_model_name, str(ckpt), device="cpu"), factory.LazyModel)
    state = {k: v + 1 if v.is_floating_point() else v for k, v in tiny.model.state_dict().items()}
    torch.save({"state_dict": state}, ckpt)  # retrained in place
    _clear_shared_models()
    again = factory.shared_model(tiny_model_name, str(ckpt), device="cpu")
    assert not isinstance(again, factory.LazyModel) and again.identity["state_sha256"] != eager.identity["state_sha256"]


def test_random_text_weights_are_never_taken_from_a_record(tiny_model_name):
    """A text tower drawn at random (no packaged weights) is another tower at each load: never lazy."""
    for _ in range(2):
        _clear_shared_models()
        assert not isinstance(factory.shared_model(tiny_model_name, None, device="cpu", text_only=True), factory.LazyModel)


def test_a_warm_embedding_does_not_import_open_clip(tmp_path, tiny, tiny_model_name):
    """In a fresh process whose embeddings are cached, open_clip is never imported (about 2 s)."""
    import os
    import subprocess
    import sys

    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": tiny.model.state_dict()}, ckpt)
    configs = tmp_path / "configs"
    configs.mkdir()
    from .conftest import TINY_CLIP

    (configs / f"{tiny_model_name}.json").write_text(json.dumps(TINY_CLIP))
    code = ("import sys; from neglabel_core.models import embed, factory; "
            f"m = factory.shared_model({tiny_model_name!r}, {str(ckpt)!r}, device='cpu'); "
            f"embed.encode_texts(m, {TEXTS!r}, progress=False); print(type(m).__name__, 'open_clip' in sys.modules)")
    env = {**os.environ, "NEGLABEL_MODEL_CONFIGS": str(configs)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["LoadedModel", "True"], ["LazyModel", "False"]], runs[-1].stderr
