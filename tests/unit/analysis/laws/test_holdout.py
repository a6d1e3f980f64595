"""Tests of held-out extrapolation (analysis.laws.holdout)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.laws import forms, holdout


def table(sigma: float = 0.0) -> pd.DataFrame:
    n_grid, d_grid = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6),
                                 indexing="ij")
    n, d = n_grid.ravel(), d_grid.ravel()
    loss = forms.chinchilla_loss(n, d, 1.69, 406.4, 410.7, 0.34, 0.28)
    loss = loss * np.exp(np.random.default_rng(0).normal(0, sigma, n.size))
    return pd.DataFrame({"N": n, "D": d, "C": 6 * n * d, "loss": loss})


def test_noise_free_extrapolation_is_exact() -> None:
    res = holdout.evaluate_holdout(table(), "C", 1e18)
    assert res.num_fitted + len(res.rows) == 36
    assert (res.rows["C"] >= 1e18).all() and res.fit.num_points == res.num_fitted
    assert res.max_rel_err < 1e-6 and res.max_abs_log_err < 1e-6


def test_noisy_extrapolation_reports_per_row_and_summary_errors() -> None:
    res = holdout.evaluate_holdout(table(0.01), "N", 2e8)
    rows = res.rows
    assert list(rows.columns) == ["N", "D", "C", "loss", "predicted", "rel_err",
                                  "abs_log_err", "rel_log_err", "pred", "pred_lo", "pred_hi", "covered"]
    # Prediction intervals (analysis.laws.predict) around the fit's prediction.
    assert (rows["pred_lo"] < rows["pred"]).all() and (rows["pred"] < rows["pred_hi"]).all()
    np.testing.assert_array_equal(rows["covered"], (rows["pred_lo"] <= rows["loss"]) & (rows["loss"] <= rows["pred_hi"]))
    expected = np.abs(rows["predicted"] - rows["loss"]) / rows["loss"]
    np.testing.assert_allclose(rows["rel_err"], expected)
    assert res.mean_rel_err == pytest.approx(expected.mean())
    assert res.max_rel_err == pytest.approx(expected.max())
    assert 0 < res.mean_rel_err < 0.05


def test_kaplan_holdout() -> None:
    res = holdout.evaluate_holdout(table(), "N", 2e8, form="kaplan", kaplan_irreducible=True)
    assert res.fit.form == "kaplan" and np.isfinite(res.mean_rel_err)


@pytest.mark.parametrize(("axis", "threshold", "match"), [
    ("C", 1e30, r"`threshold` \(1e\+30\) leaves 36 fitted and 0 held-out rows; pick a value"),
    ("X", 1.0, r"`axis` \('X'\) must be 'C' or 'N'"),
])
def test_split_refuses_bad_thresholds(axis: str, threshold: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        holdout.split_rows(table(), axis, threshold)  # type: ignore[arg-type]


def test_largest_holds_out_exactly_that_many_by_compute() -> None:
    tab = table(0.01)
    res = holdout.evaluate_holdout_largest(tab, 4)
    largest = np.sort(tab["C"].to_numpy())[-4:]
    assert len(res.rows) == 4 and res.num_fitted == 32 and res.rule == "4 largest by C"
    np.testing.assert_allclose(np.sort(res.rows["C"].to_numpy()), largest)
    assert res.held_mask.sum() == 4 and res.threshold == largest.min()


@pytest.mark.parametrize(("spec", "rule", "note"), [
    (holdout.HoldoutSpec(), "3 largest by C", ""),
    (holdout.HoldoutSpec(largest=0), None, "hold-out check off (--holdout-largest 0)"),
    (holdout.HoldoutSpec(largest=32), None,
     "hold-out check skipped: holding out 32 of 36 runs leaves fewer than the 5 the "
     "chinchilla law needs"),
    (holdout.HoldoutSpec(threshold=("N", 2e8)), "N ≥ 2e+08", ""),
])
def test_run_holdout_follows_its_spec(spec: holdout.HoldoutSpec, rule: str | None, note: str) -> None:
    res, got_note = holdout.run_holdout(table(), spec, form="chinchilla")
    assert got_note == note
    assert (res.rule if res else None) == rule


@pytest.mark.parametrize("num", [0, 36])
def test_split_largest_refuses_impossible_counts(num: int) -> None:
    with pytest.raises(ValueError, match=rf"cannot hold out {num} of 36 runs"):
        holdout.split_largest(table(), num)


def test_held_out_rows_name_their_runs_and_the_varying_config_columns() -> None:
    runs = table()
    runs = runs.assign(run_id=[f"{i:032x}" for i in range(len(runs))], run_name=[f"demo d{i}" for i in range(len(runs))],
                       **{"model.d_model": runs["N"] // 1000, "optim.lr": 0.001, "scalinglab.sweep": "demo"})
    res = holdout.evaluate_holdout_largest(runs, 3)
    assert list(res.rows.columns[:5]) == ["run_id", "run_name", "model.d_model", "N", "D"]
    assert "optim.lr" not in res.rows and "scalinglab.sweep" not in res.rows  # constant / not config
    held = runs.nlargest(3, "C").set_index("run_id")
    assert res.rows["run_name"].tolist() == held.loc[res.rows["run_id"], "run_name"].tolist()
    assert set(res.rows["run_name"]) == set(held["run_name"])
