"""Detection metrics with ID as the positive class (higher score = more in-distribution).

All single metrics return fractions in [0, 1]; :func:`summarize` reports percent, as papers do.
Pure numpy (plus pandas for the table); scikit-learn serves only as the tests' reference.
The two FPR95 rules and the official code's: ``docs/methods.md`` (section 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd

from .bootstrap import Resampler, SortedArms, draw_replicates, unit_counts
from .multiplicity import bootstrap_se
from .validation import ArrayLike, as_float_tensor, check_count, check_open_unit


def _scores(x: ArrayLike, name: str) -> np.ndarray:
    return as_float_tensor(x, name, ndim=1).detach().cpu().double().numpy()


def _ranked(id_scores: np.ndarray, ood_scores: np.ndarray):
    """Thresholds from high to low and the cumulative ID / OOD counts at or above each."""
    scores = np.concatenate([id_scores, ood_scores])
    is_id = np.concatenate([np.ones(len(id_scores)), np.zeros(len(ood_scores))])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_id = scores[order], is_id[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(is_id)[last_of_tie]
    fp = np.cumsum(1 - is_id)[last_of_tie]
    return scores[last_of_tie], tp, fp


def roc_curve(id_scores: ArrayLike, ood_scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve with ID as positive: (FPR, TPR) at every distinct threshold from high to low,
    starting at (0, 0). O(N log N)."""
    a, b = _scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores")
    _, tp, fp = _ranked(a, b)
    return np.r_[0.0, fp / len(b)], np.r_[0.0, tp / len(a)]


def auroc(id_scores: ArrayLike, ood_scores: ArrayLike) -> float:
    """Area under the ROC curve: P(S_id > S_ood) + 0.5 P(S_id = S_ood) (Mann-Whitney U / (n m))."""
    fpr, tpr = roc_curve(id_scores, ood_scores)
    return float(np.trapezoid(tpr, fpr))


FPR_RULES = ("at_least", "closest")


def fpr_at_tpr(id_scores: ArrayLike, ood_scores: ArrayLike, tpr: float = 0.95, *, rule: str = "at_least") -> float:
    """FPR at ``tpr`` (FPR95 for 0.95): the share of OOD scores at or above a threshold lambda.

    ``rule="at_least"``: lambda is the largest threshold with ID recall P(S_id >= lambda) >= tpr
    (the ceil(tpr * n)-th largest ID score).

    ``rule="closest"``: the OOD literature's ``fpr_and_fdr_at_recall``, which the NegLabel and
    MCM code report: one candidate threshold per distinct score (scores sorted descending, the
    last index of each run of ties), ID recall at each; the candidates from the first one whose
    recall reaches 1 back to the top, in that order (within equal recall the lower threshold,
    i.e. more false positives, first), then one extra entry (recall 1, no false positives); the
    first entry whose |recall - tpr| is smallest (float64) wins, so its recall may lie *below*
    ``tpr``; FPR = false positives there / number of OOD samples. It counts the OOD scores that
    fall between the k-th and (k+1)-th ID score when recall k/n hits ``tpr`` exactly, and picks a
    recall under ``tpr`` when that is closer: up to ~0.7 points above or below "at_least" at
    n = 1,000, more on tied scores.
    """
    check_open_unit(tpr, "tpr")
    if rule not in FPR_RULES:
        raise ValueError(f"unknown FPR rule {rule!r}; expected one of {list(FPR_RULES)}")
    a, b = _scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores")
    if rule == "closest":
        _, tp, fp = _ranked(a, b)
        recall = tp / tp[-1]
        first_full = int(np.searchsorted(tp, tp[-1]))
        recall = np.r_[recall[first_full::-1], 1.0]
        fps = np.r_[fp[first_full::-1], 0.0]
        return float(fps[np.argmin(np.abs(recall - tpr))] / len(b))
    # lambda = the ceil(tpr * n)-th largest ID score (with a tolerance for tpr * n landing on an integer).
    k = int(np.ceil(tpr * len(a) - 1e-9))
    threshold = np.sort(a)[::-1][max(k, 1) - 1]
    return float(np.mean(b >= threshold))


def zero_shot_top1(image_emb: np.ndarray, class_emb: np.ndarray, labels: Sequence[int]) -> float:
    """Fraction of images whose most similar class embedding is their own class."""
    predicted = np.argmax(np.asarray(image_emb) @ np.asarray(class_emb).T, axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision with ``pos`` as the positive class (step-wise, as scikit-learn)."""
    _, tp, fp = _ranked(pos, neg)
    precision = tp / (tp + fp)
    recall = tp / len(pos)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def aupr_in(id_scores: ArrayLike, ood_scores: ArrayLike) -> float:
    """Area under the precision-recall curve with ID as positive (average precision)."""
    return _average_precision(_scores(id_scores, "id_scores"), _scores(ood_scores, "ood_scores"))


def aupr_out(id_scores: ArrayLike, ood_scores: ArrayLike) -> float:
    """Area under the precision-recall curve with OOD as positive and the score negated."""
    return _average_precision(-_scores(ood_scores, "ood_scores"), -_scores(id_scores, "id_scores"))


METRICS = {"AUROC": auroc, "FPR95": fpr_at_tpr, "AUPR-In": aupr_in, "AUPR-Out": aupr_out}


def _metric_functions(fpr_rule: str) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    if fpr_rule not in FPR_RULES:
        raise ValueError(f"unknown FPR rule {fpr_rule!r}; expected one of {list(FPR_RULES)}")
    return {**METRICS, "FPR95": partial(fpr_at_tpr, rule=fpr_rule)}


def _check_units(units: Sequence | None, n: int, name: str, scores_have: str = "its scores have") -> np.ndarray | None:
    if units is None:
        return None
    units = np.asarray(units)
    if len(units) != n:
        raise ValueError(f"{name} has {len(units)} entries but {scores_have} {n}; expected one per sample")
    return units


def summarize(
    id_scores: ArrayLike | Mapping[str, ArrayLike],
    ood_scores: Mapping[str, ArrayLike],
    *,
    id_units: Sequence | None = None,
    ood_units: Mapping[str, Sequence] | None = None,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    fpr_rule: str = "at_least",
) -> pd.DataFrame:
    """Results table: one row per OOD set plus ``average``, metric columns in percent.

    ``average`` is the plain mean over the OOD sets, as papers report it (not a pooled
    evaluation of all OOD images, which would weight the sets by size). FPR95 follows
    ``fpr_rule`` (see :func:`fpr_at_tpr`).

    For each metric ``X`` the table has ``X`` and, when ``n_bootstrap > 0``, ``X_lo`` / ``X_hi``:
    a percentile bootstrap ``ci`` interval. Each replicate resamples the ID set and the OOD set
    independently; with ``id_units`` / ``ood_units`` (e.g. concept ids, one per sample) whole
    units are drawn with replacement, so correlated samples of one concept move together.
    The average's interval comes from the per-replicate means.

    ``id_scores`` may be a mapping OOD set -> ID scores, for a method whose ID scores depend on
    the OOD set they are streamed with (AdaNeg): the same ID images (and ``id_units``), one score
    array per set.
    """
    if not ood_scores:
        raise ValueError("ood_scores is empty; expected at least one OOD set")
    if "average" in ood_scores:
        raise ValueError("an OOD set is named 'average', the name of the mean over sets; rename the set")
    check_count(n_bootstrap, "n_bootstrap", low=0, high=10**7, high_name="the limit")
    check_open_unit(ci, "ci")
    functions = _metric_functions(fpr_rule)
    if isinstance(id_scores, Mapping):
        missing = [n for n in ood_scores if n not in id_scores]
        if missing:
            raise ValueError(f"id_scores has no ID scores for OOD set(s) {missing}; expected one array per OOD set")
        id_by_set = {n: _scores(id_scores[n], f"id_scores[{n!r}]") for n in ood_scores}
        if len({len(v) for v in id_by_set.values()}) > 1:
            raise ValueError("id_scores per set have different lengths "
                             f"{ {n: len(v) for n, v in id_by_set.items()} }; expected the same ID images for every set")
    else:
        id_by_set = dict.fromkeys(ood_scores, _scores(id_scores, "id_scores"))
    n_id = len(next(iter(id_by_set.values())))
    id_resampler = Resampler(n_id, _check_units(id_units, n_id, "id_units", "id_scores has"))
    rng = np.random.default_rng(seed)
    rows, boot = {}, {}
    for name, scores in ood_scores.items():
        a = id_by_set[name]
        b = _scores(scores, f"ood_scores[{name!r}]")
        units = None if not ood_units or name not in ood_units else ood_units[name]
        ood_resampler = Resampler(len(b), _check_units(units, len(b), f"ood_units[{name!r}]"))
        rows[name] = {m: 100 * f(a, b) for m, f in functions.items()}
        if n_bootstrap:
            id_draws, ood_draws = draw_replicates(rng, [id_resampler, ood_resampler], n_bootstrap)
            values = SortedArms(a, b).evaluate(id_resampler.weights(id_draws), ood_resampler.weights(ood_draws),
                                                list(functions), fpr_rule=fpr_rule)
            boot[name] = 100 * np.stack([values[m][:, 0] for m in functions], axis=1)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["average"] = table.mean(axis=0)
    if n_bootstrap:
        alpha = (1 - ci) / 2
        boot["average"] = np.mean([boot[n] for n in ood_scores], axis=0)
        for j, metric in enumerate(functions):
            table[f"{metric}_lo"] = [np.quantile(boot[n][:, j], alpha) for n in table.index]
            table[f"{metric}_hi"] = [np.quantile(boot[n][:, j], 1 - alpha) for n in table.index]
    table.index.name = "ood_set"
    return table


def paired_difference(
    id_a: ArrayLike | Mapping[str, ArrayLike],
    ood_a: Mapping[str, ArrayLike],
    id_b: ArrayLike | Mapping[str, ArrayLike],
    ood_b: Mapping[str, ArrayLike],
    *,
    metric: str = "AUROC",
    id_units: Sequence | None = None,
    ood_units: Mapping[str, Sequence] | None = None,
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    fpr_rule: str = "at_least",
) -> pd.DataFrame:
    """The difference A - B of one metric (percent points) between two arms scored on the same
    images (two methods, corpora, values of M or eta), per OOD set and for the mean over sets,
    with a *paired* percentile bootstrap interval: each replicate draws one resample of units
    (ID and each OOD set) and scores both arms on it, so what the arms share cancels and a gap
    smaller than the noise of either arm alone can still be told from zero.

    ``id_a`` / ``id_b`` may be mappings OOD set -> ID scores (a stream method scores the same ID
    images anew beside each OOD set, as in :func:`summarize`).

    Returns columns ``diff``, ``lo``, ``hi`` and ``se`` (the replicates' standard deviation, for
    :mod:`multiplicity`'s p-values) indexed by OOD set, plus ``average``.
    """
    functions = _metric_functions(fpr_rule)
    if metric not in functions:
        raise ValueError(f"unknown metric {metric!r}; expected one of {list(functions)}")
    if set(ood_a) != set(ood_b) or not ood_a:
        raise ValueError(f"the arms must share their OOD sets, got {sorted(ood_a)} and {sorted(ood_b)}")
    check_count(n_bootstrap, "n_bootstrap", low=1, high=10**7, high_name="the limit")
    check_open_unit(ci, "ci")
    f = functions[metric]

    def per_set(ids: ArrayLike | Mapping[str, ArrayLike], label: str) -> dict[str, np.ndarray]:
        if isinstance(ids, Mapping):
            missing = [n for n in ood_a if n not in ids]
            if missing:
                raise ValueError(f"{label} has no ID scores for OOD set(s) {missing}; expected one array per OOD set")
            return {n: _scores(ids[n], f"{label}[{n!r}]") for n in ood_a}
        return dict.fromkeys(ood_a, _scores(ids, label))

    a_ids, b_ids = per_set(id_a, "id_a"), per_set(id_b, "id_b")
    lengths = {len(v) for v in [*a_ids.values(), *b_ids.values()]}
    if len(lengths) > 1:
        raise ValueError(f"the arms score {sorted(lengths)} ID samples; expected the same images")
    n_id = lengths.pop()
    id_resampler = Resampler(n_id, _check_units(id_units, n_id, "id_units"))
    rng = np.random.default_rng(seed)
    rows, reps = {}, {}
    for name in ood_a:
        a_id, b_id = a_ids[name], b_ids[name]
        a_ood, b_ood = _scores(ood_a[name], f"ood_a[{name!r}]"), _scores(ood_b[name], f"ood_b[{name!r}]")
        if len(a_ood) != len(b_ood):
            raise ValueError(f"the arms score {len(a_ood)} and {len(b_ood)} samples of {name!r}; expected the same images")
        units = None if not ood_units or name not in ood_units else ood_units[name]
        ood_resampler = Resampler(len(a_ood), _check_units(units, len(a_ood), f"ood_units[{name!r}]"))
        rows[name] = 100 * (f(a_id, a_ood) - f(b_id, b_ood))
        id_draws, ood_draws = draw_replicates(rng, [id_resampler, ood_resampler], n_bootstrap)
        both = SortedArms(np.stack([a_id, b_id]), np.stack([a_ood, b_ood])).evaluate(
            id_resampler.weights(id_draws), ood_resampler.weights(ood_draws), [metric], fpr_rule=fpr_rule)[metric]
        reps[name] = 100 * (both[:, 0] - both[:, 1])
    rows["average"] = float(np.mean(list(rows.values())))
    reps["average"] = np.mean([reps[n] for n in ood_a], axis=0)
    alpha = (1 - ci) / 2
    table = pd.DataFrame({"diff": rows, "lo": {n: np.quantile(v, alpha) for n, v in reps.items()},
                          "hi": {n: np.quantile(v, 1 - alpha) for n, v in reps.items()},
                          "se": {n: bootstrap_se(v) for n, v in reps.items()}})
    table.index.name = "ood_set"
    return table


def arm_replicates(
    arms: Mapping[str, tuple[ArrayLike | Mapping[str, ArrayLike], Sequence, Mapping[str, ArrayLike]]],
    *,
    ood_units: Mapping[str, Sequence] | None = None,
    metric: str = "AUROC",
    n_bootstrap: int = 1000,
    seed: int = 0,
    fpr_rule: str = "at_least",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One metric (percent) for several arms on one shared bootstrap, where the arms' ID images
    may differ but share their units: e.g. the ID classes drawn in the evaluation styles and in a
    shifted style (the same concepts, other images), each scored by several methods.

    ``arms[name] = (id_scores, id_units, {ood_set: ood_scores})``; every arm scores OOD sets of
    the same sizes and units (the same images, or the same images shifted). ``id_scores`` may be
    a mapping OOD set -> ID scores (a stream method scores its ID images anew beside each set).
    Each replicate draws the ID units with replacement from the union of the arms' units (each
    arm keeps all of *its* images of the drawn units) and one resample of each OOD set, and
    scores every arm on it; so a difference of arms, or a difference of differences, has a paired
    interval (take quantiles of the returned replicates). Every metric is computed from the
    resamples' multiplicities (:class:`bootstrap.SortedArms`: one sort per arm, not one per replicate).

    Returns the point values (arms x OOD sets, plus ``average``, the mean over sets) and the
    replicates ``{ood_set or "average": array (n_bootstrap, n_arms)}`` in the arms' order.
    """
    functions = _metric_functions(fpr_rule)
    if metric not in functions:
        raise ValueError(f"unknown metric {metric!r}; expected one of {list(functions)}")
    if not arms:
        raise ValueError("arms is empty; expected at least one arm")
    check_count(n_bootstrap, "n_bootstrap", low=1, high=10**7, high_name="the limit")
    f = functions[metric]
    names = list(arms)
    sets = list(arms[names[0]][2])
    if not sets:
        raise ValueError(f"arm {names[0]!r} has no OOD sets; expected at least one")
    id_scores, units_of, ood = {}, {}, {}
    for name, (scores, units, by_set) in arms.items():
        if list(by_set) != sets:
            raise ValueError(f"arm {name!r} scores the OOD sets {list(by_set)}; expected {sets} (as arm {names[0]!r})")
        if isinstance(scores, Mapping):
            missing = [s for s in sets if s not in scores]
            if missing:
                raise ValueError(f"arms[{name!r}] has no ID scores for OOD set(s) {missing}; expected one array per OOD set")
            id_scores[name] = {s: _scores(scores[s], f"arms[{name!r}] ID scores[{s!r}]") for s in sets}
        else:
            id_scores[name] = dict.fromkeys(sets, _scores(scores, f"arms[{name!r}] ID scores"))
        if len({len(v) for v in id_scores[name].values()}) > 1:
            raise ValueError(f"arms[{name!r}] ID scores per set have different lengths; "
                             "expected the same ID images for every set")
        n_id = len(id_scores[name][sets[0]])
        units = _check_units(units, n_id, f"arms[{name!r}] id_units", "its ID scores have")
        if units is None:
            raise ValueError(f"arms[{name!r}] has no id_units; expected one unit per ID image")
        units_of[name] = units
        ood[name] = {s: _scores(v, f"arms[{name!r}][{s!r}]") for s, v in by_set.items()}
        for s in sets:
            if len(ood[name][s]) != len(ood[names[0]][s]):
                raise ValueError(f"arm {name!r} scores {len(ood[name][s])} images of {s!r}; expected "
                                 f"{len(ood[names[0]][s])} (as arm {names[0]!r}), the same images")
    all_units = sorted(set().union(*(np.unique(u).tolist() for u in units_of.values())))
    position = {u: i for i, u in enumerate(all_units)}
    # Arms with the same ID units share their ID multiplicities: one group, one matrix per set.
    groups: dict[tuple, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(tuple(units_of[name].tolist()), []).append(i)
    unit_index = {key: np.array([position[u] for u in key]) for key in groups}
    point = pd.DataFrame({s: [100 * f(id_scores[a][s], ood[a][s]) for a in names] for s in sets}, index=names)
    point["average"] = point[sets].mean(axis=1)
    # One draw of the union's units, then one resample of each OOD set, replicate by replicate.
    id_resampler = Resampler(len(all_units))
    ood_resamplers = [Resampler(len(ood[names[0]][s]), _check_units(None if not ood_units or s not in ood_units else ood_units[s],
                                                                     len(ood[names[0]][s]), f"ood_units[{s!r}]")) for s in sets]
    id_draws, *ood_draws = draw_replicates(np.random.default_rng(seed), [id_resampler, *ood_resamplers], n_bootstrap)
    drawn_units = unit_counts(id_draws, len(all_units))
    reps = {s: np.empty((n_bootstrap, len(names))) for s in sets}
    for s, resampler, draws in zip(sets, ood_resamplers, ood_draws):
        w_ood = resampler.weights(draws)
        for key, members in groups.items():
            group = SortedArms(np.stack([id_scores[names[i]][s] for i in members]),
                               np.stack([ood[names[i]][s] for i in members]))
            w_id = drawn_units[:, unit_index[key]]
            reps[s][:, members] = 100 * group.evaluate(w_id, w_ood, [metric], fpr_rule=fpr_rule)[metric]
    reps["average"] = np.mean([reps[s] for s in sets], axis=0)
    point.index.name = "arm"
    return point, reps
