"""The approach-3 objective's derivatives and the batched Newton minimizer."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.laws import forms
from analysis.laws.newton import minimize_newton
from analysis.laws.objective import Design, Evaluation, evaluate, objective


def _points(num_groups: int) -> tuple[Design, np.ndarray]:
    n, d = np.meshgrid(np.geomspace(1e6, 1e9, 4), np.geomspace(1e8, 1e11, 5), indexing="ij")
    n, d = np.tile(n.ravel(), num_groups), np.tile(d.ravel(), num_groups)
    loss = forms.chinchilla_loss(n, d, 2.0, 500.0, 800.0, 0.3, 0.3)
    loss *= np.exp(np.random.default_rng(1).normal(0, 0.02, n.size))
    return Design.build(n, d, loss, np.repeat(np.arange(num_groups), 20), shared_e=False), loss


@pytest.mark.parametrize(("num_groups", "shared_e"), [(1, True), (2, True), (3, False)])
def test_gradient_and_hessian_match_finite_differences(num_groups: int, shared_e: bool) -> None:
    base, _ = _points(num_groups)
    design = Design(base.z_n, base.z_d, base.log_loss, base.center, base.group, num_groups,
                    shared_e or num_groups == 1)
    rng = np.random.default_rng(0)
    theta = rng.normal(0.0, 0.3, (2, design.num_params))
    theta[:, -2:] = [[0.35, 0.25], [0.2, 0.4]]
    weights = rng.poisson(1.0, (2, design.z_n.size)).astype(float)
    delta, step = 0.05, 1e-6  # a wide Huber band: both branches are exercised
    ev = evaluate(theta, design, weights, delta)
    np.testing.assert_allclose(objective(theta, design, weights, delta), ev.f, rtol=1e-14)
    for j in range(design.num_params):
        up, down = theta.copy(), theta.copy()
        up[:, j] += step
        down[:, j] -= step
        f_up, f_down = evaluate(up, design, weights, delta), evaluate(down, design, weights, delta)
        np.testing.assert_allclose(ev.grad[:, j], (f_up.f - f_down.f) / (2 * step),
                                   rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(ev.hess[:, :, j], (f_up.grad - f_down.grad) / (2 * step),
                                   rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("num_groups", [1, 2])
def test_internal_coordinates_round_trip(num_groups: int) -> None:
    design, _ = _points(num_groups)
    theta = np.random.default_rng(2).normal(0.0, 1.0, (3, design.num_params))
    np.testing.assert_allclose(design.to_external(design.to_internal(theta)), theta, atol=1e-12)


def test_newton_solves_independent_problems_exactly() -> None:
    """Rows are separate quadratics plus a quartic (so the Hessian changes), ill-scaled."""
    centers = np.array([[1.0, -2.0], [3.0, 0.5], [-4.0, 4.0]])
    scale = np.array([1.0, 1e4])

    def fun(x: np.ndarray, rows: np.ndarray) -> Evaluation:
        z = x - centers[rows]
        f = (scale * z**2).sum(1) + (z**4).sum(1)
        grad = 2 * scale * z + 4 * z**3
        hess = np.zeros((x.shape[0], 2, 2))
        hess[:, [0, 1], [0, 1]] = 2 * scale + 12 * z**2
        return Evaluation(f, grad, hess)

    out = minimize_newton(fun, np.zeros((3, 2)))
    np.testing.assert_allclose(out.x, centers, atol=1e-10)
    assert out.converged.all() and (out.num_iter < 30).all()


def test_newton_never_raises_the_objective() -> None:
    """From a start far up a non-convex valley, every accepted step goes down."""
    seen: list[float] = []

    def rosenbrock(x: np.ndarray, rows: np.ndarray) -> Evaluation:
        a, b = x[:, 0], x[:, 1]
        f = (1 - a) ** 2 + 100 * (b - a**2) ** 2
        grad = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], 1)
        hess = np.empty((x.shape[0], 2, 2))
        hess[:, 0, 0] = 2 - 400 * (b - 3 * a**2)
        hess[:, 0, 1] = hess[:, 1, 0] = -400 * a
        hess[:, 1, 1] = 200
        seen.append(float(f[0]))
        return Evaluation(f, grad, hess)

    out = minimize_newton(rosenbrock, np.array([[-1.5, 2.0]]))
    np.testing.assert_allclose(out.x[0], [1.0, 1.0], atol=1e-8)
    best = np.minimum.accumulate(seen)
    assert out.f[0] == pytest.approx(best[-1], abs=1e-20)
