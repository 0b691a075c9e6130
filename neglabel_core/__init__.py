"""neglabel_core: zero-shot OOD detection with negative labels (NegLabel, Jiang et al., ICLR 2024).

The folders are the layers; imports point down only (``tests/test_architecture.py`` holds the
rule per folder)::

    cli.py                      the command line
    analysis/    site/          what the chapters compute (tables, sweeps, readings, figures) | building and checking the site
    pipeline/                   profile -> data, model, embeddings -> banks -> scores -> results
    data/        models/        what a profile evaluates on | loading, embedding, caching, training
    profiles/                   configs as data (builtin/*.json, checked against schema.json; on files.py)
    ood/                        pure tensor math: scores, NegMining, metrics, AdaNeg, the method registry
    files.py  numerics.py       leaves: atomic files and the cache root | the pinned CPU float configuration

- ``ood`` imports nothing of ours outside itself; its registry (``ood.methods``) is the one list of
  methods (a method is added with one ``register`` call);
- ``data`` and ``models`` sit on ``files``, ``profiles`` and ``ood``; they never import each other,
  except ``models.emoji_training`` and ``models.alignment`` (the embedded models are trained, or
  their projection aligned, on the emoji benchmark's images);
- ``pipeline`` ties them together; ``analysis`` reads data and models only through it; ``site``
  (papermill, Jupyter Book, the browser check) imports nothing of the analysis; ``cli`` calls them.
  Nothing imports ``cli``, ``analysis`` or ``site`` but the CLI, and nothing imports the notebooks.
- ``numerics`` is applied when the package is imported, before torch's first operation.

The methods' formulas and the official code they follow: ``docs/methods.md``.
"""

__version__ = "0.1.0"

# Pin the CPU floating-point configuration before torch's first tensor operation (see numerics).
from . import numerics as _numerics  # noqa: E402

_numerics.pin_environment()
_numerics.pin_torch()
