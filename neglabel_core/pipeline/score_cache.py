"""Method scores kept on disk: computed once per (images, labels, method, parameters), read by
every later call, in this chapter or another, in this build or the next.

A chapter scores the same images with the same settings many times over (a sweep, then the
paired gaps of the same sweep; the main table in several chapters; AdaNeg's streams for every
seed), and most of a warm rebuild was spent doing it again. :func:`pipeline.score` asks this cache
first. The key is everything the scores are a function of (:func:`score_payload`): the content of
the image embeddings scored, of the ID label embeddings and of the negative-label bank, the
resolved parameters, the method, and the source of the scoring code (``ood/`` and the pipeline's
scoring module), so an edit to a score's code or a different image set never reads an old entry.
Entries are :class:`models.cache.ArrayCache` entries (``<cache>/scores``): atomic, verified on
read, never unpickled.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..models.cache import ArrayCache

_FINGERPRINTS: dict[int, tuple[weakref.ref, str]] = {}


def fingerprint(array: Any) -> str:
    """SHA-256 of an array's dtype, shape and bytes; remembered for the array object while it lives
    (a chapter scores the same cached embeddings hundreds of times)."""
    known = _FINGERPRINTS.get(id(array))
    if known is not None and known[0]() is array:
        return known[1]
    values = np.ascontiguousarray(np.asarray(array))
    digest = hashlib.sha256(f"{values.dtype.str}|{values.shape}|".encode())
    digest.update(memoryview(values).cast("B"))
    out = digest.hexdigest()
    key = id(array)
    try:
        _FINGERPRINTS[key] = (weakref.ref(array, lambda _: _FINGERPRINTS.pop(key, None)), out)
    except TypeError:  # an object without weak references: not remembered
        pass
    return out


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the sources that turn embeddings into scores: ``ood/*.py`` and this package's
    scoring and bank modules."""
    package = Path(__file__).parents[1]
    files = sorted((package / "ood").glob("*.py")) + [package / "pipeline" / "scoring.py",
                                                       package / "pipeline" / "banks.py", Path(__file__)]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def score_payload(method: str, params: Mapping[str, Any], images: Sequence[Any], texts: Mapping[str, Any]) -> dict[str, Any]:
    """What one method's scores of ``images`` (arrays, in order) are a function of: ``texts``
    (the label embeddings and banks it reads, by name), the resolved ``params``, the code."""
    return {"kind": "scores", "method": method, "params": dict(params), "images": [fingerprint(x) for x in images],
            "texts": {name: fingerprint(t) for name, t in texts.items()}, "code": code_fingerprint()}


@functools.lru_cache(maxsize=4)
def _store(root: str) -> ArrayCache:
    return ArrayCache(Path(root), namespace="scores")


def cache() -> ArrayCache:
    from ..files import cache_root

    return _store(str(cache_root()))
