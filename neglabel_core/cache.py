"""A content-addressed on-disk cache for arrays (embeddings), safe and atomic.

An entry is ``<root>/<namespace>/<key[:2]>/<key>.npy`` plus ``<key>.json``, its manifest. The key
is the SHA-256 of the canonical JSON of a *payload*: everything that determines the array (model
identity with checkpoint hash, prompt template, the exact texts or image files with sizes and
mtimes). The manifest repeats the payload and records shape, dtype and the SHA-256 of the
``.npy`` bytes; a read verifies all of it and loads with ``allow_pickle=False``. An entry that
fails verification is reported (:class:`StaleCacheWarning`), removed and rebuilt, never used.

Writes go to a temporary file in the same folder, then ``os.replace``: a crash leaves either the
old entry or none, never half of one. The manifest is written last and marks the entry complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_text, cache_root, sha256_file

FORMAT_VERSION = 1


class StaleCacheWarning(UserWarning):
    """A cache entry was corrupt or did not match its key; it is being rebuilt."""


def canonical_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def cache_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the payload's canonical JSON."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class ArrayCache:
    """Arrays on disk keyed by payload. ``root=None`` uses :func:`cache_root`."""

    def __init__(self, root: os.PathLike | None = None, namespace: str = "embeddings"):
        self.root = Path(root) if root is not None else cache_root()
        self.dir = self.root / namespace

    def paths(self, key: str) -> tuple[Path, Path]:
        folder = self.dir / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def _discard(self, key: str, reason: str) -> None:
        array_path, manifest_path = self.paths(key)
        warnings.warn(f"cache entry {array_path} is unusable ({reason}); rebuilding it", StaleCacheWarning, stacklevel=3)
        for p in (manifest_path, array_path):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def load(self, payload: Mapping[str, Any], *, mmap: bool = False) -> np.ndarray | None:
        """The verified array for ``payload``, or ``None`` (missing, or discarded as bad)."""
        key = cache_key(payload)
        array_path, manifest_path = self.paths(key)
        if not manifest_path.exists():
            if array_path.exists():
                self._discard(key, "array without manifest: an interrupted write")
            return None
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._discard(key, f"manifest unreadable: {exc}")
            return None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
            self._discard(key, "manifest of an unknown format")
            return None
        if manifest.get("key") != key or canonical_json(manifest.get("payload", {})) != canonical_json(payload):
            self._discard(key, "manifest payload does not match the key")
            return None
        if not array_path.exists():
            self._discard(key, "array file missing")
            return None
        if sha256_file(array_path) != manifest.get("sha256"):
            self._discard(key, "array file checksum mismatch")
            return None
        try:
            array = np.load(array_path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as exc:
            self._discard(key, f"array unreadable: {exc}")
            return None
        if list(array.shape) != manifest.get("shape") or str(array.dtype) != manifest.get("dtype"):
            self._discard(key, f"array shape/dtype {array.shape}/{array.dtype} differ from the manifest")
            return None
        return array

    def _commit(self, payload: Mapping[str, Any], key: str, tmp: Path, shape: tuple, dtype: str) -> None:
        array_path, manifest_path = self.paths(key)
        manifest = {
            "format": FORMAT_VERSION,
            "key": key,
            "payload": json.loads(canonical_json(payload)),
            "shape": list(shape),
            "dtype": dtype,
            "sha256": sha256_file(tmp),
        }
        with contextlib.suppress(FileNotFoundError):
            manifest_path.unlink()  # the old entry stops being valid before its array changes
        os.replace(tmp, array_path)
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1, ensure_ascii=False))

    def store(self, payload: Mapping[str, Any], array: np.ndarray) -> Path:
        """Write ``array`` atomically under ``payload``'s key; returns the ``.npy`` path."""
        with self.writer(payload, array.shape, array.dtype) as out:
            out[...] = array
        return self.paths(cache_key(payload))[0]

    @contextlib.contextmanager
    def writer(self, payload: Mapping[str, Any], shape: tuple, dtype: Any = np.float32) -> Iterator[np.ndarray]:
        """Stream an array into the cache: yields a writable memmap of ``shape`` backed by a
        temporary file; on a clean exit the file is checksummed and renamed into place, on an
        exception it is deleted. Memory stays bounded whatever the array size."""
        key = cache_key(payload)
        array_path, _ = self.paths(key)
        array_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=array_path.parent, prefix=f".{key}.", suffix=".npy.tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=tuple(shape))
            yield out
            out.flush()
            del out
            self._commit(payload, key, tmp, tuple(shape), str(np.dtype(dtype)))
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def get_or_compute(self, payload: Mapping[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array for ``payload``, else ``compute()`` stored and returned."""
        cached = self.load(payload)
        if cached is not None:
            return cached
        array = np.ascontiguousarray(compute())
        self.store(payload, array)
        return array
