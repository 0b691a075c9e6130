"""The chapters' figure functions draw from the tables they are given: one panel per metric (or
model), one mark per method, on hand-made tables of the shape the analysis returns."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from neglabel_core.analysis import cross_vlm_figures, robustness, shift_figures, successor_figures  # noqa: E402

METHODS = (("neglabel", "NegLabel"), ("energy", "energy"), ("mcm", "MCM"))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _with_interval(value):
    return {"AUROC": value, "AUROC_lo": value - 1, "AUROC_hi": value + 1,
            "FPR95": 100 - value, "FPR95_lo": 99 - value, "FPR95_hi": 101 - value}


def test_chapter_08_dots_draw_every_method_and_the_equal_bank_row():
    average = pd.DataFrame([{"method": m, "label": label, **_with_interval(80.0 + k)} for k, (m, label) in enumerate(METHODS)]
                           ).set_index("method")
    fig = successor_figures.average_dots(average, None)
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["NegLabel", "energy", "MCM"]
    equal = {"table": pd.DataFrame([{"method": "neglabel", "label": "NegLabel, M = 3,000", "ood_set": "average",
                                     **_with_interval(79.0)}])}
    labels = [t.get_text() for t in successor_figures.average_dots(average, equal).axes[0].get_yticklabels()]
    assert labels[-1] == "NegLabel, M = 3,000"
    near = pd.DataFrame([{"method": m, "label": label, "kind": "summary", "ood_set": s, **_with_interval(70.0 + k)}
                         for k, (m, label) in enumerate(METHODS) for s in ("near average", "far average", "average")])
    fig = successor_figures.near_far_dots(near)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["near average", "far average"]


def test_chapter_11_figures_draw_a_series_per_model():
    long = pd.DataFrame([{"VLM": v, "method": m, "label": label, **_with_interval(80.0 + k)}
                         for v in ("A", "B", "C") for k, (m, label) in enumerate(METHODS)])
    fig = cross_vlm_figures.average_dots(long)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["A", "B", "C"]
    shift = pd.DataFrame([{"VLM": v, "metric": "AUROC", "shift": s, "label": label, "change": -1.0, "change lo": -2.0,
                           "change hi": 0.0} for v in ("A", "B", "C") for s in ("sketch", "ink") for _, label in METHODS])
    fig = cross_vlm_figures.style_shift_bars(shift)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["A", "B", "C"]  # two per row, the fourth hidden
    assert len(fig.axes) == 4


def test_chapter_05_style_figures_draw_every_method():
    labelled = pd.DataFrame([{"ID images": f"{s}\n(top-1 50.0%)", "method": label, "AUROC": 80.0, "FPR95": 40.0}
                             for s in ("flat", "ink") for _, label in METHODS])
    assert shift_figures.style_bars(labelled).axes[0].get_legend() is None  # one legend for the figure
    degradation = pd.DataFrame([{"shift": s, "label": label, "metric": metric, "change": -1.0, "change lo": -2.0,
                                 "change hi": 0.0} for s in ("ink", "sketch") for _, label in METHODS
                                for metric in robustness.METRICS])
    fig = shift_figures.degradation_intervals(degradation)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["ink", "sketch"]
    paper = robustness.paper_templates("data/paper_results.csv")
    study = pd.DataFrame([{"template": t, "method": "neglabel", "metric": metric, "value": 60.0, "lo": 59.0, "hi": 61.0}
                          for t in ("profile's own", *robustness.PAPER_TEMPLATES) for metric in robustness.METRICS])
    fig = shift_figures.template_bars(study, paper, "emoji-tiny")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(robustness.PAPER_TEMPLATES)
