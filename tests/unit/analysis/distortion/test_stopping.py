"""Stopping rules, the metastable region and φ per phase, on the hand-made anchor runs."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from analysis.distortion.data import load_distortion_data
from analysis.distortion.phi import with_phi_form
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
    assert a["phi_at_t_star"] == pytest.approx(0.8)
    assert a["t_star_val_loss"] == pytest.approx(2.0) and a["early_stop_val_loss"] == pytest.approx(1.95)
    assert a["t_star_ood_acc"] == pytest.approx(0.3) and a["early_stop_ood_acc"] == pytest.approx(0.2)
    assert a["best_ood_ood_acc"] == pytest.approx(0.3) and a["final_ood_acc"] == pytest.approx(0.1)
    assert stopping_table(load_distortion_data(mlflow_uri, anchor_experiment), M.PHI_INPUT)["t_star_step"].eq(10).all()


def test_t_star_looks_only_after_the_loss_has_fallen_by_the_stated_share(mlflow_uri: str, anchor_experiment: str) -> None:
    """Run A: L₀ 5.0, val/loss 2.5, 2.1, 2.0, 1.95, 2.075: a drop of 3.05. At 0.9 of it the
    threshold is 2.255, so step 10 (2.5) is out and the flat φ_input's t* moves to step 20."""
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    assert _run_a(stopping_table(data, M.PHI_INPUT, tstar_after=0.9))["t_star_step"] == 20
    assert _run_a(stopping_table(data, M.PHI_WEIGHT, tstar_after=0.9))["t_star_step"] == 30
    assert _run_a(stopping_table(data, M.PHI_INPUT, tstar_after=1.0))["t_star_step"] == 40  # only the minimum
    with pytest.raises(AnalysisInputError, match=r"--tstar-after \(1.5\) must lie in \[0, 1\]"):
        stopping_table(data, tstar_after=1.5)


def test_phi_is_recomputed_in_the_named_form_from_the_raw_losses(mlflow_uri: str, anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    gain = with_phi_form(data, "retained_gain").history
    assert gain[M.PHI_WEIGHT].tolist() == pytest.approx(data.history[M.PHI_WEIGHT].tolist())  # what was logged
    relative = with_phi_form(data, "relative").history
    h = data.history
    expected = -(h[M.WEIGHT_NOISE_LOSS] - h[M.PROBE_LOSS]) / h[M.PROBE_LOSS]
    assert relative[M.PHI_WEIGHT].tolist() == pytest.approx(expected.tolist())
    with pytest.raises(AnalysisInputError, match="--phi-form 'absolute' is not one of retained_gain, relative"):
        with_phi_form(data, "absolute")
    legacy = replace(data, history=h.drop(columns=[M.PROBE_LOSS, M.WEIGHT_NOISE_LOSS, M.INPUT_NOISE_LOSS]))
    assert with_phi_form(legacy, "relative") is legacy  # old runs logged the relative form itself
    with pytest.raises(AnalysisInputError, match="only in the earlier relative form"):
        with_phi_form(legacy, "retained_gain")


def test_metastable_region_per_run_and_per_cell(mlflow_uri: str, anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    points = metastable_points(data, phi0=0.7)
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
    region = metastable_runs(metastable_points(data, 0.7), data)
    cells = phase_cells(data, region)
    assert _run_a(cells)["phase"] == 2  # ID 0.95 but best OOD 0.3
    assert sorted(cells["phase"]) == [2, 3, 3, 3]
    by_phase = phi_by_phase(cells).set_index("phase")
    assert by_phase.loc[2, "num_cells"] == 1 and by_phase.loc[3, "num_cells"] == 3
    assert by_phase.loc[2, "phi_final_mean"] == pytest.approx(0.6)


def test_default_phi0_is_the_median_and_needs_phi() -> None:
    assert default_phi0(pd.Series([-3.0, -1.0, -2.0, float("nan")])) == -2.0
    with pytest.raises(AnalysisInputError, match="no stability φ was logged.*pass --phi0"):
        default_phi0(pd.Series([], dtype=float))
