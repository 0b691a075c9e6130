"""The pinned CPU numerics: a short training run and the embeddings are bit-identical whatever the
process's CPU capability, MKL/oneDNN settings and thread count; without the pins they are not
(so the configurations below really differ)."""

import json
import os
import subprocess
import sys

import pytest

from neglabel_core import numerics

# A short training of the embedded model's image tower on fixed random images, then the text
# and image embeddings; prints SHA-256s of the weights and both embeddings, and the configuration.
PROBE = r"""
import hashlib, json
import neglabel_core  # applies the pins before torch's first operation
from neglabel_core import numerics
import torch
from neglabel_core.models.embed import encode_texts
from neglabel_core.models.factory import load_model
from neglabel_core.models.training import TrainConfig, train_image_tower

torch.manual_seed(0)
m = load_model("emoji-tiny-rn16", None, device="cpu")
m.model.lock_text_tower()
g = torch.Generator().manual_seed(1)
images = torch.randint(0, 256, (48, 3, 64, 64), generator=g, dtype=torch.uint8)
texts = [f"a photo of thing {i} with {'more ' * (i % 5)}words" for i in range(24)]
captions = torch.from_numpy(encode_texts(m, texts, cache=False, progress=False))
config = TrainConfig(epochs=2, batch_size=16, max_steps=3, snapshot_epochs=())
train_image_tower(m.model, images, torch.arange(24).repeat(2), captions, torch.arange(24), config, progress=False)
digest = lambda t: hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()
with torch.inference_mode():
    image_emb = m.model.encode_image(images[:8].float() / 255)
print(json.dumps({"weights": digest(torch.cat([v.flatten().float() for _, v in sorted(m.model.visual.state_dict().items())])),
                  "text": digest(captions), "image": digest(image_emb), "numerics": numerics.in_force()}))
"""
# Configurations a user's machine or shell could bring: capability forced down, MKL told
# otherwise, one or four threads.
CONFIGS = {
    "as started": {},
    "scalar kernels, 1 thread": {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                 "MKL_CBWR": "COMPATIBLE"},
    "4 threads": {"OMP_NUM_THREADS": "4", "ONEDNN_MAX_CPU_ISA": "ALL"},
}


def _probe(env: dict[str, str]) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in {*numerics.ENV, "OMP_NUM_THREADS", "NEGLABEL_PIN_CPU"}}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not numerics.cpu_has_avx2(), reason="the pins apply to x86-64 CPUs with AVX2")
def test_training_and_embeddings_are_bit_identical_across_cpu_configurations():
    runs = {name: _probe(env) for name, env in CONFIGS.items()}
    first = runs["as started"]
    for name, run in runs.items():
        assert run["numerics"]["cpu_capability"] == "AVX2" and run["numerics"]["threads"] == numerics.THREADS, name
        for what in ("weights", "text", "image"):
            assert run[what] == first[what], f"{what} differ between 'as started' and {name!r}"
    # The control: unpinned, the same two configurations give other weights.
    unpinned = {name: _probe({**CONFIGS[name], "NEGLABEL_PIN_CPU": "0"})
                for name in ("as started", "scalar kernels, 1 thread")}
    assert unpinned["scalar kernels, 1 thread"]["numerics"]["cpu_capability"] == "DEFAULT"
    assert unpinned["as started"]["weights"] != unpinned["scalar kernels, 1 thread"]["weights"]


def test_in_force_reports_the_pins():
    import torch

    state = numerics.in_force()
    if numerics.cpu_has_avx2() and numerics.enabled():
        assert state["pinned"] is True
        assert state["threads"] == torch.get_num_threads() == numerics.THREADS
        assert {k: state[k] for k in numerics.ENV} == numerics.ENV
    assert numerics.for_device("cuda") == {"device": "cuda"}
    assert "torch" not in numerics.for_device("cpu")


@pytest.mark.skipif(not numerics.cpu_has_avx2(), reason="the pins apply to x86-64 CPUs with AVX2")
def test_a_late_import_warns_that_the_capability_is_not_pinned():
    """torch reads its capability once, at its first operation: importing neglabel_core after
    that cannot pin it, and says so (unless this CPU's own capability is AVX2 anyway)."""
    base = {k: v for k, v in os.environ.items() if k not in numerics.ENV}

    def run(code):
        return subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120)

    natural = run("import torch; print(torch.backends.cpu.get_cpu_capability())").stdout.strip()
    done = run("import torch, warnings; torch.ones(3).sum(); warnings.simplefilter('error'); import neglabel_core")
    if natural == "AVX2":
        assert done.returncode == 0, done.stderr[-500:]
    else:
        assert f"torch already runs with CPU capability {natural}, not the pinned AVX2" in done.stderr
