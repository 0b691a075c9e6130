"""What every chapter starts and ends with: its one setup call (theme, every embedding of the
profile, a line saying what it runs on), the benchmark's sets and example images (chapter 00),
the method labels, interval tables for the page and ``glue`` for the prose. A chapter imports this
and the topic module it reads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import pipeline
from ..ood import methods as registry
from ..profiles import Profile, available_profiles, load_profile

method_label = registry.label  # a method's display name, from the registry (tables, figures)

# The book's one bootstrap policy: every interval on every page resamples concepts with this many
# replicates from this seed, so the same gap computed in two chapters prints the same interval.
N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 0


def replicates(n_bootstrap: int | None) -> int:
    """A chapter's ``n_bootstrap`` parameter: ``None`` (the default everywhere) is the book's policy
    :data:`N_BOOTSTRAP`; a number overrides it for a quick rerun."""
    return N_BOOTSTRAP if n_bootstrap is None else int(n_bootstrap)


def interval(value: float, lo: float, hi: float, *, digits: int = 2, signed: bool = False) -> str:
    """``value [lo, hi]`` as prose prints it (``signed``: with a sign, for gaps)."""
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    value, lo, hi = (round(float(v), digits) + 0.0 for v in (value, lo, hi))  # + 0.0: no "-0.00"
    return f"{f.format(value)} [{f.format(lo)}, {f.format(hi)}]"


def interval_bars(ax, x, value, lo, hi, *, horizontal: bool = False, label: str | None = None, color="C0",
                  size: float = 3.5) -> None:
    """Points at ``value`` with a line from ``lo`` to ``hi`` each: a bootstrap interval drawn as it
    is, even where the point lies outside it (matplotlib's error bars cannot show that)."""
    x, value, lo, hi = (np.asarray(v, dtype=float) for v in (x, value, lo, hi))
    if horizontal:
        ax.hlines(x, lo, hi, color=color, lw=1)
        ax.plot(value, x, "o", ms=size, color=color, label=label)
    else:
        ax.vlines(x, lo, hi, color=color, lw=1)
        ax.plot(x, value, "o", ms=size, color=color, label=label)


def clear_of_zero(lo: float, hi: float) -> bool:
    """Whether a paired interval [lo, hi] lies wholly on one side of zero."""
    return bool(lo > 0 or hi < 0)


def verdict_of(lo: float, hi: float) -> str:
    """Where a paired interval lies: "clear of zero" or "includes zero"."""
    return "clear of zero" if clear_of_zero(lo, hi) else "includes zero"


def _count(low: int, high: int) -> Any:
    return lambda v: (isinstance(v, int) and not isinstance(v, bool) and low <= v <= high, f"an integer in [{low:,}, {high:,}]")


def _number(low: float, high: float, *, open_low: bool = False) -> Any:
    def check(v: Any) -> tuple[bool, str]:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
        ok = ok and (low < v if open_low else low <= v) and v <= high
        return ok, f"a number in {'(' if open_low else '['}{low:g}, {high:g}]"
    return check


def _optional(rule: Any) -> Any:
    return lambda v: (True, "") if v is None else (rule(v)[0], f"None (the book's default) or {rule(v)[1]}")


def _list_of(rule: Any, most: int = 100) -> Any:
    def check(v: Any) -> tuple[bool, str]:
        ok = isinstance(v, (list, tuple)) and 0 < len(v) <= most and all(rule(x)[0] for x in v)
        return ok, f"a list of 1 to {most} values, each {rule(0)[1]}"
    return check


def _of_type(kind: type, what: str) -> Any:
    return lambda v: (isinstance(v, kind), what)


_TEMPLATE = re.compile(r"^([^{}]|\{\{|\}\})*\{\}([^{}]|\{\{|\}\})*$")
_ETA = _number(0, 1, open_low=True)
# Every parameter a chapter takes (its parameters cell), and what it accepts: checked by
# :func:`check_parameters` before any work, so ``papermill -p m 0`` fails in the first cell.
PARAMETERS: dict[str, Any] = {
    "profile": _of_type((str, Profile), "a profile name or a profile JSON file"),
    "overrides": _optional(_of_type(dict, "a mapping of profile keys")),
    "examples_per_group": _count(1, 100), "show": _count(1, 1000), "gallery_size": _count(1, 100),
    "eta": _optional(lambda v: (_ETA(v)[0] and v < 1, "a number in (0, 1)")), "m": _optional(_count(1, 10**7)),
    "n_bootstrap": _optional(_count(1, 10**5)), "n_seeds": _count(1, 1000), "stream_seeds": _count(1, 1000),
    "timing_repeats": _count(1, 1000), "web_words": _count(1, 10**6), "dictionary_words": _count(1, 10**6),
    "control_ms": _list_of(_count(1, 10**7)), "ms": _optional(_list_of(_count(1, 10**7))),
    "etas": _optional(_list_of(lambda v: (_ETA(v)[0] and v < 1, "a number in (0, 1)"))),
    "groups": _optional(_list_of(_count(1, 10**6))), "taus": _optional(_list_of(_number(0.001, 100))),
    "templates": _optional(_list_of(lambda v: (isinstance(v, str) and len(v) <= 200 and bool(_TEMPLATE.match(v)),
                                               "a prompt with one {} and no other replacement field"))),
    "remine_templates": _of_type(bool, "true or false"), "chance_top1": _number(0, 100),
    "paper_results": _of_type(str, "a file path"), "official_list": _of_type(str, "a file path"),
    "paper_profile": _of_type(str, "a profile name or a profile JSON file"),
    "near_profile": _optional(_of_type(str, "a profile name or a profile JSON file")),
    "near_overrides": _optional(_of_type(dict, "a mapping of profile keys")),
    "explorer_grid": _optional(_of_type(dict, "a mapping of grid keys to lists of values")),
    "vlms": _optional(_of_type(dict, "a mapping of a model's label to its profile overrides")),
    "corpus_sample": _optional(_count(1, 10**7)),
    "methods": _optional(_list_of(lambda v: (isinstance(v, str) and v in registry.REGISTRY,
                                             f"a method of the registry ({', '.join(registry.REGISTRY)})"))),
}


def check_parameters(**values: Any) -> None:
    """Check a chapter's parameters (its parameters cell, after papermill's injection) against
    :data:`PARAMETERS` before any work: one ValueError naming every bad value and what is expected."""
    problems = []
    for name, value in values.items():
        rule = PARAMETERS.get(name)
        if rule is None:
            problems.append(f"{name}: not a chapter parameter; expected one of {sorted(PARAMETERS)}")
            continue
        ok, expected = rule(value)
        if not ok:
            problems.append(f"{name}={value!r}; expected {expected}")
    if problems:
        raise ValueError("bad chapter parameter(s): " + "; ".join(problems))


def load(profile: str | Profile = "emoji-tiny", overrides: Mapping[str, Any] | None = None, *,
         progress: bool = False) -> pipeline.Embedded:
    """Every embedding of a profile (preparing data, model and caches on first use)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if overrides:
        prof = prof.with_overrides(overrides)
    return pipeline.embed_profile(prof, progress=progress)


def setup(profile: str | Profile = "emoji-tiny", overrides: Mapping[str, Any] | None = None,
          **parameters: Any) -> pipeline.Embedded:
    """A chapter's one setup call: its ``parameters`` checked (:func:`check_parameters`, before any
    work), the plotting theme, every embedding of the profile (cached), and one line saying what
    the chapter runs on."""
    check_parameters(profile=profile, overrides=overrides, **parameters)
    plot_theme()
    pd.set_option("display.max_colwidth", None)  # tables show whole names and sources, never "..."
    emb = load(profile, overrides)
    try:
        from IPython.display import Markdown, display

        display(Markdown(describe(emb)))  # wraps on the page (a print runs off the right edge)
    except ImportError:
        print(describe(emb))
    return emb


def plot_theme() -> None:
    """The chapters' figure style (seaborn's whitegrid). Figure text is plain text: a ``$`` in a
    reader's class or set name never starts matplotlib's mathtext (an odd one would stop the
    figure with a parse error, a pair would typeset the name as a formula)."""
    import matplotlib
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.scale

    matplotlib.scale.register_scale(_plain_log_scale())  # "log" axes label their ticks 10, 100, 1,000 (no mathtext)


def _plain_number(value: float, _position: Any = None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _plain_log_scale() -> type:
    from matplotlib.scale import LogScale
    from matplotlib.ticker import FuncFormatter, NullFormatter

    class PlainLogScale(LogScale):
        """matplotlib's log scale with plain tick labels: its default ones are mathtext (10^k),
        which the chapters' theme draws as text (``text.parse_math`` off, for names)."""

        def __init__(self, *, base: float = 10, subs: Any = None, nonpositive: str = "clip"):
            super().__init__(None, base=base, subs=subs, nonpositive=nonpositive)  # no axis parameter (matplotlib 3.11)

        def set_default_locators_and_formatters(self, axis):
            super().set_default_locators_and_formatters(axis)
            axis.set_major_formatter(FuncFormatter(_plain_number))
            axis.set_minor_formatter(NullFormatter())

    return PlainLogScale


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~$=:'\"])")


def md_text(text: Any) -> str:
    """A name from a reader's data (a class, concept, set or profile name) as Markdown that shows
    exactly that text: every character Markdown, MyST or HTML could read as markup (``<``, ``&``,
    ``*``, backquotes, brackets, ``$`` ...) backslash-escaped, line breaks as spaces. "AT&T" and
    "<unk>" show as they are; nothing in a name runs or formats."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def describe(emb: pipeline.Embedded) -> str:
    """One line (Markdown): the profile, its ID classes and images, OOD sets and corpus; the names as text."""
    return (f"profile {md_text(emb.profile.name)}: {len(emb.data.class_names)} ID classes, {len(emb.id_emb)} ID images, "
            f"{sum(len(v) for v in emb.ood_emb.values())} OOD images in {len(emb.ood_emb)} sets, "
            f"corpus {md_text(emb.corpus.name)} ({len(emb.corpus):,})")


def benchmark_sets(emb: pipeline.Embedded) -> pd.DataFrame:
    """The profile's image sets: role (ID, near OOD, far OOD, domain shift), concepts, images and
    concepts removed by the OOD filter."""
    def row(name: str, role: str, files: Any) -> dict[str, Any]:
        return {"set": name, "role": role, "concepts": len(set(files.units)), "images": len(files.paths),
                "removed by the OOD filter": len(emb.data.removed.get(name, []))}

    rows = [row("ID", "ID", emb.data.id_images)]
    rows += [row(n, "near OOD" if n in emb.data.near else "far OOD", f) for n, f in emb.data.ood.items()]
    rows += [row(n, "domain shift (ID)", f) for n, f in emb.data.shift.items()]
    return pd.DataFrame(rows)


def group_examples(emb: pipeline.Embedded, per_group: int = 8) -> dict[str, list[tuple[str, str]]]:
    """Up to ``per_group`` example images (path, concept name) of every Unicode group in the ID
    and OOD sets, evenly spaced through each group, on the first evaluation style."""
    by_group: dict[str, list[tuple[str, str]]] = {}
    for files in [emb.data.id_images, *emb.data.ood.values()]:
        for path, unit in zip(files.paths, files.units):
            info = emb.data.concepts.get(unit, {})
            by_group.setdefault(info.get("group", files.name), []).append((path, info.get("name", unit)))
    out = {}
    for group, items in by_group.items():
        seen, unique = set(), []
        for path, name in items:  # one image per concept (the first style)
            if name not in seen:
                seen.add(name)
                unique.append((path, name))
        idx = np.linspace(0, len(unique) - 1, min(per_group, len(unique))).round().astype(int)
        out[group] = [unique[i] for i in idx]
    return out


def near_variant(profile: str | Profile) -> str | Profile | None:
    """Where the profile's near-OOD results come from: the profile itself where its benchmark
    marks near-OOD sets (``benchmark.near``), else the built-in variant ``<name>-near``, else ``None``."""
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    if loaded.benchmark.get("near") or (loaded.benchmark.get("split") or {}).get("near"):
        return profile
    return f"{loaded.name}-near" if f"{loaded.name}-near" in available_profiles() else None


def with_intervals(table: pd.DataFrame, metric: str = "AUROC", *, rows: str = "label", columns: str = "ood_set",
                   digits: int = 1) -> pd.DataFrame:
    """A pivot of ``metric`` as "value [lo, hi]" text (one cell per row label and column), in the
    order the rows and columns first appear: tables a reader can scan."""
    cells = table.assign(cell=[f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if pd.notna(lo) else f"{v:.{digits}f}"
                               for v, lo, hi in zip(table[metric], table.get(f"{metric}_lo", np.nan),
                                                    table.get(f"{metric}_hi", np.nan))])
    out = cells.pivot(index=rows, columns=columns, values="cell")
    return out.loc[list(dict.fromkeys(table[rows])), list(dict.fromkeys(table[columns]))].rename_axis(
        index=None, columns=f"{metric} (%) [95% interval]")


# myst-nb's glue record: a display output whose MIME types carry this prefix and whose metadata
# names it (myst_nb.ext.glue.glue writes the same; importing myst-nb in a kernel costs over a second).
GLUE_PREFIX = "application/papermill.record/"


def _record(name: str, value: Any) -> None:
    """Store ``value``'s display data under ``name`` as myst-nb's ``glue(name, value, display=False)``
    does, without importing myst-nb. Outside IPython it does nothing."""
    from IPython import get_ipython

    if get_ipython() is None:
        return
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)


def glue_text(name: str, text: str) -> None:
    """Glue ``text`` as plain text, for ``{glue:text}`page.ipynb::name``` on *another* page (myst-nb
    pastes Markdown only within its own page). Outside a notebook build it does nothing."""
    _record(name, str(text))


def glue(name: str, value: Any) -> None:
    """Glue ``value`` for the chapter's prose (myst-nb ``glue``, not displayed): a number as a
    plain Python number (so ``{glue:text}`name:.2f``` can format it), text as Markdown (for
    ``{glue:md}`name```). Outside a notebook build it does nothing."""
    if isinstance(value, str):
        from IPython.display import Markdown

        _record(name, Markdown(value))
    elif isinstance(value, (bool, np.bool_)):
        _record(name, bool(value))
    elif isinstance(value, (int, np.integer)):
        _record(name, int(value))
    else:
        _record(name, float(value))


def glue_each(values: Mapping[str, Any]) -> None:
    """:func:`glue` every (name, value) of ``values``: a chapter's readings, computed in one call."""
    for name, value in values.items():
        glue(name, value)


def headline(average: pd.DataFrame) -> str:
    """The main result in one sentence, from a table of the mean over OOD sets indexed by method
    id (columns ``AUROC``, ``FPR95``): which methods NegLabel trails and which it beats, with numbers."""
    nl = average.loc["neglabel"]
    others = average.drop(index="neglabel")
    ahead, behind = others[others["AUROC"] > nl["AUROC"]], others[others["AUROC"] <= nl["AUROC"]]

    def names(rows: pd.DataFrame) -> str:
        labels = [method_label(m) for m in rows.index]
        return " and ".join(labels) if len(labels) <= 2 else ", ".join(labels[:-1]) + " and " + labels[-1]

    def numbers(rows: pd.DataFrame) -> str:
        return ", ".join(f"{method_label(m)} {r['AUROC']:.1f} / {r['FPR95']:.1f}" for m, r in rows.iterrows())

    own = f"mean AUROC / FPR95 over the OOD sets {nl['AUROC']:.1f} / {nl['FPR95']:.1f}"
    if len(ahead):
        out = f"On this benchmark NegLabel trails {names(ahead)} ({own}; {numbers(ahead)})"
        return out + (f", and is ahead of {names(behind)} ({numbers(behind)})." if len(behind) else ".")
    return f"On this benchmark NegLabel has the best mean AUROC of these methods ({own}; {numbers(others)})."


def id_top1(emb: pipeline.Embedded) -> float:
    """Zero-shot ID top-1 (percent) of the profile's model on its ID test images."""
    from ..ood.metrics import zero_shot_top1

    return 100 * zero_shot_top1(emb.id_emb, emb.id_text, emb.data.id_images.labels)
