"""What the distortion figures show: the φ legend names every run; log step axes label the last step."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.distortion.data import load_distortion_data
from analysis.distortion.plots import _label_last_step, phi_figure, run_labels
from analysis.distortion.stopping import stopping_table
from configs import metrics as M


@pytest.mark.parametrize(("first", "last", "labelled", "dropped"), [
    (10, 250, {"10", "20", "50", "100", "250"}, {"200"}),  # 200 is within 25 % of 250: only 250 shown
    (100, 3000, {"100", "200", "500", "1000", "2000", "3000"}, {"5000"}),
    (1, 1000, {"1", "10", "100", "1000"}, set()),  # the last step is a decade: labelled once
])
def test_log_step_axes_label_the_last_step(first: int, last: int, labelled: set[str], dropped: set[str]) -> None:
    fig, ax = plt.subplots()
    steps = np.geomspace(first, last, 12)
    ax.plot(steps, steps)
    ax.set_xscale("log")
    _label_last_step(ax, float(last))
    fig.canvas.draw()
    shown = {t.get_text().replace("\N{MINUS SIGN}", "-") for t in ax.get_xticklabels() if t.get_text()}
    plt.close(fig)
    formatted = {f"{t:g}" for t in ax.get_xticks()}
    assert labelled <= formatted and not dropped & formatted
    assert f"{last:g}" in formatted and shown  # ticks carry labels


def test_the_phi_figure_has_a_legend_naming_each_run_and_the_threshold(mlflow_uri: str,
                                                                     anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    stops = stopping_table(data, M.PHI_WEIGHT, 0.5)
    fig = phi_figure(data, stops, M.PHI_WEIGHT, 0.7)
    legend = fig.axes[0].get_legend()
    texts = {t.get_text() for t in legend.get_texts()}
    last = float(data.history["step"].max())
    ticks = {float(t) for t in fig.axes[0].get_xticks()}
    assert set(run_labels(data).values()) <= texts
    assert {"φ₀ = 0.7", "t* = argmax φ", "early stop (min val/loss)"} <= texts
    assert last in ticks
