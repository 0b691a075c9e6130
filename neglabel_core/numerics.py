"""The CPU floating-point configuration that every result of the project is computed under.

PyTorch's CPU kernels are chosen per machine: ATen's vectorised kernels by the CPU's instruction
set (AVX2, AVX-512), MKL's GEMM by instruction set and cache sizes, oneDNN's convolutions by
instruction set, and every parallel reduction splits its work by the intra-op thread count. Each
choice changes the order of floating-point additions, so the same training run gives other weights
on another CPU or core count, and every table moves. Pinned here, before the first tensor
operation (importing ``neglabel_core`` applies it):

- ``ATEN_CPU_CAPABILITY=avx2``: ATen's AVX2 kernels (where the CPU has AVX2);
- ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility, the AVX2 code path in
  strict mode (bitwise results on any CPU with AVX2, whatever the memory alignment);
- ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN's convolutions use their AVX2 kernels. (Switching oneDNN
  off, so that convolutions take ATen's im2col + MKL GEMM path, which the pins above fully
  decide, cost 2.5x per training step on a 2-core CPU; oneDNN stays on. Its kernels
  also choose some loop blocking from the CPU's cache sizes, which no setting fixes: not seen to
  change a result here, but not tested on CPUs with other caches.);
- ``torch.set_num_threads(THREADS)``: the intra-op thread count, independent of the core count.

The configuration in force is :func:`in_force`; the checkpoint manifest and ``evaluate --json``
record it. ``NEGLABEL_PIN_CPU=0`` turns the pins off (faster on large CPUs; then numbers are only
reproducible on the same machine and thread count). Nothing here changes CUDA computations.
"""

from __future__ import annotations

import os
import platform
import warnings
from typing import Any

THREADS = 2
ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}
_applied: dict[str, Any] = {}


def cpu_has_avx2() -> bool:
    """Whether this CPU has AVX2 and FMA (x86-64 only; read from /proc/cpuinfo where it exists)."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def enabled() -> bool:
    return os.environ.get("NEGLABEL_PIN_CPU", "1") not in {"0", "false", "no"}


def pin_environment() -> None:
    """Set the pinned variables in this process's environment; must run before torch's first
    tensor operation (torch reads them lazily, once). Child processes (data-loader workers,
    notebook kernels) inherit them."""
    if enabled() and cpu_has_avx2():
        os.environ.update(ENV)


def pin_torch() -> None:
    """Apply the pins that torch takes through its API (thread count, oneDNN off) and warn once
    where the capability could not be pinned (torch computed before ``neglabel_core`` was imported)."""
    import torch

    if not enabled():
        return
    torch.set_num_threads(THREADS)
    if cpu_has_avx2() and torch.backends.cpu.get_cpu_capability() != "AVX2" and not _applied.get("warned"):
        _applied["warned"] = True
        warnings.warn(
            f"torch already runs with CPU capability {torch.backends.cpu.get_cpu_capability()}, not the pinned AVX2: "
            "import neglabel_core before any torch computation (or start Python with ATEN_CPU_CAPABILITY=avx2 "
            "MKL_CBWR=AVX2,STRICT); results may then differ from other machines'", RuntimeWarning, stacklevel=2)


def in_force() -> dict[str, Any]:
    """The configuration the float results of this process depend on (recorded with every result)."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    return {
        # in effect, not only asked for: torch may have fixed its capability before the pins
        "pinned": enabled() and cpu_has_avx2() and capability == "AVX2" and torch.get_num_threads() == THREADS
        and all(os.environ.get(k) == v for k, v in ENV.items()),
        "cpu_capability": capability,
        "threads": torch.get_num_threads(),
        "mkldnn": bool(torch.backends.mkldnn.enabled),
        **{k: os.environ.get(k) for k in ENV},
        "machine": platform.machine(),
        "torch": torch.__version__,
    }


def for_device(device: Any) -> dict[str, Any]:
    """What decides the float results of a model on ``device`` (part of its cache identity, so
    embeddings computed under another configuration are never taken for these)."""
    if getattr(device, "type", str(device)) == "cuda":
        return {"device": "cuda"}  # CUDA kernels are not pinned (autocast on CUDA: see embed)
    return {k: v for k, v in in_force().items() if k not in {"torch"}}
