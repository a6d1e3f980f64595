"""Batched damped Newton (Levenberg-Marquardt on the exact Hessian) for many small problems.

Each row is its own minimization; one call of the objective evaluates every row still
running. A row takes the step (H + lambda s I)^-1 g, where s is the largest |H_jj|, lambda
is cut by 10 after an accepted step and raised by 10 after a rejected one (a step is
accepted when it does not raise f), and H is shifted to positive definite when needed.
Near a minimum lambda falls to ~0 and the method is Newton's, so it converges
quadratically and the optimum is exact to rounding; far from one it is a short gradient
step, so f never rises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.laws.objective import Evaluation

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: (rows (k, p), their row ids (k,)) -> Evaluation; the ids let rows carry their own data.
EvaluateFn = Callable[[FloatArray, IntArray], Evaluation]
#: A row stops when an accepted step moved no coordinate by more than this (relative to
#: 1 + |theta|): after a Newton step that small the next one would be ~its square.
STEP_TOL = 1e-10
#: ... or when the step's predicted decrease is below this fraction of |f|: f cannot be
#: resolved any further in float64 (rejections there are rounding, not a bad model).
NOISE_TOL = 1e-15
MAX_DAMPING = 1e10


@dataclass(frozen=True)
class NewtonResult:
    """Final rows of a batched minimization.

    Attributes:
        x: (S, p) final parameters.
        f: (S,) final objectives.
        num_iter: (S,) objective calls each row took.
        converged: (S,) stopped by the step or noise test (not by the iteration cap or
            a damping blow-up).
    """

    x: FloatArray
    f: FloatArray
    num_iter: npt.NDArray[np.int64]
    converged: npt.NDArray[np.bool_]


def _damped_steps(hess: FloatArray, grad: FloatArray, damping: FloatArray
                  ) -> tuple[FloatArray, FloatArray]:
    """Steps -(H + lambda s I)^-1 g, and the decrease the quadratic model predicts."""
    eye = np.eye(grad.shape[1])
    scale = np.abs(np.diagonal(hess, axis1=1, axis2=2)).max(1) + 1e-300
    shifted = hess + (damping * scale)[:, None, None] * eye
    # An indefinite H (few points in the Huber band, curvature from the LSE) is shifted
    # to positive definite, so every step is a descent direction.
    low = np.linalg.eigvalsh(shifted)[:, 0]
    shifted += np.where(low <= 1e-12 * scale, 1e-12 * scale - low, 0.0)[:, None, None] * eye
    step = -np.linalg.solve(shifted, grad[..., None])[..., 0]
    model = -np.einsum("sk,sk->s", grad, step) - 0.5 * np.einsum("sj,sjk,sk->s", step, hess, step)
    return step, model


def minimize_newton(fun: EvaluateFn, x0: FloatArray, *, max_iter: int = 200) -> NewtonResult:
    """Minimize each row of x0 by damped Newton; all rows advance in one batched call.

    Args:
        fun: Batched objective with gradient and Hessian.
        x0: (S, p) starting rows.
        max_iter: Cap on objective calls per row.

    Returns:
        Final rows, objectives, call counts and convergence flags.
    """
    x = np.array(x0, dtype=np.float64)
    rows = np.arange(x.shape[0])
    ev = fun(x, rows)
    f, grad, hess = ev.f.copy(), ev.grad.copy(), ev.hess.copy()
    damping = np.full(x.shape[0], 1e-3)
    num_iter = np.zeros(x.shape[0], dtype=np.int64)
    converged = np.zeros(x.shape[0], dtype=bool)
    active = np.isfinite(f)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        step, model = _damped_steps(hess[idx], grad[idx], damping[idx])
        trial = fun(x[idx] + step, idx)
        accept = trial.f <= f[idx]
        ok = idx[accept]
        x[ok], f[ok], grad[ok], hess[ok] = (x[ok] + step[accept], trial.f[accept],
                                            trial.grad[accept], trial.hess[accept])
        damping[ok] = np.maximum(damping[ok] / 10.0, 1e-12)
        damping[idx[~accept]] *= 10.0
        num_iter[idx] += 1
        small = np.abs(step).max(1) <= STEP_TOL * (1.0 + np.abs(x[idx]).max(1))
        done = (accept & small) | (model <= NOISE_TOL * np.abs(f[idx]))
        converged[idx[done]] = True
        active[idx[done | (damping[idx] > MAX_DAMPING)]] = False
    return NewtonResult(x, f, num_iter, converged)
