"""Faults a careful user hits, one test per case: a full disk, a half-built book, damaged or
moved data and caches, a killed run's leftovers, bad profiles, Ctrl-C. Each asserts the message
the user sees and that nothing written before is lost."""

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neglabel_core import cli, files
from neglabel_core.data import emoji
from neglabel_core.models import cache as cache_mod
from neglabel_core.models import emoji_training
from neglabel_core.models.cache import ArrayCache, cache_key
from neglabel_core.models.embed import image_payload
from neglabel_core.profiles import ProfileError, load_profile
from neglabel_core.site import build

from . import emoji_fixture


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ---------------------------------------------------------------- a full disk


def test_disk_full_while_caching_an_array_is_one_clear_error(tmp_path, monkeypatch):
    """The array is reserved before it is memory-mapped (a mapped write on a full disk is SIGBUS);
    no temporary file or half entry is left, and the entries written before still load."""
    store = ArrayCache(tmp_path)
    store.store({"a": 1}, np.arange(6, dtype=np.float32))
    monkeypatch.setattr(os, "posix_fallocate", _enospc)
    with pytest.raises(files.DiskFullError, match=r"^no space left on the disk for .*: 3\.8 MiB needed, .* free; "
                                                  r"free some space or set NEGLABEL_CACHE to a folder on a larger disk$"):
        store.store({"a": 2}, np.zeros((1000, 1000), np.float32))
    assert store.load({"a": 2}) is None
    assert not [p for p in (tmp_path / "embeddings").rglob("*") if p.name.endswith(".tmp")]
    np.testing.assert_array_equal(store.load({"a": 1}), np.arange(6, dtype=np.float32))


def test_a_real_full_disk_when_one_can_be_mounted(tmp_path):
    """The same on a real 2 MB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        store = ArrayCache(mount)
        store.store({"a": 1}, np.ones(10, np.float32))
        with pytest.raises(files.DiskFullError, match=r"3\.8 MiB needed"):
            store.store({"a": 2}, np.zeros((1000, 1000), np.float32))
        assert store.load({"a": 1}).sum() == 10
        assert not [p for p in mount.rglob("*") if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_reaches_the_cli_as_one_line(monkeypatch, capsys, tmp_path):
    from neglabel_core import pipeline

    def full(*_args, **_kwargs):
        raise files.DiskFullError(tmp_path, 4 << 20)

    monkeypatch.setattr(pipeline, "evaluate", full)
    assert cli.main(["evaluate", "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(f"neglabel: error: no space left on the disk for {tmp_path}: 4.0 MiB needed")


def test_disk_full_while_saving_a_checkpoint_removes_its_temporary(tmp_path, monkeypatch):
    target = tmp_path / "models" / "m-0123456789abcdef.pt"
    target.parent.mkdir()
    monkeypatch.setattr(emoji_training, "checkpoint_path", lambda profile: target)

    def torch_save_on_a_full_disk(profile, **kwargs):
        target.with_suffix(".pt.tmp").write_bytes(b"partial")  # what torch.save leaves behind
        target.with_suffix(f".epoch01.pt.{os.getpid()}.tmp").write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 3145728 vs 3145664")

    monkeypatch.setattr(emoji_training, "train_emoji_model", torch_save_on_a_full_disk)
    with pytest.raises(files.DiskFullError, match=rf"^no space left on the disk for {target.parent}: [0-9.]+ MiB needed"):
        emoji_training.trained_checkpoint(load_profile("emoji-tiny"), progress=False)
    assert list(target.parent.iterdir()) == []


def test_disk_full_while_swapping_in_the_site_keeps_the_old_one(tmp_path, monkeypatch):
    new, site = tmp_path / "new", tmp_path / "_build" / "html"
    for folder, text in ((new, "new"), (site, "old")):
        folder.mkdir(parents=True)
        (folder / "index.html").write_text(text)
    monkeypatch.setattr(shutil, "copytree", _enospc)
    with pytest.raises(files.DiskFullError):
        build.swap_in(new, site)
    assert (site / "index.html").read_text() == "old"
    assert sorted(p.name for p in site.parent.iterdir()) == ["html"]


# ---------------------------------------------------------------- a half-built book


def _failing_build(monkeypatch):
    monkeypatch.setattr(build, "vendor_mathjax", lambda dest: dest)
    monkeypatch.setattr(build, "vendor_vega", lambda dest: dest)

    def run(command, **kwargs):
        work = Path(command[command.index("--path-output") + 1]) / "_build" / "html"
        work.mkdir(parents=True, exist_ok=True)
        (work / "index.html").write_text("half")  # what a failed Sphinx run leaves in its work folder
        return subprocess.CompletedProcess(command, 1, "", "WARNING: undefined label")

    monkeypatch.setattr(build.subprocess, "run", run)


def test_a_failed_build_leaves_no_site_in_a_fresh_clone(tmp_path, monkeypatch):
    _failing_build(monkeypatch)
    with pytest.raises(RuntimeError, match=r"^jupyter-book build failed \(exit 1; no HTML was written\):\nWARNING"):
        build.build_html(tmp_path)
    assert not (tmp_path / "book" / "_build" / "html").exists()


def test_a_failed_build_keeps_the_last_complete_site_and_a_good_one_replaces_it_whole(tmp_path, monkeypatch):
    site = tmp_path / "book" / "_build" / "html"
    site.mkdir(parents=True)
    (site / "index.html").write_text("complete")
    (site / "gone.html").write_text("a page the next build no longer has")
    _failing_build(monkeypatch)
    with pytest.raises(RuntimeError, match=rf"the last complete build is left at {site}"):
        build.build_html(tmp_path)
    assert (site / "index.html").read_text() == "complete"

    def run(command, **kwargs):
        work = Path(command[command.index("--path-output") + 1]) / "_build" / "html"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "index.html").write_text("new")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(build.subprocess, "run", run)
    assert build.build_html(tmp_path) == site
    assert sorted(p.name for p in site.iterdir()) == ["build-info.json", "index.html"]
    page = (site / "index.html").read_text()  # the new page, with its Content-Security-Policy set
    assert page.endswith("\nnew") and page.startswith('<meta http-equiv="Content-Security-Policy" content="')
    assert sorted(p.name for p in site.parent.iterdir()) == ["html"]  # no staging or old copy left


# ---------------------------------------------------------------- damaged, moved and stale data


@pytest.fixture
def bench(tmp_path, monkeypatch):
    emoji_fixture.build(tmp_path / "fixture", monkeypatch)
    return emoji.prepare(tmp_path / "data", progress=False)


def test_a_deleted_or_truncated_prepared_file_is_named_and_fetch_restores_it(bench):
    raster = next(r for r in bench.files if r.startswith("raster/"))
    packaged = next(r for r in bench.files if r.startswith("packages/"))
    originals = {rel: (bench.root / rel).read_bytes() for rel in (raster, packaged)}
    (bench.root / raster).unlink()
    (bench.root / packaged).write_bytes(originals[packaged][:20])
    with pytest.raises(emoji.EmojiDataError, match=r"^2 prepared file\(s\) of the emoji benchmark are missing or damaged, "
                                                   r"e\.g\. .*; run `neglabel fetch` to restore them$"):
        emoji.prepare(bench.root, progress=False)
    emoji.prepare(bench.root, progress=False, repair=True)  # neglabel fetch
    assert {rel: (bench.root / rel).read_bytes() for rel in originals} == originals
    assert emoji.prepare(bench.root, progress=False).damaged_files(hashes=True) == []


def test_fetch_finds_a_damaged_file_of_the_same_size_by_its_hash(bench):
    raster = next(r for r in bench.files if r.startswith("raster/"))
    data = bytearray((bench.root / raster).read_bytes())
    data[-1] ^= 0xFF
    (bench.root / raster).write_bytes(bytes(data))
    assert emoji.EmojiBenchmark.load(bench.root).damaged_files() == []  # sizes agree
    assert emoji.EmojiBenchmark.load(bench.root).damaged_files(hashes=True) == [raster]
    emoji.prepare(bench.root, progress=False, repair=True)
    assert emoji.EmojiBenchmark.load(bench.root).damaged_files(hashes=True) == []


def test_a_truncated_raster_is_redrawn_even_without_an_index(bench):
    raster = next(r for r in bench.files if r.startswith("raster/"))
    good = (bench.root / raster).read_bytes()
    (bench.root / raster).write_bytes(good[: len(good) // 2])
    (bench.root / "index.json").unlink()
    emoji.prepare(bench.root, progress=False)
    assert (bench.root / raster).read_bytes() == good


def test_a_moved_cache_keeps_its_image_entries(tmp_path):
    class Model:
        identity = {"model": "m"}

    class Files:
        def __init__(self, paths):
            self.paths = paths

    old = tmp_path / "cache" / "emoji-benchmark" / "raster"
    old.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (old / name).write_bytes(name.encode())
    moved = tmp_path / "elsewhere" / "neglabel"
    shutil.copytree(tmp_path / "cache", moved)  # copies mtimes, as cp -a
    before = image_payload(Model(), Files([str(old / "a.png"), str(old / "b.png")]), None)
    after = image_payload(Model(), Files([str(moved / "emoji-benchmark" / "raster" / n) for n in ("a.png", "b.png")]), None)
    assert before == after and before["files"][0][0] == "a.png"
    assert str(tmp_path) not in json.dumps(before)
    with pytest.raises(FileNotFoundError, match=r"^image file .*c\.png does not exist; .* run `neglabel fetch`"):
        image_payload(Model(), Files([str(old / "c.png")]), None)


def test_a_killed_trainings_temporaries_are_removed_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path))
    models = tmp_path / "models"
    models.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = models / "m-0123.pt.tmp"
    killed = models / f"m-0123.epoch01.pt.{dead.pid}.tmp"
    live = models / "m-0123.epoch02.pt.1.tmp"  # pid 1 is alive
    fresh = models / "m-4567.pt.tmp"  # another run may be writing it
    for path in (old, killed, live, fresh):
        path.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    for path in (old, killed, live):
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert sorted(files.remove_dead_temp_files(models)) == sorted([old, killed])
    assert live.exists() and fresh.exists() and (models / "m-0123.epoch02.pt.1.tmp").exists()


def test_evaluate_uses_a_verified_checkpoint_whatever_became_of_its_snapshots(tmp_path, monkeypatch):
    target = tmp_path / "m-0123456789abcdef.pt"
    target.write_bytes(b"weights")
    target.with_suffix(".json").write_text(json.dumps({"checkpoint_sha256": emoji_training.file_sha256(target),
                                                       "snapshots": [1, 2]}))  # their files are gone
    monkeypatch.setattr(emoji_training, "checkpoint_path", lambda profile: target)
    calls = []
    monkeypatch.setattr(emoji_training, "train_emoji_model", lambda profile, **kw: calls.append(kw) or target)
    profile = load_profile("emoji-tiny")
    assert emoji_training.trained_checkpoint(profile, progress=False, snapshots=False) == target
    assert calls == []  # evaluate never trains for snapshots it does not read
    emoji_training.trained_checkpoint(profile, progress=False)
    assert calls == [{"progress": False, "force": False}]  # the snapshot chapter asks, and gets them rebuilt


def test_the_sweep_never_deletes_outside_the_cache(tmp_path):
    root, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    theirs = [outside / ".notes.pid99999999.tmp", outside / ".old.tmp"]
    for path in theirs:
        path.write_bytes(b"not ours")
        os.utime(path, (0, 0))
    key = next(k for k in (cache_key({"i": i}) for i in range(100000)) if k.startswith("e1"))
    i = next(i for i in range(100000) if cache_key({"i": i}) == key)
    (root / "embeddings").mkdir(parents=True)
    (root / "embeddings" / "e1").symlink_to(outside, target_is_directory=True)
    assert files.remove_dead_temp_files(root / "embeddings" / "e1", within=root) == []
    assert files.remove_dead_temp_files(outside, within=root) == []
    store = ArrayCache(root)
    with pytest.warns(cache_mod.StaleCacheWarning, match="a link where the cache's own folder belongs"):
        store.store({"i": i}, np.ones(3, np.float32))
    assert all(p.read_bytes() == b"not ours" for p in theirs) and sorted(outside.iterdir()) == sorted(theirs)
    assert not (root / "embeddings" / "e1").is_symlink() and store.load({"i": i}).sum() == 3


# ---------------------------------------------------------------- profiles


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, bytes) else "")
    if isinstance(data, bytes):
        path.write_bytes(data)
    return path


def test_an_extends_cycle_is_named(tmp_path):
    _write(tmp_path / "a.json", {"extends": "b.json"})
    _write(tmp_path / "b.json", {"extends": "a.json"})
    with pytest.raises(ProfileError, match=r"^profile a\.json: extends cycle a\.json -> b\.json -> a\.json; "):
        load_profile(tmp_path / "a.json")
    _write(tmp_path / "c.json", {"extends": "c.json"})
    with pytest.raises(ProfileError, match=r"^profile c\.json: extends cycle c\.json -> c\.json; "):
        load_profile(tmp_path / "c.json")


def test_a_file_may_extend_the_built_in_profile_of_its_own_name(tmp_path):
    path = _write(tmp_path / "emoji-tiny.json", {"extends": "emoji-tiny", "params": {"eta": 0.1}})
    assert load_profile(path).params["eta"] == 0.1 and load_profile("emoji-tiny").params["eta"] == 0.05


def test_a_relative_extends_is_read_from_the_files_folder(tmp_path, monkeypatch):
    _write(tmp_path / "sub" / "base.json", {"extends": "emoji-tiny", "params": {"eta": 0.2}})
    child = _write(tmp_path / "sub" / "child.json", {"extends": "base.json", "params": {"m": 500}})
    monkeypatch.chdir(tmp_path)  # not the file's folder
    profile = load_profile(child)
    assert (profile.params["eta"], profile.params["m"]) == (0.2, 500)
    _write(tmp_path / "sub" / "orphan.json", {"extends": "missing.json"})
    with pytest.raises(ProfileError, match=rf"^unknown profile 'missing\.json'; .* \(relative to {tmp_path / 'sub'}\)$"):
        load_profile(tmp_path / "sub" / "orphan.json")


def test_a_profile_that_is_not_utf8_is_named(tmp_path):
    path = _write(tmp_path / "latin1.json", b'{"extends": "emoji-tiny", "name": "caf\xe9"}')
    with pytest.raises(ProfileError, match=rf"^profile file {path} is not UTF-8 text \(invalid continuation byte at "
                                           r"byte 38\); save it as UTF-8$"):
        load_profile(path)


SEED_RANGE = "is out of range; expected 0 <= value <= 9223372036854775807"


@pytest.mark.parametrize("overrides, problem", [
    ({"params": {"m": 1000.0}}, "params.m: 1000.0 is of type float; expected integer"),
    ({"params": {"seed": 2**64}}, f"params.seed: 18446744073709551616 {SEED_RANGE}"),
    ({"params": {"stream_seed": -1}}, f"params.stream_seed: -1 {SEED_RANGE}"),
    ({"train": {"seed": 2**63}}, f"train.seed: 9223372036854775808 {SEED_RANGE}"),
])
def test_integers_and_seeds_are_checked_before_any_work(overrides, problem):
    with pytest.raises(ProfileError) as caught:
        load_profile("emoji-tiny", overrides)
    assert str(caught.value).endswith(f"is invalid:\n  - {problem}")


# ---------------------------------------------------------------- the command line


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    from neglabel_core import pipeline

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "evaluate", interrupted)
    assert cli.main(["evaluate", "--quiet"]) == 130
    assert capsys.readouterr().err == "neglabel: interrupted\n"


def test_an_interrupted_notebook_leaves_no_partial_copy(tmp_path, monkeypatch):
    import papermill

    def execute(source, partial, **kwargs):
        Path(partial).write_text("{}")  # papermill writes the copy as it goes
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    with pytest.raises(KeyboardInterrupt):
        build._run_notebook("01_negmining", tmp_path / "src.ipynb", tmp_path, {}, "key", "python3", 10, 10)
    assert list(tmp_path.iterdir()) == []


def test_a_cache_path_that_is_a_file_is_named_and_quiet_stays_quiet(tmp_path, monkeypatch, capsys):
    mistyped = tmp_path / "cache.txt"
    mistyped.write_text("")
    monkeypatch.setenv("NEGLABEL_CACHE", str(mistyped))
    assert cli.main(["evaluate", "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"neglabel: error: NEGLABEL_CACHE={mistyped}: {mistyped} is a file; expected a folder for "
                              "the cache (it is created where missing)\n")
    monkeypatch.setenv("NEGLABEL_CACHE", str(mistyped / "below"))
    assert cli.main(["cache-dir"]) == 2
    assert f"{mistyped} is a file" in capsys.readouterr().err


def test_a_cache_folder_linked_to_another_disk_is_used_not_removed(tmp_path):
    """The owner may keep the embeddings elsewhere behind a link: entries there are read and
    written as usual, and nothing of theirs is removed."""
    root, disk = tmp_path / "cache", tmp_path / "big-disk" / "embeddings"
    disk.mkdir(parents=True)
    root.mkdir()
    (root / "embeddings").symlink_to(disk, target_is_directory=True)
    store = ArrayCache(root)
    store.store({"a": 1}, np.arange(4, dtype=np.float32))
    store.store({"a": 2}, np.ones(4, np.float32))
    assert store.load({"a": 1}).sum() == 6 and store.load({"a": 2}).sum() == 4
    assert len(list(disk.rglob("*.npy"))) == 2
