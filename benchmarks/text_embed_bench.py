"""Text embedding throughput (sentences/s) with and without dynamic padding, CPU.

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

from neglabel_core.corpus import OFFICIAL_PROMPTS, wordnet_corpus
from neglabel_core.embed import encode_texts
from neglabel_core.models import load_model, minilm_text_cfg, register_model_config

NAME = "nl-bench-minilm"
N = 2000


def main() -> None:
    vision = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "head_width": 8}
    register_model_config(NAME, {"embed_dim": 384, "vision_cfg": vision, "text_cfg": minilm_text_cfg(32)})
    loaded = load_model(NAME, device="cpu")
    corpus = wordnet_corpus()
    step = len(corpus) // N
    texts = corpus.subset(range(0, step * N, step)).prompts(OFFICIAL_PROMPTS)
    encode_texts(loaded, texts[:256], cache=False, progress=False)  # warm-up
    rows, outs = [], {}
    for dynamic in (False, True):
        start = time.perf_counter()
        outs[dynamic] = encode_texts(loaded, texts, cache=False, dynamic_padding=dynamic, progress=False)
        elapsed = time.perf_counter() - start
        rows.append([f"padded to {'longest in batch' if dynamic else 'context length (32)'}", elapsed, N / elapsed])
    rows.append(["speed-up", rows[0][1] / rows[1][1], "-"])
    diff = float(np.abs(outs[True] - outs[False]).max())
    print_table(f"Text embedding, {N:,} WordNet prompts, MiniLM-L6 tower, batch 256 (max |diff| {diff:.1e})",
                ["padding", "seconds", "sentences/s"], rows)


if __name__ == "__main__":
    main()
