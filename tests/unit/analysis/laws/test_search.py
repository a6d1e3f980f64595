"""The variable-projection search (analysis.laws.search): exact linear part, one start per basin."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.laws import forms
from analysis.laws.objective import Design
from analysis.laws.search import SearchGrid, grid_starts


def _design(p: dict[str, float]) -> tuple[Design, np.ndarray]:
    n, d = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = forms.chinchilla_loss(n, d, p["E"], p["A"], p["B"], p["alpha"], p["beta"])
    return Design.build(n, d, loss), loss


@pytest.mark.parametrize("p", [
    {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.35, "beta": 0.25},
    {"E": 2.5, "A": 50.0, "B": 3000.0, "alpha": 0.15, "beta": 0.45},
])
def test_a_truth_on_the_grid_is_the_first_start_exactly(p: dict[str, float]) -> None:
    """Noise-free losses with exponents on grid cells: the linear solve recovers A, B, E."""
    design, loss = _design(p)
    starts, problem = grid_starts(design, loss, None)
    assert problem[0] == 0
    a, b, e, alpha, beta = design.to_external(starts[:1])[0]
    assert (alpha, beta) == pytest.approx((p["alpha"], p["beta"]), rel=1e-12)
    assert (np.exp(a), np.exp(b), np.exp(e)) == pytest.approx((p["A"], p["B"], p["E"]), rel=1e-8)


def test_zero_terms_are_bounded_below_and_every_problem_gets_a_start() -> None:
    """A law without a data term (B = 0) sits on the NNLS boundary; starts stay finite."""
    design, loss = _design({"E": 2.0, "A": 400.0, "B": 0.0, "alpha": 0.35, "beta": 0.25})
    weights = np.random.default_rng(0).multinomial(loss.size, np.full(loss.size, 1 / loss.size), 4)
    starts, problem = grid_starts(design, loss, weights.astype(float), SearchGrid(max_starts=2))
    assert np.isfinite(starts).all()
    assert set(problem.tolist()) == {0, 1, 2, 3}
    assert np.bincount(problem).max() <= 2


def test_separate_groups_get_their_own_linear_part() -> None:
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.35, "beta": 0.25}
    design, loss = _design(p)
    n, d = np.exp(design.z_n * design.center[1] + design.center[0]), np.exp(
        design.z_d * design.center[3] + design.center[2])
    loss2 = forms.chinchilla_loss(n, d, 1.5, 2 * p["A"], p["B"] / 2, p["alpha"], p["beta"])
    both = Design.build(np.tile(n, 2), np.tile(d, 2), np.concatenate([loss, loss2]),
                        np.repeat([0, 1], n.size), shared_e=False)
    starts, _ = grid_starts(both, np.concatenate([loss, loss2]), None)
    a1, a2, b1, b2, e1, e2, alpha, beta = both.to_external(starts[:1])[0]
    assert np.exp([a1, a2, b1, b2, e1, e2]) == pytest.approx(
        [p["A"], 2 * p["A"], p["B"], p["B"] / 2, p["E"], 1.5], rel=1e-8)


def test_neighbours_add_the_axis_cells_around_each_start() -> None:
    design, loss = _design({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.35, "beta": 0.25})
    plain, _ = grid_starts(design, loss, None, SearchGrid(max_starts=1))
    more, problem = grid_starts(design, loss, None, SearchGrid(max_starts=1, with_neighbours=True))
    assert plain.shape[0] == 1 and more.shape[0] == 5 and set(problem.tolist()) == {0}
    cells = np.round(design.to_external(more)[:, 3:], 2)
    assert cells.tolist() == [[0.35, 0.25], [0.25, 0.25], [0.45, 0.25], [0.35, 0.15], [0.35, 0.35]]
