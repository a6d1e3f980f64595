"""Tests of the orchestration layer the CLI calls (analysis.laws.report)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisInputError
from analysis.laws import forms, report
from analysis.laws.holdout import HoldoutSpec
DATA = Path(__file__).parent / "data"


def isoflop_points() -> pd.DataFrame:
    """4 budgets x 7 sizes around each budget's optimum, 0.5 % noise, C = 6 N D."""
    rows = []
    for c in np.geomspace(1e17, 1e20, 4):
        for n in np.geomspace(1e6, 1e9, 7):
            rows.append((n, c / (6 * n), c))
    frame = pd.DataFrame(rows, columns=["N", "D", "C"])
    loss = forms.chinchilla_loss(frame["N"].to_numpy(), frame["D"].to_numpy(), 1.69, 406.4,
                                 410.7, 0.34, 0.28)
    return frame.assign(loss=loss * np.exp(np.random.default_rng(0).normal(0, 0.005, len(frame))))


def test_chinchilla_report_json_and_files(tmp_path: Path) -> None:
    points = isoflop_points()
    rep = report.fit_scaling_table(points, num_bootstrap=100,
                                   holdout=HoldoutSpec(threshold=("C", 5e19)))
    out = report.to_json_dict(rep)
    assert {"params", "objective", "num_starts_at_optimum", "intervals", "fit_seconds",
            "holdout", "compute_optimal", "flops"} <= set(out)
    assert set(out["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert out["holdout"]["num_held_out"] == int(rep.held_out.sum()) == 7
    assert out["holdout"]["rule"] == "C ≥ 5e+19"
    assert rep.fit.num_points == 28  # the reported law sees every run; the check fits 21
    assert out["holdout"]["num_fitted"] == 21
    assert out["compute_optimal"]["isoflop"] is not None
    assert out["flops"]["flops_per_param_token"] == pytest.approx(6.0)
    assert len(out["intervals"]["alpha"]) == 2
    json.dumps(out, allow_nan=False)  # strict JSON: no NaN leaks
    paths = report.write_scaling_outputs(rep, points, tmp_path)
    names = {p.name for p in paths}
    assert names == {"scaling_fit.json", "loss_vs_N.png", "loss_vs_D.png", "loss_vs_C.png",
                     "isoflop.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    assert json.loads((tmp_path / "scaling_fit.json").read_text())["form"] == "chinchilla"


def test_default_holdout_predicts_the_three_largest_compute_runs() -> None:
    points = isoflop_points()
    rep = report.fit_scaling_table(points, num_bootstrap=0)
    assert rep.holdout is not None and rep.holdout.rule == "3 largest by C"
    largest = np.sort(points["C"].to_numpy())[-3:]
    np.testing.assert_allclose(np.sort(rep.holdout.rows["C"].to_numpy()), largest)
    assert rep.holdout.num_fitted == len(points) - 3 and rep.held_out.sum() == 3
    assert rep.holdout.mean_rel_err < 0.02


def test_default_holdout_is_skipped_with_a_note_when_too_few_runs_remain() -> None:
    points = isoflop_points().iloc[::4].reset_index(drop=True)  # 7 runs: 7 - 3 < 5
    rep = report.fit_scaling_table(points, num_bootstrap=0)
    assert rep.holdout is None
    assert rep.holdout_note == ("hold-out check skipped: holding out 3 of 7 runs leaves fewer "
                                "than the 5 the chinchilla law needs")


def test_kaplan_report_without_isoflop_groups(tmp_path: Path) -> None:
    table = pd.read_csv(DATA / "chinchilla_grid_20.csv")
    rep = report.fit_scaling_table(table, form="kaplan", num_bootstrap=50, convention="6nd")
    out = report.to_json_dict(rep)
    assert set(out["params"]) == {"x_c", "alpha"} and out["compute_optimal"] is None
    assert out["flops"]["convention"] == "6nd"
    assert rep.isoflop is None and "IsoFLOP approach needs" in rep.isoflop_note
    paths = report.write_scaling_outputs(rep, table, tmp_path)
    assert {p.name for p in paths} == {"scaling_fit.json", "loss_vs_N.png"}


def test_a_table_without_c_needs_the_6nd_convention_by_name() -> None:
    table = pd.read_csv(DATA / "chinchilla_grid_20.csv")  # N, D, loss only
    with pytest.raises(AnalysisInputError, match=r"no C \(training FLOPs\) column; add one, "
                                                 r"or pass --flops-convention 6nd"):
        report.fit_scaling_table(table, num_bootstrap=0)


def test_unknown_form_is_refused() -> None:
    with pytest.raises(AnalysisInputError, match=r"`form` \('power'\) must be"):
        report.fit_scaling_table(isoflop_points(), form="power",  # type: ignore[arg-type]
                                 num_bootstrap=0)
