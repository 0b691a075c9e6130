"""Vision-language models: loading any open_clip model (``factory``), embedding texts and images
in batches with an on-disk cache (``embed``, ``cache``), and the embedded default's own model:
contrastive training of its image tower (``training``, pure tensors) and its keyed, verified
checkpoint and snapshots (``emoji_training``); the second embedded model, a pinned pretrained
backbone (``backbones``) joined to the same text tower by a projection aligned here
(``alignment``). ``emoji_training`` and ``alignment`` are the modules here that read ``data``:
the emoji benchmark's training styles. Configs as data: ``configs/*.json``; packaged weights:
``weights/``.
"""

from .factory import LoadedModel, ModelNotFoundError, WeightsUnavailableError, load_model

__all__ = ["LoadedModel", "ModelNotFoundError", "WeightsUnavailableError", "load_model"]
