"""Text embedding throughput (sentences/s): padded to the context length, padded to the longest
text of each batch in the given order, and in batches sorted by length (the default), CPU.

The packaged all-MiniLM-L6-v2 as an open_clip Hugging Face text tower (context length 32) on
2,000 WordNet candidate prompts; also checks that both paddings give the same embeddings.

    python benchmarks/text_embed_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table

from neglabel_core.data.corpus import OFFICIAL_PROMPTS, wordnet_corpus
from neglabel_core.models.embed import encode_texts
from neglabel_core.models.factory import load_model, minilm_text_cfg, register_model_config

NAME = "nl-bench-minilm"
N = 4000


def main() -> None:
    vision = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 8}
    register_model_config(NAME, {"embed_dim": 384, "vision_cfg": vision, "text_cfg": minilm_text_cfg(32)})
    loaded = load_model(NAME, device="cpu")
    corpus = wordnet_corpus()
    step = len(corpus) // N
    texts = corpus.subset(range(0, step * N, step)).prompts(OFFICIAL_PROMPTS)
    encode_texts(loaded, texts[:256], cache=False, progress=False)  # warm-up
    rows, outs = [], {}
    variants = {"padded to context length (32)": dict(dynamic_padding=False),
                "longest in batch, given order": dict(sort_by_length=False),
                "longest in batch, sorted by length": dict()}
    for label, options in variants.items():
        start = time.perf_counter()
        outs[label] = encode_texts(loaded, texts, cache=False, progress=False, **options)
        elapsed = time.perf_counter() - start
        rows.append([label, elapsed, N / elapsed])
    rows.append(["speed-up, sorted vs context length", rows[0][1] / rows[2][1], "-"])
    rows.append(["speed-up, sorted vs given order", rows[1][1] / rows[2][1], "-"])
    diff = max(float(np.abs(out - outs["padded to context length (32)"]).max()) for out in outs.values())
    print_table(f"Text embedding, {N:,} WordNet prompts, MiniLM-L6 tower, batch 256 (max |diff| {diff:.1e})",
                ["padding", "seconds", "sentences/s"], rows)


if __name__ == "__main__":
    main()
