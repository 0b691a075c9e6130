"""What a new user's machine needs beyond pip: every system file the code reads belongs to a
Debian package the Makefile installs, and a missing one gives our clear error, not nltk's."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from neglabel_core.data import corpus as corpus_mod
from neglabel_core.data.corpus import WORDNET_FILES, WORDNET_PACKAGES, WordNetMissingError, ensure_wordnet, load_wordnet
from neglabel_core.site import browser_check

ROOT = Path(__file__).resolve().parents[1]
HAS_DPKG = shutil.which("dpkg") is not None
DEBIAN_WORDNET_PRESENT = (corpus_mod.DEBIAN_WORDNET / "data.noun").is_file()


def makefile_packages() -> list[str]:
    (line,) = re.findall(r"^APT_PACKAGES := (.+)$", (ROOT / "Makefile").read_text(), flags=re.M)
    return line.split()


def dpkg_owner(path: str) -> str:
    """The Debian package that ships ``path`` (a file or a glob such as ``*/libcairo.so.2``)."""
    done = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    assert done.returncode == 0, f"no Debian package ships {path}: {done.stderr.strip()}"
    return done.stdout.splitlines()[0].split(":")[0]


def fake_wordnet(folder: Path, without: tuple[str, ...] = ()) -> Path:
    """A folder holding (empty) files under every name nltk's reader opens, less ``without``."""
    folder.mkdir(parents=True)
    for name in WORDNET_FILES:
        if name not in without:
            (folder / name).write_text("")
    return folder


def test_wordnet_packages_are_installed_by_the_makefile():
    assert WORDNET_PACKAGES == ("wordnet-base", "wordnet-sense-index")
    assert set(WORDNET_PACKAGES) <= set(makefile_packages())


def test_debian_wordnet_without_index_sense_names_the_file_and_package(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "no-nltk-data")])
    source = fake_wordnet(tmp_path / "wordnet", without=("index.sense",))
    with pytest.raises(WordNetMissingError) as info:
        load_wordnet.__wrapped__(str(source))
    assert str(info.value) == (
        f"WordNet 3.0 from Debian's packages at {source} is incomplete: missing index.sense (package "
        "wordnet-sense-index), which nltk's reader opens; install it with `sudo apt-get install "
        "wordnet-sense-index` (Debian/Ubuntu; `make` does this where apt-get runs as root) or "
        "`python -m nltk.downloader wordnet`"
    )
    assert not (tmp_path / "cache" / "nltk_data").exists()  # nothing prepared from an incomplete source


def test_incomplete_wordnet_on_nltk_path_is_reported_with_every_missing_file(tmp_path, monkeypatch):
    import nltk

    data = tmp_path / "nltk_data"
    folder = fake_wordnet(data / "corpora" / "wordnet", without=("index.sense", "verb.exc"))
    monkeypatch.setattr(nltk.data, "path", [str(data)])
    with pytest.raises(WordNetMissingError, match=re.escape(
        f"WordNet 3.0 on nltk's data path at {folder} is incomplete: missing verb.exc (package "
        "wordnet-base), index.sense (package wordnet-sense-index), which nltk's reader opens; install them with "
        "`sudo apt-get install wordnet-base wordnet-sense-index`"
    )):
        corpus_mod.wordnet_root()


@pytest.fixture
def no_wordnet_anywhere(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    monkeypatch.setattr(corpus_mod, "DEBIAN_WORDNET", tmp_path / "no-debian-wordnet")
    return tmp_path / "nltk_data"


def _wordnet_zip(path: Path, members: dict[str, bytes]) -> tuple[str, str, int]:
    """A zip at ``path`` holding ``members``; returns its file:// URL, SHA-256 and size."""
    import hashlib
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data = path.read_bytes()
    return path.as_uri(), hashlib.sha256(data).hexdigest(), len(data)


def _pin(monkeypatch, url: str, sha256: str, size: int) -> None:
    monkeypatch.setattr(corpus_mod, "WORDNET_ZIP_URL", url)
    monkeypatch.setattr(corpus_mod, "WORDNET_ZIP_SHA256", sha256)
    monkeypatch.setattr(corpus_mod, "WORDNET_ZIP_BYTES", size)


def test_wordnet_pin_is_nltks_published_file():
    assert corpus_mod.WORDNET_ZIP_URL.endswith("/nltk_data/gh-pages/packages/corpora/wordnet.zip")
    assert corpus_mod.WORDNET_ZIP_SHA256 == "cbda5ea6eef7f36a97a43d4a75f85e07fccbb4f23657d27b4ccbc93e2646ab59"
    assert corpus_mod.WORDNET_ZIP_BYTES == 10_775_600


def test_fallback_when_neither_source_works_names_both_remedies(no_wordnet_anywhere, monkeypatch, tmp_path):
    import nltk

    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(nltk, "download", lambda *a, **k: pytest.fail("nltk's unpinned downloader was called"))
    _pin(monkeypatch, (tmp_path / "offline.zip").as_uri(), "0" * 64, 100)  # nothing there: as offline
    with pytest.raises(WordNetMissingError) as info:
        ensure_wordnet()
    message = str(info.value)
    assert message.startswith("WordNet 3.0 is not installed and its pinned download failed (<urlopen error ")
    assert message.endswith(
        "). Either `sudo apt-get install wordnet-base wordnet-sense-index` (Debian/Ubuntu, as root: `make` does this) or, "
        "where the internet is reachable, `python -m nltk.downloader wordnet`. First problem: WordNet 3.0 not found: "
        f"not on nltk's data path ({no_wordnet_anywhere}, ...) and no {tmp_path / 'no-debian-wordnet'}/data.noun; "
        + corpus_mod.WORDNET_INSTALL_HINT)
    with pytest.raises(WordNetMissingError, match="^WordNet 3.0 not found: "):
        ensure_wordnet(download=False)


def test_fallback_extracts_the_pinned_zip_into_the_cache(no_wordnet_anywhere, monkeypatch, tmp_path):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "cache"))
    members = {f"wordnet/{name}": b"" for name in WORDNET_FILES}
    _pin(monkeypatch, *_wordnet_zip(tmp_path / "wordnet.zip", {"wordnet/": b"", **members}))
    found = ensure_wordnet()
    assert found == tmp_path / "cache" / "nltk_data" / "corpora" / "wordnet"
    assert sorted(p.name for p in found.iterdir()) == sorted([*WORDNET_FILES, "lexnames"])  # lexnames written beside
    assert [p.name for p in found.parent.iterdir()] == ["wordnet"]  # no temporary folder left


def test_a_download_that_differs_from_its_pin_is_not_opened(tmp_path):
    url, sha256, size = _wordnet_zip(tmp_path / "wordnet.zip", {"wordnet/data.noun": b"tampered"})
    with pytest.raises(ValueError) as info:
        corpus_mod.download_wordnet(tmp_path / "data", url=url, sha256="a" * 64, size=size)
    assert str(info.value) == (f"{url} does not match its pin: {size:,} bytes, sha256 {sha256}; "
                               f"expected {size:,} bytes, sha256 {'a' * 64}")
    with pytest.raises(ValueError, match=re.escape(f"{url} is larger than the pinned {size - 1:,} bytes")):
        corpus_mod.download_wordnet(tmp_path / "data", url=url, sha256=sha256, size=size - 1)
    assert list((tmp_path / "data" / "corpora").iterdir()) == []


@pytest.mark.parametrize("member", ["wordnet/../../outside.txt", "/etc/wordnet", "elsewhere/data.noun"])
def test_an_archive_member_outside_wordnet_is_refused(tmp_path, member):
    url, sha256, size = _wordnet_zip(tmp_path / "wordnet.zip", {"wordnet/data.noun": b"", member: b"x"})
    with pytest.raises(ValueError) as info:
        corpus_mod.download_wordnet(tmp_path / "a" / "data", url=url, sha256=sha256, size=size)
    assert str(info.value) == f"{url}: refusing archive member {member!r} (expected plain files under wordnet/)"
    assert list((tmp_path / "a" / "data" / "corpora").iterdir()) == []
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "a" / "outside.txt").exists()


def test_makefile_falls_back_to_nltk_when_not_root(tmp_path):
    """The Makefile's non-root branch: it names what is missing and prepares WordNet through
    ``ensure_wordnet`` (which finds the installed copy here; no download)."""
    if not DEBIAN_WORDNET_PRESENT:
        pytest.skip("Debian's WordNet is not installed: the fallback would download")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake_bin / "id").chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "NEGLABEL_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    done = subprocess.run(["make", "-s", "system-deps", "APT_PACKAGES=no-such-package-nl"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "missing system packages: no-such-package-nl (install them with your package manager)" in done.stdout
    assert (tmp_path / "cache" / "nltk_data" / "corpora" / "wordnet" / "index.sense").is_file()


@pytest.mark.skipif(not (HAS_DPKG and DEBIAN_WORDNET_PRESENT), reason="needs dpkg and Debian's WordNet")
def test_every_wordnet_file_the_reader_opens_comes_from_a_makefile_package(monkeypatch):
    from nltk.corpus.reader.api import CorpusReader

    opened = []
    real_open = CorpusReader.open
    monkeypatch.setattr(CorpusReader, "open", lambda self, fileid: opened.append(fileid) or real_open(self, fileid))
    wn = load_wordnet.__wrapped__(str(corpus_mod.DEBIAN_WORDNET))
    for part in ("n", "a"):  # what wordnet_lemmas reads: synsets, their lexnames and lemma names
        synset = next(iter(wn.all_synsets(part)))
        assert synset.lexname() and synset.lemma_names()
    wn.synset("dog.n.01")
    opened = sorted(set(opened) - {"lexnames"})  # lexnames is written by corpus.py
    assert "index.sense" in opened and "data.noun" in opened
    assert set(opened) <= set(WORDNET_FILES), f"nltk opens files WORDNET_FILES does not list: {set(opened) - set(WORDNET_FILES)}"
    for name in WORDNET_FILES:
        assert dpkg_owner(str(corpus_mod.DEBIAN_WORDNET / name)) == WORDNET_FILES[name], name
    assert {WORDNET_FILES[name] for name in opened} <= set(makefile_packages())


@pytest.mark.skipif(not HAS_DPKG, reason="needs dpkg")
def test_browser_and_cairo_come_from_makefile_packages():
    import cairocffi  # noqa: F401  (loads libcairo)

    maps = Path("/proc/self/maps").read_text()
    (cairo,) = sorted({line.split()[-1] for line in maps.splitlines() if "/libcairo.so.2" in line})
    owners = {dpkg_owner("*/" + Path(cairo).resolve().name), dpkg_owner(browser_check.find_chromium())}
    assert owners == {"libcairo2", "chromium"}
    assert owners <= set(makefile_packages())


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_book_passes_a_profile_path_with_spaces_and_quotes_as_one_argument():
    import shlex

    done = subprocess.run(["make", "-n", "--no-print-directory", "book", "PROFILE=my data/it's profile.json",
                           "DATA_ROOT=/data root"], cwd=ROOT, capture_output=True, text=True, check=True)
    (line,) = [line for line in done.stdout.splitlines() if "neglabel book" in line]
    assert shlex.split(line)[1:] == ["book", "--profile", "my data/it's profile.json", "--data-root", "/data root"]
