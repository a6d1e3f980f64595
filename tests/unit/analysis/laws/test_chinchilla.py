"""Tests of the Chinchilla fitter (analysis.laws.chinchilla)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bench.reference_fits as reference
from analysis.laws import forms
from analysis.laws.batched_bfgs import minimize_batched
from analysis.laws.chinchilla import fit_chinchilla, make_start_grid
from analysis.laws.kernel import ChinchillaDesign, chinchilla_objective
from analysis.laws.result import FitResult, predict_loss

DATA = Path(__file__).parent / "data"
#: 3^5 = 243 starts: enough to find the optimum on these grids, ~20x cheaper than 4,500.
SMALL_GRID = make_start_grid(alphas=[0, 0.5, 1], betas=[0, 0.5, 1], es=[-1, 0, 1],
                                 as_=[0, 10, 20], bs=[0, 10, 20])
N_VALUES = np.geomspace(1e6, 1e9, 6)
D_VALUES = np.geomspace(1e8, 1e11, 6)


def grid_points() -> tuple[np.ndarray, np.ndarray]:
    n, d = np.meshgrid(N_VALUES, D_VALUES, indexing="ij")
    return n.ravel(), d.ravel()


@st.composite
def true_params(draw: st.DrawFn) -> dict[str, float]:
    """E in [1, 3], exponents in [0.25, 0.5]; A and B set so each power-law term is
    0.5-2 nats at the grid's geometric centre (A ~ 1e2-1e5), so every term is
    identifiable from the grid."""
    alpha = draw(st.floats(0.25, 0.5))
    beta = draw(st.floats(0.25, 0.5))
    n_mid, d_mid = np.sqrt(N_VALUES[0] * N_VALUES[-1]), np.sqrt(D_VALUES[0] * D_VALUES[-1])
    return {"E": draw(st.floats(1.0, 3.0)), "alpha": alpha, "beta": beta,
            "A": draw(st.floats(0.5, 2.0)) * n_mid**alpha,
            "B": draw(st.floats(0.5, 2.0)) * d_mid**beta}


def chinchilla(p: dict[str, float], n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return forms.chinchilla_loss(n, d, p["E"], p["A"], p["B"], p["alpha"], p["beta"])


@settings(derandomize=True, max_examples=6, deadline=None)
@given(p=true_params(), seed=st.integers(0, 2**16))
def test_chinchilla_recovers_parameters_within_noise(p: dict[str, float], seed: int) -> None:
    sigma = 0.005  # multiplicative lognormal noise on the loss
    n, d = grid_points()
    clean = chinchilla(p, n, d)
    noisy = clean * np.exp(np.random.default_rng(seed).normal(0.0, sigma, n.size))
    got = fit_chinchilla(n, d, noisy, starts=SMALL_GRID).params
    # On this 6x6 grid the exponents' estimates spread by ~0.8 sigma and E's by ~2 sigma
    # (relative), measured over repeated draws; 5 and 10 sigma leave >5 standard errors.
    assert abs(got["alpha"] - p["alpha"]) <= 5 * sigma
    assert abs(got["beta"] - p["beta"]) <= 5 * sigma
    assert abs(got["E"] / p["E"] - 1) <= 10 * sigma
    # The fitted surface must sit closer to the truth than the noise does.
    rms = np.sqrt(np.mean(np.log(chinchilla(got, n, d) / clean) ** 2))
    assert rms <= sigma


@settings(derandomize=True, max_examples=4, deadline=None)
@given(p=true_params())
def test_chinchilla_noise_free_is_exact(p: dict[str, float]) -> None:
    n, d = grid_points()
    got = fit_chinchilla(n, d, chinchilla(p, n, d), starts=SMALL_GRID)
    for key in ("E", "A", "B", "alpha", "beta"):
        assert got.params[key] == pytest.approx(p[key], rel=1e-5), key
    assert got.objective < 1e-12  # log residuals of ~2e-7 at most
    assert got.num_starts == SMALL_GRID.shape[0] and got.num_starts_at_optimum >= 1


def test_units_invariance_rescaling_n_changes_a_only() -> None:
    n, d = grid_points()
    p = {"E": 1.8, "A": 400.0, "B": 900.0, "alpha": 0.34, "beta": 0.3}
    loss = chinchilla(p, n, d) * np.exp(np.random.default_rng(3).normal(0, 0.005, n.size))
    base = fit_chinchilla(n, d, loss, starts=SMALL_GRID)
    scale = 1e3  # N in thousands of parameters: A / (N/k)^alpha = (A k^alpha) / N^alpha
    scaled = fit_chinchilla(n / scale, d, loss, starts=SMALL_GRID)
    assert scaled.params["alpha"] == pytest.approx(base.params["alpha"], rel=1e-6)
    assert scaled.params["beta"] == pytest.approx(base.params["beta"], rel=1e-6)
    assert scaled.params["E"] == pytest.approx(base.params["E"], rel=1e-6)
    assert scaled.params["A"] == pytest.approx(
        base.params["A"] * scale ** -base.params["alpha"], rel=1e-5)
    assert scaled.objective == pytest.approx(base.objective, rel=1e-9)


def test_vectorized_matches_reference_loop() -> None:
    n, d = grid_points()
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    loss = chinchilla(p, n, d) * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size))
    starts = make_start_grid(alphas=[0, 0.5], betas=[0.5, 1], es=[-1, 1], as_=[5, 15],
                                 bs=[0, 10])  # 32 starts keep the SciPy loop under 1 s
    vec = fit_chinchilla(n, d, loss, starts=starts)
    # SciPy's default ftol is absolute below f = 1 (2.2e-9), i.e. ~1e-5 relative here, so
    # the loop runs at tight tolerances to be comparable at 1e-9.
    ref = reference.fit_chinchilla_reference(n, d, loss, starts=starts,
                                       options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000})
    assert vec.objective == pytest.approx(ref.objective, rel=1e-9)
    assert vec.params["alpha"] == pytest.approx(ref.params["alpha"], rel=1e-4)


def test_usual_reference_objective_matches_analytic_one() -> None:
    # The finite-difference loop's objective (scipy.special logsumexp + huber, as in
    # Besiroglu et al.'s replication) and the analytic loop's must be the same function.
    n, d = grid_points()
    loss = chinchilla({"E": 2.0, "A": 500.0, "B": 800.0, "alpha": 0.3, "beta": 0.3}, n, d)
    loss = loss * np.exp(np.random.default_rng(1).normal(0, 0.01, n.size))
    for theta in ([6.0, 7.0, 0.5, 0.35, 0.25], [3.0, 9.0, 0.8, 0.2, 0.4]):
        usual = reference.huber_loss_objective(np.array(theta), n, d, loss, 0.05)
        analytic, _ = reference.reference_objective(np.array(theta), np.log(n), np.log(d),
                                              np.log(loss), 0.05)
        assert usual == pytest.approx(analytic, rel=1e-12)


def test_batched_objective_gradient_matches_finite_differences() -> None:
    n, d = grid_points()
    loss = chinchilla({"E": 2.0, "A": 500.0, "B": 800.0, "alpha": 0.3, "beta": 0.3}, n, d)
    weights = np.random.default_rng(0).poisson(1.0, (2, n.size)).astype(float)
    design = ChinchillaDesign.build(n, d, loss)
    theta = design.to_internal(np.array([[6.0, 7.0, 0.5, 0.35, 0.25], [3.0, 9.0, 0.8, 0.2, 0.4]]))
    f, grad = chinchilla_objective(theta, design, weights, 0.05)
    step = 1e-7
    for j in range(5):
        shifted = theta.copy()
        shifted[:, j] += step
        numeric = (chinchilla_objective(shifted, design, weights, 0.05)[0] - f) / step
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-4, atol=1e-9)


def test_known_answer_checked_in_dataset() -> None:
    # Hoffmann et al. 2022's fitted law on a 4 x 5 grid, losses rounded to 10 digits.
    table = pd.read_csv(DATA / "chinchilla_grid_20.csv")
    got = fit_chinchilla(table["N"], table["D"], table["loss"], starts=SMALL_GRID).params
    expected = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key


def test_minimize_batched_solves_independent_quadratics() -> None:
    centers = np.array([[1.0, -2.0], [3.0, 0.5], [-4.0, 4.0]])

    def fun(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diff = x - centers[rows]
        scale = np.array([1.0, 25.0])  # ill-conditioned on purpose
        return (diff**2 * scale).sum(1), 2 * diff * scale

    out = minimize_batched(fun, np.zeros((3, 2)), ftol=0.0, gtol=1e-10)
    np.testing.assert_allclose(out.x, centers, atol=1e-8)


@pytest.mark.parametrize(
    ("n", "d", "loss", "match"),
    [
        ([], [], [], r"`n` is empty"),
        ([1e6, np.nan, 1e7, 1e8, 1e9, 1e6], [1e9] * 6, [3.0] * 6, r"`n` has 1 non-finite value"),
        ([1e6] * 6, [1e9] * 6, [3.0, -1.0, 2.0, 2.0, 2.0, 2.0], r"`loss` must be > 0 but has 1"),
        ([1e6] * 6, [1e9] * 5, [3.0] * 6, r"lengths differ: \{'n': 6, 'd': 5, 'loss': 6\}"),
        ([1e6] * 4, [1e9] * 4, [3.0] * 4, r"the Chinchilla law \(5 free parameters\) needs ≥ 5 runs, found 4; add at least 1"),
    ],
)
def test_chinchilla_refuses_bad_input(n: list[float], d: list[float], loss: list[float],
                                      match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_chinchilla(n, d, loss, starts=SMALL_GRID)


def test_predict_needs_d_for_chinchilla() -> None:
    result = FitResult("chinchilla", {"E": 1.0, "A": 1.0, "B": 1.0, "alpha": 0.3,
                                          "beta": 0.3}, 0.0, 1, 1, 0.0, 5)
    with pytest.raises(ValueError, match="`d` is required"):
        predict_loss(result, [1e6])
