"""Predicted loss of a Chinchilla law with a prediction interval that includes run noise.

Method (stated in every output as `PREDICTION_METHOD`): a bootstrap over runs plus
residual noise. Each of R pairs-bootstrap resamples refits the law by its full search
(as `analysis.laws.bootstrap`), which carries the law's parameter uncertainty to the
query point; to each resample's log-prediction one log-residual of the full-data fit is
added, drawn with replacement and inflated by sqrt(n / (n - p)) (p = 5 parameters) since
in-sample residuals understate the noise of a new run (Davison & Hinkley 1997, "Bootstrap
Methods and their Application", section 6.3.3, algorithm 6.4). The interval is the
percentile interval of exp(log-prediction + residual). A confidence interval of the mean
(the parameter bootstrap alone) would be narrower and would not cover a new run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.errors import AnalysisInputError
from analysis.laws import forms
from analysis.laws.bootstrap import resample_counts
from analysis.laws.chinchilla import fit_batch
from analysis.laws.inputs import validate_positive, validate_table
from analysis.laws.objective import DEFAULT_DELTA, Design
from analysis.laws.result import chinchilla_params

FloatArray = npt.NDArray[np.float64]
PREDICTION_METHOD = ("percentile bootstrap over runs (each resample refitted by the full search) "
                     "plus a resampled, df-inflated log-residual of the full fit")
NUM_PARAMS = 5


@dataclass(frozen=True)
class Prediction:
    """Predicted losses at query points with a prediction interval.

    Attributes:
        n: Query N per point.
        d: Query D per point.
        pred: Loss of the full-data fit.
        lo: Lower end of the prediction interval.
        hi: Upper end.
        level: Nominal coverage.
        method: How the interval was built (`PREDICTION_METHOD`).
        num_resamples: Bootstrap resamples drawn.
        num_failed: Resamples with non-finite parameters (left out).
        residual_sd: Standard deviation of the inflated log-residuals.
    """

    n: FloatArray
    d: FloatArray
    pred: FloatArray
    lo: FloatArray
    hi: FloatArray
    level: float
    method: str
    num_resamples: int
    num_failed: int
    residual_sd: float

    def rows(self) -> list[dict[str, float]]:
        """One dict per query point: N, D, pred, pred_lo, pred_hi."""
        return [{"N": float(a), "D": float(b), "pred": float(p), "pred_lo": float(lo), "pred_hi": float(hi)}
                for a, b, p, lo, hi in zip(self.n, self.d, self.pred, self.lo, self.hi)]


def _log_predictions(theta: FloatArray, n: FloatArray, d: FloatArray) -> FloatArray:
    """(R, Q) log-loss of R raw parameter rows (a, b, e, alpha, beta) at Q query points."""
    a, b, e, alpha, beta = (theta[:, i:i + 1] for i in range(5))
    with np.errstate(over="ignore", invalid="ignore"):  # a wild resample overflows far away; callers filter it
        loss = forms.chinchilla_loss(n[None, :], d[None, :], np.exp(e), np.exp(a), np.exp(b), alpha, beta)
        return np.log(loss)


@dataclass(frozen=True)
class Ensemble:
    """A full-data fit, its bootstrap refits and its df-inflated log-residuals.

    Attributes:
        full: (1, 5) raw parameters (a, b, e, alpha, beta) of the full-data fit.
        theta: (R', 5) raw parameters of the resamples that converged to finite values.
        resid: Centred log-residuals of the full fit, inflated by sqrt(n / (n - 5)).
        num_failed: Resamples left out for non-finite parameters.
    """

    full: FloatArray
    theta: FloatArray
    resid: FloatArray
    num_failed: int

    def log_predictions(self, n: FloatArray, d: FloatArray) -> FloatArray:
        """(R', Q) log-loss of every resample at Q query points."""
        return _log_predictions(self.theta, n, d)

    def full_prediction(self, n: FloatArray, d: FloatArray) -> FloatArray:
        """(Q,) loss of the full-data fit."""
        return np.exp(_log_predictions(self.full, n, d)[0])

    def interval(self, n: FloatArray, d: FloatArray, level: float,
                 rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """(lo, hi) percentile prediction interval: each resample's log-prediction plus one residual."""
        log_pred = self.log_predictions(n, d)
        # A resample with a negative exponent can overflow to inf - inf = nan at a far query; +inf
        # (the law blowing up) still orders, nan does not.
        log_pred = log_pred[~np.isnan(log_pred).any(1)]
        noisy = log_pred + rng.choice(self.resid, size=log_pred.shape)
        lo, hi = np.exp(np.percentile(noisy, [50 * (1 - level), 50 * (1 + level)], axis=0))
        return lo, hi


def bootstrap_ensemble(n_fit: npt.ArrayLike, d_fit: npt.ArrayLike, loss_fit: npt.ArrayLike, *,
                       num_resamples: int, rng: np.random.Generator, delta: float = DEFAULT_DELTA) -> Ensemble:
    """Fit (n_fit, d_fit, loss_fit) once in full and once per pairs-bootstrap resample.

    Raises:
        AnalysisInputError: on bad inputs or fewer than NUM_PARAMS + 1 runs.
    """
    n_arr, d_arr, l_arr = validate_table({"n": n_fit, "d": d_fit, "loss": loss_fit}, NUM_PARAMS + 1, "Chinchilla")
    design = Design.build(n_arr, d_arr, l_arr)
    full = fit_batch(design, l_arr, None, delta=delta).theta  # (1, 5)
    resid = np.log(l_arr) - _log_predictions(full, n_arr, d_arr)[0]
    resid = (resid - resid.mean()) * np.sqrt(n_arr.size / (n_arr.size - NUM_PARAMS))
    theta = fit_batch(design, l_arr, resample_counts(n_arr.size, num_resamples, rng), delta=delta).theta
    good = np.isfinite(theta).all(1)
    return Ensemble(full, theta[good], resid, int((~good).sum()))


def predict_interval(
    n_fit: npt.ArrayLike, d_fit: npt.ArrayLike, loss_fit: npt.ArrayLike,
    n: npt.ArrayLike, d: npt.ArrayLike, *, num_resamples: int = 1000, level: float = 0.95,
    seed: int = 0, delta: float = DEFAULT_DELTA,
) -> Prediction:
    """Fit a Chinchilla law to (n_fit, d_fit, loss_fit) and predict (n, d) with an interval.

    Raises:
        AnalysisInputError: on bad inputs, fewer than NUM_PARAMS + 1 runs, or bad options.
    """
    if num_resamples < 20 or not 0.0 < level < 1.0:
        raise AnalysisInputError(f"`num_resamples` ({num_resamples}) must be >= 20 and `level` ({level}) in (0, 1);"
                                 " use e.g. 1000 and 0.95.")
    n_q, d_q = validate_positive("n", np.atleast_1d(n)), validate_positive("d", np.atleast_1d(d))
    if n_q.shape != d_q.shape:
        raise AnalysisInputError(f"query `n` ({n_q.size} values) and `d` ({d_q.size}) must have the same length.")
    rng = np.random.default_rng(seed)
    ens = bootstrap_ensemble(n_fit, d_fit, loss_fit, num_resamples=num_resamples, rng=rng, delta=delta)
    lo, hi = ens.interval(n_q, d_q, level, rng)
    return Prediction(n_q, d_q, ens.full_prediction(n_q, d_q), lo, hi, level, PREDICTION_METHOD,
                      num_resamples, ens.num_failed, float(ens.resid.std()))


def compute_optimal_point(loss_fit_params: dict[str, float], compute: float, k: float) -> tuple[float, float]:
    """(N_opt, D_opt) of budget `compute` under C = k N D for Chinchilla params (Hoffmann eq. 4)."""
    p = loss_fit_params
    n_opt, d_opt = forms.chinchilla_optimal_allocation(np.array([compute]), p["A"], p["B"], p["alpha"],
                                                       p["beta"], flops_per_param_token=k)
    return float(n_opt[0]), float(d_opt[0])


def full_fit_params(n_fit: npt.ArrayLike, d_fit: npt.ArrayLike, loss_fit: npt.ArrayLike) -> dict[str, float]:
    """Chinchilla params of the full-data fit (the same search `predict_interval` starts from)."""
    n_arr, d_arr, l_arr = validate_table({"n": n_fit, "d": d_fit, "loss": loss_fit}, NUM_PARAMS + 1, "Chinchilla")
    return chinchilla_params(fit_batch(Design.build(n_arr, d_arr, l_arr), l_arr, None).theta[0])
