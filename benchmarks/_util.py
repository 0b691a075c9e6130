"""Helpers for the benchmark scripts: run a function in a fresh process and report time + peak RSS."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
from datetime import date


def machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc), in MB."""
    import os

    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(script: str, *args: str) -> dict:
    """Run ``python script --child args`` and parse the JSON line it prints last."""
    out = subprocess.run([sys.executable, script, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title} ({date.today()}, {machine()})\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{x:,.3f}" if isinstance(x, float) else str(x) for x in row) + " |")
