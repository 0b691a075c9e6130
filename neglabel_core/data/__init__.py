"""What a profile evaluates on, on the leaves ``files`` and ``profiles`` (never a model):

- ``images``: image sets (paths, labels, concept units) and reading an image safely;
- ``corpus``: WordNet and word-list candidate corpora, prompts, CSP's phrases;
- ``fetch``: pinned, hash-verified npm packages and safe archive extraction;
- ``emoji``: the embedded emoji benchmark, built from fetched packages;
- ``imagenet``: the paper profile's local ImageNet-1k and OOD folders;
- ``benchmarks``: one loader per benchmark kind (with the clean-OOD filter), for the pipeline.
"""

from .images import DataNotFoundError, ImageFiles, list_images, load_rgb

__all__ = ["DataNotFoundError", "ImageFiles", "list_images", "load_rgb"]
