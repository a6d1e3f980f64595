"""Where the Chinchilla fit starts: a coarse (alpha, beta) grid with the rest solved exactly.

Variable projection (Golub & Pereyra 1973; for scaling laws, arXiv 2603.22339): for fixed
exponents the law L = A x + B y + E, x = (N/N~)^-alpha, y = (D/D~)^-beta, is linear in
(A, B, E). On every cell of an (alpha, beta) grid, and for every problem of a batch (a fit,
or each bootstrap resample), the linear part is solved exactly by non-negative least
squares on the relative error (L_hat - L) / L, which is log L_hat - log L to first order,
so its optimum lies next to the Huber fit's. The cells that are local minima of that
profile, best first, are the starts that `analysis.laws.newton` polishes on the full
Huber objective in all five parameters (one start per basin instead of a 4,500-start
grid: cells of one basin would all polish to the same optimum).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.laws.objective import Design

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class SearchGrid:
    """The exponent grid of the search and how many basins each problem polishes.

    Attributes:
        alphas: Parameter exponents tried (0 is left out: there x is constant and A and E
            cannot be told apart).
        betas: Data exponents tried.
        max_starts: At most this many local minima of the profile are polished per problem.
    """

    alphas: tuple[float, ...] = tuple(float(v) for v in np.arange(0.05, 2.5, 0.1).round(2))
    betas: tuple[float, ...] = tuple(float(v) for v in np.arange(0.05, 2.5, 0.1).round(2))
    max_starts: int = 4


DEFAULT_GRID = SearchGrid()


def grid_starts(design: Design, loss: FloatArray, weights: FloatArray | None,
                grid: SearchGrid = DEFAULT_GRID) -> tuple[FloatArray, IntArray]:
    """Starts for every problem: one per local minimum of its projected profile.

    Args:
        design: The points (and groups: each group gets its own A, B, E here).
        loss: (P,) losses, in the design's point order.
        weights: (R, P) point weights of R problems, or None for one unweighted problem.
        grid: The exponent grid.

    Returns:
        (starts, problem): (K, p) starts in the design's internal coordinates, and the
        problem (0..R-1) each belongs to; every problem has at least one.
    """
    w = np.ones((1, loss.size)) if weights is None else weights
    alphas, betas = np.asarray(grid.alphas), np.asarray(grid.betas)
    _, sn, _, sd = design.center
    x = np.exp(-np.outer(alphas, design.z_n * sn))  # (nA, P): (N / N~)^-alpha
    y = np.exp(-np.outer(betas, design.z_d * sd))  # (nB, P)
    coefs, sse = [], np.zeros((w.shape[0], alphas.size, betas.size))
    for g in range(design.num_groups):
        rel_w = w * ((design.group == g) / loss**2)  # relative error: weight 1 / L^2
        gram, rhs, sll = _normal_equations(x, y, loss, rel_w)
        theta, sse_g = _nnls3(gram, rhs, sll)
        coefs.append(theta)
        sse += sse_g
    problem, cell_a, cell_b = _local_minima(sse, grid.max_starts)
    starts = _to_starts(design, coefs, w, loss, alphas[cell_a], betas[cell_b],
                        (problem, cell_a, cell_b))
    return starts, problem


def _normal_equations(x: FloatArray, y: FloatArray, loss: FloatArray, w: FloatArray
                      ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted normal equations of L ~ A x + B y + E on every (problem, alpha, beta) cell.

    Returns:
        (gram (R, nA, nB, 3, 3), rhs (R, nA, nB, 3), sum w L^2 (R, 1, 1)).
    """
    num_r, num_a, num_b = w.shape[0], x.shape[0], y.shape[0]
    wx, wy = w[:, None, :] * x, w[:, None, :] * y  # (R, nA, P), (R, nB, P)
    gram = np.empty((num_r, num_a, num_b, 3, 3))
    gram[..., 0, 0] = np.einsum("rap,ap->ra", wx, x)[:, :, None]
    gram[..., 1, 1] = np.einsum("rbp,bp->rb", wy, y)[:, None, :]
    gram[..., 2, 2] = w.sum(1)[:, None, None]
    gram[..., 0, 1] = gram[..., 1, 0] = np.matmul(wx, y.T)
    gram[..., 0, 2] = gram[..., 2, 0] = wx.sum(2)[:, :, None]
    gram[..., 1, 2] = gram[..., 2, 1] = wy.sum(2)[:, None, :]
    rhs = np.empty((num_r, num_a, num_b, 3))
    rhs[..., 0] = (wx @ loss)[:, :, None]
    rhs[..., 1] = (wy @ loss)[:, None, :]
    rhs[..., 2] = (w @ loss)[:, None, None]
    return gram, rhs, (w @ loss**2)[:, None, None]


def _solve_small(gram: FloatArray, rhs: FloatArray) -> FloatArray:
    """Closed-form solutions of stacked 1x1, 2x2 or 3x3 systems (Cramer's rule).

    np.linalg.solve on ~10^6 stacked tiny systems costs more than this arithmetic, and
    it raises on the singular cells a grid always has (NaN here, then ruled infeasible).
    """
    size = gram.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if size == 1:
            return rhs / gram[..., 0]
        if size == 2:
            a, b, c = gram[..., 0, 0], gram[..., 0, 1], gram[..., 1, 1]
            det = a * c - b * b
            return np.stack([(c * rhs[..., 0] - b * rhs[..., 1]) / det,
                             (a * rhs[..., 1] - b * rhs[..., 0]) / det], axis=-1)
        adj = np.empty(gram.shape)
        for i, j in itertools.product(range(3), range(3)):
            rows, cols = [r for r in range(3) if r != j], [c for c in range(3) if c != i]
            minor = gram[..., rows, :][..., cols]
            adj[..., i, j] = (-1) ** (i + j) * (minor[..., 0, 0] * minor[..., 1, 1]
                                                - minor[..., 0, 1] * minor[..., 1, 0])
        det = np.einsum("...j,...j->...", gram[..., 0, :], adj[..., :, 0])
        return np.asarray(np.einsum("...ij,...j->...i", adj, rhs) / det[..., None])


def _nnls3(gram: FloatArray, rhs: FloatArray, sll: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Non-negative least squares in 3 variables on every cell, by its 7 active sets.

    With 3 variables the NNLS optimum is the best feasible unconstrained optimum over the
    non-empty subsets of free variables (the KKT point is one of them), so trying all 7
    is exact and vectorizes.

    Returns:
        (theta (..., 3) >= 0, its sum of squares (...)).
    """
    best = np.full(gram.shape[:-2], np.inf)
    theta = np.zeros(rhs.shape)
    for mask in itertools.product((False, True), repeat=3):
        free = [k for k in range(3) if mask[k]]
        if not free:
            continue
        sol = _solve_small(gram[..., free, :][..., free], rhs[..., free])
        cand = np.zeros(rhs.shape)
        cand[..., free] = sol
        # At a least-squares solution on the free set, theta' G theta = theta' rhs, so
        # SSE = sum w L^2 - 2 theta' rhs + theta' G theta = sum w L^2 - theta' rhs.
        sse = sll - np.einsum("...k,...k->...", cand, rhs)
        better = (sol >= 0).all(-1) & np.isfinite(sse) & (sse < best)
        best[better], theta[better] = sse[better], cand[better]
    return theta, best


def _local_minima(sse: FloatArray, max_starts: int) -> tuple[IntArray, IntArray, IntArray]:
    """(problem, alpha cell, beta cell) of each problem's best local minima, best first."""
    num_r, num_a, num_b = sse.shape
    padded = np.pad(sse, ((0, 0), (1, 1), (1, 1)), constant_values=np.inf)
    neighbours = np.min(np.stack([padded[:, 1 + i:1 + i + num_a, 1 + j:1 + j + num_b]
                                  for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]), 0)
    key = np.where((sse <= neighbours) & np.isfinite(sse), sse, np.inf).reshape(num_r, -1)
    order = np.argsort(key, axis=1, kind="stable")[:, :max_starts]
    keep = np.isfinite(np.take_along_axis(key, order, 1))
    keep[:, 0] = True  # the global minimum cell, even if the whole profile is flat/NaN
    problem, slot = np.nonzero(keep)
    cell_a, cell_b = np.unravel_index(order[problem, slot], (num_a, num_b))
    return problem.astype(np.intp), cell_a.astype(np.intp), cell_b.astype(np.intp)


def _to_starts(design: Design, coefs: list[FloatArray], w: FloatArray, loss: FloatArray,
               alpha: FloatArray, beta: FloatArray,
               where: tuple[IntArray, IntArray, IntArray]) -> FloatArray:
    """(K, p) internal starts from each group's (A', B', E) at the chosen cells."""
    # A zero coefficient (on the NNLS boundary) starts at a small positive value instead:
    # the fit is in log space, where exactly zero does not exist.
    floor = 1e-6 * float(np.exp(np.log(loss).mean()))
    per_group = np.stack([np.maximum(c[where], floor) for c in coefs], axis=1)  # (K, G, 3)
    num_g = design.num_groups
    if design.shared_e:
        size = np.stack([(w[where[0]] * (design.group == g)).sum(1) for g in range(num_g)], 1)
        e = np.log((per_group[..., 2] * size).sum(1) / np.maximum(size.sum(1), 1e-300))[:, None]
    else:
        e = np.log(per_group[..., 2])
    _, sn, _, sd = design.center
    return np.concatenate([np.log(per_group[..., 0]), np.log(per_group[..., 1]), e,
                           (alpha * sn)[:, None], (beta * sd)[:, None]], axis=1)
