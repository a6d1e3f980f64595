"""Chinchilla approach 3: fit L(N, D) = E + A/N^alpha + B/D^beta by a robust loss.

Hoffmann et al. 2022 (arXiv 2203.15556, eq. 2, approach 3) as replicated by Besiroglu et
al. 2024 (arXiv 2404.10102): minimize the Huber loss (delta = 1e-3) of log L against
LSE(a - alpha log N, b - beta log D, e) (`analysis.laws.objective`). The search is exact
rather than sampled: `analysis.laws.search` solves (A, B, E) by non-negative least squares
on every cell of an (alpha, beta) grid and keeps one start per basin of that profile;
`analysis.laws.newton` then polishes each start on the full objective in all five
parameters until Newton steps vanish, and the best polished start is the fit.

Every function here fits a batch of problems at once when given per-problem point
weights, which is how the bootstrap refits every resample with this same full search.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.laws.inputs import validate_table
from analysis.laws.newton import minimize_newton
from analysis.laws.objective import DEFAULT_DELTA, Design, evaluate
from analysis.laws.result import FitResult, FloatArray, chinchilla_params
from analysis.laws.search import DEFAULT_GRID, SearchGrid, grid_starts

#: Problems searched together: a block of bootstrap resamples keeps the (rows, points, 5)
#: Jacobians at a few tens of MB (measured no slower than one block of 1,000 at 240 points).
BLOCK_PROBLEMS = 250
#: Newton converges in ~10-40 steps on real ladders; on tiny or near-degenerate data
#: (8-15 runs, an exponent near 0) with most residuals outside the Huber band the objective
#: is nearly piecewise linear and steps cross one kink at a time: up to ~600 were needed.
MAX_NEWTON_ITER = 1000


@dataclass(frozen=True)
class BatchFit:
    """Best optimum of each problem of a batch.

    Attributes:
        theta: (R, p) external parameters (a.., b.., e.., alpha, beta) of each problem.
        objective: (R,) objective at theta.
        num_starts: (R,) starts polished per problem.
        num_at_optimum: (R,) of those, how many reached the best objective.
        converged: (R,) whether the best start's Newton iteration converged.
    """

    theta: FloatArray
    objective: FloatArray
    num_starts: npt.NDArray[np.int64]
    num_at_optimum: npt.NDArray[np.int64]
    converged: npt.NDArray[np.bool_]


def fit_batch(design: Design, loss: FloatArray, weights: FloatArray | None, *,
              delta: float = DEFAULT_DELTA, grid: SearchGrid = DEFAULT_GRID) -> BatchFit:
    """The full search on each of R weighted problems over the same points.

    Args:
        design: The points (one group, or several with shared exponents).
        loss: (P,) losses in the design's point order.
        weights: (R, P) point weights per problem (bootstrap counts), or None for one
            unweighted problem.
        delta: Huber threshold.
        grid: Exponent grid of the search.

    Returns:
        BatchFit, one row per problem.
    """
    if weights is None or weights.shape[0] <= BLOCK_PROBLEMS:
        return _fit_block(design, loss, weights, delta, grid)
    blocks = [_fit_block(design, loss, weights[lo:lo + BLOCK_PROBLEMS], delta, grid)
              for lo in range(0, weights.shape[0], BLOCK_PROBLEMS)]
    return BatchFit(*(np.concatenate([getattr(b, name) for b in blocks])
                      for name in BatchFit.__dataclass_fields__))


def _fit_block(design: Design, loss: FloatArray, weights: FloatArray | None, delta: float,
               grid: SearchGrid) -> BatchFit:
    starts, problem = grid_starts(design, loss, weights, grid)
    row_w = None if weights is None else weights[problem]
    result = minimize_newton(
        lambda x, ids: evaluate(x, design, None if row_w is None else row_w[ids], delta), starts,
        max_iter=MAX_NEWTON_ITER)
    num_problems = 1 if weights is None else weights.shape[0]
    order = np.lexsort((result.f, problem))  # by problem, best first within each
    first = order[np.r_[True, problem[order][1:] != problem[order][:-1]]]
    best_f = result.f[first]
    near = result.f - best_f[problem] <= 1e-4 * np.abs(best_f[problem]) + 1e-7
    return BatchFit(theta=design.to_external(result.x[first]), objective=best_f,
                    num_starts=np.bincount(problem, minlength=num_problems).astype(np.int64),
                    num_at_optimum=np.bincount(problem, weights=near,
                                               minlength=num_problems).astype(np.int64),
                    converged=result.converged[first])


def fit_chinchilla(
    n: npt.ArrayLike, d: npt.ArrayLike, loss: npt.ArrayLike, *,
    delta: float = DEFAULT_DELTA, grid: SearchGrid = DEFAULT_GRID,
) -> FitResult:
    """Fit L(N, D) = E + A/N^alpha + B/D^beta by Hoffmann et al.'s approach 3.

    Args:
        n: Non-embedding parameters per run.
        d: Training tokens per run.
        loss: Final loss per run (nats/token).
        delta: Huber threshold (Hoffmann et al.: 1e-3).
        grid: Exponent grid of the search (the default spans 0.05..2.45 in steps of 0.1).

    Returns:
        FitResult with params E, A, B, alpha, beta; num_starts counts the basins polished.

    Raises:
        AnalysisInputError: on empty, non-finite, non-positive or mismatched input.
        TooFewPointsError: fewer than 5 points.
    """
    clock = time.perf_counter()
    n_arr, d_arr, l_arr = validate_table({"n": n, "d": d, "loss": loss}, 5, "Chinchilla")
    design = Design.build(n_arr, d_arr, l_arr)
    best = fit_batch(design, l_arr, None, delta=delta, grid=grid)
    if not best.converged[0]:
        warnings.warn("the Chinchilla fit stopped before Newton's steps vanished (an optimum "
                      "at E, A or B -> 0, or a flat direction); check its parameters.",
                      RuntimeWarning, stacklevel=2)
    return FitResult(
        form="chinchilla", params=chinchilla_params(best.theta[0]),
        objective=float(best.objective[0]), num_starts=int(best.num_starts[0]),
        num_starts_at_optimum=int(best.num_at_optimum[0]),
        fit_seconds=time.perf_counter() - clock, num_points=n_arr.size,
    )


def chinchilla_objective_at(result: FitResult, n: npt.ArrayLike, d: npt.ArrayLike,
                            loss: npt.ArrayLike, delta: float = DEFAULT_DELTA) -> float:
    """The approach-3 objective of `result`'s parameters on (n, d, loss) points."""
    n_arr, d_arr, l_arr = validate_table({"n": n, "d": d, "loss": loss}, 1, "Chinchilla")
    design = Design.build(n_arr, d_arr, l_arr)
    p = result.params
    theta = np.array([[np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]]])
    return float(evaluate(design.to_internal(theta), design, None, delta).f[0])

