"""The previous Chinchilla fitter (until the variable-projection search), kept for the bench.

It fits L(N, D) = E + A/N^alpha + B/D^beta by the same objective as
`analysis.laws.chinchilla`.

Hoffmann et al. 2022 (arXiv 2203.15556, approach 3) as replicated by Besiroglu et al.
2024 (arXiv 2404.10102): minimize

    sum_i w_i Huber_delta(log L_i - LSE(a - alpha log N_i, b - beta log D_i, e))

with A = exp(a), B = exp(b), E = exp(e), from a grid of starts, keeping the best. The
grid is optimized all at once by a batched BFGS in numpy (`bench.batched_bfgs`): every
start is a row of a (num_starts, 5) array and one objective call (`bench.batched_kernel`)
evaluates all rows, in float32 with analytic gradients. The final
rows are re-scored in float64 and the best few distinct ones polished with SciPy's
L-BFGS-B at tight tolerances.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy import optimize

from analysis.laws.inputs import validate_table
from analysis.laws.objective import DEFAULT_DELTA
from analysis.laws.result import FitResult, FloatArray, chinchilla_params, count_at_optimum
from bench.batched_bfgs import minimize_batched
from bench.batched_kernel import ChinchillaDesign, chinchilla_objective

try:  # optional: only the polish's speed depends on it (it ships with scikit-learn)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

#: Polishing tolerances: tight enough that polished objectives agree to ~1e-12 relative.
POLISH_OPTIONS: dict[str, Any] = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000}
NUM_POLISHED = 4


def default_start_grid() -> FloatArray:
    """Hoffmann et al. approach-3 grid: 5 * 5 * 5 * 6 * 6 = 4,500 starts.

    Returns:
        (4500, 5) array of theta = (a, b, e, alpha, beta) starts.
    """
    return make_start_grid(
        alphas=np.arange(0.0, 2.01, 0.5), betas=np.arange(0.0, 2.01, 0.5),
        es=np.arange(-1.0, 1.01, 0.5), as_=np.arange(0.0, 25.1, 5.0),
        bs=np.arange(0.0, 25.1, 5.0),
    )


def make_start_grid(
    alphas: Sequence[float] | FloatArray, betas: Sequence[float] | FloatArray,
    es: Sequence[float] | FloatArray, as_: Sequence[float] | FloatArray,
    bs: Sequence[float] | FloatArray,
) -> FloatArray:
    """Cartesian grid of starts in theta order (a, b, e, alpha, beta).

    Returns:
        (num_starts, 5) array.
    """
    rows = itertools.product(as_, bs, es, alphas, betas)
    return np.array(list(rows), dtype=np.float64).reshape(-1, 5)


def _single_row(
    design: ChinchillaDesign, delta: float,
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """SciPy-shaped objective (one parameter vector) on the batched kernel."""
    def fun(theta: FloatArray) -> tuple[float, FloatArray]:
        f, g = chinchilla_objective(theta[None, :], design, None, delta)
        return float(f[0]), g[0]
    return fun



def _blas_single_thread() -> contextlib.AbstractContextManager[object]:
    """One BLAS thread for SciPy's L-BFGS-B: its tiny LAPACK calls only wait on a
    shared core otherwise (measured 10x slower polishes under load)."""
    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = threadpool_limits(
        limits=1, user_api="blas")
    return limits


def _pick_distinct(x: FloatArray, f: FloatArray, num: int) -> list[int]:
    """Indices of the `num` best rows that are pairwise >= 1e-2 apart (inf-norm)."""
    picked: list[int] = []
    for i in np.argsort(f):
        if not np.isfinite(f[i]) or len(picked) == num:
            break
        if all(np.abs(x[i] - x[j]).max() >= 1e-2 for j in picked):
            picked.append(int(i))
    return picked


def _polish(design: ChinchillaDesign, delta: float, x0: FloatArray) -> tuple[FloatArray, float]:
    res = optimize.minimize(_single_row(design, delta), x0, jac=True, method="L-BFGS-B",
                            options=cast(Any, POLISH_OPTIONS))
    return np.asarray(res.x, dtype=np.float64), float(res.fun)



def fit_chinchilla_batched(
    n: npt.ArrayLike, d: npt.ArrayLike, loss: npt.ArrayLike, *,
    starts: FloatArray | None = None, delta: float = DEFAULT_DELTA,
    max_iter: int = 2000,
) -> FitResult:
    """Fit L(N, D) = E + A/N^alpha + B/D^beta by Hoffmann et al.'s approach 3.

    All starts are minimized at once (float32 batched BFGS), re-scored in float64, and
    the best few distinct rows polished with SciPy L-BFGS-B at tight tolerances.

    Args:
        n: Non-embedding parameters per run.
        d: Training tokens per run.
        loss: Final loss per run (nats/token).
        starts: (S, 5) starts (a, b, e, alpha, beta); default `default_start_grid()`.
        delta: Huber threshold (Hoffmann et al.: 1e-3).
        max_iter: Cap on batched iterations; rows cut off count as not at the optimum.

    Returns:
        FitResult with params E, A, B, alpha, beta.

    Raises:
        ValueError: on empty, non-finite, non-positive or mismatched input, or fewer
            than 5 points.
    """
    clock = time.perf_counter()
    n_arr, d_arr, l_arr = validate_table({"n": n, "d": d, "loss": loss}, 5, "Chinchilla")
    grid = default_start_grid() if starts is None else np.atleast_2d(starts)
    fast = ChinchillaDesign.build(n_arr, d_arr, l_arr, np.float32)
    exact = ChinchillaDesign.build(n_arr, d_arr, l_arr, np.float64)
    batch = minimize_batched(lambda x, rows: chinchilla_objective(x, fast, None, delta),
                             fast.to_internal(grid), max_iter=max_iter)
    f64, _ = chinchilla_objective(batch.x, exact, None, delta)
    with _blas_single_thread():
        polished = [_polish(exact, delta, batch.x[i])
                    for i in _pick_distinct(batch.x, f64, NUM_POLISHED)]
    if not polished:
        raise ValueError("every start gave a non-finite objective; check that `loss` is "
                         "in nats/token and pass `starts` near plausible parameters.")
    theta_int, f_best = min(polished, key=lambda pair: pair[1])
    return FitResult(
        form="chinchilla", params=chinchilla_params(exact.to_external(theta_int)[0]),
        objective=f_best, num_starts=grid.shape[0],
        num_starts_at_optimum=count_at_optimum(f64, f_best),
        fit_seconds=time.perf_counter() - clock, num_points=n_arr.size,
    )


def bootstrap_warm_start(result: FitResult, n: FloatArray, d: FloatArray, loss: FloatArray, *,
                         num_resamples: int = 1000, seed: int = 0,
                         delta: float = DEFAULT_DELTA) -> tuple[FloatArray, float]:
    """The previous bootstrap: every resample warm-started at the full-data optimum.

    Returns:
        ((R, 5) external rows (a, b, e, alpha, beta), seconds).
    """
    clock = time.perf_counter()
    design = ChinchillaDesign.build(n, d, loss, np.float64)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n.size, np.full(n.size, 1.0 / n.size), size=num_resamples)
    counts = drawn.astype(np.float64)[:, design.order]  # the kernel's stored point order
    p = result.params
    theta = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])
    x0 = np.repeat(design.to_internal(theta), num_resamples, axis=0)
    batch = minimize_batched(
        lambda x, rows: chinchilla_objective(x, design, counts[rows], delta),
        x0, ftol=1e-12, f_floor=0.0, gtol=1e-12, max_iter=3000)
    return design.to_external(batch.x), time.perf_counter() - clock
