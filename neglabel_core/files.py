"""File helpers every layer may use (a leaf: imports nothing of ours): the cache location,
atomic writes (temporary file + ``os.replace``) and file hashing."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_ENV = "NEGLABEL_CACHE"
# Temporary files and folders are named ".<name>.pid<pid>.<random>[.tmp]" so that the next run can
# tell a killed run's leftovers (their process is gone) from a live writer's.
_TEMP_PID = re.compile(r"^\..*\.pid(\d+)\.")
_TEMP_PID_SUFFIX = re.compile(r"\.(\d+)\.tmp$")  # torch checkpoints written as "<name>.<pid>.tmp"
UNTAGGED_TEMP_AGE_S = 3600.0  # temporary files of older code (no pid in the name) are removed once this old


class CacheWriteError(OSError):
    """The cache cannot be written (read-only file system, no permission) where a write is needed."""

    def __init__(self, root: os.PathLike | str, exc: OSError):
        super().__init__(exc.errno, f"cannot write to the cache at {root} ({exc.strerror or exc}); an entry is "
                                    f"missing and must be computed: make it writable or set {CACHE_ENV} to a writable folder")


class DiskFullError(CacheWriteError):
    """The disk under the cache (or an output folder) has no room for a write; nothing half-written
    is left behind."""

    def __init__(self, folder: os.PathLike | str, needed: int | None, exc: OSError | None = None):
        free = _free_bytes(folder)
        OSError.__init__(self, errno.ENOSPC,
                         f"no space left on the disk for {folder}: "
                         + (f"{_size(needed)} needed, " if needed else "")
                         + (f"{_size(free)} free" if free is not None else "free space unknown")
                         + f"; free some space or set {CACHE_ENV} to a folder on a larger disk")

    def __str__(self) -> str:
        return self.strerror


def is_disk_full(exc: BaseException) -> bool:
    """``exc`` is a full disk or quota (ENOSPC, EDQUOT), also as torch's writer reports it."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, RuntimeError) and ("unexpected pos" in str(exc) or "No space left" in str(exc))


@contextlib.contextmanager
def full_disk_reported(folder: os.PathLike | str, needed: int | None = None) -> Iterator[None]:
    """Inside: a full disk (:func:`is_disk_full`) becomes one :class:`DiskFullError` naming
    ``folder`` and the ``needed`` bytes; any other error passes through unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError) as exc:
        if is_disk_full(exc):
            raise DiskFullError(folder, needed, exc) from None
        raise


def _free_bytes(folder: os.PathLike | str) -> int | None:
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def file_mode() -> int:
    """The mode a new file gets under the current umask (0o666 & ~umask): group-readable caches
    stay readable to the group; ``mkstemp``'s 0600 would not be."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode a new folder gets under the current umask (0o777 & ~umask)."""
    return 0o777 & ~_umask()


def temp_name(name: str) -> str:
    """A temporary name's prefix tagged with this process: ``.<name>.pid<pid>.``"""
    return f".{name}.pid{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temp_files(folder: os.PathLike | str, *, within: os.PathLike | str | None = None) -> list[Path]:
    """Remove the temporary files and folders in ``folder`` that a killed run left: tagged with a
    pid whose process is gone (``.<name>.pid<pid>.<random>`` from :func:`temp_name`, or
    ``<name>.<pid>.tmp``), or untagged ``*.tmp`` older than an hour. A live writer's temporaries
    are kept. Never outside the cache: a ``folder`` that is a link, or that resolves outside
    ``within`` (default :func:`cache_root`), is left alone. Returns what was removed."""
    folder = Path(folder)
    root = Path(within) if within is not None else cache_root()
    if folder.is_symlink() or not _inside(folder, root):
        return []
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in folder.iterdir():
            tagged = _TEMP_PID.match(path.name) or _TEMP_PID_SUFFIX.search(path.name)
            if tagged:
                dead = int(tagged.group(1)) != os.getpid() and not _alive(int(tagged.group(1)))
            else:
                dead = path.name.endswith(".tmp") and time.time() - path.lstat().st_mtime > UNTAGGED_TEMP_AGE_S
            if dead:
                remove_path(path)
                removed.append(path)
    return removed


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves to ``root`` or below it (links followed on both sides)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def remove_path(path: os.PathLike | str) -> None:
    """Remove whatever is at ``path``: a folder (with its contents), a link or a file."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def cache_root() -> Path:
    """``$NEGLABEL_CACHE`` if set, else ``$XDG_CACHE_HOME/neglabel`` (default ``~/.cache/neglabel``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neglabel"


def check_cache_root(root: os.PathLike | str | None = None) -> Path:
    """The cache root, after checking it can be one: a folder, or a path where one can be made.
    A file there (a mistyped ``$NEGLABEL_CACHE``) is an error naming it."""
    root = Path(root) if root is not None else cache_root()
    for path in (root, *root.parents):
        if path.exists():
            if not path.is_dir():
                where = f"{CACHE_ENV}={os.environ[CACHE_ENV]}" if os.environ.get(CACHE_ENV) else "the cache folder"
                raise NotADirectoryError(f"{where}: {path} is a file; expected a folder for the cache "
                                         "(it is created where missing)")
            break
    return root


def sha256_file(path: os.PathLike | str) -> str:
    """SHA-256 hex digest of a file's bytes, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


_KEPT_DIGESTS: dict[tuple, str] = {}


def file_state(path: os.PathLike | str) -> tuple:
    """What identifies a file's present content without reading it: its real path, device,
    inode, size and modification time (ns). A file replaced by rename gets a new inode; one
    rewritten in place a new modification time."""
    st = os.stat(path)
    return os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def sha256_file_kept(path: os.PathLike | str) -> str:
    """:func:`sha256_file`, remembered in this process by :func:`file_state`: for large files
    that are replaced rather than edited (a text tower's weights, WordNet's data files), read
    once per process however often their hash is asked for."""
    key = file_state(path)
    if key not in _KEPT_DIGESTS:
        _KEPT_DIGESTS[key] = sha256_file(path)
    return _KEPT_DIGESTS[key]


def code_text(path: os.PathLike | str) -> bytes:
    """What a file contributes to a code fingerprint: a Python module's :func:`source_code_text`;
    any other file's bytes."""
    raw = Path(path).read_bytes()
    return source_code_text(raw) if Path(path).suffix == ".py" else raw


def source_code_text(source: str | bytes) -> bytes:
    """Python source (a module, or one function's as ``inspect.getsource`` gives it) as its syntax
    tree without docstrings (comments are not in the tree), so a documentation edit keeps every
    kept result and checkpoint key. Source that does not parse counts by its bytes."""
    import ast
    import textwrap

    raw = source.encode() if isinstance(source, str) else source
    try:
        tree = ast.parse(textwrap.dedent(raw.decode()) if isinstance(source, str) else raw)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return raw
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def atomic_write_bytes(path: os.PathLike | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``:
    readers see the old file or the new one, never a partial write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_name(path.name), suffix=".tmp")
    with full_disk_reported(path.parent, len(data)):
        try:
            os.fchmod(fd, file_mode())  # mkstemp makes 0600; give the file the usual mode
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _umask() -> int:
    """The process's umask, read from ``/proc/self/status`` (Linux 4.7+) without changing it: setting
    it to 0 to read it back would give files made meanwhile by other threads mode 0o666."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)  # elsewhere: the one way POSIX offers, with a safe mask for the instant it is set
    os.umask(mask)
    return mask


def atomic_write_text(path: os.PathLike | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def kept_json(namespace: str, payload: Any, compute: Callable[[], Any], *, best_effort: bool = False) -> Any:
    """A JSON-able result kept under ``<cache>/<namespace>/``, keyed by the SHA-256 of ``payload``
    (everything the result is a function of): read back where an entry for that key exists, else
    ``compute()``d and written atomically. An entry that does not parse or names another key is
    reported and rebuilt; a full disk is one :class:`DiskFullError`. Never unpickles anything.
    ``best_effort``: a result that is cheap to compute again is returned even where it cannot be
    written (a read-only or full cache), and an unreadable entry is recomputed silently."""
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    target = cache_root() / namespace / f"{key[:32]}.json"
    try:
        kept = json.loads(target.read_text("utf-8"))
        if isinstance(kept, dict) and kept.get("key") == key and "value" in kept:
            return kept["value"]
        log.warning("cache entry %s names another key; rebuilding it", target)
    except FileNotFoundError:
        pass
    except (ValueError, UnicodeDecodeError) as exc:
        if not best_effort:
            log.warning("cache entry %s is unreadable (%s); rebuilding it", target, exc)
    except OSError:
        if not best_effort:
            raise
    value = compute()
    if best_effort:
        with contextlib.suppress(OSError):
            atomic_write_text(target, json.dumps({"key": key, "value": value}))
        return value
    with full_disk_reported(target.parent):
        atomic_write_text(target, json.dumps({"key": key, "value": value}))
    return value
