"""GPU image-embedding throughput: model-only vs end to end through the real loader.

ViT-B/16 with random weights (the paper's image tower, same FLOPs; no weights are needed):
(a) model only: pre-decoded, pre-transformed tensors already on the GPU, bf16 autocast,
    ``torch.inference_mode``; images/s and the fraction of the GPU's measured bf16 matmul rate;
(b) end to end: a folder of generated JPEGs at ImageNet size through ``encode_images`` (DataLoader
    workers, pinned memory, open_clip's preprocess, streaming into the on-disk cache).
Target: (b) >= 70% of (a) where the CPU count allows. One prepared run, a few minutes.

    python benchmarks/gpu_embed.py [--images 10000] [--batch 512] [--out RESULTS-gpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table  # noqa: E402

from neglabel_core.data.images import ImageFiles  # noqa: E402
from neglabel_core.models.cache import ArrayCache  # noqa: E402
from neglabel_core.models.embed import default_num_workers, encode_images  # noqa: E402
from neglabel_core.models.factory import load_model  # noqa: E402

VIT_B16_GFLOPS = 17.58  # forward GFLOPs per 224 px image (multiply-adds x 2), open_clip ViT-B-16 image tower


def matmul_tflops(n: int = 8192, repeats: int = 20) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def model_only(loaded, batch: int, seconds: float = 20.0) -> float:
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    model = loaded.model
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            model.encode_image(x)
        torch.cuda.synchronize()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model.encode_image(x)
            n += batch
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def _write_jpegs(args: tuple[str, int, int]) -> None:
    from PIL import Image

    folder, start, stop = args
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        w, h = int(rng.integers(400, 640)), int(rng.integers(300, 500))
        # Smooth random content (JPEG-typical), not white noise, so decode cost is realistic.
        small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.BICUBIC).save(f"{folder}/{i:06d}.jpg", quality=90)


def make_jpegs(folder: Path, count: int) -> list[str]:
    workers = os.cpu_count() or 1
    chunks = [(str(folder), i, min(count, i + 500)) for i in range(0, count, 500)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_jpegs, chunks))
    return sorted(str(p) for p in folder.glob("*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--out", default=None, help="also write the numbers as JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_embed.py needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = True
    card = torch.cuda.get_device_name(0)
    peak = matmul_tflops()
    loaded = load_model("ViT-B-16", None, device="cuda")  # random weights: same FLOPs as the paper's CLIP
    a = model_only(loaded, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "jpg"
        folder.mkdir()
        start = time.perf_counter()
        paths = make_jpegs(folder, args.images)
        gen_s = time.perf_counter() - start
        files = ImageFiles(paths, name="jpegs")
        cache = ArrayCache(Path(tmp) / "cache")
        encode_images(loaded, files.subset(range(min(len(paths), 2 * args.batch))), batch_size=args.batch,
                      cache=False, progress=False)  # warm-up: workers, cuDNN/cuBLAS plans
        torch.cuda.synchronize()
        start = time.perf_counter()
        emb = encode_images(loaded, files, batch_size=args.batch, cache=cache, progress=False)
        torch.cuda.synchronize()
        b = len(paths) / (time.perf_counter() - start)
        assert emb.shape == (len(paths), 512) and np.isfinite(np.asarray(emb)).all()
    achieved = a * VIT_B16_GFLOPS / 1e3
    rows = [
        ["bf16 matmul 8192^3 (measured peak)", "-", f"{peak:.0f} TFLOP/s", "-"],
        ["(a) model only, bf16", f"{a:,.0f}", f"{achieved:.0f} TFLOP/s", f"{100 * achieved / peak:.0f}% of matmul peak"],
        ["(b) end to end: JPEG folder -> cache", f"{b:,.0f}", "-", f"{100 * b / a:.0f}% of (a)"],
    ]
    print_table(f"GPU embedding, ViT-B/16 (random weights), batch {args.batch}, {len(paths):,} JPEGs (~500x400), "
                f"{default_num_workers(torch.device('cuda'))} loader workers on {os.cpu_count()} CPUs, {card}",
                ["what", "images/s", "compute", "ratio"], rows)
    result = {"card": card, "cpus": os.cpu_count(), "batch": args.batch, "images": len(paths), "matmul_tflops": peak,
              "model_only_img_s": a, "end_to_end_img_s": b, "ratio": b / a, "jpeg_generation_s": gen_s,
              "torch": torch.__version__}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
