"""neglabel_core: zero-shot OOD detection with negative labels (NegLabel, Jiang et al., ICLR 2024).

Layers, dependencies pointing one way (``tests/test_architecture.py`` enforces them)::

    cli ─────────────► analysis ──► experiments (the pipeline: profile -> embeddings -> scores -> results)
     │  book, browser_check │              │
     │                      ▼              ▼
     │                   methods (registry) ──► scores, adaneg, negmining, metrics ──► validation
     │                                          (pure tensor math)
     └─► profiles (configs as data, checked against profile_schema.json)
    under experiments: benchmarks (what a profile evaluates on), emoji_training (the embedded model's checkpoint)
    building blocks under those: corpus, data, emoji (+ fetch), imagenet, models, embed (+ cache), training
    leaves: validation, files, profiles, data, training, numerics (the pinned CPU float configuration, applied on import)

- pure math (nothing of ours but the leaf ``validation``): ``scores``, ``negmining``, ``metrics``, and
  ``adaneg`` (AdaNeg's stream score, built on ``scores``);
- ``methods``: the one registry of OOD methods (name, label, score function, parameters, needs, the
  negative-label bank it reads, one-score or stream);
- building blocks on the leaf ``files``: ``corpus``, ``data``, ``models``, ``embed``/``cache``,
  ``emoji``/``fetch``, ``imagenet``, ``training``; no sideways imports except embed -> cache,
  models and emoji -> data, fetch;
- ``benchmarks`` (one loader per benchmark kind, with the clean-OOD filter, using ``corpus``'s
  WordNet) and ``emoji_training`` (training, keying and verifying the embedded model's checkpoint
  and its snapshots) sit between the blocks and the pipeline;
- ``experiments`` (the pipeline) ties them together; ``analysis`` (the notebooks' tables) reads data only
  through it; the CLI and the notebooks call those two. Nothing imports the CLI, ``book/`` or
  ``notebooks/``.
"""

__version__ = "0.1.0"

# Pin the CPU floating-point configuration before torch's first tensor operation (see numerics).
from . import numerics as _numerics  # noqa: E402

_numerics.pin_environment()
_numerics.pin_torch()
