"""Tests of compute-optimal allocation (analysis.laws.compute_optimal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.laws import bootstrap, compute_optimal, forms
from analysis.laws.flops import FlopsRelation
from analysis.laws.result import FitResult

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
SIX_ND = FlopsRelation("6nd", 6.0, 6.0, 6.0)


def chinchilla_result() -> FitResult:
    return FitResult("chinchilla", dict(TRUE), 0.0, 1, 1, 0.0, 36)


def isoflop_table(budgets: np.ndarray, sigma: float = 0.0) -> pd.DataFrame:
    """9 model sizes per budget, spread +-1 decade around the law's optimum."""
    rows = []
    for c in budgets:
        n_opt, _ = forms.chinchilla_optimal_allocation(c, TRUE["A"], TRUE["B"], TRUE["alpha"],
                                                       TRUE["beta"], flops_per_param_token=6.0)
        for n in float(n_opt) * np.geomspace(0.1, 10, 9):
            rows.append((n, c / (6 * n), c))
    frame = pd.DataFrame(rows, columns=["N", "D", "C"])
    loss = forms.chinchilla_loss(frame["N"].to_numpy(), frame["D"].to_numpy(), *TRUE.values())
    noise = np.exp(np.random.default_rng(0).normal(0, sigma, len(frame)))
    return frame.assign(loss=loss * noise)


def test_allocation_table_spends_each_budget() -> None:
    table = compute_optimal.optimal_allocation_table(chinchilla_result(), [1e20, 1e22, 1e24],
                                                     SIX_ND)
    np.testing.assert_allclose(6 * table["N_opt"] * table["D_opt"], table["C"], rtol=1e-12)
    np.testing.assert_allclose(table["tokens_per_param"], table["D_opt"] / table["N_opt"])
    # N_opt grows as C^(beta / (alpha + beta)) (Hoffmann et al. eq. 4).
    slope = np.diff(np.log(table["N_opt"])) / np.diff(np.log(table["C"]))
    np.testing.assert_allclose(slope, 0.28 / 0.62, rtol=1e-12)


def test_allocation_intervals_bracket_the_estimate() -> None:
    rng = np.random.default_rng(0)
    samples = {k: v * np.exp(rng.normal(0, 0.02, 300)) for k, v in TRUE.items()}
    samples["a"], samples["b"] = forms.optimal_exponents(samples["alpha"], samples["beta"])
    intervals, _ = bootstrap.percentile_intervals(samples, 0.95)
    boot = bootstrap.BootstrapResult(samples, intervals, 0.95, 300, 0, 0, 0.0)
    table = compute_optimal.optimal_allocation_table(chinchilla_result(), [1e21, 1e23], SIX_ND,
                                                     boot)
    for col in ("N_opt", "D_opt", "tokens_per_param"):
        assert (table[f"{col}_lo"] < table[col]).all() and (table[col] < table[f"{col}_hi"]).all()


def test_allocation_needs_a_chinchilla_fit() -> None:
    kaplan = FitResult("kaplan", {"x_c": 1e7, "alpha": 0.3}, 0.0, 1, 1, 0.0, 5, "N")
    with pytest.raises(ValueError, match=r"compute-optimal allocation needs a Chinchilla"):
        compute_optimal.optimal_allocation_table(kaplan, [1e20], SIX_ND)


@pytest.mark.parametrize(("budgets", "expected"), [
    ([1e18, 1.05e18, 1e19, 0.98e19, 1e20], [0, 0, 1, 1, 2]),
    ([3e20, 1e18], [1, 0]),
    ([1e18, 1.09e18, 1.18e18], [0, 0, 0]),  # chained within 10 % steps
])
def test_group_by_compute(budgets: list[float], expected: list[int]) -> None:
    assert compute_optimal.group_by_compute(budgets).tolist() == expected


def test_isoflop_recovers_the_law_exponents() -> None:
    iso = compute_optimal.fit_isoflop(isoflop_table(np.geomspace(1e17, 1e21, 5)), SIX_ND)
    # A parabola in log N is only the second-order approximation of each profile, which
    # biases the minima slightly; 0.01 is ~2 % of the exponent.
    assert iso.n_opt.exponent == pytest.approx(0.28 / 0.62, abs=0.01)
    assert iso.d_opt.exponent == pytest.approx(0.34 / 0.62, abs=0.01)
    assert iso.n_opt.exponent + iso.d_opt.exponent == pytest.approx(1.0, abs=1e-9)
    assert len(iso.minima) == 5 and iso.num_groups_skipped == 0


def test_isoflop_needs_three_groups() -> None:
    with pytest.raises(ValueError, match=r"needs >= 3 compute groups .* found 2 of 2"):
        compute_optimal.fit_isoflop(isoflop_table(np.array([1e18, 1e19])), SIX_ND)


def test_allocation_spends_each_budget_under_an_effective_k() -> None:
    """With the scalinglab convention k is the runs' median C/(N D), and budgets obey it."""
    k = 7.3
    relation = FlopsRelation("scalinglab", k, 6.9, 7.8)
    table = compute_optimal.optimal_allocation_table(chinchilla_result(), [1e20, 1e22], relation)
    np.testing.assert_allclose(k * table["N_opt"] * table["D_opt"], table["C"], rtol=1e-12)
    six = compute_optimal.optimal_allocation_table(chinchilla_result(), [1e20, 1e22], SIX_ND)
    # N_opt scales as (C/k)^a: a larger k means a smaller model at the same budget.
    np.testing.assert_allclose(table["N_opt"] / six["N_opt"], (6.0 / k) ** (0.28 / 0.62),
                               rtol=1e-12)
