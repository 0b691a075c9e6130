import json

import open_clip
import pytest

# A tiny CLIP (ModifiedResNet image tower, CLIP text transformer + BPE tokenizer) with random
# weights: exercises the real open_clip code paths in seconds. A wiring model, not a result.
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_NAME = "nl-test-tiny-clip"


@pytest.fixture(scope="session")
def tiny_model_name(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model_configs")
    (folder / f"{TINY_NAME}.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder)
    return TINY_NAME


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache root (WordNet's data copy is shared through a session dir)."""
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
