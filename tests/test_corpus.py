import json
from collections import Counter

import pytest

from neglabel_core.data import corpus as corpus_mod
from neglabel_core.data.corpus import (
    LEXNAMES,
    OFFICIAL_EXCLUDED_LEXNAMES,
    OFFICIAL_PROMPTS,
    Corpus,
    WordNetMissingError,
    load_wordnet,
    word_list_corpus,
    wordnet_corpus,
)
from neglabel_core.files import sha256_file


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wordnet-cache")


@pytest.fixture
def wn_env(shared_cache, monkeypatch):
    monkeypatch.setenv("NEGLABEL_CACHE", str(shared_cache))


@pytest.fixture(scope="module")
def full(shared_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEGLABEL_CACHE", str(shared_cache))
        return wordnet_corpus()


def test_lexnames_table_is_wordnet_30():
    assert len(LEXNAMES) == 45
    assert LEXNAMES[5] == ("noun.animal", 1) and LEXNAMES[13] == ("noun.food", 1) and LEXNAMES[44] == ("adj.ppl", 3)
    assert Counter(c for _, c in LEXNAMES) == {1: 26, 2: 15, 3: 3, 4: 1}


@pytest.mark.slow
def test_full_wordnet_counts(full):
    # WordNet 3.0: 117,798 noun lemmas; 21,479 adjective lemmas of which 18,341 are not also nouns.
    assert Counter(full.pos) == {"noun": 117798, "adj": 18341}
    assert len(set(full.words)) == len(full)
    assert full.words[:3] == ("entity", "physical entity", "abstraction")
    assert "federal home loan mortgage corporation" in full.words  # lowercased, underscores as spaces


@pytest.mark.slow
def test_official_lexname_exclusions(full, wn_env):
    official = wordnet_corpus(exclude_lexnames=OFFICIAL_EXCLUDED_LEXNAMES)
    assert not {"noun.animal", "noun.food"} & set(official.groups)
    assert "noun.plant" in set(official.groups)
    assert len(official) < len(full)
    # A word whose only noun senses are animals leaves the noun list ...
    assert "aardvark" in full.words and "aardvark" not in official.words


def test_nouns_only_single_words_and_id_removal(wn_env):
    nouns = wordnet_corpus(("noun",), multiword=False, remove=["Dog", "cat "])
    assert set(nouns.pos) == {"noun"}
    assert not any(" " in w for w in nouns.words)
    assert "dog" not in nouns.words and "cat" not in nouns.words and "house" in nouns.words


def test_prompts_per_part_of_speech():
    c = Corpus(("cat", "sunny"), ("noun", "adj"), ("noun.animal", "adj.all"))
    assert c.prompts(OFFICIAL_PROMPTS) == ["the nice cat", "This is a sunny photo"]
    with pytest.raises(ValueError, match=r"^no prompt template for part\(s\) of speech \['adj'\]"):
        c.prompts({"noun": "a {}"})


def test_word_list_corpus_dedups_and_rejects_empty():
    c = word_list_corpus(["The", "the ", "sun", ""], name="web")
    assert c.words == ("the", "sun") and c.pos == ("noun", "noun")
    with pytest.raises(ValueError, match=r"^word list 'web' is empty; expected at least one word$"):
        word_list_corpus(["", "  "], name="web")
    with pytest.raises(ValueError, match=r"^corpus 'x' is empty; expected at least one candidate word$"):
        Corpus((), (), (), "x")


def test_bad_options(wn_env):
    with pytest.raises(ValueError, match=r"^unknown lexname\(s\) \['noun.animals'\]"):
        wordnet_corpus(exclude_lexnames=["noun.animals"])
    with pytest.raises(ValueError, match=r"^unknown part\(s\) of speech \['verb'\]"):
        wordnet_corpus(("noun", "verb"))


def test_missing_wordnet_says_how_to_install(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "no-nltk-data")])
    with pytest.raises(WordNetMissingError, match=r"WordNet 3.0 not found: .*apt-get install wordnet-base"):
        load_wordnet.__wrapped__(str(tmp_path / "no-wordnet"))


@pytest.mark.skipif(not (corpus_mod.DEBIAN_WORDNET / "data.noun").is_file(), reason="Debian wordnet-base not installed")
def test_debian_files_prepared_with_lexnames(wn_env, shared_cache):
    load_wordnet.cache_clear()
    wn = load_wordnet(str(corpus_mod.DEBIAN_WORDNET))
    assert wn.synset("dog.n.01").lexname() == "noun.animal"
    lexnames = (shared_cache / "nltk_data" / "corpora" / "wordnet" / "lexnames").read_text().splitlines()
    assert lexnames[0] == "00\tadj.all\t3" and len(lexnames) == 45


@pytest.mark.skipif(not (corpus_mod.DEBIAN_WORDNET / "data.adj").is_file(), reason="Debian wordnet-base not installed")
def test_lemma_table_cached_keyed_by_source_and_rebuilt_when_corrupt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path))
    wordnet_dir = str(corpus_mod.DEBIAN_WORDNET)
    first = corpus_mod.wordnet_lemmas("adj", wordnet_dir)
    source = tmp_path / "nltk_data" / "corpora" / "wordnet" / "data.adj"
    (entry,) = (tmp_path / "corpora").glob("wordnet-adj-*.json")
    assert entry.name == f"wordnet-adj-{sha256_file(source)[:16]}.json"
    # WordNet 3.0's 30,004 adjective word-sense pairs over 21,479 distinct lemmas, in synset order.
    assert first[:2] == [("able", "adj.all", True), ("unable", "adj.all", True)] and len(first) == 30004
    assert len({w for w, _, _ in first}) == 21479 and sum(f for _, _, f in first) == 18156  # one first lemma per synset

    def no_reading(*_):
        raise AssertionError("WordNet was read again although the table is cached")

    monkeypatch.setattr(corpus_mod, "load_wordnet", no_reading)
    assert corpus_mod.wordnet_lemmas("adj", wordnet_dir) == first

    entry.write_text('{"words": ["able"')  # a torn write
    monkeypatch.undo()
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path))
    with caplog.at_level("WARNING"):
        assert corpus_mod.wordnet_lemmas("adj", wordnet_dir) == first
    assert f"WordNet lemma cache {entry} is unreadable" in caplog.text
    assert json.loads(entry.read_text())["source_sha256"] == sha256_file(source)

    # Another cache root in the same process: its entry is written from the table parsed above
    # (a pure function of the data file's SHA-256), without reading WordNet again.
    monkeypatch.setattr(corpus_mod, "load_wordnet", no_reading)
    monkeypatch.setenv("NEGLABEL_CACHE", str(tmp_path / "other"))
    assert corpus_mod.wordnet_lemmas("adj", wordnet_dir) == first
    assert json.loads((tmp_path / "other" / "corpora" / entry.name).read_text())["words"][:2] == ["able", "unable"]

    with pytest.raises(ValueError, match=r"^unknown part of speech 'verb'; expected one of \['noun', 'adj'\]$"):
        corpus_mod.wordnet_lemmas("verb", wordnet_dir)


def test_word_files_read_as_csps_official_reader():
    """Sorted file order (adj.* before noun.*), the first file holding a word keeps it, underscores
    as spaces, excluded files skipped."""
    files = {"noun.b": ["cold_war", "tree", "red "], "adj.all": ["red", "quiet"], "noun.a": ["tree", "sky"],
             "noun.person": ["man"]}
    read = corpus_mod.read_lexname_files(files, exclude=["noun.person"])
    assert read.words == ("red", "quiet", "tree", "sky", "cold war")
    assert read.pos == ("adj", "adj", "noun", "noun", "noun")
    assert read.groups == ("adj.all", "adj.all", "noun.a", "noun.a", "noun.b")
    with pytest.raises(ValueError, match=r"^cannot exclude \['noun.group'\]: no such word file; expected some of "
                                         r"\['adj.all', 'noun.a', 'noun.b', 'noun.person'\]$"):
        corpus_mod.read_lexname_files(files, exclude=["noun.group"])
    with pytest.raises(ValueError, match=r"^word file 'verb.motion': part of speech 'verb'; expected one of "
                                         r"\['noun', 'adj'\]$"):
        corpus_mod.read_lexname_files({"verb.motion": ["run"]})


@pytest.mark.slow
def test_csp_lexicon_on_the_paper_profile(wn_env):
    """The paper profile's CSP lexicon against an independent reading of WordNet 3.0 (nltk's
    synsets directly) and against the official configuration's counts."""
    from neglabel_core import pipeline
    from neglabel_core.profiles import load_profile

    profile = load_profile("imagenet-clip")
    assert (profile.params["csp_lexicon"], profile.params["csp_templates"]) == ("official", "official")
    lexicon = pipeline.csp_lexicon(profile)
    wn = load_wordnet()
    files: dict[str, list[str]] = {}
    for tag in ("n", "a"):
        for synset in wn.all_synsets(tag):
            word = synset.lemma_names()[0].replace("_", " ").lower()
            if word not in files.setdefault(synset.lexname(), []):
                files[synset.lexname()].append(word)
    dropped = {"noun.animal", "noun.food", "noun.person", "noun.quantity", "noun.group", "adj.pert"}
    seen: dict[str, str] = {}
    for name in sorted(set(files) - dropped):
        for word in files[name]:
            seen.setdefault(word, name.split(".")[0])
    assert lexicon.words == tuple(seen) and lexicon.pos == tuple(seen.values())
    assert not dropped & set(lexicon.groups)
    counts = Counter(lexicon.pos)
    # The official word files hold 46,560 nouns and 10,060 adjectives. Ours: the nouns within 0.5%
    # (reading nouns first would give 1.6% more, keeping noun.person 17%); the adjectives 9.8% more
    # (1,056 head adjectives missing from the official adj.all; keeping adj.pert would give 39%).
    official = corpus_mod.CSP_OFFICIAL_COUNTS
    assert abs(counts["noun"] / official["noun"] - 1) < 0.005
    assert 0 < counts["adj"] / official["adj"] - 1 < 0.10


def test_a_wordnet_corpus_is_built_once_per_process_and_follows_its_files(tmp_path, monkeypatch):
    import os

    tables = {"adj": [("able", "adj.all", True), ("unable", "adj.all", True), ("able", "adj.all", False),
                      ("well off", "adj.all", False)]}
    (tmp_path / "data.adj").write_text("first release")
    monkeypatch.setattr(corpus_mod, "wordnet_root", lambda wordnet_dir=None: tmp_path)
    monkeypatch.setattr(corpus_mod, "wordnet_lemmas", lambda part, wordnet_dir=None: tables[part])
    monkeypatch.setattr(corpus_mod, "_WORDNET_CORPORA", {})
    built = []
    real = corpus_mod._wordnet_corpus
    monkeypatch.setattr(corpus_mod, "_wordnet_corpus", lambda *args: built.append(args) or real(*args))
    assert wordnet_corpus(("adj",)).words == ("able", "unable", "well off") and len(built) == 1
    assert wordnet_corpus(("adj",), remove=[" Able"]).words == ("unable", "well off") and len(built) == 1
    assert wordnet_corpus(("adj",)).words == ("able", "unable", "well off")  # the kept corpus lost nothing
    assert wordnet_corpus(("adj",), multiword=False).words == ("able", "unable") and len(built) == 2
    tables["adj"] = [("tall", "adj.all", True)]  # another data file put in place: built anew
    (tmp_path / "new").write_text("second release")
    os.replace(tmp_path / "new", tmp_path / "data.adj")
    assert wordnet_corpus(("adj",)).words == ("tall",) and len(built) == 3
