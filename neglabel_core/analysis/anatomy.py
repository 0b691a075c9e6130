"""Why NegLabel scores as it does (chapter 02's controls): how closely it ranks images as the
baselines do, how much of its score the ID term and the negative term each explain, and which
negative labels fire on the images it gets wrong.

Ungrouped (``n_g = 1``), NegLabel's log-odds splits exactly into two energies at its temperature::

    log S/(1-S) = LSE_k(a_k / tau) - LSE_j(b_j / tau) = E_id(x) - E_neg(x)

``E_id`` is the energy baseline at ``tau`` (the profile's ``energy_tau`` where they agree); so
NegLabel is energy *minus* a second energy over the negative labels, and the question "is it
energy in disguise?" is how much of its variation ``E_neg`` carries."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch

from .. import pipeline
from ..ood import metrics
from .chapter import md_text, method_label


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy()


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's on average ranks; ties share their mean rank)."""
    return float(np.corrcoef(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))[0, 1])


def rank_correlations(scored: pipeline.Scored, against: tuple[str, ...] = ("energy", "max_cos", "mcm"),
                      method: str = "neglabel") -> pd.DataFrame:
    """Spearman correlation of ``method``'s score with each of ``against`` over the ID images and
    one OOD set's images together, per OOD set: 1 means the two rank every image alike (and so
    have the same AUROC)."""
    rows = []
    for name in scored.ood:
        x = np.concatenate([scored.id[method], scored.ood[name][method]])
        rows.append({"OOD set": name, **{method_label(b): spearman(x, np.concatenate([scored.id[b], scored.ood[name][b]]))
                                          for b in against}})
    return pd.DataFrame(rows)


def energy_terms(emb: pipeline.Embedded, x: np.ndarray, negatives: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """``E_id = LSE_k(a_k / tau)`` and ``E_neg = LSE_j(b_j / tau)`` (float64) for images ``x``."""
    images = torch.from_numpy(np.asarray(x, dtype=np.float64))
    a = images @ torch.from_numpy(np.asarray(emb.id_text, dtype=np.float64)).T
    b = images @ torch.from_numpy(np.asarray(emb.corpus_emb, dtype=np.float64)[negatives]).T
    return torch.logsumexp(a / tau, dim=1).numpy(), torch.logsumexp(b / tau, dim=1).numpy()


def decomposition(emb: pipeline.Embedded, params: dict | None = None) -> pd.DataFrame:
    """Per OOD set (ID and that set's images together), the ungrouped log-odds ``l = E_id - E_neg``
    split into its two terms: the share of ``var(l)`` each explains (``cov(l, E_id) / var(l)`` and
    ``-cov(l, E_neg) / var(l)``, which add to 1), and the AUROC of ``l``, of ``E_id`` alone (energy
    at NegLabel's tau) and of ``-E_neg`` alone (the negative labels alone), in percent."""
    p = {**emb.profile.params, **(params or {})}
    negatives = pipeline.mine(emb, eta=p["eta"], m=p["m"], pos_fraction=p.get("pos_fraction"))
    id_e, id_n = energy_terms(emb, emb.id_emb, negatives, p["tau"])
    rows = []
    for name, x in emb.ood_emb.items():
        ood_e, ood_n = energy_terms(emb, x, negatives, p["tau"])
        e, n = np.concatenate([id_e, ood_e]), np.concatenate([id_n, ood_n])
        logit = e - n
        var = np.var(logit)
        rows.append({"OOD set": name, "share of var(l): ID term": float(np.cov(logit, e, bias=True)[0, 1] / var),
                     "share of var(l): negative term": float(-np.cov(logit, n, bias=True)[0, 1] / var),
                     "AUROC of l (n_g = 1)": 100 * metrics.auroc(id_e - id_n, ood_e - ood_n),
                     "AUROC of E_id alone": 100 * metrics.auroc(id_e, ood_e),
                     "AUROC of -E_neg alone": 100 * metrics.auroc(-id_n, -ood_n)})
    return pd.DataFrame(rows)


def firing_negatives(emb: pipeline.Embedded, scored: pipeline.Scored, *, top: int = 10, tpr: float = 0.95) -> pd.DataFrame:
    """The negative labels that *fire* (are the most similar negative label of an image) on the
    images NegLabel gets wrong at the threshold keeping ``tpr`` of the ID images: the OOD images
    it accepts (missed) and the ID images it rejects, against the OOD images it rejects (caught).
    ``top`` labels per group with their count and share of the group."""
    id_s = scored.id["neglabel"]
    threshold = np.quantile(id_s, 1 - tpr)
    neg_text = np.asarray(emb.corpus_emb)[scored.negatives]
    words = np.asarray(emb.corpus.words, dtype=object)[scored.negatives]

    def fired(x: np.ndarray) -> list[str]:
        return list(words[np.argmax(np.asarray(x, dtype=np.float32) @ neg_text.T, axis=1)]) if len(x) else []

    ood_x = np.concatenate(list(emb.ood_emb.values()))
    ood_s = np.concatenate([scored.ood[n]["neglabel"] for n in emb.ood_emb])
    groups = {"OOD accepted as ID (missed)": fired(ood_x[ood_s >= threshold]),
              "ID rejected as OOD": fired(np.asarray(emb.id_emb)[id_s < threshold]),
              "OOD rejected (caught)": fired(ood_x[ood_s < threshold])}
    rows = []
    for group, labels in groups.items():
        for rank, (word, count) in enumerate(Counter(labels).most_common(top), start=1):
            rows.append({"images": group, "n images": len(labels), "rank": rank, "negative label": word,
                         "fires on": count, "share (%)": 100 * count / len(labels)})
    return pd.DataFrame(rows)


def temperature_note(params: dict) -> str:
    """Whether NegLabel's τ is also the energy baseline's temperature (then ``E_id`` is that baseline exactly)."""
    tau, energy_tau = params["tau"], params.get("energy_tau", 0.01)
    return (f"here τ = {tau}, which is also the energy baseline's temperature" if tau == energy_tau else
            f"here τ = {tau}; the energy baseline runs at its own τ_E = {energy_tau}")


def decomposition_readings(parts: pd.DataFrame, scored: pipeline.Scored) -> dict[str, object]:
    """What :func:`decomposition` says, by the chapter's glue names: the negative term's least and
    largest share of the log-odds' variance (%), the OOD sets where both terms together rank worse
    than the ID term alone, and the least rank correlation of NegLabel with energy."""
    hurt = parts[parts["AUROC of l (n_g = 1)"] < parts["AUROC of E_id alone"]]["OOD set"].tolist()
    return {"s_neg_share_min": 100 * parts["share of var(l): negative term"].min(),
            "s_neg_share_max": 100 * parts["share of var(l): negative term"].max(),
            "s_hurt": ", ".join(map(md_text, hurt)) if hurt else "none", "s_n_hurt": len(hurt),
            "s_rho_min": rank_correlations(scored)["energy"].min()}


def firing_table(fired: pd.DataFrame) -> pd.DataFrame:
    """:func:`firing_negatives` as the page shows it: per rank, the label that fires on each group
    of images with its share of them (%), the groups named with their image counts."""
    fired = fired.assign(**{"label (share %)": [f"{w} ({s:.1f})" for w, s in zip(fired["negative label"], fired["share (%)"])],
                            "images": [f"{g} ({k:,})" for g, k in zip(fired["images"], fired["n images"])]})
    return fired.pivot(index="rank", columns="images", values="label (share %)").rename_axis(
        columns="images (how many): the label that fires, with its share of them in %")


def firing_share_max(fired: pd.DataFrame) -> float:
    """The largest share (%) of the accepted OOD images on which one negative label fires."""
    return fired.loc[fired["images"].str.startswith("OOD accepted"), "share (%)"].max()
