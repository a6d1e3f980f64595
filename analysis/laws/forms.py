"""Pure functional forms of the scaling laws, kept apart from the fitting machinery.

Every function here is a closed-form expression of its arguments: no fitting, no state,
no validation beyond what numpy does. Parameters broadcast, so a column of bootstrap
samples against a row of x values gives one curve per sample. The fitters and the
analyses built on them (bootstrap, hold-out, compute-optimal, density) call these to
predict.

Forms and their sources:

* Kaplan power law (Kaplan et al. 2020, "Scaling Laws for Neural Language Models",
  arXiv 2001.08361, eq. 1.1-1.3): L(x) = (x_c / x)^alpha for x in {N, D, C}; with an
  irreducible term E added (Henighan et al. 2020 form) L(x) = E + (x_c / x)^alpha.
* Chinchilla parametric law (Hoffmann et al. 2022, "Training Compute-Optimal Large
  Language Models", arXiv 2203.15556, eq. 2, fitted by approach 3):
  L(N, D) = E + A / N^alpha + B / D^beta; its compute-optimal allocation is eq. 4.
  The replication by Besiroglu et al. 2024 (arXiv 2404.10102) is the reference for the
  fitting details (Huber loss on log L, grid of starts, bootstrap intervals).
* Sigmoid loss-to-score map (Xiao et al. 2024, "Densing law of LLMs", arXiv 2412.04315,
  eq. 3): S(L) = c / (1 + exp(-g (L - l))) + d.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | FloatArray


def kaplan_loss(
    x: ArrayLike, x_c: ArrayLike, alpha: ArrayLike, e_irr: ArrayLike = 0.0,
) -> FloatArray:
    """Kaplan power law L(x) = E + (x_c / x)^alpha (Kaplan et al. 2020, eq. 1.1-1.3).

    Args:
        x: Scale variable (N, D or C), positive.
        x_c: Critical scale x_c (same unit as x).
        alpha: Power-law exponent alpha_x.
        e_irr: Irreducible loss E; 0 gives the pure Kaplan form.

    Returns:
        Predicted loss, same shape as x.
    """
    return np.asarray(e_irr + (x_c / np.asarray(x, dtype=np.float64)) ** alpha)


def kaplan_inverse(
    loss: ArrayLike, x_c: ArrayLike, alpha: ArrayLike, e_irr: ArrayLike = 0.0,
) -> FloatArray:
    """Scale x at which the Kaplan law reaches `loss`: x = x_c (L - E)^(-1/alpha).

    Used for the effective size N-hat of the density law (Xiao et al. 2024, eq. 5).
    Losses at or below the asymptote E have no preimage and come back as NaN; callers
    decide whether to warn or raise.

    Args:
        loss: Loss values.
        x_c: Critical scale.
        alpha: Exponent.
        e_irr: Irreducible loss E.

    Returns:
        The scale x with kaplan_loss(x) == loss, NaN where loss <= E.
    """
    excess = np.asarray(loss, dtype=np.float64) - e_irr
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x_c * np.where(excess > 0, excess, np.nan) ** (-1.0 / alpha)
    return np.asarray(out)


def chinchilla_loss(
    n: ArrayLike, d: ArrayLike, e_irr: ArrayLike, a_coef: ArrayLike, b_coef: ArrayLike,
    alpha: ArrayLike, beta: ArrayLike,
) -> FloatArray:
    """Chinchilla law L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, eq. 2).

    Args:
        n: Non-embedding parameters N.
        d: Training tokens D.
        e_irr: Irreducible loss E.
        a_coef: Coefficient A of the parameter term.
        b_coef: Coefficient B of the data term.
        alpha: Parameter exponent.
        beta: Data exponent.

    Returns:
        Predicted loss, broadcast shape of n and d.
    """
    n_arr = np.asarray(n, dtype=np.float64)
    d_arr = np.asarray(d, dtype=np.float64)
    return np.asarray(e_irr + a_coef / n_arr**alpha + b_coef / d_arr**beta)


def optimal_exponents(alpha: ArrayLike, beta: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Compute-optimal exponents (a, b) with N_opt ∝ C^a, D_opt ∝ C^b (Hoffmann eq. 4).

    Args:
        alpha: Parameter exponent of the Chinchilla law.
        beta: Data exponent of the Chinchilla law.

    Returns:
        (a, b) = (beta / (alpha + beta), alpha / (alpha + beta)).
    """
    alpha_arr, beta_arr = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    total = alpha_arr + beta_arr
    return beta_arr / total, alpha_arr / total


def chinchilla_optimal_allocation(
    compute_flops: ArrayLike, a_coef: ArrayLike, b_coef: ArrayLike, alpha: ArrayLike,
    beta: ArrayLike, *, flops_per_param_token: float,
) -> tuple[FloatArray, FloatArray]:
    """N_opt(C), D_opt(C) minimizing L(N, D) subject to C = k N D (Hoffmann et al. eq. 4).

    With G = (alpha A / (beta B))^(1 / (alpha + beta)):
    N_opt = G (C/k)^a and D_opt = G^-1 (C/k)^b, a and b from `optimal_exponents`.
    Hoffmann et al. take k = 6 (the 6 N D convention); the relation used by an analysis
    is chosen once, by `analysis.laws.flops.FlopsRelation`.

    Args:
        compute_flops: Training compute budgets C in FLOPs.
        a_coef: Coefficient A.
        b_coef: Coefficient B.
        alpha: Parameter exponent.
        beta: Data exponent.
        flops_per_param_token: k in C = k N D.

    Returns:
        (N_opt, D_opt), each shaped like compute_flops.
    """
    exp_a, exp_b = optimal_exponents(alpha, beta)
    # Work in logs: A and B can be ~1e10 and C ~1e24, whose products overflow nothing in
    # float64 but lose digits when G is formed by powers of huge ratios.
    alpha_arr, beta_arr = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    log_g = (np.log(alpha_arr * a_coef) - np.log(beta_arr * b_coef)) / (alpha_arr + beta_arr)
    log_ck = np.log(np.asarray(compute_flops, dtype=np.float64) / flops_per_param_token)
    return np.exp(log_g + exp_a * log_ck), np.exp(-log_g + exp_b * log_ck)


def sigmoid_score(
    loss: ArrayLike, c_scale: float, g_slope: float, l_mid: float, d_floor: float,
) -> FloatArray:
    """Sigmoid loss-to-score map S(L) = c / (1 + exp(-g (L - l))) + d (Xiao et al. eq. 3).

    Scores fall as loss rises, so a fitted slope g is negative.

    Args:
        loss: Loss values.
        c_scale: Score range c.
        g_slope: Slope g (gamma in the paper).
        l_mid: Loss at the midpoint l.
        d_floor: Score floor d.

    Returns:
        Predicted score, same shape as loss.
    """
    z = -g_slope * (np.asarray(loss, dtype=np.float64) - l_mid)
    return np.asarray(c_scale / (1.0 + np.exp(z)) + d_floor)


def sigmoid_inverse(
    score: ArrayLike, c_scale: float, g_slope: float, l_mid: float, d_floor: float,
) -> FloatArray:
    """Loss whose sigmoid score is `score`: L = l - ln(c / (S - d) - 1) / g.

    Scores outside the open range (d, d + c) have no preimage and come back as NaN.

    Args:
        score: Score values.
        c_scale: Score range c.
        g_slope: Slope g.
        l_mid: Midpoint loss l.
        d_floor: Score floor d.

    Returns:
        The loss with sigmoid_score(loss) == score, NaN outside the range.
    """
    frac = (np.asarray(score, dtype=np.float64) - d_floor) / c_scale
    inside = (frac > 0) & (frac < 1)
    safe = np.where(inside, frac, 0.5)
    return np.asarray(np.where(inside, l_mid - np.log(1.0 / safe - 1.0) / g_slope, np.nan))
