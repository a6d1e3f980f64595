"""Tests of bootstrap intervals (analysis.laws.bootstrap)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from analysis.laws import bootstrap, forms
from analysis.laws.chinchilla import fit_chinchilla, make_start_grid
from analysis.laws.kaplan import fit_kaplan

SMALL_GRID = make_start_grid(alphas=[0, 0.5, 1], betas=[0, 0.5, 1], es=[-1, 0, 1],
                                 as_=[0, 10, 20], bs=[0, 10, 20])
TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def grid_data(sigma: float, seed: int, num_n: int = 6, num_d: int = 6
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_grid, d_grid = np.meshgrid(np.geomspace(1e6, 1e9, num_n),
                                 np.geomspace(1e8, 1e11, num_d), indexing="ij")
    n, d = n_grid.ravel(), d_grid.ravel()
    clean = forms.chinchilla_loss(n, d, *TRUE.values())
    return n, d, clean * np.exp(np.random.default_rng(seed).normal(0, sigma, n.size))


def test_seeded_bootstrap_is_reproducible_and_seed_dependent() -> None:
    n, d, loss = grid_data(0.01, 0)
    result = fit_chinchilla(n, d, loss, starts=SMALL_GRID)
    first = bootstrap.bootstrap_chinchilla(result, n, d, loss, num_resamples=200, seed=7)
    again = bootstrap.bootstrap_chinchilla(result, n, d, loss, num_resamples=200, seed=7)
    other = bootstrap.bootstrap_chinchilla(result, n, d, loss, num_resamples=200, seed=8)
    np.testing.assert_array_equal(first.samples["alpha"], again.samples["alpha"])
    assert first.intervals["alpha"] != other.intervals["alpha"]
    assert set(first.intervals) == {"E", "A", "B", "alpha", "beta", "a", "b"}
    lo, hi = first.intervals["alpha"]
    assert lo < result.params["alpha"] < hi


def test_noise_free_bootstrap_collapses_on_the_truth() -> None:
    n, d, loss = grid_data(0.0, 0)
    result = fit_chinchilla(n, d, loss, starts=SMALL_GRID)
    boot = bootstrap.bootstrap_chinchilla(result, n, d, loss, num_resamples=100)
    for key in ("alpha", "beta", "E"):
        lo, hi = boot.intervals[key]
        assert lo == pytest.approx(TRUE[key], rel=1e-4) and hi == pytest.approx(TRUE[key], rel=1e-4)
    a_lo, a_hi = boot.intervals["a"]
    assert a_lo == pytest.approx(0.28 / 0.62, rel=1e-4) and a_hi == pytest.approx(0.28 / 0.62, rel=1e-4)


def test_thousand_resamples_of_240_points_are_fast() -> None:
    n, d, loss = grid_data(0.01, 1, num_n=12, num_d=20)
    result = fit_chinchilla(n, d, loss, starts=SMALL_GRID)
    clock = time.perf_counter()
    boot = bootstrap.bootstrap_chinchilla(result, n, d, loss, num_resamples=1000)
    assert time.perf_counter() - clock < 30.0  # the design budget on 2 shared cores
    assert boot.num_failed == 0


@pytest.mark.slow
def test_interval_coverage_over_repeated_draws() -> None:
    """Nominal 95 % intervals must cover the truth in >= 85 % of 40 noisy datasets."""
    truth = dict(TRUE, a=TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]))
    hits = dict.fromkeys(("alpha", "beta", "a", "E"), 0)
    for draw in range(40):
        n, d, loss = grid_data(0.01, 100 + draw)
        result = fit_chinchilla(n, d, loss, starts=SMALL_GRID)
        boot = bootstrap.bootstrap_chinchilla(result, n, d, loss, seed=draw)
        for key in hits:
            lo, hi = boot.intervals[key]
            hits[key] += int(lo <= truth[key] <= hi)
    assert all(count >= 0.85 * 40 for count in hits.values()), hits


def test_kaplan_bootstrap_brackets_the_fit() -> None:
    x = np.geomspace(1e6, 1e10, 12)
    loss = forms.kaplan_loss(x, 1e7, 0.3, 1.7) * np.exp(
        np.random.default_rng(0).normal(0, 0.003, x.size))
    result = fit_kaplan(x, loss, irreducible=True)
    boot = bootstrap.bootstrap_kaplan(result, x, loss, num_resamples=200, seed=1)
    for key in ("x_c", "alpha", "E"):
        lo, hi = boot.intervals[key]
        assert lo <= result.params[key] <= hi


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"num_resamples": 1}, r"`num_resamples` \(1\) must be >= 2"),
    ({"level": 1.5}, r"`level` \(1.5\) must lie in \(0, 1\)"),
])
def test_bootstrap_refuses_bad_arguments(kwargs: dict[str, float], match: str) -> None:
    x = np.geomspace(1e6, 1e10, 6)
    result = fit_kaplan(x, forms.kaplan_loss(x, 1e7, 0.3))
    with pytest.raises(ValueError, match=match):
        bootstrap.bootstrap_kaplan(result, x, forms.kaplan_loss(x, 1e7, 0.3), **kwargs)  # type: ignore[arg-type]
