"""The Chinchilla approach-3 objective with exact gradient and Hessian, for many rows at once.

Hoffmann et al. 2022 (arXiv 2203.15556, approach 3) as replicated by Besiroglu et al.
2024 (arXiv 2404.10102): for parameters theta = (a, b, e, alpha, beta),

    f(theta) = sum_i w_i Huber_delta(log L_i - LSE(a - alpha log N_i, b - beta log D_i, e))

with A = exp(a), B = exp(b), E = exp(e) and delta = 1e-3. The same objective serves a
joint fit of several groups of runs with shared exponents (`analysis.laws.compare`):
group g has its own (a_g, b_g) and its own or a shared e. Parameter vectors are laid out
as (a_1..a_G, b_1..b_G, e_1..e_H, alpha, beta) with H = G or 1; one group is exactly
(a, b, e, alpha, beta).

Rows are evaluated together: a row is one parameter vector with its own point weights
(all ones for a fit, bootstrap counts for a resample), so a whole bootstrap is one
batch of arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: Hoffmann et al. 2022 Huber delta (approach 3: delta = 1e-3 on log L).
DEFAULT_DELTA = 1e-3


@dataclass(frozen=True)
class Design:
    """The points of a fit in the coordinates the optimizer works in.

    Internally u_N = a' - alpha' z_N with z_N = (log N - mean) / sd, i.e. a' = a - alpha
    mean and alpha' = alpha sd (likewise for D): the same function, but the raw
    (a, alpha) pair is nearly collinear (log N ~ 14-21) and the Hessian ill-conditioned.

    Attributes:
        z_n: (P,) standardized log N.
        z_d: (P,) standardized log D.
        log_loss: (P,) log L.
        center: (mean log N, sd, mean log D, sd).
        group: (P,) group index of each point (0 for a single fit).
        num_groups: G.
        shared_e: One E for all groups (else one per group).
    """

    z_n: FloatArray
    z_d: FloatArray
    log_loss: FloatArray
    center: tuple[float, float, float, float]
    group: IntArray
    num_groups: int
    shared_e: bool

    @classmethod
    def build(cls, n: FloatArray, d: FloatArray, loss: FloatArray,
              group: IntArray | None = None, shared_e: bool = True) -> Design:
        """Build from validated positive arrays of equal length (and group indices)."""
        log_n, log_d = np.log(n), np.log(d)
        # sd of 1 for a single value keeps the transform invertible.
        center = (float(log_n.mean()), float(log_n.std() or 1.0),
                  float(log_d.mean()), float(log_d.std() or 1.0))
        groups = np.zeros(n.size, dtype=np.intp) if group is None else group.astype(np.intp)
        num_groups = int(groups.max()) + 1
        return cls((log_n - center[0]) / center[1], (log_d - center[2]) / center[3],
                   np.log(loss), center, groups, num_groups, shared_e or num_groups == 1)

    @property
    def num_params(self) -> int:
        """2 G + H + 2 parameters."""
        return 2 * self.num_groups + self.num_e + 2

    @property
    def num_e(self) -> int:
        """H: 1 when E is shared, else G."""
        return 1 if self.shared_e else self.num_groups

    def columns(self) -> IntArray:
        """(P, 5) index of each point's (a, b, e, alpha, beta) in the parameter vector."""
        g, num_g = self.group, self.num_groups
        e_col = 2 * num_g + (np.zeros_like(g) if self.shared_e else g)
        p = self.num_params
        return np.stack([g, num_g + g, e_col, np.full_like(g, p - 2), np.full_like(g, p - 1)],
                        axis=1)

    def to_internal(self, theta: FloatArray) -> FloatArray:
        """Map (S, p) rows (a.., b.., e.., alpha, beta) to the standardized coordinates."""
        mn, sn, md, sd = self.center
        out = np.array(np.atleast_2d(theta), dtype=np.float64)
        alpha, beta = out[:, -2].copy(), out[:, -1].copy()
        num_g = self.num_groups
        out[:, :num_g] -= alpha[:, None] * mn
        out[:, num_g:2 * num_g] -= beta[:, None] * md
        out[:, -2], out[:, -1] = alpha * sn, beta * sd
        return out

    def to_external(self, theta_int: FloatArray) -> FloatArray:
        """Inverse of `to_internal`."""
        mn, sn, md, sd = self.center
        out = np.array(np.atleast_2d(theta_int), dtype=np.float64)
        alpha, beta = out[:, -2] / sn, out[:, -1] / sd
        num_g = self.num_groups
        out[:, :num_g] += alpha[:, None] * mn
        out[:, num_g:2 * num_g] += beta[:, None] * md
        out[:, -2], out[:, -1] = alpha, beta
        return out


@dataclass(frozen=True)
class Evaluation:
    """Objective values and derivatives of a batch of rows.

    Attributes:
        f: (S,) objectives (inf where the prediction under/overflows).
        grad: (S, p) gradients in internal coordinates.
        hess: (S, p, p) Hessians in internal coordinates.
    """

    f: FloatArray
    grad: FloatArray
    hess: FloatArray


def _softmax_terms(theta: FloatArray, design: Design, cols: IntArray
                   ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per (row, point): the three LSE weights p_k and the log prediction LSE(u)."""
    if design.num_groups == 1:  # one coefficient each: broadcast instead of gathering
        a, b, e = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
    else:
        a, b, e = theta[:, cols[:, 0]], theta[:, cols[:, 1]], theta[:, cols[:, 2]]
    u1 = a - theta[:, -2:-1] * design.z_n  # (S, P)
    u2 = b - theta[:, -1:] * design.z_d
    u3 = np.broadcast_to(e, u1.shape)
    top = np.maximum(np.maximum(u1, u2), u3)  # the LSE shift: no exp() overflows
    t1, t2, t3 = np.exp(u1 - top), np.exp(u2 - top), np.exp(u3 - top)
    total = t1 + t2 + t3
    inv = 1.0 / total
    return t1 * inv, t2 * inv, t3 * inv, top + np.log(total)


def evaluate(theta: FloatArray, design: Design, weights: FloatArray | None,
             delta: float) -> Evaluation:
    """Weighted Huber objective, gradient and Hessian of (S, p) rows in internal coordinates.

    The Hessian is exact: with r = log L - LSE(u), psi = clip(r, -delta, delta) and
    J = d LSE / d theta, it is sum_i w_i [(1{|r_i| < delta} + psi_i) J_i J_i^T
    - psi_i sum_k p_ik m_k m_k^T], where m_k = d u_k / d theta (the Hessian of LSE is
    sum_k p_k m_k m_k^T - J J^T).

    Args:
        theta: (S, p) rows in the design's internal coordinates.
        design: The points.
        weights: (S, P) per-row point weights, or None for all ones.
        delta: Huber threshold.

    Returns:
        Evaluation with f, grad, hess.
    """
    cols = design.columns()
    p1, p2, p3, lse = _softmax_terms(theta, design, cols)
    resid = design.log_loss - lse  # (S, P)
    w = np.ones((1, resid.shape[1])) if weights is None else weights
    clipped = np.clip(resid, -delta, delta)
    f = np.einsum("sp,sp->s", clipped * (resid - 0.5 * clipped), w)  # Huber, both branches
    psi = clipped * w
    local = np.stack([p1, p2, p3, -design.z_n * p1, -design.z_d * p2], axis=-1)  # (S, P, 5)
    jac = _scatter(local, cols, design.num_params)  # (S, P, p)
    grad = -np.einsum("sp,spk->sk", psi, jac)
    curv = (np.abs(resid) < delta) * w + psi
    hess = np.matmul((jac * curv[..., None]).transpose(0, 2, 1), jac)
    _subtract_lse_curvature(hess, psi * p1, psi * p2, psi * p3, design, cols)
    bad = ~(np.isfinite(f) & np.isfinite(grad).all(1) & np.isfinite(hess).all((1, 2)))
    f[bad] = np.inf
    return Evaluation(f, grad, hess)


def objective(theta: FloatArray, design: Design, weights: FloatArray | None,
              delta: float) -> FloatArray:
    """(S,) objectives only: the line search's cheap test of a trial point."""
    p1, p2, p3, lse = _softmax_terms(theta, design, design.columns())
    resid = design.log_loss - lse
    w = np.ones((1, resid.shape[1])) if weights is None else weights
    clipped = np.clip(resid, -delta, delta)
    f = np.einsum("sp,sp->s", clipped * (resid - 0.5 * clipped), w)
    f[~np.isfinite(f)] = np.inf
    return np.asarray(f)


def _scatter(local: FloatArray, cols: IntArray, num_params: int) -> FloatArray:
    """(S, P, 5) per-point derivatives placed in (S, P, p) parameter columns."""
    if num_params == 5:  # one group: the columns are the identity, nothing to place
        return local
    full = np.zeros((*local.shape[:2], num_params))
    rows = np.arange(local.shape[1])[:, None]
    full[:, rows, cols] = local
    return full


def _subtract_lse_curvature(hess: FloatArray, v1: FloatArray, v2: FloatArray, v3: FloatArray,
                            design: Design, cols: IntArray) -> None:
    """hess -= sum_i sum_k v_ik m_k m_k^T in place, v_k = w psi p_k.

    m_1 = e_a - z_N e_alpha, m_2 = e_b - z_D e_beta, m_3 = e_e, so each term only touches
    (a_g, a_g), (a_g, alpha), (alpha, alpha) and the like: sums per group, no dense work.
    """
    num_p = design.num_params
    onehot = np.zeros((design.z_n.size, num_p))
    for k, (v, z, exp_col) in enumerate(((v1, design.z_n, num_p - 2), (v2, design.z_d, num_p - 1))):
        onehot[:] = 0.0
        onehot[np.arange(design.z_n.size), cols[:, k]] = 1.0
        diag = np.arange(num_p)
        hess[:, diag, diag] -= v @ onehot  # (coefficient, coefficient)
        cross = (v * z) @ onehot  # (coefficient, exponent): + sum v z
        hess[:, :, exp_col] += cross
        hess[:, exp_col, :] += cross
        hess[:, exp_col, exp_col] -= np.einsum("sp,p->s", v, z * z)
    onehot[:] = 0.0
    onehot[np.arange(design.z_n.size), cols[:, 2]] = 1.0
    diag = np.arange(num_p)
    hess[:, diag, diag] -= v3 @ onehot
