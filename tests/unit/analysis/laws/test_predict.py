"""Tests of prediction intervals (analysis.laws.predict)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisInputError
from analysis.laws import forms
from analysis.laws.predict import predict_interval

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
QUERY_N, QUERY_D = np.array([1e7, 3e8]), np.array([1e9, 3e10])  # inside the grid; 3x beyond it


def grid(sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e8, 5), np.geomspace(1e8, 1e10, 5), indexing="ij"))
    clean = forms.chinchilla_loss(n, d, *TRUE.values())
    return n, d, clean * np.exp(np.random.default_rng(seed).normal(0, sigma, n.size))


def test_noise_free_interval_is_tight_around_the_truth() -> None:
    pred = predict_interval(*grid(0.0, 0), QUERY_N, QUERY_D, num_resamples=100)
    truth = forms.chinchilla_loss(QUERY_N, QUERY_D, *TRUE.values())
    np.testing.assert_allclose(pred.pred, truth, rtol=1e-4)
    assert np.all(pred.hi - pred.lo < 1e-3 * truth)


def test_interval_contains_prediction_widens_with_noise_and_is_seeded() -> None:
    small = predict_interval(*grid(0.005, 1), QUERY_N, QUERY_D, num_resamples=200, seed=3)
    again = predict_interval(*grid(0.005, 1), QUERY_N, QUERY_D, num_resamples=200, seed=3)
    large = predict_interval(*grid(0.03, 1), QUERY_N, QUERY_D, num_resamples=200, seed=3)
    np.testing.assert_array_equal(small.lo, again.lo)
    assert np.all((small.lo <= small.pred) & (small.pred <= small.hi))
    assert np.all(large.hi - large.lo > 2 * (small.hi - small.lo))
    # The residual term alone makes even the in-grid interval at least ~±1.5 sigma wide.
    assert (large.hi[0] - large.lo[0]) / large.pred[0] > 3 * 0.03 * 0.8
    assert [set(r) for r in small.rows()] == [{"N", "D", "pred", "pred_lo", "pred_hi"}] * 2


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"num_resamples": 5}, "num_resamples"),
    ({"level": 1.5}, "level"),
])
def test_bad_options_name_the_option(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(AnalysisInputError, match=match):
        predict_interval(*grid(0.01, 0), QUERY_N, QUERY_D, **kwargs)  # type: ignore[arg-type]


def test_query_lengths_must_match() -> None:
    with pytest.raises(AnalysisInputError, match="same length"):
        predict_interval(*grid(0.01, 0), [1e7, 1e8], [1e9])


@pytest.mark.slow
def test_coverage_of_a_new_run_is_near_the_nominal_95_percent() -> None:
    """Synthetic truth with 2 % log-normal run noise: over 150 independent studies, the 95 %
    interval covers a fresh noisy run at the in-grid point and at the 3x extrapolation."""
    covered = np.zeros((150, 2), dtype=bool)
    for trial in range(150):
        pred = predict_interval(*grid(0.02, trial), QUERY_N, QUERY_D, num_resamples=300, seed=trial)
        truth = forms.chinchilla_loss(QUERY_N, QUERY_D, *TRUE.values())
        new_run = truth * np.exp(np.random.default_rng(10_000 + trial).normal(0, 0.02, 2))
        covered[trial] = (pred.lo <= new_run) & (new_run <= pred.hi)
    rate = covered.mean(0)
    # Binomial sd at 150 trials is 1.8 points; allow 3 sd below and the tail above.
    assert np.all(rate >= 0.89), rate
    assert np.all(rate <= 1.0)
