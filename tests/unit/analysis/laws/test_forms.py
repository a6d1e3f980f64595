"""Table-driven tests of the pure law forms (values worked out by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.laws import forms


@pytest.mark.parametrize(
    ("x", "x_c", "alpha", "e_irr", "expected"),
    [
        (10.0, 100.0, 0.5, 0.0, np.sqrt(10.0)),  # (100/10)^0.5
        (10.0, 100.0, 0.5, 1.0, 1.0 + np.sqrt(10.0)),
        (100.0, 100.0, 0.3, 2.0, 3.0),  # x = x_c gives 1 + E
        (1e4, 1e2, 1.0, 0.0, 0.01),
    ],
)
def test_kaplan_loss_hand_values(x: float, x_c: float, alpha: float, e_irr: float,
                                 expected: float) -> None:
    assert forms.kaplan_loss(x, x_c, alpha, e_irr) == pytest.approx(expected, rel=1e-12)


def test_kaplan_inverse_round_trips_and_is_nan_at_or_below_asymptote() -> None:
    x = np.array([1e6, 3e7, 1e9])
    loss = forms.kaplan_loss(x, 1e7, 0.3, 1.7)
    np.testing.assert_allclose(forms.kaplan_inverse(loss, 1e7, 0.3, 1.7), x, rtol=1e-10)
    out = forms.kaplan_inverse(np.array([1.7, 1.0, 2.0]), 1e7, 0.3, 1.7)
    assert np.isnan(out[:2]).all() and np.isfinite(out[2])


@pytest.mark.parametrize(
    ("n", "d", "params", "expected"),
    [
        (100.0, 1e4, (1.0, 10.0, 100.0, 0.5, 0.5), 3.0),  # 1 + 10/10 + 100/100
        (1e6, 1e6, (0.0, 1e3, 1e3, 0.5, 0.5), 2.0),  # 1e3/1e3 twice
        (16.0, 81.0, (2.0, 4.0, 9.0, 0.5, 0.5), 4.0),  # 2 + 4/4 + 9/9
    ],
)
def test_chinchilla_loss_hand_values(n: float, d: float, params: tuple[float, ...],
                                     expected: float) -> None:
    assert forms.chinchilla_loss(n, d, *params) == pytest.approx(expected, rel=1e-12)


def test_optimal_exponents_sum_to_one() -> None:
    exp_a, exp_b = forms.optimal_exponents(0.34, 0.28)
    assert exp_a == pytest.approx(0.28 / 0.62) and exp_b == pytest.approx(0.34 / 0.62)


def test_optimal_allocation_spends_the_budget_and_minimizes_loss() -> None:
    e_irr, a_coef, b_coef, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    budgets = np.array([1e18, 1e21, 1e24])
    for k in (6.0, 7.5):  # the relation C = k N D is the caller's choice
        n_opt, d_opt = forms.chinchilla_optimal_allocation(budgets, a_coef, b_coef, alpha, beta,
                                                           flops_per_param_token=k)
        np.testing.assert_allclose(k * n_opt * d_opt, budgets, rtol=1e-12)
    best = forms.chinchilla_loss(n_opt, d_opt, e_irr, a_coef, b_coef, alpha, beta)
    for factor in (0.9, 1.1):  # moving along the IsoFLOP line only raises the loss
        worse = forms.chinchilla_loss(n_opt * factor, d_opt / factor, e_irr, a_coef, b_coef,
                                     alpha, beta)
        assert (worse > best).all()


def test_optimal_allocation_broadcasts_over_parameter_samples() -> None:
    n_opt, _ = forms.chinchilla_optimal_allocation(
        np.array([[1e20, 1e22]]), np.array([[400.0], [500.0]]), 410.0,
        np.array([[0.3], [0.35]]), 0.28, flops_per_param_token=6.0)
    assert n_opt.shape == (2, 2)


def test_sigmoid_round_trip_and_out_of_range() -> None:
    params = (0.8, -3.0, 2.5, 0.1)  # score falls from 0.9 to 0.1 as loss rises
    loss = np.array([1.5, 2.5, 3.5])
    score = forms.sigmoid_score(loss, *params)
    assert score[1] == pytest.approx(0.1 + 0.8 / 2)
    np.testing.assert_allclose(forms.sigmoid_inverse(score, *params), loss, rtol=1e-10)
    assert np.isnan(forms.sigmoid_inverse(np.array([0.05, 0.95]), *params)).all()
