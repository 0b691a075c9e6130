"""Clean OOD sets (no ID concept by meaning), the near/far split as profile data, and profile variants."""

import json

import pytest

from neglabel_core.data import benchmarks, corpus, emoji
from neglabel_core.profiles import ProfileError, load_profile

from . import emoji_fixture

ROOTS = ["animal.n.01", "plant.n.02", "food.n.01", "food.n.02"]


def concept(cid, name, group="Smileys & Emotion"):
    return emoji.Concept(cid, "?", name, name.upper(), (), group, "sub")


def test_head_words():
    assert benchmarks.head_words("cat with tears of joy") == ["cat"]
    assert benchmarks.head_words("see-no-evil monkey") == ["see", "no", "evil", "monkey"]
    assert benchmarks.head_words("person in lotus position") == ["person"]


def test_the_rule_reads_the_head_noun():
    ood = [concept("1", "grinning cat"), concept("2", "cat with wry smile"), concept("3", "horse racing"),
           concept("4", "carousel horse"), concept("5", "Christmas tree"), concept("6", "teddy bear"),
           concept("7", "computer mouse"), concept("8", "face savoring food"), concept("9", "orange circle")]
    reasons = benchmarks.ood_filter_reasons(ood, ["cat", "horse", "bear", "mouse"], {"id_names": True, "wordnet_roots": ROOTS})
    assert reasons == {
        "1": "its head noun 'cat' is an ID class",
        "2": "its head noun 'cat' is an ID class",  # the head comes before "with"
        "4": "its head noun 'horse' is an ID class",
        "5": "its head noun 'christmas tree' falls under WordNet's plant.n.02",  # a WordNet compound: judged whole
    }  # horse racing is racing; a teddy bear and a computer mouse are WordNet compounds (a toy, a device);
    # food is the root itself, not a hyponym; a circle is not an orange
    only_names = benchmarks.ood_filter_reasons(ood, ["cat"], {"id_names": True})
    assert set(only_names) == {"1", "2"}
    by_wordnet = benchmarks.ood_filter_reasons(ood, ["cat"], {"wordnet_roots": ROOTS})
    assert by_wordnet == {**{k: f"its head noun '{h}' falls under WordNet's animal.n.01" for k, h in
                             (("1", "cat"), ("2", "cat"), ("4", "horse"))}, "5": reasons["5"]}


def test_first_sense_only_and_unknown_roots():
    assert corpus.first_sense_under(["mouse", "bank", "food", "tree"], ROOTS) == {"mouse": "animal.n.01", "tree": "plant.n.02"}
    with pytest.raises(ValueError, match=r"^WordNet synset 'animal.n.99' does not exist; expected a name such as 'animal.n.01'$"):
        corpus.first_sense_under(["cat"], ["animal.n.99"])
    assert corpus.wordnet_nouns(["teddy bear", "grinning cat"]) == {"teddy bear"}


@pytest.fixture
def bench(tmp_path, monkeypatch):
    emoji_fixture.build(tmp_path / "fixture", monkeypatch)
    bench = emoji.prepare(tmp_path / "data", progress=False)
    monkeypatch.setattr(emoji, "prepare", lambda *a, **k: bench)
    return bench


def fixture_profile(**benchmark):
    spec = {"split": {"id": ["Animals & Nature", "Food & Drink"],
                      "ood": {"Travel & Places": ["Travel & Places"], "Smileys & Emotion": ["Smileys & Emotion"]}},
            "train_styles": ["google"], "eval_styles": ["apple"], "shift_styles": [], **benchmark}
    return load_profile("emoji-tiny", {"benchmark": spec})


def test_the_profile_rule_removes_and_lists(bench):
    # the fixture's "heavy black heart" has no ID head; with "heart" as a root's hyponym it would go
    clean = benchmarks.benchmark_data(fixture_profile(ood_filter={"id_names": True, "wordnet_roots": ROOTS}))
    assert clean.removed == {"Travel & Places": [], "Smileys & Emotion": []}
    plain = benchmarks.benchmark_data(fixture_profile(ood_filter=None))
    assert plain.removed == {} and plain.near == []
    # a rule that names the car an ID class removes it, and says so
    split = {"id": ["Animals & Nature", "Food & Drink"], "ood": {"cars": ["Travel & Places"], "hearts": ["Smileys & Emotion"]},
             "near": ["hearts"]}
    profile = fixture_profile(split=split, ood_filter={"wordnet_roots": ["motor_vehicle.n.01"]})
    data = benchmarks.benchmark_data(profile)
    assert [r["name"] for r in data.removed["cars"]] == [c.name for c in bench.concepts if c.id == "1F697"]
    assert data.removed["cars"][0]["reason"].endswith("falls under WordNet's motor_vehicle.n.01")
    assert data.near == ["hearts"] and "1F697" not in data.ood["cars"].units
    with pytest.raises(emoji.EmojiDataError, match=r"^the OOD filter removes every concept of OOD set 'hearts'; "):
        benchmarks.benchmark_data(fixture_profile(split=split, ood_filter={"wordnet_roots": ["cognition.n.01"]}))
    with pytest.raises(emoji.EmojiDataError,
                       match=r"^split.near names \['far'\], which are not OOD sets; expected some of \['cars', 'hearts'\]$"):
        benchmarks.benchmark_data(fixture_profile(split={**split, "near": ["far"]}))


def test_profile_variants_extend_a_base(tmp_path):
    near = load_profile("emoji-tiny-near")
    base = load_profile("emoji-tiny")
    assert near.model == base.model and near.data["train"] == base.data["train"] and near.params == base.params
    assert set(near.benchmark["split"]["near"]) <= set(near.benchmark["split"]["ood"])
    loop = tmp_path / "loop.json"
    loop.write_text(json.dumps({"extends": str(loop), "name": "loop"}))
    with pytest.raises(ProfileError, match=r"^profile loop.json: extends cycle loop.json -> loop.json; "):
        load_profile(str(loop))


def test_the_filter_is_kept_by_its_inputs_and_rebuilt_when_damaged(monkeypatch, isolated_cache):
    ood = [concept("1", "grinning cat"), concept("5", "Christmas tree"), concept("9", "orange circle")]
    rule = {"id_names": True, "wordnet_roots": ROOTS}
    direct = benchmarks.ood_filter_reasons(ood, ["cat"], rule)
    assert benchmarks.cached_ood_filter_reasons(ood, ["cat"], rule) == direct
    (entry,) = (isolated_cache / "ood_filter").glob("*.json")
    real_reader = corpus.load_wordnet
    monkeypatch.setattr(corpus, "load_wordnet", lambda *a: pytest.fail("WordNet was read for a kept answer"))
    assert benchmarks.cached_ood_filter_reasons(ood, ["cat"], rule) == direct
    monkeypatch.setattr(corpus, "load_wordnet", real_reader)
    assert benchmarks.cached_ood_filter_reasons(ood, ["dog"], rule) != direct  # other inputs: another entry
    entry.write_text("{not json")
    assert benchmarks.cached_ood_filter_reasons(ood, ["cat"], rule) == direct
    assert json.loads(entry.read_text())["value"] == direct
