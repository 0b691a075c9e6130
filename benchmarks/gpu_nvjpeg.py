"""GPU image embedding: JPEG decoding on the CPU (PIL in DataLoader workers, today's path) vs on
the GPU (nvJPEG through ``torchvision.io.decode_jpeg(device="cuda")``), against the model alone.

The paper profile embeds 85,640 JPEGs with a ViT-B/16. On a lent H200 the loader, not the GPU,
was the bottleneck (1,115 img/s end to end vs 7,056 model-only). This run measures, side by side
in one process on one card:
(a) model only: pre-made tensors already on the GPU, bf16 autocast;
(b) CPU decode: workers open each JPEG with PIL, resize (bicubic, shorter side 224), centre-crop,
    ship uint8; the GPU normalises and embeds (what ``encode_images`` does);
(c) nvJPEG: workers only read the file bytes; the GPU decodes the batch, resizes (bicubic,
    antialiased), crops, normalises and embeds.
and how far (b) and (c) embeddings differ (cosine), since decoders and resizers differ slightly.

The image tower is open_clip's ViT-B-16 with random weights where open_clip is installed, else
timm's ``vit_base_patch16_224`` (the same ViT-B/16 body; the FLOPs differ by the projection
only). Standalone: needs torch, torchvision, numpy, Pillow (and open_clip or timm).

    python benchmarks/gpu_nvjpeg.py [--images 10000] [--batch 512] [--out nvjpeg.json]
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
from torch.utils.data import DataLoader, Dataset

SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def image_tower(device: str) -> tuple[torch.nn.Module, str]:
    try:
        import open_clip

        model = open_clip.create_model("ViT-B-16", pretrained=None).visual
        name = "open_clip ViT-B-16 image tower (random weights)"
    except ImportError:
        import timm

        model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=512)
        name = "timm vit_base_patch16_224, 512-d head (random weights; open_clip not installed)"
    return model.eval().to(device).to(memory_format=torch.channels_last), name


def _write_jpegs(args: tuple[str, int, int]) -> None:
    from PIL import Image

    folder, start, stop = args
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        w, h = int(rng.integers(400, 640)), int(rng.integers(300, 500))
        small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)  # smooth content, JPEG-typical
        Image.fromarray(small).resize((w, h), Image.BICUBIC).save(f"{folder}/{i:06d}.jpg", quality=90)


def make_jpegs(folder: Path, count: int) -> list[str]:
    chunks = [(str(folder), i, min(count, i + 500)) for i in range(0, count, 500)]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_write_jpegs, chunks))
    return sorted(str(p) for p in folder.glob("*.jpg"))


class PilDecoded(Dataset):
    """CPU path: PIL decode, bicubic resize of the shorter side to 224, centre crop, uint8 CHW."""

    def __init__(self, paths: list[str]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = SIZE / min(w, h)
            im = im.resize((max(SIZE, round(w * scale)), max(SIZE, round(h * scale))), Image.BICUBIC)
            w, h = im.size
            left, top = (w - SIZE) // 2, (h - SIZE) // 2
            im = im.crop((left, top, left + SIZE, top + SIZE))
            return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)


class RawBytes(Dataset):
    """nvJPEG path: the file's bytes as a uint8 tensor; decoding happens on the GPU."""

    def __init__(self, paths: list[str]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        # numpy, not a tensor: 512 tensors a batch would each cost a shared-memory file descriptor
        return np.fromfile(self.paths[i], dtype=np.uint8)


def gpu_decode(batch: list[np.ndarray], device: str = "cuda") -> torch.Tensor:
    """nvJPEG decode of a batch, then bicubic antialiased resize and centre crop on the GPU."""
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    images = decode_jpeg([torch.from_numpy(b) for b in batch], mode=ImageReadMode.RGB, device=device)
    out = [F.center_crop(F.resize(im, SIZE, interpolation=InterpolationMode.BICUBIC, antialias=True), SIZE)
           for im in images]
    return torch.stack(out)


def embed(model: torch.nn.Module, loader: DataLoader, gpu_side, keep: int = 0) -> tuple[float, int, torch.Tensor]:
    """Images/s through ``loader`` (+ ``gpu_side`` on each batch) and the first ``keep`` embeddings."""
    mean = torch.tensor(CLIP_MEAN, device="cuda").view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device="cuda").view(1, 3, 1, 1)
    kept, n = [], 0
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for batch in loader:
            x = gpu_side(batch)
            x = ((x.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
            feats = torch.nn.functional.normalize(model(x).float(), dim=-1)
            if sum(len(k) for k in kept) < keep:
                kept.append(feats.cpu())
            else:
                feats.cpu()  # the copy back that a real run makes
            n += len(x)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - start), n, torch.cat(kept)[:keep] if kept else torch.empty(0)


def model_only(model: torch.nn.Module, batch: int, seconds: float = 10.0) -> float:
    x = torch.randn(batch, 3, SIZE, SIZE, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            model(x)
        torch.cuda.synchronize()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            n += batch
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: CPUs - 1)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_nvjpeg.py needs a CUDA GPU")
    import torchvision

    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    model, tower = image_tower("cuda")
    a = model_only(model, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "jpg"
        folder.mkdir()
        paths = make_jpegs(folder, args.images)
        cpu_loader = DataLoader(PilDecoded(paths), batch_size=args.batch, num_workers=workers, pin_memory=True,
                                prefetch_factor=4)
        gpu_loader = DataLoader(RawBytes(paths), batch_size=args.batch, num_workers=workers, collate_fn=list,
                                prefetch_factor=4)
        cpu_side = lambda b: b.to("cuda", non_blocking=True)  # noqa: E731
        warm = paths[: 2 * args.batch]  # warm-up: workers, decoder handles, cuDNN/cuBLAS plans
        embed(model, DataLoader(PilDecoded(warm), batch_size=args.batch, num_workers=workers), cpu_side)
        embed(model, DataLoader(RawBytes(warm), batch_size=args.batch, num_workers=workers, collate_fn=list), gpu_decode)
        results = {}
        for name, loader, side in (("cpu", cpu_loader, cpu_side), ("nvjpeg", gpu_loader, gpu_decode),
                                   ("cpu again", cpu_loader, cpu_side), ("nvjpeg again", gpu_loader, gpu_decode)):
            results[name] = embed(model, loader, side, keep=1024)
        same = (results["cpu"][2] * results["nvjpeg"][2]).sum(dim=1)
    b = max(results["cpu"][0], results["cpu again"][0])
    c = max(results["nvjpeg"][0], results["nvjpeg again"][0])
    rows = [["(a) model only, bf16", f"{a:,.0f}", "-"],
            ["(b) CPU decode (PIL) in workers -> GPU", f"{b:,.0f}", f"{100 * b / a:.0f}% of (a)"],
            ["(c) nvJPEG decode + resize on the GPU", f"{c:,.0f}", f"{100 * c / a:.0f}% of (a); {c / b:.2f}x (b)"]]
    title = (f"{tower}, batch {args.batch}, {len(paths):,} JPEGs (~500x400), {workers} loader workers on "
             f"{os.cpu_count()} CPUs, {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
             f"torchvision {torchvision.__version__}")
    print(title)
    print("| what | images/s | ratio |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"cosine between (b) and (c) embeddings of the same 1,024 images: mean {same.mean():.5f}, min {same.min():.5f}")
    record = {"tower": tower, "card": torch.cuda.get_device_name(0), "cpus": os.cpu_count(), "workers": workers,
              "batch": args.batch, "images": len(paths), "model_only_img_s": a,
              "cpu_decode_img_s": [results["cpu"][0], results["cpu again"][0]],
              "nvjpeg_img_s": [results["nvjpeg"][0], results["nvjpeg again"][0]],
              "cosine_mean": float(same.mean()), "cosine_min": float(same.min()),
              "torch": torch.__version__, "torchvision": torchvision.__version__}
    print(json.dumps(record))
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
