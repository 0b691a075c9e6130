"""One training step of the emoji-tiny image tower (forward + backward + AdamW, batch 256 at 64 px)
with the default contiguous memory layout and with channels-last, alternated side by side, CPU.

    python benchmarks/train_step_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table  # noqa: E402

from neglabel_core.models.factory import load_model  # noqa: E402
from neglabel_core.models.training import augment, normalize_images  # noqa: E402

STEPS, ROUNDS = 12, 2


def main() -> None:
    torch.manual_seed(0)
    visual = load_model("emoji-tiny-rn16", None, device="cpu").model.visual.train()
    optimizer = torch.optim.AdamW(visual.parameters(), lr=1e-3)
    images = torch.randint(0, 256, (256, 3, 64, 64), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    x = normalize_images(augment(images, gen))
    augment_s = time.perf_counter() - start

    def seconds_per_step(layout: torch.memory_format) -> float:
        visual.to(memory_format=layout)
        batch = x.contiguous(memory_format=layout)
        for i in range(STEPS + 2):  # two warm-up steps
            if i == 2:
                start = time.perf_counter()
            loss = F.normalize(visual(batch), dim=-1).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / STEPS

    times = {"contiguous": [], "channels-last": []}
    for _ in range(ROUNDS):
        times["contiguous"].append(seconds_per_step(torch.contiguous_format))
        times["channels-last"].append(seconds_per_step(torch.channels_last))
    best = {k: min(v) for k, v in times.items()}
    rows = [[k, best[k], 256 / best[k]] for k in times]
    rows.append(["speed-up", best["contiguous"] / best["channels-last"], "-"])
    print_table(f"Training step, emoji-tiny image tower, batch 256 at 64 px (augmentation {augment_s:.3f} s per batch "
                f"on top; best of {ROUNDS} alternated rounds of {STEPS} steps)", ["memory layout", "s/step", "images/s"], rows)


if __name__ == "__main__":
    main()
