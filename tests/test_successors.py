"""CSP and AdaNeg in the pipeline: CSP's phrases and mining by hand, its bank and score through
the registry, and the stream methods' ID scores per stream, seeds and summary rows."""

import random

import numpy as np
import pandas as pd
import pytest
import torch

from neglabel_core import pipeline as ex
from neglabel_core.data import corpus
from neglabel_core.models import embed
from neglabel_core.ood import methods as registry
from neglabel_core.ood import metrics, negmining, scores
from neglabel_core.profiles import load_profile

from .imagenet_fixture import fixture_overrides, make_data_root


def test_csp_phrases_follow_the_official_random_sequence():
    adjectives = ["red", "quiet", "wooden", "bright", "cold", "odd"]
    random.seed(0)  # the official code: one global seed, then random.choice per adjective
    official = [f"{a} {random.choice(corpus.CSP_SUPERCLASS_WORDS)}" for a in adjectives]
    assert corpus.csp_phrases(adjectives) == official
    assert corpus.csp_phrases(adjectives, seed=1) != official
    assert corpus.csp_phrases(["red"], words=["thing"]) == ["red thing"]
    with pytest.raises(ValueError, match="^CSP needs at least one superclass word; got none$"):
        corpus.csp_phrases(["red"], words=[])


def test_csp_similarity_by_hand():
    ids = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    c = np.array([[0.8, 0.6], [0.6, 0.8], [-1.0, 0.0]], dtype=np.float32)  # the second is ID label 3 itself
    # cosines: [0.8, 0.6, 0.96], [0.6, 0.8, 1.0], [-1, 0, -0.6]; eta = 0.5: the median (linear interpolation)
    s = negmining.csp_similarity(c, ids, eta=0.5).numpy()
    np.testing.assert_allclose(s, [1.0, 1.0, -0.6], rtol=1e-6)  # max cosines 0.96 and 1.0 exceed 0.95: s = 1
    s = negmining.csp_similarity(c, ids, eta=0.5, duplicate_above=0.97).numpy()
    np.testing.assert_allclose(s, [0.8, 1.0, -0.6], rtol=1e-6)
    with pytest.raises(ValueError, match="duplicate_above"):
        negmining.csp_similarity(c, ids, duplicate_above=1.0)


@pytest.fixture
def emb(tmp_path, tiny_model_name):
    path = tmp_path / "fixture.json"
    overrides = fixture_overrides(make_data_root(tmp_path / "data"), tiny_model_name)
    overrides["params"] = {**overrides["params"], "adaneg_batch_size": 4}  # several batches per stream
    path.write_text(load_profile("imagenet-clip", overrides).to_json())
    return ex.embed_profile(load_profile(str(path)), progress=False)


@pytest.fixture
def one_text_tower(emb, monkeypatch):
    """The fixture's model has random weights, drawn anew at each load: CSP's candidates and the
    references below use one load."""
    loaded = ex.text_tower(emb.profile)
    monkeypatch.setattr(ex.banks, "text_tower", lambda profile: loaded)
    return loaded


def test_csp_bank_and_score_through_the_registry(emb, one_text_tower):
    """The paper profile's rules (official lexicon and templates): the bank, CSP's own ID
    embeddings and the score by hand."""
    scored = ex.score(emb, methods=("neglabel", "csp"))
    bank = scored.banks["csp"]
    words, pos, cand, own_ids = ex.csp_candidates(emb)
    lexicon = ex.csp_lexicon(emb.profile)  # the official lexicon, subsampled as the fixture's corpus (600 words)
    assert len(lexicon) == 600 and lexicon.groups[0].startswith("adj.")  # adjectives first
    nouns = [w for w, p in zip(lexicon.words, lexicon.pos) if p == "noun"]
    adjectives = [w for w, p in zip(lexicon.words, lexicon.pos) if p == "adj"]
    assert words == nouns + corpus.csp_phrases(adjectives) and pos == ["noun"] * len(nouns) + ["csp"] * len(adjectives)
    n_nouns, n_phrases = len(nouns), len(adjectives)
    assert bank.pos == ["noun"] * int(0.15 * n_nouns) + ["csp"] * int(0.15 * n_phrases)  # nouns first
    assert scored.params["m_csp"] == len(bank.words)
    assert all(w.rsplit(" ", 1)[1] in corpus.CSP_SUPERCLASS_WORDS for w, p in zip(bank.words, bank.pos) if p == "csp")
    # the official embeddings: the raw mean of the eight (nouns, ID labels) or four (phrases) templates, normalised
    loaded = one_text_tower

    def raw_mean(names, templates):
        raw = np.stack([embed.encode_texts(loaded, [t.format(n) for n in names], cache=False, progress=False,
                                           normalize=False) for t in templates]).astype(np.float64).mean(axis=0)
        return raw / np.linalg.norm(raw, axis=1, keepdims=True)

    np.testing.assert_allclose(cand[:n_nouns], raw_mean(nouns, corpus.CSP_NOUN_TEMPLATES), atol=2e-6)
    np.testing.assert_allclose(cand[n_nouns:], raw_mean(words[n_nouns:], corpus.CSP_PHRASE_TEMPLATES), atol=2e-6)
    np.testing.assert_allclose(own_ids, raw_mean(emb.data.class_names, corpus.CSP_NOUN_TEMPLATES), atol=2e-6)
    np.testing.assert_array_equal(bank.id_emb, own_ids)
    # within each part, the lowest CSP similarities against CSP's own ID embeddings, ascending
    s = negmining.csp_similarity(cand, own_ids, eta=emb.profile.params["eta"]).numpy()
    picked = [words.index(w) for w in bank.words]
    nouns_s = s[[i for i in range(len(words)) if pos[i] == "noun"]]
    assert np.sort(nouns_s)[int(0.15 * n_nouns) - 1] == pytest.approx(s[picked[int(0.15 * n_nouns) - 1]])
    # the score is NegLabel's on CSP's bank and CSP's ID embeddings
    x = torch.from_numpy(np.array(emb.id_emb))
    want = scores.neglabel_score(x @ torch.from_numpy(own_ids).T, x @ torch.from_numpy(bank.emb).T,
                                 tau=scored.params["tau"], n_groups=scored.params["n_groups"], seed=0)
    np.testing.assert_allclose(scored.id["csp"], want.numpy(), rtol=1e-6)
    assert not np.allclose(own_ids, emb.id_text, atol=1e-3)  # the profile's one template is another embedding
    assert set(bank.words) != {emb.corpus.words[i] for i in scored.negatives}


def test_csp_under_the_profiles_rules(emb, one_text_tower):
    """``csp_lexicon``/``csp_templates`` "profile": the profile's corpus, its noun prompt (the rows
    of the corpus embedding), its ID embeddings, the phrases' normalised template mean."""
    params = {**emb.profile.params, "csp_lexicon": "profile", "csp_templates": "profile"}
    words, pos, cand, own_ids = ex.csp_candidates(emb, params)
    assert own_ids is None
    nouns = [i for i, p in enumerate(emb.corpus.pos) if p == "noun"]  # the fixture's corpus keeps its ID names
    assert words[:len(nouns)] == [emb.corpus.words[i] for i in nouns]
    np.testing.assert_array_equal(cand[:len(nouns)], np.asarray(emb.corpus_emb)[nouns])
    loaded = one_text_tower
    normalized = np.stack([embed.encode_texts(loaded, [t.format(w) for w in words[len(nouns):]], cache=False,
                                              progress=False) for t in corpus.CSP_PHRASE_TEMPLATES]).mean(axis=0)
    np.testing.assert_allclose(cand[len(nouns):], normalized / np.linalg.norm(normalized, axis=1, keepdims=True),
                               atol=2e-6)
    scored = ex.score(emb, params, methods=("csp",))
    assert scored.banks["csp"].id_emb is None
    x = torch.from_numpy(np.array(emb.id_emb))
    want = scores.neglabel_score(x @ torch.from_numpy(emb.id_text).T, x @ torch.from_numpy(scored.banks["csp"].emb).T,
                                 tau=scored.params["tau"], n_groups=scored.params["n_groups"], seed=0)
    np.testing.assert_allclose(scored.id["csp"], want.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"^csp_templates='clip'; expected one of \['official', 'profile'\]$"):
        ex.score(emb, {"csp_templates": "clip"}, methods=("csp",))
    with pytest.raises(ValueError, match=r"^csp_lexicon='negl'; expected one of \['official', 'profile'\]$"):
        ex.csp_lexicon(emb.profile, "negl")


@pytest.fixture
def synthetic():
    """An Embedded of synthetic unit vectors (no model): 5 ID labels, 60 candidate words, ID images
    near the ID labels, two OOD sets near some candidates, so AdaNeg's memory fills both ways."""
    rng = np.random.default_rng(0)

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    id_text, corpus_emb = unit(rng.normal(size=(5, 16))), unit(rng.normal(size=(60, 16)))
    near = lambda centers, n: unit(centers[rng.integers(0, len(centers), n)] + 0.6 * rng.normal(size=(n, 16)))
    profile = load_profile("emoji-tiny", {"params": {"m": 20, "n_groups": 4, "adaneg_batch_size": 8,
                                                     "adaneg_n_groups": 2}})
    words = corpus.Corpus(tuple(f"w{i}" for i in range(60)), ("noun",) * 60, ("noun.x",) * 60)
    return ex.Embedded(profile, data=None, corpus=words, id_text=id_text, corpus_emb=corpus_emb,
                       id_emb=near(id_text, 40), ood_emb={"A": near(corpus_emb[:30], 25), "B": near(corpus_emb, 30)},
                       shift_emb={}, model_identity={})


def test_stream_methods_score_each_set_in_its_own_shuffled_stream(synthetic):
    emb = synthetic
    scored = ex.score(emb, methods=("neglabel", "adaneg"))
    assert scored.methods == ["neglabel", "adaneg"] and list(scored.stream["adaneg"]) == [*emb.ood_emb, "pooled"]
    assert scored.params["stream_seed"] == 0
    out = ex.results(scored)
    for name in emb.ood_emb:
        id_s, ood_s = registry.stream_scores("adaneg", emb.id_emb, emb.ood_emb[name], emb.id_text,
                                       scored.banks["adaneg"].emb, scored.params)  # AdaNeg's own bank
        np.testing.assert_array_equal(scored.stream["adaneg"][name][0], id_s)
        assert out[name]["adaneg"]["auroc"] == 100 * metrics.auroc(id_s, ood_s)
    # ID is scored anew in every stream: its scores depend on the OOD images beside it
    assert not np.allclose(scored.stream["adaneg"]["A"][0], scored.stream["adaneg"]["B"][0])
    assert out["average"]["adaneg"]["auroc"] == pytest.approx(np.mean([out[n]["adaneg"]["auroc"] for n in "AB"]))
    pooled_id, pooled_ood = scored.stream["adaneg"]["pooled"]
    assert len(pooled_ood) == sum(len(x) for x in emb.ood_emb.values())
    assert out["pooled"]["adaneg"]["auroc"] == 100 * metrics.auroc(pooled_id, pooled_ood)
    # the order is a parameter: another stream seed moves AdaNeg only
    other = ex.score(emb, {"stream_seed": 1}, methods=("neglabel", "adaneg"))
    np.testing.assert_array_equal(other.id["neglabel"], scored.id["neglabel"])
    assert not np.allclose(other.stream["adaneg"]["A"][0], scored.stream["adaneg"]["A"][0])
    # the per-set ID scores feed the bootstrap table
    table = metrics.summarize({n: scored.id_scores("adaneg", n) for n in "AB"},
                              {n: scored.ood_scores("adaneg", n) for n in "AB"}, n_bootstrap=0, fpr_rule="closest")
    assert table.loc["B", "AUROC"] == pytest.approx(out["B"]["adaneg"]["auroc"])


def test_stream_methods_are_not_per_image_scores_and_the_registry_checks_kinds():
    rng = np.random.default_rng(0)
    x, t, n = (rng.normal(size=(k, 4)).astype(np.float32) for k in (3, 2, 6))
    with pytest.raises(ValueError, match=r"^stream method\(s\) \['adaneg'\] score a stream, not a set of images; "
                                         r"use the pipeline's score\(\)$"):
        registry.method_scores(x, t, n, {"tau": 0.01, "seed": 0}, ("max_cos", "adaneg"))
    with pytest.raises(ValueError, match=r"^method 'y' has kind 'online'; expected one of \['scores', 'stream', 'pairs'\]$"):
        registry.register(registry.Method("y", "y", lambda *a: None, kind="online"))
    with pytest.raises(ValueError, match=r"^method 'z' reads bank 'mine'; expected one of "
                                         r"\['neglabel', 'csp', 'adaneg', 'negrefine'\]$"):
        registry.register(registry.Method("z", "z", lambda *a: None, bank="mine"))
    assert registry.is_stream("adaneg") and not registry.is_stream("csp")
    assert "csp" not in registry.default_methods() and "adaneg" not in registry.default_methods()


def test_summarize_with_id_scores_per_set():
    rng = np.random.default_rng(2)
    id_a, id_b = rng.normal(1, 1, 30), rng.normal(0.5, 1, 30)
    ood = {"a": rng.normal(0, 1, 20), "b": rng.normal(0, 1, 25)}
    per_set = metrics.summarize({"a": id_a, "b": id_b}, ood, n_bootstrap=0)
    assert per_set.loc["a", "AUROC"] == metrics.summarize(id_a, {"a": ood["a"]}, n_bootstrap=0).loc["a", "AUROC"]
    assert per_set.loc["b", "AUROC"] == metrics.summarize(id_b, {"b": ood["b"]}, n_bootstrap=0).loc["b", "AUROC"]
    same = metrics.summarize({"a": id_a, "b": id_a}, ood, n_bootstrap=50, seed=3)
    plain = metrics.summarize(id_a, ood, n_bootstrap=50, seed=3)
    assert same.equals(plain)
    with pytest.raises(ValueError,
                       match=r"^id_scores has no ID scores for OOD set\(s\) \['b'\]; expected one array per OOD set$"):
        metrics.summarize({"a": id_a}, ood)


def test_adaneg_mines_its_own_bank_as_the_official_code(synthetic):  # noqa: F811
    """The official rule by hand: the cosine at sorted index int(0.95 K) (K = 5: index 4, the
    largest), M split in proportion between adjectives and nouns (adjectives first), the lowest
    of each kind; NegLabel's bank as the option adaneg_bank."""
    import dataclasses

    emb = synthetic
    pos = ("adj",) * 15 + ("noun",) * 45
    words = corpus.Corpus(emb.corpus.words, pos, ("adj.all",) * 15 + ("noun.x",) * 45)
    emb = dataclasses.replace(emb, corpus=words)
    bank = ex.BANK_BUILDERS["adaneg"](emb, {"adaneg_m": 8})
    s = (emb.corpus_emb @ emb.id_text.T).max(axis=1)  # sorted index int(0.95 * 5) = 4: the largest of five
    adj = np.argsort(s[:15], kind="stable")[:2]  # int(8 * 15 / 60) = 2 adjectives
    noun = 15 + np.argsort(s[15:], kind="stable")[:6]  # the other 6 are nouns
    assert bank.words == [emb.corpus.words[i] for i in [*adj, *noun]] and bank.pos == ["adj"] * 2 + ["noun"] * 6
    np.testing.assert_array_equal(bank.emb, emb.corpus_emb[[*adj, *noun]])
    assert bank.id_emb is None  # the profile rule: the profile's own ID embeddings
    scored = ex.score(emb, {"adaneg_m": 8}, methods=("adaneg",))
    assert scored.params["m_adaneg"] == 8
    on_neglabel = ex.score(emb, {"adaneg_bank": "neglabel"}, methods=("adaneg",))
    id_s, _ = registry.stream_scores("adaneg", emb.id_emb, emb.ood_emb["A"], emb.id_text,
                                     emb.corpus_emb[on_neglabel.negatives], on_neglabel.params)
    np.testing.assert_array_equal(on_neglabel.stream["adaneg"]["A"][0], id_s)
    with pytest.raises(ValueError, match=r"^adaneg_bank='csp2'; expected one of \['neglabel', 'csp', 'adaneg', 'negrefine'\]$"):
        registry.bank_of("adaneg", {"adaneg_bank": "csp2"})
    with pytest.raises(ValueError, match=r"^adaneg_prompts='mine'; expected one of \['official', 'profile'\]$"):
        ex.BANK_BUILDERS["adaneg"](emb, {"adaneg_prompts": "mine"})


def test_adaneg_parameters_are_its_own(synthetic):  # noqa: F811
    """NegLabel's tau and seed do not move AdaNeg (its logit scale is 100, its seed 0, as the
    official run); its own adaneg_logit_scale does; beta is rounded down as the official int()."""
    emb = synthetic
    base = ex.score(emb, methods=("adaneg", "adaneg_sa"))
    other = ex.score(emb, {"tau": 0.5, "seed": 3}, methods=("adaneg", "adaneg_sa"))
    for m in ("adaneg", "adaneg_sa"):
        np.testing.assert_array_equal(base.stream[m]["A"][0], other.stream[m]["A"][0])
    scaled = ex.score(emb, {"adaneg_logit_scale": 30.0}, methods=("adaneg",))
    assert not np.allclose(scaled.stream["adaneg"]["A"][0], base.stream["adaneg"]["A"][0])
    half = ex.score(emb, {"adaneg_beta": 5.5}, methods=("adaneg_sa",))
    np.testing.assert_array_equal(half.stream["adaneg_sa"]["A"][0], base.stream["adaneg_sa"]["A"][0])


def test_scores_are_kept_by_everything_they_depend_on(synthetic, monkeypatch, isolated_cache):
    from neglabel_core.pipeline import score_cache

    emb = synthetic
    methods = ("neglabel", "mcm", "adaneg")
    first = ex.score(emb, methods=methods)
    assert len(list((isolated_cache / "scores").rglob("*.npy"))) == 2 + 3  # one per one-score method, one per stream
    real_scores, real_streams = registry.method_scores, registry.stream_scores
    monkeypatch.setattr(registry, "method_scores", lambda *a, **k: pytest.fail("kept scores computed again"))
    monkeypatch.setattr(registry, "stream_scores", lambda *a, **k: pytest.fail("kept streams computed again"))
    again = ex.score(emb, methods=methods)
    for m in ("neglabel", "mcm"):
        np.testing.assert_array_equal(again.id[m], first.id[m])
        for name in emb.ood_emb:
            np.testing.assert_array_equal(again.ood[name][m], first.ood[name][m])
    for name, (id_s, ood_s) in first.stream["adaneg"].items():
        np.testing.assert_array_equal(again.stream["adaneg"][name][0], id_s)
        np.testing.assert_array_equal(again.stream["adaneg"][name][1], ood_s)
    # Another setting, other images, other code: computed, never read from an old entry.
    computed = []
    monkeypatch.setattr(registry, "method_scores", lambda *a, **k: computed.append("set") or real_scores(*a, **k))
    monkeypatch.setattr(registry, "stream_scores", lambda *a, **k: computed.append("stream") or real_streams(*a, **k))
    ex.score(emb, {"tau": 0.02}, methods=("neglabel",))
    shifted = emb.id_emb.copy()
    shifted[0, 0] += 1e-3
    ex.score(emb, id_emb=shifted, methods=("mcm",))
    monkeypatch.setattr(score_cache, "code_fingerprint", lambda: "edited")
    ex.score(emb, methods=("mcm",))
    assert computed == ["set"] * 3 * 3  # ID and both OOD sets, each of the three calls


def test_mining_scores_are_kept_by_the_embeddings_content(synthetic, monkeypatch, isolated_cache):
    """NegMining's s(w) and AdaNeg's sorted-index score (CSP's: the same helper, tested with CSP's
    bank) are computed once per text side: a new
    Embedded of the same embeddings (another chapter) reads them back equal; other ID labels or
    another eta compute anew."""
    import dataclasses

    from neglabel_core.ood import negmining

    emb = synthetic
    first = ex.score(emb, methods=("neglabel", "adaneg"))
    s = negmining.percentile_similarity(emb.corpus_emb, emb.id_text, eta=emb.profile.params["eta"])
    np.testing.assert_array_equal(ex.candidate_scores(emb, emb.profile.params["eta"]).numpy(), s.numpy())
    real_pct, real_sorted = negmining.percentile_similarity, negmining.sorted_index_similarity
    monkeypatch.setattr(negmining, "percentile_similarity", lambda *a, **k: pytest.fail("kept s(w) computed again"))
    monkeypatch.setattr(negmining, "sorted_index_similarity", lambda *a, **k: pytest.fail("kept score computed again"))
    again = ex.score(dataclasses.replace(emb), methods=("neglabel", "adaneg"))
    np.testing.assert_array_equal(again.negatives, first.negatives)
    np.testing.assert_array_equal(again.stream["adaneg"]["A"][0], first.stream["adaneg"]["A"][0])
    calls = []
    monkeypatch.setattr(negmining, "percentile_similarity", lambda *a, **k: calls.append(k["eta"]) or real_pct(*a, **k))
    monkeypatch.setattr(negmining, "sorted_index_similarity", lambda *a, **k: calls.append("q") or real_sorted(*a, **k))
    other_ids = dataclasses.replace(emb, id_text=emb.id_text[::-1].copy())
    ex.score(other_ids, methods=("neglabel", "adaneg"))
    ex.candidate_scores(dataclasses.replace(emb), 0.2)
    assert calls == [emb.profile.params["eta"], "q", 0.2]


def test_copies_with_other_images_share_the_text_side(synthetic, monkeypatch):
    """A style subset or a snapshot (pipeline.with_images) mines with its parent: AdaNeg's bank
    is built once for both; a copy with another corpus builds its own."""
    import dataclasses

    from neglabel_core.pipeline import banks

    emb = synthetic
    built = []
    real = banks.adaneg_candidates
    monkeypatch.setattr(banks, "adaneg_candidates", lambda e, rule: built.append(rule) or real(e, rule))
    subset = ex.with_images(emb, id_emb=emb.id_emb[:20], ood_emb={k: v[:10] for k, v in emb.ood_emb.items()})
    a = ex.score(subset, methods=("adaneg",))
    b = ex.score(emb, methods=("adaneg",))
    assert built == ["profile"] and a.params["m_adaneg"] == b.params["m_adaneg"]
    assert subset.text_cache is emb.text_cache  # the image-side views are its own
    assert subset.corpus_views is not emb.corpus_views and subset.explorer_sims is not emb.explorer_sims
    other = dataclasses.replace(emb, corpus_emb=emb.corpus_emb[::-1].copy())
    ex.score(other, methods=("adaneg",))
    assert built == ["profile", "profile"]


def _gap_row(a, a_lo, a_hi, f, f_lo, f_hi, ood_set="average"):
    return {"ood_set": ood_set, "AUROC diff": a, "AUROC lo": a_lo, "AUROC hi": a_hi,
            "FPR95 diff": f, "FPR95 lo": f_lo, "FPR95 hi": f_hi}


def _run_by_hand():
    """A tables.successors() run by hand: averages of four methods and the bank sizes."""
    rows = [{"method": m, "label": label, "ood_set": "average", "AUROC": a, "FPR95": f}
            for m, label, a, f in (("neglabel", "NegLabel", 80.0, 50.0), ("csp", "CSP", 82.5, 45.0),
                                   ("adaneg", "AdaNeg", 81.0, 47.5), ("energy", "energy", 70.0, 60.0))]
    return {"table": pd.DataFrame(rows), "banks": {"csp": 3000}, "params": {"m": 1000}, "scored": None}


def test_csp_readings_at_equal_bank_size_by_hand(monkeypatch):
    from neglabel_core.analysis import successors

    # CSP over NegLabel at the profile's M: +2.5 [+1, +4] AUROC (clear); at equal bank size: +0.3 [-0.5, +1.1] (not)
    monkeypatch.setattr(successors, "paired_gaps", lambda *a, **k: pd.DataFrame([_gap_row(2.5, 1.0, 4.0, -5.0, -7.0, -3.0)]))
    equal = {"gaps": pd.DataFrame([_gap_row(0.3, -0.5, 1.1, 1.0, 0.5, 1.5)])}
    got = successors.csp_readings(None, _run_by_hand(), equal, n_bootstrap=10)
    assert got["csp_eq_verdict"] == ("in AUROC a gain, which cannot be told from zero, and in FPR95 a loss, clear of zero: "
                                     "at equal bank size CSP's AUROC gain over NegLabel is the larger bank's.")
    assert (got["csp_gain_auroc"], got["csp_gain_fpr_lo"], got["m_csp"], got["m_neglabel"]) == (2.5, -7.0, 3000, 1000)
    assert (got["best_method"], got["best_auroc"], got["adaneg_fpr"]) == ("CSP", 82.5, 47.5)
    assert got["csp_eq_auroc"] == "+0.30 [-0.50, +1.10]"
    kept = {"gaps": pd.DataFrame([_gap_row(1.0, 0.2, 1.8, -1.0, -2.0, -0.1)])}
    assert successors.csp_readings(None, _run_by_hand(), kept, n_bootstrap=10)["csp_eq_verdict"].endswith(
        "in FPR95 a gain, clear of zero: at equal bank size CSP keeps its AUROC gain.")


def test_published_gains_near_spread_and_clean_readings_by_hand():
    from neglabel_core.analysis import successors, tables

    paper = tables.paper_rows("data/paper_results.csv").query("ood_set == 'average'").set_index("method")
    got = successors.published_gains("data/paper_results.csv", _run_by_hand())
    assert got["pub_csp_gain_auroc"] == pytest.approx(paper.loc["CSP", "AUROC"] - paper.loc["NegLabel", "AUROC"])
    assert (got["our_adaneg_gain_auroc"], got["our_adaneg_gain_fpr"]) == (1.0, -2.5)
    shown = successors.published_tables(tables.published("data/paper_results.csv", successors.PUBLISHED_METHODS))
    assert [t.columns.name for t in shown] == ["AUROC (%), published", "FPR95 (%), published"]
    near = pd.DataFrame([{"method": m, "label": m, "kind": "summary", "ood_set": s, "AUROC": a, "FPR95": 100 - a}
                         for m, near_a, far_a in (("neglabel", 70.0, 90.0), ("mcm", 74.5, 85.0), ("energy", 71.0, 88.0))
                         for s, a in (("near average", near_a), ("far average", far_a))])
    got = successors.near_readings(near)
    assert got == {"near_best": "mcm", "near_nl_fpr": 30.0, "far_nl_fpr": 10.0, "near_nl_auroc": 70.0, "far_nl_auroc": 90.0,
                   "near_best_auroc": 74.5, "near_spread": 4.5}
    none = successors.near_readings(None)
    assert none["near_best"] == "(no near-OOD variant)" and np.isnan(none["near_spread"])
    summary = pd.DataFrame([{"method": "adaneg", "label": "AdaNeg", "ood_set": "average", **{
        f"{m} {k}": v for m in ("AUROC", "FPR95") for k, v in (("mean", 80.0), ("min", 79.0), ("max", 81.5), ("std", 0.7))}}])
    assert successors.spread_readings(summary, 5) == {"n_orders": 5, "ta_auroc_min": 79.0, "ta_auroc_max": 81.5,
                                                      "ta_fpr_min": 79.0, "ta_fpr_max": 81.5}
    removed = successors.removed_labels({"removed": {f"w{i}": "proper noun" for i in range(10)}})
    assert list(removed.index) == [f"w{i}" for i in range(8)] and removed.index.name == "negative label"


def test_score_returns_the_settings_it_applied_and_leaves_the_callers_alone(synthetic):
    """No hidden channel: what a run applied (the M mined, each bank's size, the device the grouping
    was drawn on, the FPR95 rule) comes back in ``Scored.params``; the caller's dict is not written."""
    asked = {"eta": 0.1, "m": 15}
    scored = ex.score(synthetic, asked, methods=("neglabel", "adaneg"))
    assert asked == {"eta": 0.1, "m": 15}
    assert synthetic.profile.params["m"] == 20  # the profile is not written either
    assert scored.params["m"] == len(scored.negatives) == 15 and scored.params["eta"] == 0.1
    assert (scored.params["fpr_rule"], scored.params["perm_device_used"]) == ("closest", "cpu")
    assert scored.params["m_adaneg"] == len(scored.banks["adaneg"].emb) and scored.params["stream_seed"] == 0
