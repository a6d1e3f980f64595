"""One-start-at-a-time SciPy fits of the Chinchilla law, for benchmarks and tests.

Two loops over a start grid, each running `scipy.optimize.minimize(method="L-BFGS-B")`
from one start at a time and keeping the best:

- `fit_chinchilla_usual_reference`: the usual reference implementation, as in Besiroglu
  et al. 2024's Chinchilla replication (arXiv 2404.10102; Epoch AI's
  analyzing-chinchilla notebook) and its many copies: `huber_loss_objective` built on
  `scipy.special.logsumexp` and `scipy.special.huber`, with no `jac`, so SciPy takes
  forward finite-difference gradients (6 objective calls per gradient).
- `fit_chinchilla_reference`: a stronger baseline, the same loop with the analytic
  gradient of `reference_objective`.

Both are independent of the fitter in `analysis.laws`, so they check
`analysis.laws.chinchilla.fit_chinchilla` against code that shares nothing with it.
Benchmark and test code only: nothing in `analysis/` imports this module.
"""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from analysis.laws.inputs import validate_table
from analysis.laws.objective import DEFAULT_DELTA
from analysis.laws.result import FitResult, FloatArray, chinchilla_params, count_at_optimum
from bench.batched_fit import default_start_grid


def huber_loss_objective(
    params: FloatArray, n: FloatArray, d: FloatArray, losses: FloatArray,
    delta: float = DEFAULT_DELTA,
) -> float:
    """Huber objective exactly as the usual reference implementation writes it.

    Args:
        params: (a, b, e, alpha, beta).
        n: Parameters per run (raw, not logged: the original logs them on every call).
        d: Tokens per run.
        losses: Loss per run.
        delta: Huber threshold.

    Returns:
        sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i).
    """
    a, b, e, alpha, beta = params
    predictions = special.logsumexp(
        [a - alpha * np.log(n), b - beta * np.log(d), e * np.ones(len(n))], axis=0)
    return float(np.sum(special.huber(delta, predictions - np.log(losses))))


def fit_chinchilla_usual_reference(
    n: npt.ArrayLike, d: npt.ArrayLike, loss: npt.ArrayLike, *,
    starts: FloatArray | None = None, delta: float = DEFAULT_DELTA,
    options: dict[str, Any] | None = None,
) -> FitResult:
    """The usual reference implementation: L-BFGS-B with finite differences, per start.

    As the original, the best start is taken among the runs SciPy reports as successful
    (the others count as infinite in `num_starts_at_optimum`). Very slow (about 100 ms
    per start on 240 points, i.e. ~7.5 minutes for the 4,500-start grid on 2 cores);
    benchmarks time it on a sample of starts.

    Args:
        n: Parameters per run.
        d: Tokens per run.
        loss: Loss per run.
        starts: (S, 5) starts (a, b, e, alpha, beta); default `default_start_grid()`.
        delta: Huber threshold.
        options: SciPy L-BFGS-B options; None keeps SciPy's defaults, as the original.

    Returns:
        FitResult of the best successful start.

    Raises:
        ValueError: on bad input (as `fit_chinchilla`), or when no start succeeds.
    """
    clock = time.perf_counter()
    n_arr, d_arr, l_arr = validate_table({"n": n, "d": d, "loss": loss}, 5, "Chinchilla")
    grid = default_start_grid() if starts is None else np.atleast_2d(starts)
    finals = [optimize.minimize(huber_loss_objective, s, args=(n_arr, d_arr, l_arr, delta),
                                method="L-BFGS-B", options=cast(Any, options or {}))
              for s in grid]
    f_all = np.array([r.fun if r.success else np.inf for r in finals])
    if not np.isfinite(f_all).any():
        raise ValueError(f"none of the {grid.shape[0]} starts converged; pass other "
                         "`starts` or looser `options`.")
    return _best_of(finals, f_all, clock, n_arr.size)


def reference_objective(
    theta: FloatArray, log_n: FloatArray, log_d: FloatArray, log_loss: FloatArray,
    delta: float = DEFAULT_DELTA,
) -> tuple[float, FloatArray]:
    """Straightforward single-start objective in raw (a, b, e, alpha, beta) coordinates.

    An independent implementation (plain LSE per point) used by the reference loop, so
    the batched kernel is checked against code that shares nothing with it.
    """
    a, b, e, alpha, beta = theta
    u = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])  # (3, P)
    top = u.max(0)
    ex = np.exp(u - top)
    tot = ex.sum(0)
    resid = log_loss - (top + np.log(tot))
    soft = ex / tot  # d LSE / d u
    psi = np.clip(resid, -delta, delta)
    f = float(np.sum(np.where(np.abs(resid) <= delta, 0.5 * resid**2,
                              delta * (np.abs(resid) - 0.5 * delta))))
    g = -np.array([psi @ soft[0], psi @ soft[1], psi @ soft[2],
                   -(psi * log_n) @ soft[0], -(psi * log_d) @ soft[1]])
    return f, g


def fit_chinchilla_reference(
    n: npt.ArrayLike, d: npt.ArrayLike, loss: npt.ArrayLike, *,
    starts: FloatArray | None = None, delta: float = DEFAULT_DELTA,
    options: dict[str, Any] | None = None,
) -> FitResult:
    """Analytic-gradient reference: SciPy L-BFGS-B from every start, keep the best.

    A stronger baseline than `fit_chinchilla_usual_reference` (about 9 ms per start on
    240 points, ~10x faster) and, with tight `options`, precise enough to check
    `fit_chinchilla` at 1e-9 relative, which finite-difference gradients are not.

    Args:
        n: Parameters per run.
        d: Tokens per run.
        loss: Loss per run.
        starts: (S, 5) starts; default `default_start_grid()`.
        delta: Huber threshold.
        options: SciPy L-BFGS-B options; None keeps SciPy's defaults.

    Returns:
        FitResult of the best start.
    """
    clock = time.perf_counter()
    n_arr, d_arr, l_arr = validate_table({"n": n, "d": d, "loss": loss}, 5, "Chinchilla")
    grid = default_start_grid() if starts is None else np.atleast_2d(starts)
    data = (np.log(n_arr), np.log(d_arr), np.log(l_arr), delta)
    finals = [optimize.minimize(reference_objective, s, args=data, jac=True,
                                method="L-BFGS-B", options=cast(Any, options or {}))
              for s in grid]
    return _best_of(finals, np.array([r.fun for r in finals]), clock, n_arr.size)


def _best_of(finals: list[Any], f_all: FloatArray, clock: float, num_points: int) -> FitResult:
    """The FitResult of the best of one-start-at-a-time optimizations."""
    best = int(np.nanargmin(f_all))
    return FitResult(
        form="chinchilla", params=chinchilla_params(finals[best].x),
        objective=float(f_all[best]), num_starts=len(finals),
        num_starts_at_optimum=count_at_optimum(f_all, float(f_all[best])),
        fit_seconds=time.perf_counter() - clock, num_points=num_points,
    )
