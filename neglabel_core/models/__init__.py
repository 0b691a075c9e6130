"""Vision-language models: loading any open_clip model (``factory``), embedding texts and images
in batches with an on-disk cache (``embed``, ``cache``), and the embedded default's own model:
contrastive training of its image tower (``training``, pure tensors) and its keyed, verified
checkpoint and snapshots (``emoji_training``, the one module here that reads ``data``: the
emoji benchmark's training styles). Configs as data: ``configs/*.json``; packaged weights:
``weights/``.
"""

from .factory import LoadedModel, ModelNotFoundError, WeightsUnavailableError, load_model

__all__ = ["LoadedModel", "ModelNotFoundError", "WeightsUnavailableError", "load_model"]
