"""Stopping rules, the metastable region and φ per phase, on the hand-made anchor runs."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.distortion.data import load_distortion_data
from analysis.distortion.stopping import (
    cell_means,
    default_phi0,
    metastable_points,
    metastable_runs,
    phase_cells,
    phi_by_phase,
    stopping_table,
)
from analysis.errors import AnalysisInputError
from configs import metrics as M


def _run_a(table: pd.DataFrame) -> pd.Series:
    rows = table[(table["init.rate"] == 0.3) & (table["optim.weight_decay"] == 0.01)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_each_rule_picks_its_step_and_keeps_that_steps_values(mlflow_uri: str, anchor_experiment: str) -> None:
    stops = stopping_table(load_distortion_data(mlflow_uri, anchor_experiment))
    a = _run_a(stops)
    assert (a["t_star_step"], a["early_stop_step"], a["best_ood_step"], a["final_step"]) == (30, 40, 30, 50)
    assert a["phi_at_t_star"] == pytest.approx(-0.2)
    assert a["t_star_val_loss"] == pytest.approx(2.0) and a["early_stop_val_loss"] == pytest.approx(1.95)
    assert a["t_star_ood_acc"] == pytest.approx(0.3) and a["early_stop_ood_acc"] == pytest.approx(0.2)
    assert a["best_ood_ood_acc"] == pytest.approx(0.3) and a["final_ood_acc"] == pytest.approx(0.1)
    assert stopping_table(load_distortion_data(mlflow_uri, anchor_experiment), M.PHI_INPUT)["t_star_step"].eq(10).all()


def test_metastable_region_per_run_and_per_cell(mlflow_uri: str, anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    points = metastable_points(data, phi0=-0.3)
    assert len(points) == 20
    region = metastable_runs(points, data)
    a = _run_a(region)
    assert a["share_in_region"] == pytest.approx(0.6)
    assert (a["first_step_in_region"], a["last_step_in_region"], a["ends_in_region"]) == (20, 40, 0.0)
    cells = cell_means(region, data.axes)
    assert len(cells) == 4 and (cells["num_runs"] == 1).all()
    with pytest.raises(AnalysisInputError, match=r"--phi0 \(nan\) must be a finite number"):
        metastable_points(data, float("nan"))


def test_phases_and_phi_per_phase(mlflow_uri: str, anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    region = metastable_runs(metastable_points(data, -0.3), data)
    cells = phase_cells(data, region)
    assert _run_a(cells)["phase"] == 2  # ID 0.95 but best OOD 0.3
    assert sorted(cells["phase"]) == [2, 3, 3, 3]
    by_phase = phi_by_phase(cells).set_index("phase")
    assert by_phase.loc[2, "num_cells"] == 1 and by_phase.loc[3, "num_cells"] == 3
    assert by_phase.loc[2, "phi_final_mean"] == pytest.approx(-0.4)


def test_default_phi0_is_the_median_and_needs_phi() -> None:
    assert default_phi0(pd.Series([-3.0, -1.0, -2.0, float("nan")])) == -2.0
    with pytest.raises(AnalysisInputError, match="no stability φ was logged.*pass --phi0"):
        default_phi0(pd.Series([], dtype=float))
