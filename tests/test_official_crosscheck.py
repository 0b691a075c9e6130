"""Our NegMining against the labels the official code mined for ImageNet-1k with CLIP ViT-B/16.

The list ships in data/official/ (copied unchanged from the official repository, Apache-2.0; its
SHA-256 is checked here), or comes from $NEGLABEL_OFFICIAL_LIST.
The corpus check runs anywhere WordNet is installed; the mining check needs the ViT-B-16/openai
weights (it embeds ~71k prompts: minutes on a GPU, long on a CPU) and skips without them."""

import os
from pathlib import Path

import pytest

from neglabel_core.analysis.corpora import compare_with_list, list_overlap
from neglabel_core.data.corpus import Corpus, read_prompt_list
from neglabel_core.models.factory import WeightsUnavailableError, require_weights
from neglabel_core.profiles import load_profile

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = Path(os.environ.get("NEGLABEL_OFFICIAL_LIST")
                or ROOT / "data" / "official" / "selected_neg_labels_in1k_10k.txt")
OFFICIAL_SHA256 = "39e53cb67f07c5e540d532fc9c58c48f8a17d4d6b7c7492dc2896508e072e3e7"  # XueJiang16/NegLabel@3253db6
needs_list = pytest.mark.skipif(not OFFICIAL.is_file(),
                                reason=f"official list not found at {OFFICIAL} (set NEGLABEL_OFFICIAL_LIST)")


def test_the_shipped_list_is_the_official_release():
    from neglabel_core.files import sha256_file

    shipped = ROOT / "data" / "official" / "selected_neg_labels_in1k_10k.txt"
    assert sha256_file(shipped) == OFFICIAL_SHA256
    assert len(read_prompt_list(shipped)) == 10499


def test_prompt_list_parsing(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("the nice kalinin\nthe nice spinal nerve root\nThis is a [thermal photo\nThis is a aqueous photo\n")
    parsed = read_prompt_list(path)
    assert parsed.words == ("kalinin", "spinal nerve root", "thermal", "aqueous")
    assert parsed.pos == ("noun", "noun", "adj", "adj")
    path.write_text("the nice kalinin\na photo of a dog.\n")
    with pytest.raises(ValueError, match=r"^line 2 of .*list.txt is 'a photo of a dog.'; expected one of the prompts "
                                         r"\['the nice \{\}', 'This is a \{\} photo'\]$"):
        read_prompt_list(path)


def test_list_overlap_by_hand():
    reference = Corpus(("a", "b", "c", "x"), ("noun", "noun", "noun", "adj"), ("n", "n", "n", "a"))
    pool = Corpus(("a", "b", "d", "x", "y"), ("noun", "noun", "noun", "adj", "adj"), ("n",) * 3 + ("a",) * 2)
    table = list_overlap(reference, pool, mined=[0, 2, 3]).set_index("part")
    assert table.loc["noun", "coverage"] == 2 / 3 and table.loc["adj", "coverage"] == 1.0
    assert table.loc["all", "coverage"] == 3 / 4
    # nouns: mined {a, d} vs {a, b, c}: 1 / 4; adjectives: {x} vs {x}: 1; all: {a, d, x} vs {a, b, c, x}: 2 / 5
    assert table.loc["noun", "jaccard"] == 1 / 4 and table.loc["adj", "jaccard"] == 1.0 and table.loc["all", "jaccard"] == 2 / 5


@needs_list
@pytest.mark.slow
def test_official_words_are_first_lemmas_of_wordnet_synsets():
    """Runs without weights: the official word files hold each synset's first lemma. Our pool of
    those (official exclusions) holds >= 99% of the official nouns and every official adjective."""
    profile = load_profile("imagenet-clip")
    table, reason = compare_with_list(profile, str(OFFICIAL), with_mining=False)
    table = table.set_index("part")
    assert reason == "mining not asked for"
    assert table.loc["noun", "reference words"] == 8578 and table.loc["adj", "reference words"] == 1920  # one adjective twice
    assert table.loc["noun", "coverage"] >= 0.99
    # Every official adjective is an adjective head word; ours are fewer only because a word that
    # is also a noun head word counts as a noun here (nouns first), as it may or may not have there.
    adjectives, _ = compare_with_list(load_profile("imagenet-clip", {"corpus": {"parts": ["adj"]}}), str(OFFICIAL),
                                      with_mining=False)
    assert adjectives.set_index("part").loc["adj", "coverage"] == 1.0
    every_lemma, _ = compare_with_list(load_profile("imagenet-clip", {"corpus": {"lemmas": "all"}}), str(OFFICIAL),
                                       with_mining=False)
    assert every_lemma.set_index("part").loc["noun", "pool words"] > 1.7 * table.loc["noun", "pool words"]


@needs_list
@pytest.mark.slow
def test_mined_labels_match_the_official_list(capsys):
    profile = load_profile("imagenet-clip")
    try:
        require_weights(profile.model["name"], profile.model["pretrained"])
    except WeightsUnavailableError as exc:
        pytest.skip(f"needs the ViT-B-16/openai weights: {str(exc).split('.')[0]}")
    table, reason = compare_with_list(profile, str(OFFICIAL), progress=True)
    with capsys.disabled():
        print("\n" + table.to_string(index=False))
    assert reason is None
    assert table.set_index("part").loc["all", "jaccard"] >= 0.9
