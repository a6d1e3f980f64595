"""Straight lines fitted by OLS, with t-intervals: y = slope x + b, and y = k C^exponent.

Used where a law is a line in (log-)space: the IsoFLOP minima against C
(`analysis.laws.compute_optimal`) and the density trend over time
(`analysis.laws.density`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PowerLawFit:
    """y = k * C^exponent fitted by OLS in log-log space.

    Attributes:
        exponent: Slope in log-log space.
        exponent_interval: t-distribution interval of the slope at `level`.
        coefficient: k.
        stderr: Standard error of the slope (NaN with only two points, with a warning).
        level: Interval coverage.
    """

    exponent: float
    exponent_interval: tuple[float, float]
    coefficient: float
    stderr: float
    level: float


def fit_line(
    x: FloatArray, y: FloatArray, level: float = 0.95,
) -> tuple[float, tuple[float, float], float, float]:
    """OLS line y = slope x + intercept with a t-interval for the slope.

    Returns:
        (slope, slope interval, intercept, slope standard error); the error and interval
        are NaN, with a warning, when two points leave no degree of freedom.
    """
    from scipy import stats  # 0.5 s to import: only when a line is fitted, not for every CLI command

    res = stats.linregress(x, y)
    dof = x.size - 2
    if dof < 1:
        warnings.warn(f"only {x.size} points: the slope's standard error cannot be "
                      "estimated (NaN).", RuntimeWarning, stacklevel=3)
        return float(res.slope), (float("nan"), float("nan")), float(res.intercept), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, dof) * res.stderr)
    return (float(res.slope), (float(res.slope - half), float(res.slope + half)),
            float(res.intercept), float(res.stderr))


def fit_loglog_line(c: FloatArray, y: FloatArray, level: float = 0.95) -> PowerLawFit:
    """y = k C^exponent by OLS of ln y on ln C, with a t-interval for the exponent."""
    slope, interval, intercept, stderr = fit_line(np.log(c), np.log(y), level)
    return PowerLawFit(slope, interval, float(np.exp(intercept)), stderr, level)
