"""A content-addressed on-disk cache for arrays (embeddings), safe, atomic and safe to share.

An entry is a manifest ``<root>/<namespace>/<key[:2]>/<key>.json`` naming its array file
``<key>.<sha256[:16]>.npy`` beside it. The key is the SHA-256 of the canonical JSON of a
*payload*: everything that determines the array (model identity with checkpoint hash, prompt
template, the exact texts or image files with sizes and mtimes). The manifest repeats the payload
and records shape, dtype and the SHA-256 of the ``.npy`` bytes; a read verifies all of it and
loads with ``allow_pickle=False``. An entry that fails verification is reported
(:class:`StaleCacheWarning`) and rebuilt, never used.

Concurrency: an array file is written under a temporary name and renamed to its content name,
so it is complete and never changes once visible; then the manifest is replaced atomically. A
reader therefore sees the old entry or the new one, never half of one, and never needs to delete
what a live writer is making: an array no manifest names is left alone (a writer may be about to
publish it) and removed only once it is old (:data:`ORPHAN_AGE_S`). Temporary files carry their
writer's pid and are removed once that process is gone (a killed run's leftovers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..files import (
    CacheWriteError,
    atomic_write_text,
    cache_root,
    file_mode,
    full_disk_reported,
    remove_dead_temp_files,
    remove_path,
    sha256_file,
)

FORMAT_VERSION = 2
ORPHAN_AGE_S = 600.0  # an array no manifest names is removed once this old (by its last rename)
_ARRAY_NAME = re.compile(r"^[0-9a-f]{64}(\.[0-9a-f]{16})?\.npy$")


class StaleCacheWarning(UserWarning):
    """A cache entry was corrupt or did not match its key; it is being rebuilt."""


_RETRY = object()



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

    def manifest_path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def paths(self, key: str) -> tuple[Path, Path]:
        """The array file the entry's manifest names (where readable) and the manifest."""
        manifest_path = self.manifest_path(key)
        name = None
        with contextlib.suppress(OSError, ValueError, AttributeError, UnicodeDecodeError):
            name = json.loads(manifest_path.read_text("utf-8")).get("array")
        if not (isinstance(name, str) and _ARRAY_NAME.match(name)):
            name = f"{key}.npy"
        return manifest_path.parent / name, manifest_path

    def _warn(self, path: Path, reason: str) -> None:
        warnings.warn(f"cache entry {path} is unusable ({reason}); rebuilding it", StaleCacheWarning, stacklevel=4)

    def _drop_manifest(self, manifest_path: Path, seen: bytes | None) -> None:
        """Remove a bad manifest, unless a writer replaced it since it was read."""
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            if seen is None or manifest_path.read_bytes() == seen:
                manifest_path.unlink()

    def load(self, payload: Mapping[str, Any], *, mmap: bool = False) -> np.ndarray | None:
        """The verified array for ``payload``, or ``None`` (missing, or reported as bad)."""
        key = cache_key(payload)
        manifest_path = self.manifest_path(key)
        for _attempt in range(3):  # a writer may replace the entry between our two reads
            result = self._load_once(key, manifest_path, payload, mmap)
            if result is not _RETRY:
                return result
        return None

    def _load_once(self, key: str, manifest_path: Path, payload: Mapping[str, Any], mmap: bool):
        if manifest_path.is_dir() or manifest_path.is_symlink():
            self._warn(manifest_path, "a folder or link where the manifest file belongs")
            remove_path(manifest_path)
            return None
        try:
            raw = manifest_path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._warn(manifest_path, f"manifest unreadable: {exc}")
            self._drop_manifest(manifest_path, raw)
            return None
        if not isinstance(manifest, dict) or manifest.get("format") not in (1, FORMAT_VERSION):
            self._warn(manifest_path, "manifest of an unknown format")
            self._drop_manifest(manifest_path, raw)
            return None
        if manifest.get("key") != key or canonical_json(manifest.get("payload", {})) != canonical_json(payload):
            self._warn(manifest_path, "manifest payload does not match the key")
            self._drop_manifest(manifest_path, raw)
            return None
        name = manifest.get("array", f"{key}.npy") if manifest["format"] == FORMAT_VERSION else f"{key}.npy"
        if not (isinstance(name, str) and _ARRAY_NAME.match(name) and name.startswith(key)):
            self._warn(manifest_path, f"manifest names an unexpected array file {name!r}")
            self._drop_manifest(manifest_path, raw)
            return None
        array_path = manifest_path.parent / name
        if array_path.is_dir() or array_path.is_symlink():
            self._warn(array_path, "a folder or link where the array file belongs")
            remove_path(array_path)
            self._drop_manifest(manifest_path, raw)
            return None
        try:
            digest = sha256_file(array_path)
            if digest != manifest.get("sha256"):
                self._warn(array_path, "array file checksum mismatch")
                self._drop_manifest(manifest_path, raw)
                with contextlib.suppress(FileNotFoundError):
                    array_path.unlink()  # content-named and never rewritten: these bytes are simply bad
                return None
            array = np.load(array_path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except FileNotFoundError:
            # Replaced by a newer entry since we read the manifest, or never written: look again.
            return _RETRY if manifest_path.exists() and manifest_path.read_bytes() != raw else None
        except (OSError, ValueError) as exc:
            self._warn(array_path, f"array unreadable: {exc}")
            self._drop_manifest(manifest_path, raw)
            return None
        if list(array.shape) != manifest.get("shape") or str(array.dtype) != manifest.get("dtype"):
            self._warn(array_path, f"array shape/dtype {array.shape}/{array.dtype} differ from the manifest")
            self._drop_manifest(manifest_path, raw)
            return None
        return array

    def _commit(self, payload: Mapping[str, Any], key: str, tmp: Path, shape: tuple, dtype: str) -> None:
        """Publish: the array under its content name (complete, immutable), then the manifest
        that names it (atomic replace), then remove this key's old, unnamed arrays."""
        manifest_path = self.manifest_path(key)
        digest = sha256_file(tmp)
        name = f"{key}.{digest[:16]}.npy"
        manifest = {
            "format": FORMAT_VERSION,
            "key": key,
            "payload": json.loads(canonical_json(payload)),
            "array": name,
            "shape": list(shape),
            "dtype": dtype,
            "sha256": digest,
        }
        if manifest_path.is_dir():
            remove_path(manifest_path)
        os.replace(tmp, manifest_path.parent / name)
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1, ensure_ascii=False))
        self._remove_old_arrays(key, keep=name)

    def _remove_old_arrays(self, key: str, keep: str) -> None:
        now = time.time()
        for path in (self.dir / key[:2]).glob(f"{key}*.npy"):
            if path.name == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - path.lstat().st_ctime > ORPHAN_AGE_S:
                    path.unlink()

    def store(self, payload: Mapping[str, Any], array: np.ndarray) -> Path:
        """Write ``array`` atomically under ``payload``'s key; returns the ``.npy`` path."""
        with self.writer(payload, array.shape, array.dtype) as out:
            out[...] = array
        return self.paths(cache_key(payload))[0]

    @contextlib.contextmanager
    def writer(self, payload: Mapping[str, Any], shape: tuple, dtype: Any = np.float32) -> Iterator[np.ndarray]:
        """Stream an array into the cache: yields a writable memmap of ``shape`` backed by a
        temporary file; on a clean exit the file is checksummed and published, on an exception it
        is deleted. Memory stays bounded whatever the array size. A cache that cannot be written
        (read-only, no permission) raises :class:`CacheWriteError` naming its folder."""
        key = cache_key(payload)
        folder = self.manifest_path(key).parent
        try:
            if folder.is_symlink():  # a parent linked elsewhere is the owner's choice; this folder is ours
                self._warn(folder, "a link where the cache's own folder belongs")
                remove_path(folder)  # the link only: what it points to is not ours
            folder.mkdir(parents=True, exist_ok=True)
            remove_dead_temp_files(folder, within=self.root)
            fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{key}.pid{os.getpid()}.", suffix=".npy.tmp")
            os.fchmod(fd, file_mode())
            os.close(fd)
        except OSError as exc:
            raise CacheWriteError(self.root, exc) from None
        tmp = Path(tmp_name)
        needed = int(np.prod(shape)) * np.dtype(dtype).itemsize
        try:
            with full_disk_reported(folder, needed):
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=tuple(shape))
                # Reserve the blocks now: a memory map written on a full disk dies of SIGBUS, with no message
                with open(tmp, "r+b") as handle:
                    os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
            yield out
            out.flush()
            del out
            with full_disk_reported(folder, needed):
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
