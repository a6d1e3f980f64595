"""Probe tables: rate–distortion's retained gain and the training-KL table, on the hand-made runs."""

from __future__ import annotations

import pytest

from analysis.distortion.data import load_distortion_data
from analysis.distortion.probes import ratedist_table, training_kl_table


def test_rate_distortion_reports_the_retained_gain_of_each_width(mlflow_uri: str, anchor_experiment: str) -> None:
    """Run A ends with D_id 0.45 from L₀ 5.0 (gain 4.55); 8 bits add 0.001, 2 bits add 1.0."""
    table = ratedist_table(load_distortion_data(mlflow_uri, anchor_experiment))
    a = table[(table["init.rate"] == 0.3) & (table["optim.weight_decay"] == 0.01)].set_index("bits")
    assert a.loc[8, "retained_gain"] == pytest.approx(1 - 0.001 / 4.55)
    assert a.loc[2, "retained_gain"] == pytest.approx(1 - 1.0 / 4.55)
    assert a.loc[2, "extra"] == pytest.approx(1.0)


def test_no_training_kl_logged_gives_an_empty_table(mlflow_uri: str, anchor_experiment: str) -> None:
    assert training_kl_table(load_distortion_data(mlflow_uri, anchor_experiment)).empty
