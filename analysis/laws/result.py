"""What a fitted scaling law is: `FitResult`, its named parameters and its predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from analysis.laws import forms

FloatArray = npt.NDArray[np.float64]
#: A start counts as having reached the optimum when its batched objective f satisfies
#: f - f_best <= OPTIMUM_RTOL * f_best + OPTIMUM_ATOL. The batched phase stops at SciPy's
#: default tolerance (a decrease below 2.2e-9 absolute when f < 1), which leaves members
#: of one basin ~1e-6 relative (or, for noise-free data, ~1e-9 absolute) apart; distinct
#: local minima differ by percents.
OPTIMUM_RTOL = 1e-4
OPTIMUM_ATOL = 1e-7


@dataclass(frozen=True)
class FitResult:
    """A fitted scaling law.

    Attributes:
        form: "chinchilla" (params E, A, B, alpha, beta) or "kaplan" (x_c, alpha, plus E
            when fitted with an irreducible term).
        params: Fitted parameters by name.
        objective: Final objective (Huber sum for Chinchilla, 0.5 * sum of squared log
            residuals for Kaplan).
        num_starts: Number of starting points optimized.
        num_starts_at_optimum: Starts whose final objective is within OPTIMUM_RTOL
            (relative) + OPTIMUM_ATOL of the best.
        fit_seconds: Wall-clock time of the fit.
        num_points: Number of data points fitted.
        variable: Scale variable of a Kaplan fit ("N", "D" or "C"); "N,D" for Chinchilla.
        stderr: Standard errors where a covariance could be estimated (Kaplan only).
    """

    form: Literal["chinchilla", "kaplan"]
    params: dict[str, float]
    objective: float
    num_starts: int
    num_starts_at_optimum: int
    fit_seconds: float
    num_points: int
    variable: str = "N,D"
    stderr: dict[str, float] = field(default_factory=dict)


def count_at_optimum(f: FloatArray, f_best: float) -> int:
    """Number of entries of `f` within OPTIMUM_RTOL (relative) + OPTIMUM_ATOL of `f_best`."""
    return int(np.sum(f - f_best <= OPTIMUM_RTOL * abs(f_best) + OPTIMUM_ATOL))


def chinchilla_params(theta: FloatArray) -> dict[str, float]:
    """Named parameters E, A, B, alpha, beta of one raw row (a, b, e, alpha, beta)."""
    a, b, e, alpha, beta = (float(v) for v in theta)
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
            "alpha": alpha, "beta": beta}



def predict_loss(result: FitResult, x: npt.ArrayLike, d: npt.ArrayLike | None = None) -> FloatArray:
    """Loss predicted by a fitted law.

    Args:
        result: A Chinchilla or Kaplan FitResult.
        x: N for Chinchilla; the Kaplan scale variable otherwise.
        d: D for Chinchilla (required there, ignored for Kaplan).

    Returns:
        Predicted losses.

    Raises:
        ValueError: if a Chinchilla prediction is asked without `d`.
    """
    p = result.params
    if result.form == "kaplan":
        return forms.kaplan_loss(np.asarray(x, dtype=np.float64), p["x_c"], p["alpha"],
                                 p.get("E", 0.0))
    if d is None:
        raise ValueError("`d` is required to predict from a Chinchilla fit; pass D per point.")
    return forms.chinchilla_loss(np.asarray(x, dtype=np.float64), np.asarray(d, dtype=np.float64),
                                 p["E"], p["A"], p["B"], p["alpha"], p["beta"])
