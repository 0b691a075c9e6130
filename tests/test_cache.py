import json
import os
import time
import warnings

import numpy as np
import pytest

from neglabel_core.files import atomic_write_text, cache_root
from neglabel_core.models.cache import ArrayCache, StaleCacheWarning, cache_key

PAYLOAD = {"kind": "text", "model": {"model": "m", "weights_sha256": "ab"}, "texts": ["a", "b"]}


def test_cache_root_follows_env(isolated_cache):
    assert cache_root() == isolated_cache


def test_miss_then_hit_roundtrip(tmp_path):
    cache = ArrayCache(tmp_path)
    assert cache.load(PAYLOAD) is None
    calls = []
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    compute = lambda: calls.append(1) or arr
    np.testing.assert_array_equal(cache.get_or_compute(PAYLOAD, compute), arr)
    np.testing.assert_array_equal(cache.get_or_compute(PAYLOAD, compute), arr)
    assert calls == [1]
    manifest = json.loads(cache.paths(cache_key(PAYLOAD))[1].read_text())
    assert manifest["payload"] == PAYLOAD and manifest["shape"] == [2, 3] and manifest["dtype"] == "float32"


def test_key_depends_on_every_payload_field():
    other_text = dict(PAYLOAD, texts=["a", "c"])
    other_model = dict(PAYLOAD, model={"model": "m", "weights_sha256": "cd"})
    keys = {cache_key(PAYLOAD), cache_key(other_text), cache_key(other_model)}
    assert len(keys) == 3
    assert cache_key(dict(reversed(list(PAYLOAD.items())))) == cache_key(PAYLOAD)


def corrupt_cases():
    def flip_byte(npy, manifest):
        data = bytearray(npy.read_bytes())
        data[-1] ^= 0xFF
        npy.write_bytes(bytes(data))

    def truncate(npy, manifest):
        npy.write_bytes(npy.read_bytes()[:40])

    def garbage_manifest(npy, manifest):
        manifest.write_text("{not json")

    def stale_payload(npy, manifest):
        m = json.loads(manifest.read_text())
        m["payload"]["texts"] = ["x"]
        manifest.write_text(json.dumps(m))

    def pickled_object_array(npy, manifest):
        np.save(npy, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
        m = json.loads(manifest.read_text())
        from neglabel_core.files import sha256_file

        m["sha256"] = sha256_file(npy)  # even a matching checksum must not lead to unpickling
        manifest.write_text(json.dumps(m))

    def manifest_is_a_folder(npy, manifest):
        manifest.unlink()
        (manifest / "sub").mkdir(parents=True)

    def array_is_a_folder(npy, manifest):
        npy.unlink()
        npy.mkdir()

    return [flip_byte, truncate, garbage_manifest, stale_payload, pickled_object_array, manifest_is_a_folder,
            array_is_a_folder]


@pytest.mark.parametrize("damage", corrupt_cases(), ids=lambda f: f.__name__)
def test_corrupt_entry_is_reported_and_rebuilt(tmp_path, damage):
    cache = ArrayCache(tmp_path)
    arr = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    cache.store(PAYLOAD, arr)
    damage(*cache.paths(cache_key(PAYLOAD)))
    with pytest.warns(StaleCacheWarning, match="is unusable"):
        assert cache.load(PAYLOAD) is None
    np.testing.assert_array_equal(cache.get_or_compute(PAYLOAD, lambda: arr * 2), arr * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(cache.load(PAYLOAD), arr * 2)


def test_failed_write_keeps_old_entry_and_leaves_no_temp(tmp_path):
    cache = ArrayCache(tmp_path)
    old = np.ones((3, 2), np.float32)
    cache.store(PAYLOAD, old)
    with pytest.raises(RuntimeError, match="boom"), cache.writer(PAYLOAD, (3, 2)) as out:
        out[0] = 7
        raise RuntimeError("boom")
    np.testing.assert_array_equal(cache.load(PAYLOAD), old)
    folder = cache.paths(cache_key(PAYLOAD))[0].parent
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".npy"]


def test_streamed_writer_and_mmap_read(tmp_path):
    cache = ArrayCache(tmp_path)
    with cache.writer(PAYLOAD, (1000, 4)) as out:
        for i in range(0, 1000, 100):
            out[i : i + 100] = i
    got = cache.load(PAYLOAD, mmap=True)
    assert isinstance(got, np.memmap) and got[950, 0] == 900


def test_atomic_write_text_replaces_whole_file(tmp_path):
    target = tmp_path / "out" / "x.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["x.json"]


def test_array_without_manifest_is_left_to_its_writer(tmp_path, monkeypatch):
    """An array no manifest names may be a live writer's, about to be published: a reader leaves
    it alone (no warning); a later write removes it once it is old."""
    import neglabel_core.models.cache as cache_mod

    cache = ArrayCache(tmp_path)
    cache.store(PAYLOAD, np.ones((2, 2), np.float32))
    npy, manifest = cache.paths(cache_key(PAYLOAD))
    manifest.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.load(PAYLOAD) is None
    assert npy.exists()
    cache.store(PAYLOAD, np.zeros((2, 2), np.float32))  # another content: another file name
    assert npy.exists()  # too young to be an orphan
    monkeypatch.setattr(cache_mod, "ORPHAN_AGE_S", -1.0)
    cache.store(PAYLOAD, np.full((2, 2), 3, np.float32))
    assert sorted(p.name for p in npy.parent.iterdir()) == [cache.paths(cache_key(PAYLOAD))[0].name, manifest.name]
    np.testing.assert_array_equal(cache.load(PAYLOAD), np.full((2, 2), 3))


def test_killed_writers_temp_files_are_removed_live_ones_kept(tmp_path):
    import subprocess
    import sys

    cache = ArrayCache(tmp_path)
    cache.store(PAYLOAD, np.ones(2, np.float32))
    folder = cache.paths(cache_key(PAYLOAD))[1].parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited
    leftovers = [folder / f".{'a' * 64}.pid{dead_pid}.xyz.npy.tmp", folder / f".{'b' * 64}.pid{dead_pid}.q.tmp"]
    (folder / f".x.pid{dead_pid}.dir").mkdir()  # a killed extraction's folder
    live = folder / f".{'c' * 64}.pid{os.getpid()}.abc.npy.tmp"
    old_untagged = folder / f".{'d' * 64}.old.npy.tmp"
    for path in [*leftovers, live, old_untagged]:
        path.write_bytes(b"partial")
    os.utime(old_untagged, (0, 0))
    cache.store(PAYLOAD, np.ones(3, np.float32))  # the next write in that folder cleans up
    assert not any(p.exists() for p in leftovers) and not (folder / f".x.pid{dead_pid}.dir").exists()
    assert live.exists() and not old_untagged.exists()


def test_new_files_follow_the_umask(tmp_path):
    cache = ArrayCache(tmp_path)
    old = os.umask(0o002)
    try:
        cache.store(PAYLOAD, np.ones(2, np.float32))
    finally:
        os.umask(old)
    for path in cache.paths(cache_key(PAYLOAD)):
        assert path.stat().st_mode & 0o777 == 0o664, path


def test_unwritable_cache_names_its_folder(tmp_path):
    from neglabel_core.files import CacheWriteError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    cache = ArrayCache(blocker)
    assert cache.load(PAYLOAD) is None  # reading a cache that holds nothing is fine
    with pytest.raises(CacheWriteError, match=rf"^\[Errno \d+\] cannot write to the cache at {blocker} \(.*\); an entry is "
                                             r"missing and must be computed: make it writable or set NEGLABEL_CACHE"):
        cache.store(PAYLOAD, np.ones(2, np.float32))


def _stress_worker(root, seconds, seed, queue):
    """Write and read the same few entries for ``seconds``; every read of an entry that exists
    must give a whole array of one writer (constant rows), and no entry may be reported bad."""
    rng = np.random.default_rng(seed)
    cache = ArrayCache(root)
    payloads = [dict(PAYLOAD, texts=[str(k)]) for k in range(3)]
    failures, rounds = [], 0
    end = time.monotonic() + seconds
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while time.monotonic() < end:
            payload = payloads[int(rng.integers(3))]
            try:
                if rng.random() < 0.4:
                    cache.store(payload, np.full((256, 64), rng.integers(1, 10**6), np.float32))
                got = cache.load(payloads[int(rng.integers(3))], mmap=bool(rng.integers(2)))
                if got is None:
                    failures.append("None for an entry that exists")
                elif got.shape != (256, 64) or not (np.asarray(got) == np.asarray(got).flat[0]).all():
                    failures.append("a torn array")
            except Exception as exc:  # noqa: BLE001 - every exception is a failure here
                failures.append(f"{type(exc).__name__}: {exc}")
            rounds += 1
        failures += [str(w.message) for w in caught if issubclass(w.category, StaleCacheWarning)]
    queue.put((rounds, failures))


def test_concurrent_writers_and_readers_never_fail(tmp_path):
    import multiprocessing

    cache = ArrayCache(tmp_path)
    for k in range(3):
        cache.store(dict(PAYLOAD, texts=[str(k)]), np.full((256, 64), 1, np.float32))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_stress_worker, args=(str(tmp_path), 8.0, seed, queue)) for seed in range(4)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    rounds = sum(r for r, _ in results)
    failures = [f for _, fs in results for f in fs]
    assert rounds > 200 and failures == [], (rounds, failures[:5])


def test_the_umask_is_read_without_being_changed(monkeypatch):
    from neglabel_core import files

    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail(f"os.umask({mask:o}) called"))
        assert files._umask() == 0o027
        assert files.file_mode() == 0o640
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_code_fingerprints_ignore_docstrings_and_comments_but_not_code(tmp_path):
    from neglabel_core.files import code_text

    module = tmp_path / "m.py"
    module.write_text('"""Module."""\n\ndef f(x):\n    """Twice x."""\n    return 2 * x  # doubled\n')
    before = code_text(module)
    module.write_text('"""Module, reworded."""\n# a new comment\n\ndef f(x):\n    """Two times x (Eq. 1)."""\n'
                      '    return 2 * x\n')
    assert code_text(module) == before
    module.write_text('"""Module."""\n\ndef f(x):\n    """Twice x."""\n    return 3 * x\n')
    assert code_text(module) != before
    module.write_text('def f(x):\n    "a string that is the whole body"\n')
    assert code_text(module) == code_text_of('def f(x):\n    pass\n', tmp_path)
    broken = tmp_path / "b.py"
    broken.write_text("def (:\n")
    assert code_text(broken) == b"def (:\n"
    data = tmp_path / "c.json"
    data.write_text('{"a": 1}')
    assert code_text(data) == b'{"a": 1}'


def code_text_of(source: str, folder) -> bytes:
    from neglabel_core.files import code_text

    path = folder / "other.py"
    path.write_text(source)
    return code_text(path)


def test_a_kept_file_hash_is_read_once_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    from neglabel_core import files

    reads = []
    real = files.sha256_file
    monkeypatch.setattr(files, "sha256_file", lambda path: reads.append(path) or real(path))
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first")
    assert files.sha256_file_kept(path) == hashlib.sha256(b"first").hexdigest()
    assert files.sha256_file_kept(str(path)) == hashlib.sha256(b"first").hexdigest() and len(reads) == 1
    # put in place by rename (a new inode), then rewritten in place (a later modification time)
    (tmp_path / "new.bin").write_bytes(b"other")
    os.replace(tmp_path / "new.bin", path)
    assert files.sha256_file_kept(path) == hashlib.sha256(b"other").hexdigest() and len(reads) == 2
    stamp = path.stat().st_mtime_ns
    path.write_bytes(b"third")
    os.utime(path, ns=(stamp + 1_000_000, stamp + 1_000_000))
    assert files.sha256_file_kept(path) == hashlib.sha256(b"third").hexdigest() and len(reads) == 3
