"""AdaNeg: the memory's rules by hand, the thresholds at their edges, and the whole stream
against an independent float64 loop (one image, one slot, one proxy at a time)."""

import numpy as np
import pytest
import torch

from neglabel_core.ood import adaneg, scores
from tests.test_scores import reference_neglabel


def unit(rng, n, d):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_entropy_by_hand():
    logits = torch.tensor([[0.0, 0.0], [np.log(3.0), 0.0]])
    want = [-2 * 0.5 * np.log(0.5 + 1e-8), -(0.75 * np.log(0.75 + 1e-8) + 0.25 * np.log(0.25 + 1e-8))]
    np.testing.assert_allclose(adaneg.entropy(logits).numpy(), want, rtol=1e-6)


def test_memory_starts_with_the_text_row_and_stores_l_minus_one_images():
    text = torch.eye(3, 4)
    mem = adaneg.AdaNegMemory.start(text, length=3)
    assert mem.rows.shape == (3, 4, 4) and mem.pointer.tolist() == [1, 1, 1]
    assert len(mem.occupied()) == 0
    f = [torch.full((4,), float(i)) for i in range(5)]
    assert mem.write(1, f[1], 0.3) == "stored"
    assert mem.write(1, f[2], 0.2) == "stored"
    assert mem.pointer.tolist() == [1, 3, 1] and mem.occupied().tolist() == [1]
    # full at pointer == L: L - 1 = 2 images, the last row stays zero
    assert mem.write(1, f[3], 0.5) == "kept out"  # 0.5 is not below any stored entropy (0, 0.3, 0.2, 0)
    assert mem.write(1, f[4], 0.25) == "replaced"  # below 0.3: takes the row with the largest entropy
    torch.testing.assert_close(mem.rows[1], torch.stack([text[1], f[4], f[2], torch.zeros(4)]))
    assert mem.entropies[1].tolist() == pytest.approx([0, 0.25, 0.2, 0])
    assert mem.write(1, f[3], 0.0) == "replaced"  # the largest entropy (0.25) goes, never the text row's 0
    torch.testing.assert_close(mem.rows[1], torch.stack([text[1], f[3], f[2], torch.zeros(4)]))
    assert mem.write(1, f[4], 0.0) == "replaced" and mem.write(1, f[4], 0.0) == "kept out"  # 0 is below nothing
    torch.testing.assert_close(mem.rows[0], torch.cat([text[:1], torch.zeros(3, 4)]))  # other slots untouched


def test_proxies_by_hand_in_both_modes():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    mem = adaneg.AdaNegMemory.start(text, length=3)
    m = torch.tensor([0.6, 0.8])
    mem.write(0, m, 0.1)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    ta = mem.proxy_cosines(x, text, "ta")
    p0 = (text[0] + m) / torch.linalg.norm(text[0] + m)
    torch.testing.assert_close(ta, torch.stack([torch.stack([p0 @ x[0], x[0] @ text[1]]),
                                                torch.stack([p0 @ x[1], x[1] @ text[1]])]))
    sa = mem.proxy_cosines(x, text, "sa", beta=5.0)
    for i in range(2):
        w_t, w_m = np.exp(-5 * (1 - float(x[i] @ text[0]))), np.exp(-5 * (1 - float(x[i] @ m)))
        p = w_t * text[0] + w_m * m
        assert float(sa[i, 0]) == pytest.approx(float(x[i] @ p / torch.linalg.norm(p)), rel=1e-6)
        assert float(sa[i, 1]) == pytest.approx(float(x[i] @ text[1]))  # no image: p = t


def test_threshold_is_strict_at_its_edge():
    rng = np.random.default_rng(0)
    ids, negs, x = unit(rng, 3, 8), unit(rng, 6, 8), unit(rng, 1, 8)
    tx = torch.from_numpy(x)
    # the stream's own float32 s_nl (same ops, same bits), checked against the float64 reference
    s32 = float(scores.neglabel_score(tx @ torch.from_numpy(ids).T, tx @ torch.from_numpy(negs).T, tau=0.01, n_groups=2)[0])
    assert s32 == pytest.approx(reference_neglabel(x @ ids.T, x @ negs.T, 0.01, 2, 0)[0], rel=1e-5)
    assert s32 > 0.5
    common = dict(batch_size=4, memory_length=3, gamma=0.5, lam=0.1, n_groups=2, return_memory=True)
    # gamma + g (1 - gamma) == s exactly: not written; a hair lower: written
    _, mem = adaneg.adaneg_stream(x, ids, negs, gap=2 * s32 - 1, **common)
    assert mem.pointer.sum().item() == 9
    _, mem = adaneg.adaneg_stream(x, ids, negs, gap=2 * float(np.nextafter(np.float32(s32), np.float32(0))) - 1, **common)
    assert mem.pointer.tolist() == [1 + (k == int(np.argmax(x @ ids.T))) for k in range(9)]


def reference_stream(x, ids, negs, *, batch, length, gamma, gap, lam, mode, beta, n_groups):
    """Independent float64 transcription: lists of rows per slot, loops per image and slot."""
    k, m = len(ids), len(negs)
    labels = np.concatenate([ids, negs]).astype(np.float64)
    slots = [[labels[c]] for c in range(k + m)]  # written rows (text first); the zero row adds nothing
    ents = [[0.0] for _ in range(k + m)]
    events = {"stored": 0, "replaced": 0}

    def ent(z):  # in float32, as the implementation documents: in float64, log(1 + 1e-8) > 0 makes a
        z = z.astype(np.float32)  # near-one-hot entropy about -1e-8, below the text row's 0
        p = np.exp(z - z.max())
        p /= p.sum()
        return float(-(p * np.log(p + np.float32(1e-8))).sum())

    def write(c, v, h):
        if len(slots[c]) < length:  # rows 0..L-1 hold text + L-1 images
            slots[c].append(v)
            ents[c].append(h)
            events["stored"] += 1
        elif any(h < e for e in ents[c] + [0.0]):  # + the never-written zero row's entropy
            j = int(np.argmax(ents[c]))
            if ents[c][j] > 0.0:  # argmax over all rows would pick the text row (0) only if all are <= 0
                slots[c][j], ents[c][j] = v, h
                events["replaced"] += 1

    out = []
    for start in range(0, len(x), batch):
        xb = x[start:start + batch].astype(np.float64)
        a, b = xb @ ids.T, xb @ negs.T
        s_nl = reference_neglabel(a, b, 0.01, n_groups, 0)
        for i in range(len(xb)):
            if s_nl[i] > gamma + gap * (1 - gamma):
                write(int(np.argmax(a[i])), xb[i], ent(100 * a[i]))
        for i in range(len(xb)):
            if s_nl[i] < gamma - gap * gamma:
                write(k + int(np.argmax(b[i])), xb[i], ent(100 * b[i]))
        cos = np.zeros((len(xb), k + m))
        for i in range(len(xb)):
            for c in range(k + m):
                rows = np.array(slots[c])
                w = np.ones(len(rows)) if mode == "ta" else np.exp(-beta * (1 - rows @ xb[i]))
                p = (w[:, None] * rows).sum(axis=0)
                cos[i, c] = xb[i] @ p / np.linalg.norm(p)
        out.extend(reference_neglabel(cos[:, :k], cos[:, k:], 0.01, n_groups, 0) + lam * s_nl)
    return np.array(out), events


@pytest.mark.parametrize("mode", ["ta", "sa"])
def test_stream_matches_an_independent_float64_loop(mode):
    rng = np.random.default_rng(3)
    ids, negs = unit(rng, 3, 6), unit(rng, 8, 6)
    # images near the labels, so both writes happen and slots fill up
    x = np.concatenate([ids[rng.integers(0, 3, 30)], negs[rng.integers(0, 8, 30)]]) + 0.35 * rng.normal(size=(60, 6))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)[rng.permutation(60)]
    cfg = dict(length=3, gamma=0.5, gap=0.3, lam=0.1, mode=mode, beta=5.0, n_groups=2)
    want, events = reference_stream(x, ids, negs, batch=7, **cfg)
    assert events["stored"] > 5 and events["replaced"] > 0  # the test reaches eviction
    got, mem = adaneg.adaneg_stream(x, ids, negs, batch_size=7, memory_length=3, gamma=0.5, gap=0.3, lam=0.1,
                                    mode=mode, beta=5.0, n_groups=2, return_memory=True)
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=2e-6)
    assert int((mem.pointer - 1).sum()) == events["stored"]


def test_the_score_depends_on_the_order_and_an_empty_memory_is_negLabel_plus_lambda_negLabel():
    rng = np.random.default_rng(4)
    ids, negs = unit(rng, 3, 6), unit(rng, 8, 6)
    x = unit(rng, 20, 6)
    nl = reference_neglabel(x @ ids.T, x @ negs.T, 0.01, 2, 0)
    x, nl = x[(nl > 0.01) & (nl < 0.99)], nl[(nl > 0.01) & (nl < 0.99)]
    assert len(x) >= 5
    # thresholds 0.995 and 0.005: no image passes, the memory stays empty and S = (1 + lambda) NL
    got = adaneg.adaneg_stream(x, ids, negs, batch_size=5, gamma=0.5, gap=0.99, lam=0.1, n_groups=2)
    np.testing.assert_allclose(got.numpy(), 1.1 * nl, rtol=1e-5, atol=1e-7)
    x2 = np.concatenate([ids[[0, 0, 1]], x])
    order = rng.permutation(len(x2))
    a = adaneg.adaneg_stream(x2, ids, negs, batch_size=4, gap=0.3, n_groups=2).numpy()
    b = adaneg.adaneg_stream(x2[order], ids, negs, batch_size=4, gap=0.3, n_groups=2).numpy()
    assert not np.allclose(a[order], b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="both"), "AdaNeg mode 'both'; expected 'ta' (task-adaptive) or 'sa' (sample-adaptive)"),
    (dict(gamma=1.0), "gamma"),
    (dict(batch_size=0), "batch_size"),
    (dict(lam=-0.5), "lambda=-0.5; expected a number >= 0"),
    (dict(memory_length=1), "memory length L"),
])
def test_parameter_errors(kwargs, message):
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        adaneg.adaneg_stream(unit(rng, 4, 6), unit(rng, 3, 6), unit(rng, 8, 6), **kwargs)


def test_dimension_mismatch_is_named():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="embedding dimensions differ: images 6, ID text 5, negative text 6"):
        adaneg.adaneg_stream(unit(rng, 4, 6), unit(rng, 3, 5), unit(rng, 8, 6))


def test_eviction_ties_replace_the_last_row_as_the_official_sort():
    # Two stored images with bit-identical entropies 0.7 (rows 1 and 2) and a lower one (row 3): the
    # official torch.sort(entropies)[1][-1] replaces the later of the tied rows (row 2), not the first.
    mem = adaneg.AdaNegMemory.start(torch.eye(3, 4)[:1], length=4)
    f = torch.eye(4)
    assert [mem.write(0, f[i], h) for i, h in ((1, 0.7), (2, 0.7), (3, 0.2))] == ["stored"] * 3
    assert mem.write(0, f[0], 0.1) == "replaced"
    assert mem.entropies[0].tolist() == pytest.approx([0.0, 0.7, 0.1, 0.2, 0.0])
    torch.testing.assert_close(mem.rows[0, 2], f[0])
    assert mem.write(0, f[0], 0.05) == "replaced" and mem.entropies[0, 1].item() == pytest.approx(0.05)
