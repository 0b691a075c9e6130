"""Candidate corpora for NegMining: WordNet 3.0 nouns and adjectives (offline, via nltk) and
plain word lists, each word with its part of speech and the prompt that embeds it.

WordNet is found on nltk's data path, else in Debian's ``wordnet-base`` and
``wordnet-sense-index`` files (``/usr/share/wordnet``), which are copied into a data folder under
the project cache (nltk refuses to read outside its data path) together with the ``lexnames``
file Debian lacks. Where neither exists (no root for apt-get), :func:`ensure_wordnet` downloads
nltk's own ``wordnet.zip`` from its pinned address, checks its size and SHA-256 before reading
it, and extracts only plain files inside ``wordnet/``. Every file nltk's reader opens is checked
first (:data:`WORDNET_FILES`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..files import atomic_write_text, cache_root, file_state, sha256_file_kept

log = logging.getLogger(__name__)

DEBIAN_WORDNET = Path("/usr/share/wordnet")
# nltk's WordNet 3.0 package (nltk_data's gh-pages branch), pinned by size and SHA-256; nltk's own
# downloader checks only an MD5 from an index it fetches unpinned.
WORDNET_ZIP_URL = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/wordnet.zip"
WORDNET_ZIP_SHA256 = "cbda5ea6eef7f36a97a43d4a75f85e07fccbb4f23657d27b4ccbc93e2646ab59"
WORDNET_ZIP_BYTES = 10_775_600
# Every file nltk's WordNetCorpusReader opens on the paths this project uses (the constructor
# reads lexnames, index.*, *.exc, data.adj and index.sense; synsets read data.*), with the Debian
# package that ships it. ``lexnames`` is not in Debian's packages: it is written here.
WORDNET_FILES: dict[str, str] = {
    **{f"{kind}.{pos}": "wordnet-base" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")},
    **{f"{pos}.exc": "wordnet-base" for pos in ("noun", "verb", "adj", "adv")},
    "index.sense": "wordnet-sense-index",
}
WORDNET_PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(WORDNET_FILES.values()))


def _install_hint(packages: Sequence[str] = WORDNET_PACKAGES) -> str:
    return (f"install {'it' if len(packages) == 1 else 'them'} with `sudo apt-get install {' '.join(packages)}` "
            "(Debian/Ubuntu; `make` does this where apt-get runs as root) or `python -m nltk.downloader wordnet`")


WORDNET_INSTALL_HINT = _install_hint()

# The 45 WordNet lexicographer files (lexnames(5WN)): number, name, syntactic category
# (1 noun, 2 verb, 3 adjective, 4 adverb).
LEXNAMES: tuple[tuple[str, int], ...] = (
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1),
    ("noun.animal", 1), ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1),
    ("noun.cognition", 1), ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1),
    ("noun.food", 1), ("noun.group", 1), ("noun.location", 1), ("noun.motive", 1),
    ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1), ("noun.plant", 1),
    ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1),
    ("verb.body", 2), ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2),
    ("verb.competition", 2), ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2),
    ("verb.emotion", 2), ("verb.motion", 2), ("verb.perception", 2), ("verb.possession", 2),
    ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2), ("adj.ppl", 3),
)

# Prompts of the official code: "the nice {}" for ID classes and nouns, "This is a {} photo" for adjectives.
OFFICIAL_PROMPTS: dict[str, str] = {"noun": "the nice {}", "adj": "This is a {} photo"}
CLIP_PROMPTS: dict[str, str] = {"noun": "a photo of a {}.", "adj": "a photo of something {}."}
OFFICIAL_EXCLUDED_LEXNAMES: tuple[str, ...] = ("noun.animal", "noun.food")
_WORDNET_POS = {"noun": "n", "adj": "a"}


class WordNetMissingError(FileNotFoundError):
    """WordNet 3.0 data is not installed."""


def _lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(LEXNAMES))


def _prepare_debian_copy(source: Path, data_root: Path) -> None:
    """Copy Debian's WordNet files (~30 MB) into ``data_root/corpora/wordnet`` and add ``lexnames``.
    Links would not do: nltk rejects symlinks out of its data path and multiply-linked files."""
    target = data_root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        dest = target / item.name
        if not item.is_file() or (
            dest.is_file() and not dest.is_symlink() and dest.stat().st_nlink == 1
            and dest.stat().st_size == item.stat().st_size
        ):
            continue
        tmp = target / f".{item.name}.tmp"
        shutil.copyfile(item, tmp)
        os.replace(tmp, dest)
    if not (target / "lexnames").exists():
        atomic_write_text(target / "lexnames", _lexnames_text())


def _check_wordnet_files(folder: Path, where: str) -> None:
    """Raise :class:`WordNetMissingError` naming every file of :data:`WORDNET_FILES` that
    ``folder`` lacks and the package that ships it (nltk's reader would fail later with a bare
    OSError on the first one it opens)."""
    missing = [name for name in WORDNET_FILES if not (folder / name).is_file()]
    if missing:
        packages = tuple(dict.fromkeys(WORDNET_FILES[name] for name in missing))
        listed = ", ".join(f"{name} (package {WORDNET_FILES[name]})" for name in missing)
        raise WordNetMissingError(
            f"WordNet 3.0 {where} at {folder} is incomplete: missing {listed}, which nltk's reader opens; "
            f"{_install_hint(packages)}"
        )


def ensure_wordnet(download: bool = True) -> Path:
    """WordNet 3.0 ready for :func:`load_wordnet`: on nltk's data path or Debian's files, else
    (``download``) nltk's ``wordnet.zip`` fetched from :data:`WORDNET_ZIP_URL` and checked
    against its pinned size and SHA-256 (:func:`download_wordnet`). Raises
    :class:`WordNetMissingError` naming both remedies when neither source works. ``make`` calls
    this where apt-get cannot run as root."""
    try:
        return wordnet_root()
    except WordNetMissingError as first:
        if not download:
            raise
        log.warning("%s; downloading nltk's wordnet.zip (pinned SHA-256)", first)
        data_root = cache_root() / "nltk_data"
        try:
            download_wordnet(data_root)
        except (OSError, ValueError) as exc:
            raise WordNetMissingError(
                f"WordNet 3.0 is not installed and its pinned download failed ({exc}). Either "
                f"`sudo apt-get install {' '.join(WORDNET_PACKAGES)}` (Debian/Ubuntu, as root: `make` does this) "
                f"or, where the internet is reachable, `python -m nltk.downloader wordnet`. First problem: {first}"
            ) from None
        import nltk

        if str(data_root) not in nltk.data.path:
            nltk.data.path.insert(0, str(data_root))
        return wordnet_root()


def download_wordnet(data_root: Path, *, url: str | None = None, sha256: str | None = None,
                     size: int | None = None, timeout_s: float = 60.0) -> Path:
    """Download nltk's ``wordnet.zip`` into ``data_root/corpora/wordnet``: the bytes are checked
    against the pinned size and SHA-256 before the archive is opened, and only regular files
    under ``wordnet/`` with no absolute path and no ``..`` are extracted, into a temporary folder
    renamed into place when complete. Raises ``ValueError`` naming what did not match."""
    import urllib.request

    url, sha256, size = url or WORDNET_ZIP_URL, sha256 or WORDNET_ZIP_SHA256, size or WORDNET_ZIP_BYTES
    corpora = data_root / "corpora"
    corpora.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=corpora, prefix=".wordnet-download-") as tmp:
        archive = Path(tmp) / "wordnet.zip"
        digest, received = hashlib.sha256(), 0
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(archive, "wb") as out:
            while chunk := response.read(1 << 20):
                received += len(chunk)
                if received > size:
                    raise ValueError(f"{url} is larger than the pinned {size:,} bytes")
                digest.update(chunk)
                out.write(chunk)
        if received != size or digest.hexdigest() != sha256:
            raise ValueError(f"{url} does not match its pin: {received:,} bytes, sha256 {digest.hexdigest()}; "
                             f"expected {size:,} bytes, sha256 {sha256}")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = info.filename
                parts = Path(name).parts
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                if name.startswith(("/", "\\")) or ".." in parts or not parts or parts[0] != "wordnet" or is_link:
                    raise ValueError(f"{url}: refusing archive member {name!r} (expected plain files under wordnet/)")
                if not info.is_dir():
                    zf.extract(info, unpacked)
        target = corpora / "wordnet"
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked / "wordnet", target)
    if not (target / "lexnames").exists():
        atomic_write_text(target / "lexnames", _lexnames_text())
    _check_wordnet_files(target, "downloaded")
    return target


def wordnet_root(debian_dir: str | None = None) -> Path:
    """The WordNet 3.0 folder nltk reads: on nltk's data path, else a prepared copy of Debian's
    files (``debian_dir``, default ``/usr/share/wordnet``) under the project cache."""
    import nltk

    source = Path(debian_dir) if debian_dir else DEBIAN_WORDNET
    if debian_dir is None:
        try:
            found = Path(str(nltk.data.find("corpora/wordnet")))
        except LookupError:
            pass
        else:
            if found.is_dir():  # a zip on nltk's path is nltk's own download: complete by construction
                _check_wordnet_files(found, "on nltk's data path")
            return found
    if not (source / "data.noun").is_file():
        raise WordNetMissingError(
            f"WordNet 3.0 not found: not on nltk's data path ({', '.join(map(str, nltk.data.path[:3]))}, ...) "
            f"and no {source}/data.noun; {WORDNET_INSTALL_HINT}"
        )
    _check_wordnet_files(source, "from Debian's packages")
    data_root = cache_root() / "nltk_data"
    _prepare_debian_copy(source, data_root)
    if str(data_root) not in nltk.data.path:
        nltk.data.path.insert(0, str(data_root))
    return Path(str(nltk.data.find("corpora/wordnet")))


@lru_cache(maxsize=4)
def load_wordnet(debian_dir: str | None = None):
    """An nltk ``WordNetCorpusReader`` over WordNet 3.0, found as :func:`wordnet_root` says."""
    return _reader(str(wordnet_root(debian_dir)))


def _reader(root):
    import warnings

    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with warnings.catch_warnings():  # WordNet 3.0 has no multilingual data; nothing here uses it
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        return WordNetCorpusReader(root, None)


@dataclass(frozen=True)
class Corpus:
    """Candidate words with their part of speech (e.g. "noun", "adj", "word") and group
    (WordNet lexname, or the source name for word lists)."""

    words: tuple[str, ...]
    pos: tuple[str, ...]
    groups: tuple[str, ...]
    name: str = "corpus"

    def __post_init__(self) -> None:
        if not (len(self.words) == len(self.pos) == len(self.groups)):
            raise ValueError("words, pos and groups must have equal lengths")
        if not self.words:
            raise ValueError(f"corpus {self.name!r} is empty; expected at least one candidate word")

    def __len__(self) -> int:
        return len(self.words)

    def prompts(self, templates: Mapping[str, str]) -> list[str]:
        """Each word in its part of speech's template (``{}`` marks the word)."""
        missing = sorted(set(self.pos) - set(templates))
        if missing:
            raise ValueError(f"no prompt template for part(s) of speech {missing}; expected keys {sorted(set(self.pos))}")
        return [templates[p].format(w) for w, p in zip(self.words, self.pos)]

    def subset(self, indices: Iterable[int], name: str | None = None) -> Corpus:
        idx = [int(i) for i in indices]
        return Corpus(
            tuple(self.words[i] for i in idx),
            tuple(self.pos[i] for i in idx),
            tuple(self.groups[i] for i in idx),
            name or self.name,
        )

    def without(self, words: Iterable[str], name: str | None = None) -> Corpus:
        """Drop candidates equal (case-insensitively, after stripping) to any of ``words``,
        e.g. the ID class names."""
        drop = {w.strip().lower() for w in words}
        return self.subset([i for i, w in enumerate(self.words) if w.lower() not in drop], name)

    def __add__(self, other: Corpus) -> Corpus:
        return dedup(
            Corpus(self.words + other.words, self.pos + other.pos, self.groups + other.groups, f"{self.name}+{other.name}")
        )


def dedup(corpus: Corpus) -> Corpus:
    """Keep the first occurrence of each word (as the official code: nouns before adjectives)."""
    seen: dict[str, int] = {}
    for i, word in enumerate(corpus.words):
        seen.setdefault(word, i)
    return corpus.subset(sorted(seen.values()))


def _lemma_text(name: str) -> str:
    return name.replace("_", " ").lower()


# One lemma table per data file's SHA-256 (a pure function of it), and the cache entries (digest,
# file state) this process has read and checked, or written, so an unchanged entry is not read again
_LEMMA_TABLES: dict[str, tuple[tuple[str, str, bool], ...]] = {}
_CHECKED_ENTRIES: set[tuple] = set()
_WORDNET_CORPORA: dict[tuple, Corpus] = {}


def wordnet_lemmas(part: str, wordnet_dir: str | None = None) -> list[tuple[str, str, bool]]:
    """Every (lemma text, lexname, first lemma of its synset?) of one part of speech, in
    WordNet's synset order.

    Reading WordNet through nltk takes ~12 s; the table is cached as JSON under
    ``<cache>/corpora``, keyed by the SHA-256 of the ``data.<pos>`` file it came from, so edited
    or replaced WordNet files give a new entry. A cache file that does not parse, or does not
    hold the table it names, is rebuilt: from the table this process read or parsed for the same
    file before, if any (another cache root), else from WordNet.
    """
    if part not in _WORDNET_POS:
        raise ValueError(f"unknown part of speech {part!r}; expected one of {list(_WORDNET_POS)}")
    pos_file = wordnet_root(wordnet_dir) / f"data.{part}"
    digest = sha256_file_kept(pos_file)
    target = cache_root() / "corpora" / f"wordnet-{part}-{digest[:16]}.json"
    try:
        entry = (digest, file_state(target))  # the entry read before, unchanged since: not parsed again
        if entry in _CHECKED_ENTRIES and digest in _LEMMA_TABLES:
            return list(_LEMMA_TABLES[digest])
        cached = json.loads(target.read_text("utf-8"))
        columns = [cached["words"], cached["lexnames"], cached["first"]]
        if cached.get("source_sha256") == digest and len({len(c) for c in columns}) == 1 and columns[0]:
            _LEMMA_TABLES[digest] = table = tuple(zip(*columns))
            _CHECKED_ENTRIES.add(entry)
            return list(table)
        log.warning("WordNet lemma cache %s does not match %s; rebuilding it", target, pos_file)
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("WordNet lemma cache %s is unreadable (%s); rebuilding it", target, exc)
    if digest not in _LEMMA_TABLES:
        wn = load_wordnet(wordnet_dir)
        _LEMMA_TABLES[digest] = tuple((_lemma_text(lemma), synset.lexname(), i == 0)
                                      for synset in wn.all_synsets(_WORDNET_POS[part])
                                      for i, lemma in enumerate(synset.lemma_names()))
    table = list(_LEMMA_TABLES[digest])
    words, lexnames, first = (list(c) for c in zip(*table))
    atomic_write_text(target, json.dumps({"source": str(pos_file), "source_sha256": digest,
                                          "words": words, "lexnames": lexnames, "first": first}))
    _CHECKED_ENTRIES.add((digest, file_state(target)))  # written here: the next call reads the table, not the file
    return table


def wordnet_corpus(
    parts: Sequence[str] = ("noun", "adj"),
    *,
    exclude_lexnames: Sequence[str] = (),
    multiword: bool = True,
    first_lemma_only: bool = False,
    remove: Iterable[str] = (),
    wordnet_dir: str | None = None,
) -> Corpus:
    """WordNet 3.0 lemmas of the given parts of speech ("noun", "adj"), lowercased with
    underscores as spaces, deduplicated across parts (nouns first).

    ``exclude_lexnames``: lexicographer groups to leave out (the official ImageNet setting is
    :data:`OFFICIAL_EXCLUDED_LEXNAMES`); ``multiword=False`` drops lemmas with spaces;
    ``first_lemma_only``: one word per synset, its first lemma (the synset's head word; the
    official code's word files hold these: 58,514 nouns after its exclusions instead of 101,807);
    ``remove``: words to drop, e.g. the ID class names.
    """
    unknown_parts = [p for p in parts if p not in _WORDNET_POS]
    if unknown_parts or not parts:
        raise ValueError(f"unknown part(s) of speech {unknown_parts or list(parts)}; expected some of {list(_WORDNET_POS)}")
    valid = {name for name, _ in LEXNAMES}
    unknown = [x for x in exclude_lexnames if x not in valid]
    if unknown:
        raise ValueError(f"unknown lexname(s) {unknown}; expected WordNet lexnames such as 'noun.animal'")
    excluded = set(exclude_lexnames)
    # the corpus is a function of the data files' content and these options: built once per process
    key = (tuple(parts), tuple(sorted(excluded)), multiword, first_lemma_only,
           tuple(sha256_file_kept(wordnet_root(wordnet_dir) / f"data.{part}") for part in parts))
    if key not in _WORDNET_CORPORA:
        _WORDNET_CORPORA[key] = _wordnet_corpus(parts, excluded, multiword, first_lemma_only, wordnet_dir)
    corpus = _WORDNET_CORPORA[key]
    return corpus.without(remove) if remove else corpus


def _wordnet_corpus(parts: Sequence[str], excluded: set[str], multiword: bool, first_lemma_only: bool,
                    wordnet_dir: str | None) -> Corpus:
    words, pos, groups = [], [], []
    for part in parts:
        for text, lexname, first in wordnet_lemmas(part, wordnet_dir):
            if lexname in excluded or (not multiword and " " in text) or (first_lemma_only and not first):
                continue
            words.append(text)
            pos.append(part)
            groups.append(lexname)
    tag = "+".join(parts) + ("" if not excluded else "-no-" + "-".join(sorted(x.split(".")[1] for x in excluded)))
    tag += "-first-lemmas" if first_lemma_only else ""
    return dedup(Corpus(tuple(words), tuple(pos), tuple(groups), f"wordnet-{tag}"))


def word_list_corpus(words: Iterable[str], *, name: str, pos: str = "noun") -> Corpus:
    """A corpus from any word list (web-text frequencies, a dictionary, concept names): stripped,
    lowercased, deduplicated, every word with part of speech ``pos``."""
    cleaned = [w.strip().lower() for w in words if w and w.strip()]
    if not cleaned:
        raise ValueError(f"word list {name!r} is empty; expected at least one word")
    n = len(cleaned)
    return dedup(Corpus(tuple(cleaned), (pos,) * n, (name,) * n, name))


def read_prompt_list(path: os.PathLike | str, prompts: Mapping[str, str] = OFFICIAL_PROMPTS) -> Corpus:
    """A released list of labels in their prompts (e.g. the official code's
    ``selected_neg_labels_in1k_10k.txt``: "the nice {noun}" lines, then "This is a {adjective}
    photo" lines) as a :class:`Corpus`, in file order. A stray "[" before a word (an artefact of
    the official parsing) is dropped. A line that fits no prompt is an error naming it."""
    patterns = {pos: template.split("{}") for pos, template in prompts.items()}
    words, pos_list = [], []
    lines = Path(path).read_text("utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        for pos, (head, tail) in patterns.items():
            if line.startswith(head) and line.endswith(tail) and len(line) > len(head) + len(tail):
                words.append(line[len(head) : len(line) - len(tail)].lstrip("[").strip().lower())
                pos_list.append(pos)
                break
        else:
            raise ValueError(f"line {number} of {path} is {line!r}; expected one of the prompts {list(prompts.values())}")
    return Corpus(tuple(words), tuple(pos_list), tuple(pos_list), Path(path).stem)


# CSP (Chen et al., NeurIPS 2024), as its official code (the official code: MengyuanChen21/NeurIPS2024-CSP):
# each adjective gets one superclass word from random.choice(CSP_SUPERCLASS_WORDS) after one
# random.seed(0), and the phrase is embedded with CSP_PHRASE_TEMPLATES averaged.
CSP_SUPERCLASS_WORDS = ("environment", "space", "object", "scene", "place", "item", "area", "view", "thing",
                        "pattern", "structure", "landscape", "vista", "creature")
CSP_PHRASE_TEMPLATES = ("{}", "a nice photo of {}", "a good photo of {}", "a close-up photo of {}")
# The official nouns and ID classes: the raw mean of these eight templates, then normalised.
CSP_NOUN_TEMPLATES = ("a close-up photo of the nice {}.", "a photo with the nice {}.", "a good photo with the nice {}.",
                      "a photo of the nice {}.", "{}", "the {}", "the good {}", "the nice {}")
# CSP's lexicon: NegLabel's word files (all adjective and noun lexnames but noun.animal and noun.food) less these four.
CSP_EXCLUDED_LEXNAMES = ("noun.person", "noun.quantity", "noun.group", "adj.pert")
# What the official configuration's lexicon holds (its word files read in sorted order): the check for ours.
CSP_OFFICIAL_COUNTS = {"noun": 46560, "adj": 10060}


def lexname_files(parts: Sequence[str] = ("noun", "adj"), wordnet_dir: str | None = None) -> dict[str, list[str]]:
    """WordNet 3.0 as NegLabel's and CSP's word files hold it: one list per lexicographer file
    (``"adj.all"``, ``"noun.artifact"``, ...), each synset's first lemma (underscores as spaces,
    lowercased), once per file, in WordNet's synset order."""
    files: dict[str, dict[str, None]] = {}
    for part in parts:
        for text, lexname, first in wordnet_lemmas(part, wordnet_dir):
            if first:
                files.setdefault(lexname, {}).setdefault(text)
    return {name: list(words) for name, words in files.items()}


def read_lexname_files(files: Mapping[str, Sequence[str]], *, exclude: Sequence[str] = (),
                       name: str = "lexname-files") -> Corpus:
    """The official readers' rule over word files (CSP's ``multi_modal.py``): the files less
    ``exclude``, read in sorted name order (the ``os.listdir`` order that gives the official
    counts), each line stripped; a word is kept once, from the first file that holds it, with
    that file's part of speech (the name before the dot: ``adj`` or ``noun``). Sorted order reads
    ``adj.*`` before ``noun.*``, so a word that is both stays an adjective."""
    unknown = [x for x in exclude if x not in files]
    if unknown:
        raise ValueError(f"cannot exclude {unknown}: no such word file; expected some of {sorted(files)}")
    words, pos, groups = [], [], []
    seen: set[str] = set()
    for file in sorted(set(files) - set(exclude)):
        part = file.split(".")[0]
        if part not in _WORDNET_POS:
            raise ValueError(f"word file {file!r}: part of speech {part!r}; expected one of {list(_WORDNET_POS)}")
        for line in files[file]:
            word = line.replace("_", " ").strip()
            if word and word not in seen:
                seen.add(word)
                words.append(word)
                pos.append(part)
                groups.append(file)
    return Corpus(tuple(words), tuple(pos), tuple(groups), name)


def csp_lexicon(wordnet_dir: str | None = None) -> Corpus:
    """CSP's lexicon as its official configuration builds it, derived from WordNet 3.0:
    :func:`lexname_files` less noun.animal and noun.food (absent from NegLabel's word files) and
    :data:`CSP_EXCLUDED_LEXNAMES`, read by :func:`read_lexname_files`. It holds 46,446 nouns and
    11,047 adjectives against the official 46,560 and 10,060 (:data:`CSP_OFFICIAL_COUNTS`): the
    official files come from another parse of WordNet (1,056 head adjectives of WordNet 3.0 are
    missing from them, and they carry entries such as "[alveolate"), and within a file their
    order is not WordNet's (``docs/methods.md``, section 5)."""
    files = lexname_files(("noun", "adj"), wordnet_dir)
    exclude = [x for x in (*OFFICIAL_EXCLUDED_LEXNAMES, *CSP_EXCLUDED_LEXNAMES) if x in files]
    return read_lexname_files(files, exclude=exclude, name="csp-lexicon")


def csp_phrases(adjectives: Sequence[str], *, seed: int = 0,
                words: Sequence[str] = CSP_SUPERCLASS_WORDS) -> list[str]:
    """CSP's "modified superclass names": ``"<adjective> <word>"``, one word per adjective drawn in
    order by ``random.Random(seed).choice(words)`` (the same sequence as the official
    ``random.seed(0)`` followed by ``random.choice`` per adjective). The sequence matches the
    official one only where the adjective list does: ours is in WordNet's synset order
    (:func:`csp_lexicon`), the official files are not, so most adjectives draw another word than
    in the official code (``docs/methods.md``, section 5)."""
    if not words:
        raise ValueError("CSP needs at least one superclass word; got none")
    rng = random.Random(seed)
    return [f"{adj} {rng.choice(list(words))}" for adj in adjectives]


def first_sense_under(words: Iterable[str], roots: Sequence[str], wordnet_dir: str | None = None) -> dict[str, str]:
    """The words whose first (most frequent) WordNet noun sense is a hyponym of one of the synsets
    ``roots`` (e.g. ``"animal.n.01"``), each with the root it falls under. Only the first sense
    counts, so "mouse" is an animal but "bank" is not a slope; the root's own word ("food") is
    not its hyponym. An unknown root is an error naming it."""
    wn = load_wordnet(wordnet_dir)
    root_synsets = {}
    for name in roots:
        try:
            root_synsets[wn.synset(name)] = name
        except Exception:  # nltk raises WordNetError or ValueError for a malformed or unknown name
            raise ValueError(f"WordNet synset {name!r} does not exist; expected a name such as 'animal.n.01'") from None
    out = {}
    for word in dict.fromkeys(words):
        senses = wn.synsets(word.replace(" ", "_"), pos="n")
        if not senses:
            continue
        first = senses[0]
        for synset in first.closure(lambda s: s.hypernyms() + s.instance_hypernyms()):
            if synset in root_synsets:
                out[word] = root_synsets[synset]
                break
    return out


def wordnet_nouns(phrases: Iterable[str], wordnet_dir: str | None = None) -> set[str]:
    """The phrases that are WordNet nouns ("christmas tree", "teddy bear", "mount fuji")."""
    wn = load_wordnet(wordnet_dir)
    return {p for p in dict.fromkeys(phrases) if wn.synsets(p.replace(" ", "_"), pos="n")}


def negrefine_clean(word: str) -> str:
    """NegRefine's word cleaning (its official ``_clean_words``): letters, ``_``, ``-`` and spaces kept."""
    return "".join(c for c in word if c.isalpha() or c in "_- ")


def negrefine_filter_reasons(words: Sequence[str], kinds: Sequence[str], nearest_ids: Sequence[Sequence[str]],
                             wordnet_dir: str | None = None) -> dict[int, str]:
    """Which of NegRefine's initial negatives its filter removes (index -> reason), decided from
    WordNet 3.0 **in place of its LLM** (the official filter asks Qwen2.5-14B, for each word,
    whether it is a proper noun and whether it is a subcategory of each of its 10 nearest ID
    labels; offline there is no LLM, so this is a stand-in, not the published filter):

    - cleaning, as the official ``_clean_words``: a word of at most 2 characters after
      :func:`negrefine_clean`, or a repeat, is dropped; a word that cleaning would change is
      dropped too (the official code embeds the cleaned form; we keep embeddings as mined);
    - a proper noun (nouns only; ``kinds[i] == "noun"``): every WordNet noun sense of the word is
      an instance ("Paris") or names it capitalised;
    - the same word as one of its nearest ID labels ``nearest_ids[i]`` (case aside);
    - a subcategory of one of them: a sense of the word's head (the word itself, the last word
      of a CSP phrase "<adjective> <superclass>") has one of the ID label's senses among its
      hypernyms (WordNet's is-a closure, instances included). An ID name WordNet lacks is never
      matched."""
    if not (len(words) == len(kinds) == len(nearest_ids)):
        raise ValueError(f"{len(words)} words, {len(kinds)} kinds and {len(nearest_ids)} nearest-ID lists; "
                         "expected one of each per word")
    wn = load_wordnet(wordnet_dir)
    id_senses: dict[str, set] = {}

    def senses_of(name: str) -> set:
        if name not in id_senses:
            id_senses[name] = set(wn.synsets(name.strip().replace(" ", "_"), pos="n"))
        return id_senses[name]

    reasons: dict[int, str] = {}
    seen: set[str] = set()
    for i, (word, kind, ids) in enumerate(zip(words, kinds, nearest_ids)):
        cleaned = negrefine_clean(word)
        if len(cleaned) <= 2:
            reasons[i] = "2 characters or fewer once cleaned"
            continue
        if cleaned != word:
            reasons[i] = f"changed by cleaning (to {cleaned!r})"
            continue
        if cleaned in seen:
            reasons[i] = "a repeat"
            continue
        seen.add(cleaned)
        lemma = word.replace(" ", "_")
        if kind == "noun":
            senses = wn.synsets(lemma, pos="n")
            if senses and all(s.instance_hypernyms() or any(
                    n.name()[0].isupper() for n in s.lemmas() if n.name().lower() == lemma.lower()) for s in senses):
                reasons[i] = "a proper noun"
                continue
        same = next((c for c in ids if c.strip().lower() == word.lower()), None)
        if same is not None:
            reasons[i] = f"the ID label {same!r} itself"
            continue
        head = lemma if kind == "noun" else lemma.rsplit("_", 1)[-1]
        above = {h for s in wn.synsets(head, pos="n") for h in s.closure(lambda s: s.hypernyms() + s.instance_hypernyms())}
        parent = next((c for c in ids if senses_of(c) & above), None)
        if parent is not None:
            reasons[i] = f"a subcategory of the ID label {parent!r}"
    return reasons
