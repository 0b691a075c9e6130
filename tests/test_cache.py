import json
import os
import warnings

import numpy as np
import pytest

from neglabel_core.cache import ArrayCache, StaleCacheWarning, cache_key
from neglabel_core.files import atomic_write_text, cache_root

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

    def missing_manifest(npy, manifest):
        manifest.unlink()

    return [flip_byte, truncate, garbage_manifest, stale_payload, pickled_object_array, missing_manifest]


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
