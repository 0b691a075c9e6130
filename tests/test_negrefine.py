"""NegRefine (Ansari et al., ICCV 2025): its score against an independent transcription of the
official ``CLIPood.detection_score`` (ah-ansari/NegRefine, src/clip_ood.py) on synthetic
embeddings, its mining and multi-matching pieces by hand, the WordNet stand-in for its LLM
filter, and its bank through the pipeline."""

import hashlib

import numpy as np
import pytest
import torch

from neglabel_core import pipeline as ex
from neglabel_core.data import corpus
from neglabel_core.models import embed
from neglabel_core.ood import methods as registry
from neglabel_core.ood import negmining, scores

from .test_successors import emb, one_text_tower  # noqa: F401  (fixtures)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def _fake_tower(text: str, dim: int = 16) -> torch.Tensor:
    """A text tower's raw output for ``text``: a fixed random vector per text (not normalised)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return torch.from_numpy(np.random.default_rng(seed).normal(size=dim).astype(np.float32) * 3)


TEMPLATES = ("a photo of the nice {}.", "{}", "the good {}")


def _embed_labels(labels, templates=TEMPLATES):
    """The official ``_embed_text_labels``: each label's templates, raw features averaged, normalised."""
    texts = [t.format(w) for w in labels for t in templates]
    feats = torch.stack([_fake_tower(t) for t in texts]).view(-1, len(templates), 16).mean(dim=1)
    return feats / feats.norm(dim=-1, keepdim=True)


def _official_score(img, pos_features, neg_features, pos_labels, neg_labels, ngroup):
    """clip_ood.py's detection_score for one image (batch 1), transcribed line by line; the
    grouping permutation drawn on the CPU (the official code draws it on the GPU)."""
    pos_sim = 100.0 * img @ pos_features.T
    neg_sim = 100.0 * img @ neg_features.T
    # _grouping(pos, neg, num=None, ngroup, random_permute=True)
    neg = neg_sim
    drop = neg.shape[1] % ngroup
    if drop > 0:
        neg = neg[:, :-drop]
    torch.manual_seed(0)
    idx = torch.randperm(neg.shape[1])
    negs = neg.T[idx].T.reshape(pos_sim.shape[0], ngroup, -1).contiguous()
    group_scores = []
    for i in range(ngroup):
        full_sim = torch.cat([pos_sim, negs[:, i, :]], dim=-1).softmax(dim=-1)
        group_scores.append(full_sim[:, :pos_sim.shape[1]].sum(dim=-1).unsqueeze(-1))
    neg_label_score = torch.cat(group_scores, dim=-1).mean(dim=-1)
    # _multi_matching_score
    k_pos, k_neg = min(5, len(pos_labels)), 5
    vals, ind = torch.topk(pos_sim, k_pos)
    top_pos_labels = [pos_labels[ind[0, i]] for i in range(k_pos)]
    vals, ind = torch.topk(neg_sim, k_neg)
    top_neg_labels = [neg_labels[ind[0, i]] for i in range(k_neg)]
    texts, neg_sims = [], []
    for p in top_pos_labels:
        for i, n in enumerate(top_neg_labels):
            neg_sims.append(vals[0, i])
            texts.append(p + " and " + n)
    mm_features = _embed_labels(texts)
    neg_sims = torch.tensor(neg_sims)
    sim = 100.0 * img @ mm_features.T
    ss = torch.exp(sim) / (torch.exp(sim) + torch.exp(neg_sims))
    return neg_label_score.item() + 2 * torch.max(ss).item()


def test_score_equals_a_transcription_of_the_official_code():
    rng = torch.Generator().manual_seed(0)
    pos_labels = [f"class {i}" for i in range(7)]
    neg_labels = [f"word{i}" for i in range(230)]  # 230 mod 20 = 10 columns dropped before grouping
    pos_features, neg_features = _embed_labels(pos_labels), _embed_labels(neg_labels)
    images = _unit(torch.randn(12, 16, generator=rng) * 0.3 + pos_features[torch.arange(12) % 7])
    images[8:] = _unit(torch.randn(4, 16, generator=rng))  # a few far from every class
    want = [_official_score(img[None], pos_features, neg_features, pos_labels, neg_labels, ngroup=20) for img in images]

    def pair_emb(top_ids, top_negs):
        texts = [f"{pos_labels[a]} and {neg_labels[b]}" for r, s in zip(top_ids.tolist(), top_negs.tolist())
                 for a in r for b in s]
        return _embed_labels(texts).numpy().reshape(len(top_ids), -1, 16)

    params = {"tau": 0.01, "n_groups": 20, "seed": 0, "negrefine_mm_weight": 2.0}
    got = registry.negrefine(images, images @ pos_features.T, images @ neg_features.T, pair_emb, params)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    assert np.ptp(want) > 0.5  # the scores differ between images: the check is not of a constant
    no_mm = registry.negrefine(images, images @ pos_features.T, images @ neg_features.T, pair_emb,
                               {**params, "negrefine_mm_weight": 0})
    np.testing.assert_allclose(no_mm.numpy(), scores.neglabel_score(images @ pos_features.T, images @ neg_features.T,
                                                                    tau=0.01, n_groups=20, seed=0).numpy())


def test_multi_matching_by_hand():
    """One image, 2 ID labels, 3 negatives, k = 2: the pairs p-major, sigmoid(100 (x.m - x.t_n)), max."""
    x = torch.tensor([[1.0, 0.0]])
    ids = torch.tensor([[0.30, 0.20]])
    negs = torch.tensor([[0.10, 0.25, 0.28]])
    top_ids, top_negs, vals = scores.multi_matching_top(ids, negs, k_pos=2, k_neg=2)
    assert top_ids.tolist() == [[0, 1]] and top_negs.tolist() == [[2, 1]] and vals[0].tolist() == pytest.approx([0.28, 0.25])
    # m_{p,n}: cosines to x of 0.27 (p0 n2), 0.26 (p0 n1), 0.29 (p1 n2), 0.20 (p1 n1)
    cos = torch.tensor([0.27, 0.26, 0.29, 0.20])
    pairs = torch.stack([cos, (1 - cos**2).sqrt()], dim=1)[None]
    got = scores.multi_matching_score(x, pairs, vals)
    want = max(1 / (1 + np.exp(-(100 * c - 100 * v))) for c, v in zip([0.27, 0.26, 0.29, 0.20], [0.28, 0.25, 0.28, 0.25]))
    assert got.item() == pytest.approx(want, rel=1e-5)  # sigmoid(1) from (p1, n2)
    with pytest.raises(ValueError, match=r"^k_neg=4 is larger than the number of negative labels M \(3\)$"):
        scores.multi_matching_top(ids, negs, k_neg=4)


def test_max_similarity_by_hand():
    ids = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    cand = np.array([[0.6, 0.8], [0.96, 0.28], [-1.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(negmining.max_similarity(cand, ids).numpy(), [0.8, 1.0, 0.0], atol=1e-7)


def test_the_wordnet_stand_in_for_the_llm_filter():
    words = ["paris", "dalmatian", "cat", "gooey landscape", "a.m.", "ox", "china", "pasqueflower", "puppy",
             "dalmatian", "ice-cream"]
    kinds = ["noun", "noun", "noun", "csp", "noun", "noun", "noun", "noun", "noun", "noun", "noun"]
    reasons = corpus.negrefine_filter_reasons(words, kinds, [["dog", "Cat", "painting"]] * len(words))
    assert reasons == {
        0: "a proper noun",  # every sense of Paris is an instance or capitalised
        1: "a subcategory of the ID label 'dog'",  # a sense is a dog breed (another is a Dalmatian person)
        2: "the ID label 'Cat' itself",
        3: "a subcategory of the ID label 'painting'",  # a phrase: its head "landscape" is a kind of painting
        4: "2 characters or fewer once cleaned",  # "a.m." cleans to "am"
        5: "2 characters or fewer once cleaned",
        8: "a subcategory of the ID label 'dog'",
        9: "a repeat",
    }  # "china" (porcelain too), "pasqueflower" and "ice-cream" stay
    with pytest.raises(ValueError, match="^2 words, 1 kinds and 2 nearest-ID lists; expected one of each per word$"):
        corpus.negrefine_filter_reasons(["a", "b"], ["noun"], [[], []])


def test_negrefine_through_the_pipeline(emb, one_text_tower):  # noqa: F811
    """The bank (CSP's candidates, lowest 15% by the largest ID cosine, filtered) and the score,
    from the paper profile's fixture, against the pieces by hand."""
    scored = ex.score(emb, {"negrefine_templates": "official"}, methods=("negrefine",))
    bank = scored.banks["negrefine"]
    words, pos, cand, own_ids = ex.csp_candidates(emb, {"csp_templates": "official"})
    s = negmining.max_similarity(cand, own_ids)
    kept = negmining.lowest_fraction_per_group(s, pos, 0.15).numpy()
    removed = [words[i] for i in kept if words[i] not in bank.words]
    assert set(removed) == set(bank.removed) and bank.words == [words[i] for i in kept if words[i] in bank.words]
    assert scored.params["m_negrefine"] == len(bank.words) > 5
    unfiltered = ex.score(emb, {"negrefine_templates": "official", "negrefine_filter": "none"}, methods=("negrefine",))
    assert unfiltered.banks["negrefine"].words == [words[i] for i in kept] and not unfiltered.banks["negrefine"].removed
    x = torch.from_numpy(np.array(emb.id_emb))
    ids, negs = x @ torch.from_numpy(own_ids).T, x @ torch.from_numpy(bank.emb).T
    names = list(emb.data.class_names)

    def pair_emb(top_ids, top_negs):  # the official embedding of "<ID label> and <negative>": raw template mean
        texts = [f"{names[a]} and {bank.words[b]}" for r, c in zip(top_ids.tolist(), top_negs.tolist()) for a in r for b in c]
        raw = np.stack([embed.encode_texts(one_text_tower, [t.format(w) for w in texts], cache=False, progress=False,
                                              normalize=False) for t in corpus.CSP_NOUN_TEMPLATES]).mean(axis=0)
        return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).reshape(len(top_ids), -1, raw.shape[1])

    top_ids, top_negs, vals = scores.multi_matching_top(ids, negs)
    want = (scores.neglabel_score(ids, negs, tau=scored.params["tau"], n_groups=scored.params["n_groups"], seed=0)
            + 2 * scores.multi_matching_score(x, torch.from_numpy(pair_emb(top_ids, top_negs)), vals))
    np.testing.assert_allclose(scored.id["negrefine"], want.numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"^negrefine_filter='llm'; expected one of \['wordnet', 'none'\]$"):
        ex.score(emb, {"negrefine_filter": "llm"}, methods=("negrefine",))
    with pytest.raises(ValueError, match=r"^method 'negrefine' composes label pairs; expected the pair embedder of bank "
                                         r"'negrefine' \(the pipeline's score\(\) supplies it\)$"):
        registry.method_scores(emb.id_emb, emb.id_text, bank.emb, scored.params, ["negrefine"],
                               {"negrefine": bank.emb})


def test_where_negrefines_gain_comes_from_is_read_with_its_intervals():
    from neglabel_core.analysis.tables import negrefine_parts_reading

    def row(d, lo, hi):
        return {"AUROC diff": d, "AUROC lo": lo, "AUROC hi": hi}

    total = row(0.33, 0.01, 0.63)
    # the book's case: the bank is most of the point value but its own interval includes zero
    assert negrefine_parts_reading(total, row(0.26, -0.03, 0.55), {"its filter": row(-0.05, -0.2, 0.1),
                                                                   "multi-matching": row(0.14, 0.05, 0.23)}) == (
        "by the point estimates its bank accounts for most of NegRefine's AUROC difference from NegLabel, and the "
        "bank's own gap cannot be told from zero; of the two changes, only multi-matching is clear of zero")
    assert negrefine_parts_reading(total, row(0.1, 0.02, 0.2), {"its filter": row(0.1, 0.01, 0.2),
                                                                "multi-matching": row(-0.2, -0.3, -0.1)}) == (
        "by the point estimates its bank accounts for less than half of NegRefine's AUROC difference from NegLabel, "
        "and the bank's own gap is clear of zero; of the two changes, its filter and multi-matching are clear of zero")
    assert negrefine_parts_reading(total, row(0.2, -0.1, 0.5), {"its filter": row(0.0, -0.1, 0.1)}).endswith(
        "; neither change is clear of zero on its own")
