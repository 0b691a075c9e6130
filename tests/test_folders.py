"""A reader's own benchmark (kind "folders"): the emoji profile's numbers again when its images
are laid out as folders, init-profile, every bad input with its exact message, photos as CLIP's
preprocessing expects them, and a model of the reader's own from a file."""

import io
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neglabel_core import cli
from neglabel_core.data import folders
from neglabel_core.data.benchmarks import benchmark_data
from neglabel_core.data.images import CorruptImageError, DataNotFoundError, load_rgb, load_rgba
from neglabel_core.models.embed import image_payload
from neglabel_core.profiles import available_profiles, load_profile

from .folders_fixture import folders_from
from .test_end_to_end import REAL_DATA, SMALL

COLORS = ["red", "green", "blue", "orange", "purple", "black"]


def _image(path: Path, color: str = "red", *, mode: str = "RGB", size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size), color if mode in ("RGB", "RGBA") else 0).save(path)
    return path


@pytest.fixture
def layout(tmp_path):
    """Three ID classes (one with images two folders deep), a flat OOD set, an OOD set with class
    folders, a shift set; unicode and spaces in the paths."""
    root = tmp_path / "my data ü"
    for i, cls in enumerate(["golden_retriever", "tabby cat", "Ära"]):
        for j in range(2):
            _image(root / "id" / cls / ("deep/er" if j else "") / f"{j} ü.png", COLORS[i])
            _image(root / "sketch" / cls / f"{j}.png", COLORS[i + 3])
    for j in range(3):
        _image(root / "ood" / "flat" / f"{j}.jpg", "white")
        _image(root / "ood" / "things" / ("rock_piles" if j else "cars") / f"{j}.png", "gray")
    return root


def _spec(root: Path, **extra) -> dict:
    return {"kind": "folders", "root": str(root), "id": {"path": "id"},
            "ood": {"flat": {"path": "ood/flat"}, "things": {"path": "ood/things"}}, **extra}


def test_folders_are_read_as_classes_sets_and_concepts(layout):
    sets = folders.load_folders(layout, _spec(layout, shift={"sketch": {"path": "sketch"}}))
    assert sets.class_names == ["golden retriever", "tabby cat", "Ära"]
    assert sets.id.labels == [0, 0, 1, 1, 2, 2] and sets.id.units[:2] == ["golden_retriever", "golden_retriever"]
    assert Path(sets.id.paths[1]).parts[-3:] == ("deep", "er", "1 ü.png")
    assert sets.ood["flat"].units == ["flat/0.jpg", "flat/1.jpg", "flat/2.jpg"]  # flat: each image its own unit
    assert sets.ood["things"].units == ["things/cars", "things/rock_piles", "things/rock_piles"]
    assert sets.concepts["things/rock_piles"] == {"name": "rock piles"} and sets.concepts["tabby cat"] == {"name": "tabby cat"}
    assert sets.shift["sketch"].labels == [0, 0, 1, 1, 2, 2]


def test_a_names_file_gives_the_classes_their_names(layout):
    (layout / "names.tsv").write_text("golden_retriever\tgolden retriever dog\nÄra\tera\n", "utf-8")
    assert folders.load_folders(layout, _spec(layout, id={"path": "id", "names": "names.tsv"})).class_names == [
        "golden retriever dog", "tabby cat", "era"]
    (layout / "names.csv").write_text("folder,name\ntabby cat,\"cat, tabby\"\n", "utf-8")
    assert folders.load_folders(layout, _spec(layout, id={"path": "id", "names": "names.csv"})).class_names[1] == "cat, tabby"


def test_skipped_files_are_counted(layout, caplog):
    (layout / "id" / "tabby cat" / "notes.txt").write_text("not an image")
    (layout / "id" / "tabby cat" / "empty.jpg").write_bytes(b"")
    (layout / "id" / "tabby cat" / ".DS_Store").write_bytes(b"x")
    (layout / "ood" / "flat" / "fake.jpg").write_text("a text file named like an image")
    with caplog.at_level(logging.WARNING):
        sets = folders.load_folders(layout, _spec(layout))
    assert len(sets.id) == 6 and len(sets.ood["flat"]) == 3
    assert sets.skipped == {"zero-byte files": 1, "files that are not images": 1, "unreadable image files": 1}
    assert f"skipped unreadable image file(s) {layout / 'ood' / 'flat' / 'fake.jpg'}" in caplog.text
    assert f"skipped 1 zero-byte files, 1 files that are not images, 1 unreadable image files under {layout}" in caplog.text


def test_symlink_loops_are_not_followed(layout):
    os.symlink(layout / "id", layout / "id" / "tabby cat" / "loop", target_is_directory=True)
    assert len(folders.load_folders(layout, _spec(layout)).id) == 6


def test_every_problem_is_named_at_once_before_any_model_runs(layout):
    (layout / "id" / "empty class").mkdir()
    (layout / "id" / "golden retriever").mkdir()  # maps to the same name as golden_retriever
    _image(layout / "id" / "golden retriever" / "x.png")
    (layout / "ood" / "none").mkdir()
    (layout / "ood" / "none" / "readme.txt").write_text("no images")
    (layout / "names.tsv").write_text("tabby cat\tcat\nnot_there\tghost\n")
    spec = _spec(layout, id={"path": "id", "names": "names.tsv"},
                 ood={"none": {"path": "ood/none"}, "missing": {"path": "ood/missing"}})
    with pytest.raises(DataNotFoundError) as caught:
        folders.load_folders(layout, spec)
    assert str(caught.value) == "\n    ".join([
        f"the folders benchmark under {str(layout)!r} is not usable:",
        f"names file {layout / 'names.tsv'} names folder(s) ['not_there'] that are not class folders of the ID set; "
        "expected some of ['empty class', 'golden retriever', 'golden_retriever', 'tabby cat', 'Ära']",
        "ID folders ['golden retriever', 'golden_retriever'] all map to the class name 'golden retriever'; expected one "
        "folder per class (merge them, or name them apart in the names file)",
        f"ID class folder {str(layout / 'id' / 'empty class')!r} holds no images; expected image files "
        "(.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff) anywhere below it",
        f"OOD set 'none': {str(layout / 'ood' / 'none')!r} holds no images; expected image files "
        "(.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff), flat or in class sub-folders",
        f"OOD set 'missing': folder {str(layout / 'ood' / 'missing')!r} does not exist",
    ])


@pytest.mark.parametrize("root, message", [
    (None, "no data root for the folders benchmark: set \"benchmark\": {\"root\": DIR} in the profile (relative to the "
           "profile file) or pass --data-root DIR"),
    ("/nonexistent/data", "data root '/nonexistent/data' does not exist; expected the folder that holds the benchmark's "
                          "id/ and OOD folders"),
])
def test_a_missing_root_is_named(root, message):
    with pytest.raises(DataNotFoundError) as caught:
        folders.load_folders(root, {"id": {"path": "id"}, "ood": {}})
    assert str(caught.value) == message


def test_near_sets_must_be_ood_sets(layout, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"extends": "emoji-tiny", "benchmark": {**_spec(layout), "near": ["things", "cars"]}}))
    with pytest.raises(DataNotFoundError, match=r"^benchmark.near names \['cars'\], which are not OOD sets; expected "
                                                r"some of \['flat', 'things'\]$"):
        benchmark_data(load_profile(path))


def test_a_profiles_relative_root_is_read_from_its_folder(layout, tmp_path, monkeypatch):
    path = layout.parent / "profiles" / "mine.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"extends": "emoji-tiny", "benchmark": {**_spec(layout), "root": "../my data ü"}}))
    monkeypatch.chdir(tmp_path.parent)
    profile = load_profile(path)
    assert profile.benchmark["root"] == str(layout.resolve()) and "split" not in profile.benchmark
    assert benchmark_data(profile).class_names == ["golden retriever", "tabby cat", "Ära"]


# ---------------------------------------------------------------- images as CLIP expects them


def test_photos_are_read_as_clip_expects(tmp_path):
    cmyk = _image(tmp_path / "cmyk.jpg", mode="CMYK")
    assert load_rgb(cmyk).mode == "RGB"
    sixteen = tmp_path / "16bit.png"
    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(sixteen)
    assert Image.open(sixteen).mode == "I;16" and np.asarray(load_rgb(sixteen))[0, 0].tolist() == [128, 128, 128]
    alpha = tmp_path / "alpha.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(alpha)
    assert np.asarray(load_rgb(alpha))[0, 0].tolist() == [255, 255, 255]  # transparent on white
    palette = tmp_path / "p.gif"
    Image.new("RGB", (4, 4), "blue").convert("P").save(palette)
    assert np.asarray(load_rgb(palette))[0, 0].tolist() == [0, 0, 255]
    rotated = tmp_path / "phone.jpg"
    image = Image.new("RGB", (40, 20), "green")
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    image.save(rotated, exif=exif)
    assert load_rgb(rotated).size == (20, 40)


def test_bad_images_are_named(tmp_path, monkeypatch):
    truncated = tmp_path / "cut.png"
    _image(tmp_path / "whole.png", size=64)
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(CorruptImageError, match=rf"^cannot decode image '{truncated}': .*; expected a readable image file$"):
        load_rgb(truncated)
    text = tmp_path / "fake.jpg"
    text.write_text("not an image")
    with pytest.raises(CorruptImageError, match=rf"^cannot decode image '{text}'"):
        load_rgb(text)
    big = _image(tmp_path / "big.png", size=200)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 200 x 200 is more than twice this: a bomb
    with pytest.raises(CorruptImageError, match=rf"^image '{big}' is too large to decode safely \(.*\); expected at most "
                                                r"1,000 pixels"):
        load_rgb(big)
    # Between the limit and twice it Pillow only warns: refused from the header all the same.
    over = _image(tmp_path / "over.png", size=40)
    for load in (load_rgb, load_rgba):
        with pytest.raises(CorruptImageError, match=rf"^image '{over}' is 40 x 40 = 1,600 pixels; expected at most 1,000 "):
            load(over)
    monkeypatch.undo()
    thin = tmp_path / "thin.png"
    Image.new("L", (1_000_000, 1)).save(thin)  # a few KB that a resize to 224 px would make 224 M pixels
    for load in (load_rgb, load_rgba):
        with pytest.raises(CorruptImageError, match=rf"^image '{thin}' is 1,000,000 x 1 pixels; expected sides at most "
                                                    r"100 times as long as each other$"):
            load(thin)



def _photo(path: Path, size: int = 300) -> bytes:
    """A noisy JPEG (a long scan) with a thumbnail, a complete JPEG with its own end-of-image
    marker, in an APP1 segment before the main image's first scan (as EXIF carries one)."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    thumbnail, main = io.BytesIO(), io.BytesIO()
    image.resize((40, 40)).save(thumbnail, "JPEG")
    image.save(main, "JPEG")
    app1 = b"Exif\0\0" + thumbnail.getvalue()
    data = main.getvalue()
    data = data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("size", [60, 300])
def test_jpeg_and_png_files_cut_short_are_found_from_their_bytes(tmp_path, size):
    photo = tmp_path / "photo.jpg"
    data = _photo(photo, size)
    assert b"\xff\xd9" in data[:folders._jpeg_first_scan(data)]  # the thumbnail's own end marker, before the scan
    assert not folders.cut_short(photo, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 3 // 4])
    assert folders.cut_short(cut, "JPEG")
    with pytest.raises(CorruptImageError):  # what reading it would have said, mid-run
        load_rgb(cut)
    motion = tmp_path / "motion.jpg"  # a motion photo: a video appended after the image
    motion.write_bytes(data + bytes(np.random.default_rng(1).integers(0, 255, 200_000, dtype=np.uint8)).replace(b"\xff", b"\x00"))
    assert not folders.cut_short(motion, "JPEG")
    png = _image(tmp_path / "whole.png", size=size)
    assert not folders.cut_short(png, "PNG")
    (tmp_path / "cut.png").write_bytes(png.read_bytes()[:-5])
    assert folders.cut_short(tmp_path / "cut.png", "PNG")
    assert not folders.cut_short(png, "GIF")  # other formats: named when read


def test_images_cut_short_are_skipped_and_named_up_front(layout, caplog):
    whole = (layout / "id" / "tabby cat").glob("*")
    victim = sorted(p for p in whole if p.suffix in (".png", ".jpg"))[0]
    victim.write_bytes(victim.read_bytes()[:-20])
    with caplog.at_level(logging.WARNING):
        sets = folders.load_folders(layout, _spec(layout))
    assert len(sets.id) == 5 and sets.skipped == {"image files cut short": 1}
    assert f"skipped image file(s) cut short (the file ends before the image) {victim}" in caplog.text
    assert str(victim) not in sets.id.paths

def test_a_changed_image_changes_the_cache_key(layout):
    class Model:
        identity = {"model": "m"}

    sets = folders.load_folders(layout, _spec(layout))
    before = image_payload(Model(), sets.id, None)
    path = Path(sets.id.paths[0])
    _image(path, "yellow")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert image_payload(Model(), sets.id, None) != before


# ---------------------------------------------------------------- init-profile and the whole table


def test_init_profile_writes_a_checked_profile(layout, capsys, tmp_path):
    out = tmp_path / "profiles" / "mine.json"
    assert cli.main(["init-profile", "--id", str(layout / "id"), "--ood", f"flat={layout / 'ood' / 'flat'}",
                     "--ood", f"things={layout / 'ood' / 'things'}", "--shift", f"sketch={layout / 'sketch'}",
                     "--near", "things", "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("found 3 ID classes (6 images); OOD sets: flat 3, things 3; shift sets: sketch 6\n")
    written = json.loads(out.read_text("utf-8"))
    assert written["benchmark"]["root"] == "../my data ü" and written["extends"] == "emoji-tiny"
    profile = load_profile(out)
    assert profile.benchmark["near"] == ["things"] and benchmark_data(profile).near == ["things"]
    assert cli.main(["init-profile", "--id", str(layout / "id"), "--ood", "flat"]) == 2
    assert capsys.readouterr().err == ("neglabel: error: --ood 'flat': expected NAME=FOLDER, e.g. --ood "
                                       "textures=data/ood/textures\n")
    assert cli.main(["init-profile", "--id", str(layout / "id")]) == 2
    assert capsys.readouterr().err == "neglabel: error: init-profile needs at least one --ood NAME=FOLDER\n"


@pytest.mark.slow
def test_a_folders_copy_of_the_emoji_benchmark_gives_the_emoji_profiles_table(tmp_path, monkeypatch, capsys):
    """The emoji profile's own ID classes, OOD sets and shift sets laid out as folders (a names
    file for the class names), through init-profile and evaluate: every number is the emoji
    profile's, and the model (trained here) is the same checkpoint."""
    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)
    small = {**SMALL, "benchmark": {k: v for k, v in SMALL["benchmark"].items() if k != "train_groups"}}
    emoji_path = tmp_path / "small.json"
    emoji_path.write_text(load_profile("emoji-tiny", small).to_json())
    assert cli.main(["evaluate", "--profile", str(emoji_path), "--json", "--quiet"]) == 0
    expected = json.loads(capsys.readouterr().out)
    made = folders_from(benchmark_data(load_profile(emoji_path)), tmp_path / "bench")
    first_class = sorted(made["id"].iterdir())[0]  # what a real folder holds besides its images: skipped, counted
    (first_class / "notes.txt").write_text("not an image")
    (first_class / "empty.png").write_bytes(b"")
    (first_class / "broken.jpg").write_bytes(b"\xff\xd8 not a JPEG")
    mine = tmp_path / "mine.json"
    argv = ["init-profile", "--id", str(made["id"]), "--names", str(made["names"]), "--extends", str(emoji_path),
            "--output", str(mine)]
    for kind in ("ood", "shift"):
        for name, folder in made[kind].items():
            argv += [f"--{kind}", f"{name}={folder}"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", "--profile", str(mine), "--json", "--quiet"]) == 0
    got = json.loads(capsys.readouterr().out)
    for key in ("results", "id_top1", "id_classes", "id_images", "ood_images", "corpus", "params", "model"):
        assert got[key] == expected[key], key


def test_a_model_of_the_readers_own_from_a_file(layout, tmp_path, tiny_model_name, capsys):
    """An open_clip config with random weights saved to disk: the pipeline runs on the folders
    profile and the model's identity (the embeddings' cache key) names the weights by hash."""
    from neglabel_core.files import sha256_file
    from neglabel_core.models import load_model

    weights = tmp_path / "my weights.pt"
    torch.save({"state_dict": load_model(tiny_model_name, None, device="cpu").model.state_dict()}, weights)
    profile = tmp_path / "mine.json"
    profile.write_text(json.dumps({
        "extends": "emoji-tiny", "name": "mine", "model": {"name": tiny_model_name, "pretrained": str(weights)},
        "benchmark": _spec(layout), "corpus": {"sample": 60}, "params": {"m": 20, "n_groups": 4}}))
    assert cli.main(["evaluate", "--profile", str(profile), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"]["weights_sha256"] == sha256_file(weights) and result["model"]["model"] == tiny_model_name
    assert result["id_classes"] == 3 and result["ood_images"] == {"flat": 3, "things": 3}
    assert set(result["results"]["average"]) == {"neglabel", "mcm", "max_cos", "energy"}


@pytest.mark.parametrize("kind, message", [
    ("empty.safetensors", "is empty; expected a state dict saved by torch.save or safetensors"),
    ("damaged.safetensors", r"is not a readable safetensors file \(Error while deserializing header: .*\); expected"),
    ("text.pt", r"cannot be read by torch.load \(\w+\); expected a state dict"),
    ("objects.pt", r"holds Python objects other than tensors, which are never unpickled \(they could run code\); expected"),
])
def test_an_unreadable_weights_file_is_one_line_before_any_work(layout, tmp_path, tiny_model_name, capsys, monkeypatch,
                                                                kind, message):
    import pickle

    from neglabel_core.pipeline import embedded

    weights = tmp_path / kind
    ran = tmp_path / "ran"
    content = {"empty.safetensors": b"", "damaged.safetensors": b"\x10\0\0\0\0\0\0\0{not json}xxxxxx",
               "text.pt": b"hello\n",
               "objects.pt": pickle.dumps({"x": (open, (str(ran), "w"))})}[kind]  # an object that would make a file
    weights.write_bytes(content)
    monkeypatch.setattr(embedded, "benchmark_data", lambda *a, **k: pytest.fail("work started before the weights check"))
    profile = tmp_path / "mine.json"
    profile.write_text(json.dumps({"extends": "emoji-tiny", "name": "mine", "benchmark": _spec(layout),
                                   "model": {"name": tiny_model_name, "pretrained": str(weights)}}))
    assert cli.main(["evaluate", "--profile", str(profile), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"neglabel: error: checkpoint file '{re.escape(str(weights))}' {message}.*\n", err), err
    assert "weights_only" not in err and len(err.splitlines()) == 1 and not ran.exists()


def test_init_profile_reads_extends_from_where_the_user_stands_and_names_the_users_profile(layout, capsys, tmp_path,
                                                                                          monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "base.json").write_text(json.dumps({"extends": "emoji-tiny", "name": "base", "params": {"m": 40, "n_groups": 4}}))
    monkeypatch.chdir(work)
    out = tmp_path / "profiles" / "mine.json"
    ood = ["--ood", f"flat={layout / 'ood' / 'flat'}"]
    assert cli.main(["init-profile", "--id", str(layout / "id"), *ood, "--extends", "base.json", "--output", str(out)]) == 0
    capsys.readouterr()
    assert json.loads(out.read_text("utf-8"))["extends"] == "../work/base.json"
    assert load_profile(out).params["m"] == 40
    assert cli.main(["init-profile", "--id", str(layout / "id"), *ood, "--extends", "nothere.json"]) == 2
    assert capsys.readouterr().err == (f"neglabel: error: --extends 'nothere.json': no profile file at {work / 'nothere.json'}"
                                       f"; expected a built-in profile (one of {available_profiles()}) or a JSON file\n")
    assert cli.main(["init-profile", "--id", str(layout / "id"), "--ood", f"average={layout / 'ood' / 'flat'}",
                     "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"neglabel: error: the profile for {out} is invalid:") and "/tmp" not in err.replace(str(out), "")


def test_names_that_are_not_utf8_and_ood_folders_that_are_id_are_named(layout):
    bad = os.fsencode(layout / "id" / "tabby cat") + b"/caf\xe9.png"  # Latin-1 bytes, not UTF-8
    with open(bad, "wb") as handle:
        handle.write((layout / "id" / "tabby cat" / "0 ü.png").read_bytes())
    spec = _spec(layout, ood={"flat": {"path": "ood/flat"}, "same": {"path": "id"}, "one class": {"path": "id/Ära"}})
    with pytest.raises(DataNotFoundError) as caught:
        folders.load_folders(layout, spec)
    problems = str(caught.value).split("\n    ")[1:]
    assert problems == [
        f"1 file or folder name(s) under {str(layout / 'id' / 'tabby cat')!r} are not UTF-8 text, e.g. {bad!r}; expected "
        "UTF-8 names (rename them)",
        f"OOD set 'same': folder {str(layout / 'id')!r} is, holds or lies inside the ID folder {str(layout / 'id')!r}; "
        "expected images of concepts that are not ID classes",
        f"OOD set 'one class': folder {str(layout / 'id' / 'Ära')!r} is, holds or lies inside the ID folder "
        f"{str(layout / 'id')!r}; expected images of concepts that are not ID classes"]
