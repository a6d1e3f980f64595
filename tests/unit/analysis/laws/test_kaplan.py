"""Tests of the Kaplan fitter (analysis.laws.kaplan)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import TooFewPointsError
from analysis.laws import forms
from analysis.laws.kaplan import fit_kaplan, refit_kaplan
from analysis.laws.result import predict_loss


def test_kaplan_pure_power_law_is_exact() -> None:
    x = np.geomspace(1e6, 1e10, 9)
    got = fit_kaplan(x, forms.kaplan_loss(x, 8.8e13, 0.076))  # Kaplan et al. eq. 1.1
    assert got.params["alpha"] == pytest.approx(0.076, rel=1e-9)
    assert got.params["x_c"] == pytest.approx(8.8e13, rel=1e-6)
    assert set(got.stderr) == {"alpha", "log_x_c"}


@settings(derandomize=True, max_examples=8, deadline=None)
@given(x_c=st.floats(1e5, 1e8), alpha=st.floats(0.2, 0.6), e_irr=st.floats(1.0, 3.0),
       seed=st.integers(0, 2**16))
def test_kaplan_with_irreducible_term_recovers_within_noise(
        x_c: float, alpha: float, e_irr: float, seed: int) -> None:
    sigma = 0.002
    x = np.geomspace(1e6, 1e10, 15)
    clean = forms.kaplan_loss(x, x_c, alpha, e_irr)
    noisy = clean * np.exp(np.random.default_rng(seed).normal(0, sigma, x.size))
    got = fit_kaplan(x, noisy, irreducible=True)
    rms = np.sqrt(np.mean(np.log(predict_loss(got, x) / clean) ** 2))
    assert rms <= sigma  # the fit is closer to the truth than the data are
    assert abs(got.params["E"] / e_irr - 1) <= 25 * sigma  # E: ~5 standard errors


def test_kaplan_warns_when_covariance_cannot_be_estimated() -> None:
    x = np.array([1e6, 1e7, 1e8])
    with pytest.warns(RuntimeWarning, match="covariance of the Kaplan fit could not be"):
        got = fit_kaplan(x, forms.kaplan_loss(x, 1e7, 0.3, 2.0), irreducible=True)
    assert got.stderr == {}


def test_kaplan_refuses_too_few_points() -> None:
    with pytest.raises(TooFewPointsError, match=r"the Kaplan L\(N\) law \(3 free parameters\) needs ≥ 3 runs, found 2"):
        fit_kaplan([1e6, 1e7], [3.0, 2.5], irreducible=True)


@pytest.mark.parametrize("irreducible", [False, True])
def test_refit_with_unit_weights_is_the_fit(irreducible: bool) -> None:
    x = np.geomspace(1e6, 1e10, 12)
    loss = forms.kaplan_loss(x, 1e7, 0.3, 1.7 if irreducible else 0.0) * np.exp(
        np.random.default_rng(0).normal(0, 0.003, x.size))
    got = fit_kaplan(x, loss, irreducible=irreducible)
    bare = refit_kaplan(np.log(x), np.log(loss), np.ones(x.size), irreducible)
    assert bare[0] == pytest.approx(got.params["alpha"], rel=1e-9)
    assert np.exp(bare[1]) == pytest.approx(got.params["x_c"], rel=1e-7)


def test_refit_doubles_a_point_by_its_weight() -> None:
    """Weight 2 on a point is the same fit as that point given twice."""
    x = np.geomspace(1e6, 1e10, 8)
    loss = forms.kaplan_loss(x, 1e7, 0.3, 1.7) * np.exp(np.random.default_rng(1).normal(0, 0.01, 8))
    weights = np.ones(8)
    weights[3] = 2.0
    weighted = refit_kaplan(np.log(x), np.log(loss), weights, True)
    doubled = fit_kaplan(np.append(x, x[3]), np.append(loss, loss[3]), irreducible=True)
    assert weighted[0] == pytest.approx(doubled.params["alpha"], rel=1e-6)


def test_refit_of_too_few_distinct_points_is_nan() -> None:
    x = np.geomspace(1e6, 1e10, 6)
    weights = np.array([3.0, 3.0, 0, 0, 0, 0])
    assert np.isnan(refit_kaplan(np.log(x), np.log(forms.kaplan_loss(x, 1e7, 0.3, 1.7)),
                                 weights, True)).all()
