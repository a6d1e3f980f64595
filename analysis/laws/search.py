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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.laws.objective import Design

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: A coefficient the NNLS sets to zero starts at this share of the typical loss instead:
#: log space has no zero, and a term kept this small (1e-6 was tried) has almost no
#: gradient, so Newton cannot bring it back where the Huber fit needs it.
FLOOR_SHARE = 1e-2


@dataclass(frozen=True)
class SearchGrid:
    """The exponent grid of the search and how many basins each problem polishes.

    Attributes:
        alphas: Parameter exponents tried (0 is left out: there x is constant and A and E
            cannot be told apart).
        betas: Data exponents tried.
        max_starts: At most this many local minima of the profile are polished per problem.
        with_neighbours: Also polish from the 4 cells next to each chosen minimum (along
            alpha and along beta). With noise well above the Huber delta the objective is
            nearly piecewise linear and has shallow local minima close together (objectives
            ~1e-7 apart); the profile's best cell can sit in a small one while most cells
            around it lead to the deeper one. Off by default: it costs ~5x (slow Newton
            steps from the farther starts), and in bench/fit_robustness.py the default
            search missed the previous fit's optimum once in 60 typical datasets, by 2.4e-7.
    """

    alphas: tuple[float, ...] = tuple(float(v) for v in np.arange(0.05, 2.5, 0.1).round(2))
    betas: tuple[float, ...] = tuple(float(v) for v in np.arange(0.05, 2.5, 0.1).round(2))
    max_starts: int = 4
    with_neighbours: bool = False


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
        theta, sse_g = _nnls3(_normal_equations(x, y, loss, rel_w))
        coefs.append(theta)
        sse += sse_g
    problem, cell_a, cell_b = _local_minima(sse, grid.max_starts)
    if grid.with_neighbours:
        problem, cell_a, cell_b = _with_neighbours(problem, cell_a, cell_b, sse.shape[1:])
    starts = _to_starts(design, coefs, w, loss, alphas[cell_a], betas[cell_b],
                        (problem, cell_a, cell_b))
    return starts, problem


@dataclass(frozen=True)
class _Normal:
    """Weighted normal equations of L ~ A x + B y + E on every (problem, alpha, beta) cell.

    The Gram matrix is symmetric, so only its six distinct entries are kept, each shaped
    to broadcast to (R, nA, nB) (an entry that depends only on alpha is (R, nA, 1)).
    """

    g00: FloatArray  # sum w x x
    g01: FloatArray  # sum w x y
    g02: FloatArray  # sum w x
    g11: FloatArray  # sum w y y
    g12: FloatArray  # sum w y
    g22: FloatArray  # sum w
    r0: FloatArray  # sum w x L
    r1: FloatArray  # sum w y L
    r2: FloatArray  # sum w L
    sll: FloatArray  # sum w L^2


def _normal_equations(x: FloatArray, y: FloatArray, loss: FloatArray, w: FloatArray) -> _Normal:
    """The normal equations for R problems (rows of w) on the nA x nB exponent grid."""
    wx, wy = w[:, None, :] * x, w[:, None, :] * y  # (R, nA, P), (R, nB, P)
    return _Normal(
        g00=np.einsum("rap,ap->ra", wx, x)[:, :, None], g01=np.matmul(wx, y.T),
        g02=wx.sum(2)[:, :, None], g11=np.einsum("rbp,bp->rb", wy, y)[:, None, :],
        g12=wy.sum(2)[:, None, :], g22=w.sum(1)[:, None, None],
        r0=(wx @ loss)[:, :, None], r1=(wy @ loss)[:, None, :], r2=(w @ loss)[:, None, None],
        sll=(w @ loss**2)[:, None, None])


def _subset_solutions(ne: _Normal) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
    """(A, B, E) least-squares solutions with each non-empty subset of them free.

    Closed forms (Cramer's rule on the symmetric 1x1, 2x2 and 3x3 systems): on ~10^6 cells
    np.linalg.solve costs more than this arithmetic, and it raises on the singular cells
    a grid always has, which give NaN here and are then ruled infeasible.
    """
    zero = np.zeros(())
    g00, g01, g02, g11, g12, g22 = ne.g00, ne.g01, ne.g02, ne.g11, ne.g12, ne.g22
    r0, r1, r2 = ne.r0, ne.r1, ne.r2
    c00, c01, c02 = g11 * g22 - g12 * g12, g02 * g12 - g01 * g22, g01 * g12 - g02 * g11
    c11, c12, c22 = g00 * g22 - g02 * g02, g01 * g02 - g00 * g12, g00 * g11 - g01 * g01
    det = g00 * c00 + g01 * c01 + g02 * c02
    full = ((c00 * r0 + c01 * r1 + c02 * r2) / det, (c01 * r0 + c11 * r1 + c12 * r2) / det,
            (c02 * r0 + c12 * r1 + c22 * r2) / det)

    def pair(ga: FloatArray, gab: FloatArray, gb: FloatArray, ra: FloatArray,
             rb: FloatArray) -> tuple[FloatArray, FloatArray]:
        det2 = ga * gb - gab * gab
        return (gb * ra - gab * rb) / det2, (ga * rb - gab * ra) / det2

    ab, ae, be = pair(g00, g01, g11, r0, r1), pair(g00, g02, g22, r0, r2), pair(g11, g12, g22, r1, r2)
    return [full, (ab[0], ab[1], zero), (ae[0], zero, ae[1]), (zero, be[0], be[1]),
            (r0 / g00, zero, zero), (zero, r1 / g11, zero), (zero, zero, r2 / g22)]


def _nnls3(ne: _Normal) -> tuple[FloatArray, FloatArray]:
    """Non-negative least squares in (A, B, E) on every cell, by its 7 active sets.

    With 3 variables the NNLS optimum is the best feasible unconstrained optimum over the
    non-empty subsets of free variables (the KKT point is one of them), so trying all 7
    is exact and vectorizes.

    Returns:
        (theta (R, nA, nB, 3) >= 0, its weighted sum of squares (R, nA, nB)).
    """
    shape = np.broadcast_shapes(ne.g01.shape, ne.g00.shape, ne.g11.shape)
    best = np.full(shape, np.inf)
    theta = np.zeros((*shape, 3))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for sol in _subset_solutions(ne):
            cand = np.stack([np.broadcast_to(v, shape) for v in sol], axis=-1)
            # At a least-squares solution on the free set, theta' G theta = theta' rhs, so
            # SSE = sum w L^2 - 2 theta' rhs + theta' G theta = sum w L^2 - theta' rhs.
            sse = ne.sll - (cand[..., 0] * ne.r0 + cand[..., 1] * ne.r1 + cand[..., 2] * ne.r2)
            better = (cand >= 0).all(-1) & np.isfinite(sse) & (sse < best)
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


def _with_neighbours(problem: IntArray, cell_a: IntArray, cell_b: IntArray,
                     shape: tuple[int, ...]) -> tuple[IntArray, IntArray, IntArray]:
    """Each chosen cell followed by its in-grid neighbours along either axis."""
    steps = np.array([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)])
    a = (cell_a[:, None] + steps[:, 0]).ravel()
    b = (cell_b[:, None] + steps[:, 1]).ravel()
    p = np.repeat(problem, steps.shape[0])
    inside = (a >= 0) & (a < shape[0]) & (b >= 0) & (b < shape[1])
    return p[inside], a[inside].astype(np.intp), b[inside].astype(np.intp)


def _to_starts(design: Design, coefs: list[FloatArray], w: FloatArray, loss: FloatArray,
               alpha: FloatArray, beta: FloatArray,
               where: tuple[IntArray, IntArray, IntArray]) -> FloatArray:
    """(K, p) internal starts from each group's (A', B', E) at the chosen cells."""
    # A zero coefficient (on the NNLS boundary) starts at a small positive value instead:
    # the fit is in log space, where exactly zero does not exist.
    floor = FLOOR_SHARE * float(np.exp(np.log(loss).mean()))
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
