"""Single-variable Kaplan laws L(x) = (x_c / x)^alpha (+ E), fitted in log space.

Kaplan et al. 2020 (arXiv 2001.08361) eqs. 1.1-1.3, optionally with an irreducible term
(Henighan et al. 2020 form). `fit_kaplan` is the fit; `refit_kaplan` runs the same search
on weighted points (bootstrap counts) and returns bare parameters, for the bootstrap and
the density law.
"""

from __future__ import annotations

import time
import warnings
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize

from analysis.laws.inputs import validate_table
from analysis.laws.result import FitResult, FloatArray, count_at_optimum

#: Fractions of min L tried as the starting E (the line fitted to log(L - E0) gives the
#: other two starts, as lmfit's PowerLawModel.guess does).
E_START_FRACTIONS = (0.0, 0.5, 0.9, 0.99)


def kaplan_residuals(p: FloatArray, log_x: FloatArray, log_l: FloatArray) -> FloatArray:
    """Log-space residuals log L_hat - log L of a Kaplan law with E.

    Args:
        p: (alpha, log x_c, log E); log E = -inf gives the pure power law.
        log_x: Log scale values.
        log_l: Log losses.

    Returns:
        Residuals, one per point.
    """
    # log L_hat = log(E + exp(alpha (log x_c - log x))), computed without overflow.
    return np.asarray(np.logaddexp(p[2], p[0] * (p[1] - log_x)) - log_l)


def _kaplan_stderr(jac: FloatArray, resid: FloatArray, names: list[str]) -> dict[str, float]:
    """Standard errors from (J^T J)^-1 s^2, warning (as curve_fit does) when impossible."""
    dof = resid.size - jac.shape[1]
    cond = np.linalg.cond(jac.T @ jac) if dof > 0 else np.inf
    if dof <= 0 or not np.isfinite(cond) or cond > 1e14:
        warnings.warn(
            f"covariance of the Kaplan fit could not be estimated ({resid.size} points, "
            f"{jac.shape[1]} parameters, condition number {cond:.3g}); stderr left empty. "
            "Add points spread over a wider range.", RuntimeWarning, stacklevel=3)
        return {}
    cov = np.linalg.inv(jac.T @ jac) * float(resid @ resid) / dof
    return {k: float(np.sqrt(v)) for k, v in zip(names, np.diag(cov))}


def fit_kaplan(
    x: npt.ArrayLike, loss: npt.ArrayLike, *, irreducible: bool = False,
    variable: Literal["N", "D", "C"] = "N",
) -> FitResult:
    """Fit L(x) = (x_c / x)^alpha (+ E) by least squares on log L (Kaplan et al. eq. 1.1-1.3).

    Without E the law is a line in log-log space and the fit is that line. With E, the
    line fitted to log(L - E0) for a few E0 below min L gives the starts (as lmfit's
    PowerLawModel.guess) for a log-space least-squares fit in (alpha, log x_c, log E).

    Args:
        x: Scale values (N, D or C), positive.
        loss: Loss values, positive.
        irreducible: Fit the irreducible term E too.
        variable: Name of the scale variable, recorded in the result.

    Returns:
        FitResult with params x_c, alpha (and E) and their standard errors.

    Raises:
        AnalysisInputError: on empty, non-finite, non-positive or mismatched input.
        TooFewPointsError: fewer points than free parameters (2, or 3 with E).
    """
    clock = time.perf_counter()
    num_free = 3 if irreducible else 2
    x_arr, l_arr = validate_table({"x": x, "loss": loss}, num_free, f"Kaplan L({variable})")
    log_x, log_l = np.log(x_arr), np.log(l_arr)
    fits = _kaplan_candidates(log_x, log_l, irreducible, np.ones(log_x.size))
    costs = np.array([c for _, c, _ in fits])
    p_best, cost, jac = fits[int(np.argmin(costs))]
    names = ["alpha", "log_x_c", "log_E"][:num_free]
    stderr = _kaplan_stderr(jac, kaplan_residuals(_pad(p_best), log_x, log_l), names)
    if abs(p_best[0]) < 1e-12:
        warnings.warn("fitted Kaplan exponent is 0: x_c is undefined (set to NaN); the "
                      "loss does not vary with the scale variable.", RuntimeWarning, 2)
    params = {"x_c": float(np.exp(p_best[1])) if abs(p_best[0]) >= 1e-12 else float("nan"),
              "alpha": float(p_best[0])}
    if irreducible:
        params["E"] = float(np.exp(p_best[2]))
    return FitResult(
        form="kaplan", params=params, objective=cost, num_starts=len(fits),
        num_starts_at_optimum=count_at_optimum(costs, cost),
        fit_seconds=time.perf_counter() - clock, num_points=x_arr.size, variable=variable,
        stderr=stderr,
    )


def refit_kaplan(log_x: FloatArray, log_l: FloatArray, weights: FloatArray,
                 irreducible: bool) -> FloatArray:
    """The `fit_kaplan` search on weighted points, as bare parameters.

    Args:
        log_x: Log scale values.
        log_l: Log losses.
        weights: Non-negative weight per point (bootstrap counts).
        irreducible: Fit E too.

    Returns:
        (alpha, log x_c[, log E]); NaN where the weighted points cannot determine them
        (fewer distinct x values with weight than parameters).
    """
    num_free = 3 if irreducible else 2
    if np.unique(log_x[weights > 0]).size < num_free:
        return np.full(num_free, np.nan)
    fits = _kaplan_candidates(log_x, log_l, irreducible, weights)
    return fits[int(np.argmin([c for _, c, _ in fits]))][0]


def _pad(p: FloatArray) -> FloatArray:
    """(alpha, log x_c) -> (alpha, log x_c, -inf): E = 0 for the pure power law."""
    return p if p.size == 3 else np.append(p, -np.inf)


def _line_guess(log_x: FloatArray, log_y: FloatArray, root_w: FloatArray) -> tuple[float, float]:
    """Slope and intercept of log y against log x, weighted (lmfit PowerLawModel.guess)."""
    slope, intercept = np.polyfit(log_x, log_y, 1, w=root_w)
    return float(slope), float(intercept)


def _kaplan_candidates(
    log_x: FloatArray, log_l: FloatArray, irreducible: bool, weights: FloatArray,
) -> list[tuple[FloatArray, float, FloatArray]]:
    """Fitted (params, weighted cost, weighted jacobian) from each start."""
    root_w = np.sqrt(weights)
    if not irreducible:
        slope, intercept = _line_guess(log_x, log_l, root_w)
        alpha = -slope
        p = np.array([alpha, intercept / alpha if alpha != 0 else 0.0])
        resid = root_w * kaplan_residuals(_pad(p), log_x, log_l)
        jac = root_w[:, None] * np.stack([p[1] - log_x, np.full_like(log_x, alpha)], axis=1)
        return [(p, 0.5 * float(resid @ resid), jac)]

    def weighted(q: FloatArray) -> FloatArray:
        return root_w * kaplan_residuals(q, log_x, log_l)

    def weighted_jac(q: FloatArray) -> FloatArray:
        # share of the power-law term in L_hat: d log L_hat / d u with u = alpha (c - log x)
        u = q[0] * (q[1] - log_x)
        share = np.exp(u - np.logaddexp(q[2], u))
        cols = [share * (q[1] - log_x), share * q[0], 1.0 - share]
        return np.asarray(root_w[:, None] * np.stack(cols, axis=1))

    l_min = float(np.exp(log_l).min())  # all points: log(L - E0) must stay finite
    out = []
    for frac in E_START_FRACTIONS:
        e0 = frac * l_min
        slope, intercept = _line_guess(log_x, np.log(np.exp(log_l) - e0), root_w)
        alpha = -slope if slope != 0 else 1e-3
        start = np.array([alpha, intercept / alpha, np.log(max(e0, 1e-3 * l_min))])
        res = optimize.least_squares(weighted, start, jac=weighted_jac, method="lm",
                                     xtol=1e-15, ftol=1e-15, gtol=1e-15)
        out.append((np.asarray(res.x), float(res.cost), np.asarray(res.jac)))
    return out
