"""Batched BFGS: many independent small minimizations advanced together in numpy.

Each row of the start array is its own problem, and one call of the objective evaluates
all rows still running. Used by the previous fitter (`bench.batched_fit`: the
4,500-start grid, and one warm-started row per bootstrap resample).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
#: SciPy L-BFGS-B defaults (factr 1e7 * eps, pgtol 1e-5): the batched phase stops where
#: the reference loop would, so both spend comparable effort per start.
SCIPY_FTOL = 1e7 * np.finfo(float).eps
SCIPY_GTOL = 1e-5

#: Batched objective: (rows (k, p), their row ids (k,)) -> (f (k,), grad (k, p)).
ObjectiveFn = Callable[[FloatArray, npt.NDArray[np.intp]], tuple[FloatArray, FloatArray]]


@dataclass(frozen=True)
class BatchedMinResult:
    """Final rows of a batched minimization.

    Attributes:
        x: (S, p) final parameters.
        f: (S,) final objectives.
        num_iter: (S,) iterations each row took.
    """

    x: FloatArray
    f: FloatArray
    num_iter: npt.NDArray[np.int64]


@dataclass
class _BfgsState:
    """Working set of the batched quasi-Newton method; rows are dropped as they finish.

    With 5 parameters a dense inverse-Hessian approximation per row, (k, 5, 5), is
    cheaper to apply and update in numpy than L-BFGS's two-loop recursion over 10 pairs,
    and full-memory BFGS needs no more iterations than L-BFGS.
    """

    rows: npt.NDArray[np.intp]  # (k,) original row index
    x: FloatArray  # (k, p)
    f: FloatArray  # (k,)
    g: FloatArray  # (k, p)
    h_inv: FloatArray  # (k, p, p) inverse-Hessian approximation
    fresh: npt.NDArray[np.bool_]  # (k,) no curvature pair accepted yet
    direction: FloatArray  # (k, p) current search direction
    step: FloatArray  # (k,) current trial step length
    num_backtracks: npt.NDArray[np.int64]  # (k,) rejected trials on this direction

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Drop the rows where mask is False."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name)[mask])


def _new_directions(st: _BfgsState, idx: npt.NDArray[np.intp]) -> None:
    """Set direction -H g and the first trial step for rows idx."""
    g = st.g[idx]
    d = -np.einsum("kij,kj->ki", st.h_inv[idx], g)
    ascent = np.einsum("kp,kp->k", g, d) >= 0  # H lost definiteness: restart from -g
    d[ascent] = -g[ascent]
    st.h_inv[idx[ascent]] = np.eye(g.shape[1])
    st.fresh[idx[ascent]] = True
    norm = np.maximum(np.linalg.norm(d, axis=1), 1e-300)
    # As L-BFGS-B: the first step along a bare gradient has length at most 1.
    st.step[idx] = np.where(st.fresh[idx], np.minimum(1.0, 1.0 / norm), 1.0)
    st.direction[idx] = d
    st.num_backtracks[idx] = 0


def _accept(st: _BfgsState, idx: npt.NDArray[np.intp], x_t: FloatArray,
            f_t: FloatArray, g_t: FloatArray) -> None:
    """Move rows idx to their trial points; BFGS-update H where s.y > 0."""
    s_vec, y_vec = x_t - st.x[idx], g_t - st.g[idx]
    sy = np.einsum("kp,kp->k", s_vec, y_vec)
    yy = np.einsum("kp,kp->k", y_vec, y_vec)
    # Skip pairs without positive curvature, as L-BFGS-B does, to keep H positive definite.
    ok = sy > 1e-10 * yy
    use, s_ok, y_ok, sy_ok = idx[ok], s_vec[ok], y_vec[ok], sy[ok]
    h = st.h_inv[use]
    first = st.fresh[use]
    # Nocedal & Wright eq. 6.20: scale H0 = (s.y / y.y) I before the first update.
    h[first] = (sy_ok[first] / yy[ok][first])[:, None, None] * np.eye(h.shape[1])
    rho = 1.0 / sy_ok
    hy = np.einsum("kij,kj->ki", h, y_ok)
    with np.errstate(over="ignore", invalid="ignore"):
        coef = (rho * rho * np.einsum("kp,kp->k", y_ok, hy) + rho)[:, None, None]
        # (I - rho s y^T) H (I - rho y s^T) + rho s s^T, expanded (H symmetric).
        h += coef * s_ok[:, :, None] * s_ok[:, None, :] - rho[:, None, None] * (
            s_ok[:, :, None] * hy[:, None, :] + hy[:, :, None] * s_ok[:, None, :])
    broken = ~np.isfinite(h).all((1, 2))  # a near-zero s.y blew the update up: restart
    h[broken] = np.eye(h.shape[1])
    st.h_inv[use], st.fresh[use] = h, broken
    st.x[idx], st.f[idx], st.g[idx] = x_t, f_t, g_t


def _backtrack(st: _BfgsState, idx: npt.NDArray[np.intp], f_t: FloatArray,
               slope: FloatArray) -> None:
    """Shrink the step of rejected rows by safeguarded quadratic interpolation."""
    t = st.step[idx]
    denom = 2.0 * (f_t - st.f[idx] - slope * t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_quad = -slope * t * t / denom
    t_quad[~np.isfinite(t_quad)] = 0.0
    st.step[idx] = np.clip(t_quad, 0.1 * t, 0.5 * t)
    st.num_backtracks[idx] += 1


def minimize_batched(
    fun: ObjectiveFn, x0: FloatArray, *, max_iter: int = 15000, ftol: float = SCIPY_FTOL,
    f_floor: float = 1.0, gtol: float = SCIPY_GTOL,
) -> BatchedMinResult:
    """Minimize many independent problems at once with a batched BFGS.

    Each row of x0 is its own problem; fun(x_rows, row_ids) returns objectives and
    gradients for those rows (row_ids index x0, so per-row data such as bootstrap
    weights can be looked up). Every iteration makes exactly one batched call: rows whose
    trial step fails the Armijo test (c1 = 1e-4) retry a shorter step on the same
    direction in the next call instead of holding the batch back. A row stops, as
    SciPy's L-BFGS-B does, when f_old - f_new <= ftol * max(|f_old|, |f_new|, f_floor),
    when max |grad| <= gtol, or when its line search fails: 30 rejections, or a
    backtracked step whose predicted decrease (step * |g.d|) is already below the ftol
    threshold.

    Args:
        fun: Batched objective with analytic gradient.
        x0: (S, p) starting rows.
        max_iter: Cap on batched calls (a row's accepted plus rejected trials).
        ftol: Relative decrease tolerance.
        f_floor: Floor of the scale in the decrease test (1.0 as in SciPy; 0 = relative).
        gtol: Gradient infinity-norm tolerance.

    Returns:
        Final rows, objectives and per-row call counts.
    """
    num_rows, num_par = x0.shape
    f0, g0 = fun(x0, np.arange(num_rows))
    out = BatchedMinResult(x0.copy(), f0.copy(), np.zeros(num_rows, dtype=np.int64))
    st = _BfgsState(
        np.arange(num_rows), x0.copy(), f0, g0,
        np.broadcast_to(np.eye(num_par), (num_rows, num_par, num_par)).copy(),
        np.ones(num_rows, dtype=bool), np.zeros_like(x0), np.ones(num_rows),
        np.zeros(num_rows, dtype=np.int64))
    st.keep(np.isfinite(f0) & (np.abs(g0).max(1) > gtol))
    _new_directions(st, np.arange(st.rows.size))
    for it in range(max_iter):
        if st.rows.size == 0:
            break
        slope = np.einsum("kp,kp->k", st.g, st.direction)
        trial = st.x + st.step[:, None] * st.direction
        f_t, g_t = fun(trial, st.rows)
        good = f_t <= st.f + 1e-4 * st.step * slope
        acc, rej = np.flatnonzero(good), np.flatnonzero(~good)
        f_old = st.f[acc]
        _accept(st, acc, trial[acc], f_t[acc], g_t[acc])
        _backtrack(st, rej, f_t[rej], slope[rej])
        scale = np.maximum(np.maximum(np.abs(f_old), np.abs(f_t[acc])), f_floor)
        done = np.zeros(st.rows.size, dtype=bool)
        done[acc] = (f_old - f_t[acc] <= ftol * scale) | (np.abs(g_t[acc]).max(1) <= gtol)
        # A rejected row whose next step's predicted decrease is already below the ftol
        # threshold is converged by that test (and float32 noise would only reject on).
        tiny = st.step[rej] * np.abs(slope[rej]) <= ftol * np.maximum(np.abs(st.f[rej]), f_floor)
        done[rej] = (st.num_backtracks[rej] >= 30) | tiny
        _new_directions(st, acc[~done[acc]])
        if done.any():
            _record(out, st, done, it + 1)
            st.keep(~done)
    _record(out, st, np.ones(st.rows.size, dtype=bool), max_iter)
    return out


def _record(out: BatchedMinResult, st: _BfgsState, rows: npt.NDArray[np.bool_],
            num_iter: int) -> None:
    """Copy the final state of the working rows selected by `rows` into `out`."""
    ids = st.rows[rows]
    out.x[ids], out.f[ids], out.num_iter[ids] = st.x[rows], st.f[rows], num_iter
