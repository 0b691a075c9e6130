import io
import json
import shutil
import tarfile

import pytest

from neglabel_core.data import emoji
from neglabel_core.data.fetch import FetchError, NpmPackage, extract, npm_pack, sri_sha512
from neglabel_core.data.images import load_rgb

from . import emoji_fixture


@pytest.fixture
def fixture_packages(tmp_path, monkeypatch):
    return emoji_fixture.build(tmp_path / "fixture", monkeypatch)


@pytest.fixture
def bench(tmp_path, fixture_packages):
    return emoji.prepare(tmp_path / "data", progress=False)


def test_prepare_indexes_concepts_and_styles(bench):
    ids = [c.id for c in bench.concepts]
    assert ids == ["1F436", "1F431", "1F34E", "1F697", "1F6B2", "2764-FE0F"]  # Flags, Component left out
    dog = bench.by_id["1F436"]
    assert dog.group == "Animals & Nature" and dog.subgroup == "animal-mammal"
    assert dog.name == "dog face" and "dog" in dog.aliases
    assert set(dog.files) == set(emoji.STYLES)
    assert "fluent-flat" not in bench.by_id["1F431"].files  # no Fluent file for the cat
    assert "facebook" not in bench.by_id["1F6B2"].files  # has_img_facebook false
    assert bench.by_id["2764-FE0F"].files["fluent-flat"].endswith("2764-FE0F.png")  # slug "red-heart" from CLDR


def test_rasterised_svgs_are_64px_and_coloured(bench):
    image = load_rgb(bench.root / bench.by_id["1F34E"].files["openmoji-color"])
    assert image.size == (64, 64)
    assert image.getpixel((32, 32)) == (0, 128, 0)  # the fixture's green circle
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent corners composited on white


def test_prepare_is_idempotent_and_reloads(bench, tmp_path):
    again = emoji.prepare(tmp_path / "data", progress=False)
    assert [c.id for c in again.concepts] == [c.id for c in bench.concepts]
    assert emoji.EmojiBenchmark.load(tmp_path / "data").concepts == bench.concepts


def test_split_and_images(bench):
    split = bench.split({"id": ["Animals & Nature", "Food & Drink"], "ood": ["Travel & Places", "Smileys & Emotion"]})
    assert split.class_names == ["dog face", "cat face", "red apple"]
    assert {k: [c.id for c in v] for k, v in split.ood.items()} == {
        "Travel & Places": ["1F697", "1F6B2"], "Smileys & Emotion": ["2764-FE0F"]}
    files = bench.images(split.id, ["apple", "fluent-flat"], labels=[0, 1, 2])
    assert files.labels == [0, 1, 2, 0, 2] and files.units == ["1F436", "1F431", "1F34E", "1F436", "1F34E"]
    sub = bench.split({"id": ["Animals & Nature/animal-mammal"], "ood": {"cars": ["Travel & Places/transport-ground"]}})
    assert len(sub.id) == 2 and len(sub.ood["cars"]) == 2


def test_split_errors(bench):
    with pytest.raises(emoji.EmojiDataError, match=r"^unknown group\(s\) \['Animals'\] in the split; expected groups"):
        bench.split({"id": ["Animals"], "ood": []})
    with pytest.raises(emoji.EmojiDataError, match=r"^OOD set 'x' shares 2 concept\(s\) with ID"):
        bench.split({"id": ["Animals & Nature"], "ood": {"x": ["Animals & Nature/animal-mammal"]}})
    with pytest.raises(emoji.EmojiDataError, match=r"^style\(s\) \['sketch'\] are not prepared"):
        bench.images(bench.concepts, ["sketch"])


def test_missing_index_says_what_to_run(tmp_path):
    with pytest.raises(emoji.EmojiDataError, match=r"the emoji benchmark is not prepared: .* run `neglabel fetch`"):
        emoji.EmojiBenchmark.load(tmp_path / "nothing")


def test_tampered_download_is_rejected_and_nothing_left(tmp_path, fixture_packages, monkeypatch):
    name = "openmoji"
    bad = NpmPackage(name, fixture_packages[name].version, "sha512-" + "A" * 86 + "==")
    with pytest.raises(FetchError, match=r"does not match the pinned integrity of openmoji@17.0.0: got sha512-"):
        npm_pack(bad, tmp_path / "downloads")
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]


def test_corrupt_cached_tarball_is_fetched_again(tmp_path, fixture_packages):
    pkg = fixture_packages["openmoji"]
    first = npm_pack(pkg, tmp_path / "dl")
    first.write_bytes(b"garbage")
    assert sri_sha512(npm_pack(pkg, tmp_path / "dl")) == pkg.integrity


def test_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(FetchError, match=r"^npm is not installed, and the emoji benchmark's images come from npm packages"):
        npm_pack(NpmPackage("openmoji", "17.0.0", "sha512-x"), tmp_path)


def make_tgz(path, members):
    """A gzipped tar at ``path`` holding ``members`` ({name: bytes}), as an npm package does."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_refuses_paths_out_of_the_target(tmp_path):
    tgz = make_tgz(tmp_path / "evil.tgz", {"package/ok/a.txt": b"ok", "package/../../escaped.txt": b"evil"})
    with pytest.raises(tarfile.OutsideDestinationError):
        extract(tgz, tmp_path / "out", lambda p: True)
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escaped.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_extract_keeps_only_what_is_asked(tmp_path):
    tgz = make_tgz(tmp_path / "p.tgz", {"package/img/a.png": b"x", "package/other/b.txt": b"x"})
    assert extract(tgz, tmp_path / "out", lambda p: p.startswith("img/")) == 1
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["a.png"]


def test_extraction_finished_first_by_another_process_is_kept(tmp_path, monkeypatch):
    """Two builds share a cache: the other one renames its complete folder into place first."""
    import os

    from neglabel_core.data import fetch

    tgz = make_tgz(tmp_path / "p.tgz", {"package/img/a.png": b"mine"})
    real_replace = os.replace

    def other_process_wins(src, dst):
        (tmp_path / "out" / "img").mkdir(parents=True)
        (tmp_path / "out" / "img" / "a.png").write_bytes(b"theirs")
        real_replace(src, dst)

    monkeypatch.setattr(fetch.os, "replace", other_process_wins)
    assert extract(tgz, tmp_path / "out", lambda p: True) == 1
    assert (tmp_path / "out" / "img" / "a.png").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.tgz"]  # no temporary folder left


def test_killed_extraction_is_cleaned_and_folders_follow_the_umask(tmp_path):
    import os
    import subprocess
    import sys

    tgz = make_tgz(tmp_path / "p.tgz", {"package/img/a.png": b"x"})
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True).stdout)
    leftover = tmp_path / f".emoji-datasource-twitter-16.0.0.pid{dead_pid}.abc"  # what kill -9 mid-fetch leaves
    (leftover / "img").mkdir(parents=True)
    (leftover / "img" / "half.png").write_bytes(b"x")
    old = os.umask(0o022)
    try:
        assert extract(tgz, tmp_path / "out", lambda p: True) == 1
    finally:
        os.umask(old)
    assert not leftover.exists()
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755  # not mkdtemp's 0700: a shared cache stays readable


@pytest.mark.parametrize("key", ["raster/../../outside/victim.txt", "/tmp/victim.txt", "packages/..", "index.json",
                                 "raster/link/victim.txt"])
def test_a_tampered_index_names_its_key_and_repair_deletes_nothing_outside(bench, tmp_path, key):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me")
    (bench.root / "raster" / "link").symlink_to(outside)  # a link out of the data folder
    index_path = bench.root / "index.json"
    index = json.loads(index_path.read_text())
    index["files"][key] = [1, "0" * 64]
    index_path.write_text(json.dumps(index))
    if key != "raster/link/victim.txt":  # a link is only resolved where something would be removed
        with pytest.raises(emoji.EmojiDataError, match=rf"^{index_path} lists the file {key!r}, which is not a path "
                                                        r"inside the data folder \(absolute, '\.\.' or outside raster/ and "
                                                        r"packages/\); delete it"):
            emoji.EmojiBenchmark.load(bench.root)
    with pytest.raises(emoji.EmojiDataError, match=rf"^refusing to remove {key!r}: not a path inside the data folder"):
        emoji._discard(bench.root, key)
    if key == "raster/link/victim.txt":  # listed as damaged, and refused where it would be removed
        with pytest.raises(emoji.EmojiDataError, match=rf"^refusing to remove {key!r}"):
            emoji.prepare(bench.root, progress=False, repair=True)
    else:  # the index is refused and rebuilt
        emoji.prepare(bench.root, progress=False, repair=True)
        assert key not in json.loads(index_path.read_text())["files"]
    assert victim.read_text() == "keep me" and bench.root.is_dir()  # nothing outside is touched
