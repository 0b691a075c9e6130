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
import json
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import cache_root, code_text, kept_json
from ..models.cache import ArrayCache
from ..ood import metrics

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
    """SHA-256 over the code that turns embeddings into scores: ``ood/*.py`` and this package's
    scoring and bank modules, docstrings and comments aside (:func:`.files.code_text`)."""
    package = Path(__file__).parents[1]
    files = sorted((package / "ood").glob("*.py")) + [package / "pipeline" / "scoring.py",
                                                       package / "pipeline" / "banks.py", Path(__file__)]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + code_text(f) + b"\0")
    return digest.hexdigest()


def score_payload(method: str, params: Mapping[str, Any], images: Sequence[Any], texts: Mapping[str, Any]) -> dict[str, Any]:
    """What one method's scores of ``images`` (arrays, in order) are a function of: ``texts``
    (the label embeddings and banks it reads, by name), the resolved ``params``, the code."""
    return {"kind": "scores", "method": method, "params": dict(params), "images": [fingerprint(x) for x in images],
            "texts": {name: fingerprint(t) for name, t in texts.items()}, "code": code_fingerprint()}


@functools.lru_cache(maxsize=8)
def _store(root: str, namespace: str = "scores") -> ArrayCache:
    return ArrayCache(Path(root), namespace=namespace)


def cache() -> ArrayCache:
    """The scores' store under the current cache root (``$NEGLABEL_CACHE`` may change between calls)."""
    return _store(str(cache_root()))


# ---------------------------------------------------------------- bootstrap tables, kept the same way

def _key_of(value: Any) -> Any:
    """A JSON-able stand-in for an argument: arrays by their fingerprint, mappings and sequences
    element by element, other values as they are."""
    if isinstance(value, Mapping):
        return {str(k): _key_of(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) or hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        return fingerprint(value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (str, int, np.integer)) for v in value):  # unit ids: one hash, not a list
            return hashlib.sha256(json.dumps([str(v) for v in value]).encode()).hexdigest()
        return [_key_of(v) for v in value]
    return value


def _frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    return {"index": frame.index.tolist(), "index_name": frame.index.name, "columns": frame.columns.tolist(),
            "data": frame.to_numpy(dtype=float).tolist()}


def _frame_from_json(kept: Mapping[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(kept["data"], index=kept["index"], columns=kept["columns"], dtype=float)
    frame.index.name = kept["index_name"]
    return frame


def kept_summarize(id_scores: Any, ood_scores: Mapping[str, Any], **options: Any) -> pd.DataFrame:
    """:func:`metrics.summarize`, kept (``<cache>/tables``) by the content of the scores, the units
    and the options: a table several chapters show is bootstrapped once."""
    payload = {"fn": "summarize", "id": _key_of(id_scores), "ood": _key_of(ood_scores), "options": _key_of(options),
               "code": code_fingerprint()}
    return _frame_from_json(kept_json("tables", payload, lambda: _frame_to_json(
        metrics.summarize(id_scores, ood_scores, **options))))


def kept_paired_difference(id_a: Any, ood_a: Mapping[str, Any], id_b: Any, ood_b: Mapping[str, Any],
                           **options: Any) -> pd.DataFrame:
    """:func:`metrics.paired_difference`, kept as :func:`kept_summarize`."""
    payload = {"fn": "paired_difference", "arms": _key_of([id_a, ood_a, id_b, ood_b]), "options": _key_of(options),
               "code": code_fingerprint()}
    return _frame_from_json(kept_json("tables", payload, lambda: _frame_to_json(
        metrics.paired_difference(id_a, ood_a, id_b, ood_b, **options))))


def kept_arm_replicates(arms: Mapping[str, Any], **options: Any) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """:func:`metrics.arm_replicates`, kept in one array (the point values, then every set's
    replicates) by the content of every arm's scores and units and the options."""
    payload = {"fn": "arm_replicates", "arms": _key_of(arms), "options": _key_of(options), "code": code_fingerprint()}
    names = list(arms)
    sets = [*next(iter(arms.values()))[2], "average"]
    n_bootstrap = int(options.get("n_bootstrap", 1000))
    kept = cache().load(payload)
    if kept is None or kept.shape != (len(names) * len(sets) * (1 + n_bootstrap),):
        point, reps = metrics.arm_replicates(arms, **options)
        kept = np.concatenate([point[sets].to_numpy(dtype=float).ravel(), *(reps[s].ravel() for s in sets)])
        cache().store(payload, kept)
    point = pd.DataFrame(kept[:len(names) * len(sets)].reshape(len(names), len(sets)), index=names, columns=sets)
    point.index.name = "arm"
    rest = kept[len(names) * len(sets):].reshape(len(sets), n_bootstrap, len(names))
    return point, {s: rest[i] for i, s in enumerate(sets)}


def kept_array(fn: str, inputs: Mapping[str, Any], compute: Any) -> np.ndarray:
    """``compute()`` (an array, a function of ``inputs`` and the scoring code alone), kept in the
    scores' store by the content of every array in ``inputs``, its other values and the code: the
    text side's mining scores, which every chapter needs and none changes (``<cache>/mining``)."""
    payload = {"fn": fn, "inputs": _key_of(dict(inputs)), "code": code_fingerprint()}
    return _store(str(cache_root()), "mining").get_or_compute(payload, lambda: np.asarray(compute()))
