"""The embedded model's cost curve: ID top-1 on the held-out evaluation styles vs training time.

Trains the emoji-tiny image tower (1.5 M-parameter ModifiedResNet, 64 px, 5 pretraining styles,
batch 256) for several epoch counts, each a full cosine schedule; checkpoints are cached, so a
rerun prints the recorded numbers (from each checkpoint's manifest) without training again.
Target: >= 35% ID top-1 with <= 10 minutes of training on 2 CPU cores.

    python benchmarks/train_bench.py [--epochs 8 16 24 32]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table  # noqa: E402

from neglabel_core.pipeline import train_emoji_model  # noqa: E402
from neglabel_core.profiles import load_profile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, nargs="+", default=[8, 16, 24, 32])
    args = parser.parse_args()
    rows = []
    for epochs in args.epochs:
        profile = load_profile("emoji-tiny", {"train": {"epochs": epochs}})
        manifest = json.loads(train_emoji_model(profile, progress=False).with_suffix(".json").read_text())
        rows.append([epochs, manifest["steps"], manifest["wall_s"], manifest["steps"] * 256 / manifest["wall_s"],
                     f"{100 * manifest['id_top1_eval_styles']:.1f}%", manifest["epoch_loss"][-1], manifest["created"]])
    print_table("emoji-tiny training cost curve (ID top-1 on apple + facebook: 290 classes, 575 images)",
                ["epochs", "steps", "train seconds", "images/s", "ID top-1", "final loss", "trained at"], rows)


if __name__ == "__main__":
    main()
