"""Tests of the density law (analysis.density)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.laws import density, forms, plots
from analysis.laws.kaplan import fit_kaplan

REF_N = np.geomspace(1e6, 1e9, 8)
REF = {"x_c": 1e7, "alpha": 0.3, "E": 1.7}


def ref_loss(n: np.ndarray) -> np.ndarray:
    return forms.kaplan_loss(n, REF["x_c"], REF["alpha"], REF["E"])


def test_density_of_the_reference_law_itself_is_one() -> None:
    res = density.density_within_study(REF_N, ref_loss(REF_N), REF_N, ref_loss(REF_N),
                                       num_bootstrap=50)
    np.testing.assert_allclose(res.runs["density"], 1.0, rtol=1e-8)
    assert res.mean_density == pytest.approx(1.0, rel=1e-8)
    assert res.interval[0] == pytest.approx(1.0, rel=1e-6)


def test_half_size_runs_at_the_same_loss_have_density_two() -> None:
    target_n = np.array([2e6, 3e7, 4e8])
    res = density.density_within_study(REF_N, ref_loss(REF_N), target_n / 2,
                                       ref_loss(target_n), num_bootstrap=50)
    np.testing.assert_allclose(res.runs["effective_N"], target_n, rtol=1e-8)
    assert res.mean_density == pytest.approx(2.0, rel=1e-8)


def test_noisy_reference_gives_an_interval_around_the_density() -> None:
    noisy = ref_loss(REF_N) * np.exp(np.random.default_rng(0).normal(0, 0.003, REF_N.size))
    target_n = np.array([1e7, 1e8])
    res = density.density_within_study(REF_N, noisy, target_n / 3, ref_loss(target_n),
                                       num_bootstrap=200, seed=1)
    assert res.interval[0] < res.mean_density < res.interval[1]
    assert res.interval[0] < 3.0 * 1.5 and res.interval[1] > 3.0 / 1.5


def test_loss_below_the_asymptote_is_nan_with_a_warning() -> None:
    with pytest.warns(RuntimeWarning, match=r"1 loss value\(s\) are at or below"):
        res = density.density_within_study(REF_N, ref_loss(REF_N), [1e7, 1e7],
                                           [1.6, 2.5], num_bootstrap=20)
    assert np.isnan(res.runs["density"][0]) and res.num_undefined == 1


def test_all_losses_below_the_asymptote_is_an_error() -> None:
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="no target run"):
        density.density_within_study(REF_N, ref_loss(REF_N), [1e7], [1.0], num_bootstrap=20)


def test_score_route_matches_loss_route() -> None:
    sig = (0.8, -3.0, 2.5, 0.1)
    ref_l = np.linspace(1.8, 3.5, 12)
    score_map = density.fit_sigmoid_score(ref_l, forms.sigmoid_score(ref_l, *sig))
    assert score_map.g_slope == pytest.approx(-3.0, rel=1e-5)
    target_n = np.array([1e7, 1e8])
    target_loss = ref_loss(target_n * 2)
    by_score = density.density_within_study(
        REF_N, ref_loss(REF_N), target_n, target_score=forms.sigmoid_score(target_loss, *sig),
        score_map=score_map, num_bootstrap=20)
    np.testing.assert_allclose(by_score.runs["density"], 2.0, rtol=1e-4)


def test_density_needs_a_loss_or_a_score() -> None:
    with pytest.raises(ValueError, match="pass `target_loss`, or `target_score` together"):
        density.density_within_study(REF_N, ref_loss(REF_N), [1e7])


def catalog(doubling_months: float) -> pd.DataFrame:
    """Monthly models whose density doubles every `doubling_months`, plus laggards."""
    dates = pd.date_range("2023-01-01", periods=10, freq="MS")
    years = (dates - pd.Timestamp("1970-01-01")).days / density.DAYS_PER_YEAR
    rho = np.exp(np.log(2) * 12 / doubling_months * (years - years[0]))
    params = np.full(dates.size, 1e8)
    front = pd.DataFrame({"name": [f"m{i}" for i in range(10)], "date": dates,
                          "params": params, "loss": ref_loss(params * rho)})
    laggards = front.assign(name=front["name"] + "-small", loss=ref_loss(params * rho / 4))
    return pd.concat([front, laggards], ignore_index=True)


def test_density_trend_recovers_the_doubling_time(tmp_path: Path) -> None:
    reference = fit_kaplan(REF_N, ref_loss(REF_N), irreducible=True)
    trend = density.density_trend(catalog(3.3), reference)
    plot = plots.plot_density_trend(trend, tmp_path / "density.png")
    assert plot.stat().st_size > 0
    assert trend.doubling_months == pytest.approx(3.3, rel=1e-4)
    assert trend.table["on_frontier"].sum() == 10  # the laggards never set a record
    lo, hi = trend.doubling_interval
    assert lo <= trend.doubling_months <= hi


def test_frontier_keeps_only_record_setting_dates() -> None:
    table = pd.DataFrame({"t_years": [1.0, 1.0, 2.0, 3.0, 4.0],
                          "density": [1.0, 3.0, 2.0, 4.0, np.nan]})
    assert density._frontier(table).tolist() == [False, True, False, True, False]


def test_read_catalog_requires_columns(tmp_path: Path) -> None:
    path = tmp_path / "cat.csv"
    path.write_text("name,params,loss\na,1e8,2.0\n")
    with pytest.raises(ValueError, match=r"missing \['date'\]"):
        density.read_catalog_csv(str(path))
    path.write_text("name,date,params,loss\na,not-a-date,1e8,2.0\n")
    with pytest.raises(ValueError, match="column `date` must hold ISO dates"):
        density.read_catalog_csv(str(path))


def test_density_wrappers(tmp_path: Path) -> None:
    n = np.geomspace(1e6, 1e9, 8)
    loss = forms.kaplan_loss(n, 1e7, 0.3, 1.7)
    runs = pd.DataFrame({"N": np.concatenate([n, n / 2]), "loss": np.concatenate([loss, loss]),
                         "init": ["default"] * 8 + ["small"] * 8})
    res = density.fit_density_table(runs, group_column="init", reference_group="default",
                                    target_group="small", num_bootstrap=20)
    assert res.mean_density == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(ValueError, match=r"`target_group` 'big' matches no row"):
        density.fit_density_table(runs, group_column="init", reference_group="default",
                                  target_group="big")
    path = tmp_path / "catalog.csv"
    dates = pd.date_range("2024-01-01", periods=4, freq="MS").strftime("%Y-%m-%d")
    path.write_text("name,date,params,loss\n" + "".join(
        f"m{i},{day},1e8,{forms.kaplan_loss(1e8 * 2**i, 1e7, 0.3, 1.7):.12f}\n"
        for i, day in enumerate(dates)))
    trend = density.fit_density_catalog(path, runs[runs["init"] == "default"])
    assert trend.slope > 0 and trend.table["on_frontier"].all()
