"""Tests of held-out extrapolation (analysis.laws.holdout)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.laws import forms, holdout
from analysis.laws.chinchilla import make_start_grid

SMALL_GRID = make_start_grid(alphas=[0, 0.5, 1], betas=[0, 0.5, 1], es=[-1, 0, 1],
                                 as_=[0, 10, 20], bs=[0, 10, 20])


def table(sigma: float = 0.0) -> pd.DataFrame:
    n_grid, d_grid = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6),
                                 indexing="ij")
    n, d = n_grid.ravel(), d_grid.ravel()
    loss = forms.chinchilla_loss(n, d, 1.69, 406.4, 410.7, 0.34, 0.28)
    loss = loss * np.exp(np.random.default_rng(0).normal(0, sigma, n.size))
    return pd.DataFrame({"N": n, "D": d, "C": 6 * n * d, "loss": loss})


def test_noise_free_extrapolation_is_exact() -> None:
    res = holdout.evaluate_holdout(table(), "C", 1e18, fit_options={"starts": SMALL_GRID})
    assert res.num_fitted + len(res.rows) == 36
    assert (res.rows["C"] >= 1e18).all() and res.fit.num_points == res.num_fitted
    assert res.max_rel_err < 1e-6 and res.max_abs_log_err < 1e-6


def test_noisy_extrapolation_reports_per_row_and_summary_errors() -> None:
    res = holdout.evaluate_holdout(table(0.01), "N", 2e8, fit_options={"starts": SMALL_GRID})
    rows = res.rows
    assert list(rows.columns) == ["N", "D", "C", "loss", "predicted", "rel_err",
                                  "abs_log_err", "rel_log_err"]
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
