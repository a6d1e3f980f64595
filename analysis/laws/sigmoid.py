"""The loss-to-score sigmoid of the density law (Xiao et al. 2024, eq. 3).

When a downstream score is measured instead of a loss, S(L) = c / (1 + exp(−g (L − l))) + d
is fitted on reference models and inverted, so a score maps to the loss the reference law
reads (`analysis.laws.density`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize

from analysis.errors import AnalysisInputError, TooFewPointsError
from analysis.laws import forms
from analysis.laws.inputs import validate_positive

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SigmoidFit:
    """Fitted loss-to-score sigmoid S(L) = c / (1 + exp(-g (L - l))) + d (Xiao eq. 3)."""

    c_scale: float
    g_slope: float
    l_mid: float
    d_floor: float
    objective: float

    def loss_from_score(self, score: npt.ArrayLike) -> FloatArray:
        """Invert the sigmoid; NaN (with a warning) outside the score range (d, d + c)."""
        loss = forms.sigmoid_inverse(np.asarray(score, dtype=np.float64), self.c_scale,
                                    self.g_slope, self.l_mid, self.d_floor)
        if np.isnan(loss).any():
            warnings.warn(f"{int(np.isnan(loss).sum())} score(s) lie outside the sigmoid's "
                          f"range ({self.d_floor:.4g}, {self.d_floor + self.c_scale:.4g}); "
                          "their loss is NaN.", RuntimeWarning, stacklevel=2)
        return loss


def fit_sigmoid_score(loss: npt.ArrayLike, score: npt.ArrayLike) -> SigmoidFit:
    """Least-squares fit of S(L) on (loss, score) pairs of reference models.

    Raises:
        AnalysisInputError: on bad input or fewer than 4 points (the sigmoid has 4 parameters).
    """
    l_arr = validate_positive("loss", loss)
    s_arr = np.asarray(score, dtype=np.float64).ravel()
    if s_arr.size != l_arr.size or not np.isfinite(s_arr).all():
        raise AnalysisInputError(f"`score` must be {l_arr.size} finite values like `loss` "
                                 f"(got {s_arr.size}); pass one score per loss.")
    if l_arr.size < 4:
        raise TooFewPointsError("the loss-to-score sigmoid (4 free parameters)", 4, l_arr.size)
    span = float(np.ptp(l_arr)) or 1.0
    start = [float(np.ptp(s_arr)) or 1.0, -4.0 / span, float(np.median(l_arr)),
             float(s_arr.min())]

    def resid(p: FloatArray) -> FloatArray:
        return forms.sigmoid_score(l_arr, *p) - s_arr

    res = optimize.least_squares(resid, start, method="lm")
    c_scale, g_slope, l_mid, d_floor = (float(v) for v in res.x)
    return SigmoidFit(c_scale, g_slope, l_mid, d_floor, objective=float(res.cost))
