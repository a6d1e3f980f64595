"""Bootstrap confidence intervals for fitted scaling laws.

Points are resampled with replacement (Efron's nonparametric bootstrap, as used for the
Chinchilla law by Besiroglu et al. 2024, arXiv 2404.10102, section 3) and the law refitted
on each resample by the fit's full search: no resample starts from the full-data optimum,
which would keep resamples in its basin and narrow the intervals. A resample is a vector
of counts over the points, so all resamples of a Chinchilla fit are searched at once
(`analysis.laws.chinchilla.fit_batch`). Intervals are percentile intervals.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.errors import AnalysisInputError
from analysis.laws import forms
from analysis.laws.chinchilla import fit_batch
from analysis.laws.inputs import validate_positive, validate_table
from analysis.laws.kaplan import refit_kaplan
from analysis.laws.objective import DEFAULT_DELTA, Design
from analysis.laws.search import DEFAULT_GRID, SearchGrid

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap samples and percentile intervals of a law's parameters.

    Attributes:
        samples: Per-resample values by name: the law's params and, for Chinchilla, the
            compute-optimal exponents "a" = beta/(alpha+beta) and "b" = alpha/(alpha+beta).
        intervals: (low, high) percentile interval for every key of `samples`.
        level: Nominal coverage, e.g. 0.95.
        num_resamples: Number of resamples drawn.
        num_failed: Resamples whose refit did not give finite parameters (left out of
            the intervals).
        seed: Seed of the numpy Generator.
        seconds: Wall-clock time.
    """

    samples: dict[str, FloatArray]
    intervals: dict[str, tuple[float, float]]
    level: float
    num_resamples: int
    num_failed: int
    seed: int
    seconds: float


def _check_args(num_resamples: int, level: float) -> None:
    if num_resamples < 2:
        raise AnalysisInputError(f"`num_resamples` ({num_resamples}) must be >= 2; use e.g. 1000.")
    if not 0.0 < level < 1.0:
        raise AnalysisInputError(f"`level` ({level}) must lie in (0, 1); use e.g. 0.95.")


def resample_counts(num_points: int, num_resamples: int, rng: np.random.Generator) -> FloatArray:
    """(num_resamples, num_points) counts of each point in a with-replacement resample."""
    probs = np.full(num_points, 1.0 / num_points)
    return rng.multinomial(num_points, probs, size=num_resamples).astype(np.float64)


def percentile_intervals(
    samples: dict[str, FloatArray], level: float,
) -> tuple[dict[str, tuple[float, float]], int]:
    """Percentile intervals of each sample array, ignoring rows with any non-finite value.

    Returns:
        (intervals, number of rows left out).
    """
    stacked = np.stack(list(samples.values()), axis=1)  # (R, K)
    good = np.isfinite(stacked).all(1)
    if not good.any():
        warnings.warn("no bootstrap resample gave finite parameters; intervals are NaN.",
                      RuntimeWarning, stacklevel=3)
        return {k: (float("nan"), float("nan")) for k in samples}, int(stacked.shape[0])
    tails = [50 * (1 - level), 50 * (1 + level)]
    lo, hi = np.percentile(stacked[good], tails, axis=0)
    return ({k: (float(lo[i]), float(hi[i])) for i, k in enumerate(samples)},
            int((~good).sum()))


def bootstrap_chinchilla(
    n: npt.ArrayLike, d: npt.ArrayLike, loss: npt.ArrayLike, *,
    num_resamples: int = 1000, level: float = 0.95, seed: int = 0,
    delta: float = DEFAULT_DELTA, grid: SearchGrid = DEFAULT_GRID,
) -> BootstrapResult:
    """Percentile bootstrap of a Chinchilla fit; every resample re-runs the full search.

    Args:
        n: Parameters per run (same rows as the fit).
        d: Tokens per run.
        loss: Loss per run.
        num_resamples: Number of resamples.
        level: Interval coverage.
        seed: Seed of the numpy Generator drawing the resamples.
        delta: Huber threshold (use the fit's).
        grid: Exponent grid of the search (use the fit's).

    Returns:
        BootstrapResult over E, A, B, alpha, beta, a, b.
    """
    _check_args(num_resamples, level)
    clock = time.perf_counter()
    n_arr, d_arr, l_arr = validate_table({"n": n, "d": d, "loss": loss}, 5, "Chinchilla")
    design = Design.build(n_arr, d_arr, l_arr)
    counts = resample_counts(n_arr.size, num_resamples, np.random.default_rng(seed))
    ext = fit_batch(design, l_arr, counts, delta=delta, grid=grid).theta  # (R, 5)
    samples = {"E": np.exp(ext[:, 2]), "A": np.exp(ext[:, 0]), "B": np.exp(ext[:, 1]),
               "alpha": ext[:, 3], "beta": ext[:, 4]}
    samples["a"], samples["b"] = forms.optimal_exponents(samples["alpha"], samples["beta"])
    intervals, num_failed = percentile_intervals(samples, level)
    return BootstrapResult(samples, intervals, level, num_resamples, num_failed, seed,
                           time.perf_counter() - clock)


def bootstrap_kaplan(
    x: npt.ArrayLike, loss: npt.ArrayLike, *, irreducible: bool = False,
    num_resamples: int = 1000, level: float = 0.95, seed: int = 0,
) -> BootstrapResult:
    """Percentile bootstrap of a Kaplan fit; each resample re-runs the fit's search.

    Args:
        x: Scale values (same rows as the fit).
        loss: Loss values.
        irreducible: The law has an irreducible term E (as the fit).
        num_resamples: Number of resamples.
        level: Interval coverage.
        seed: Seed of the numpy Generator drawing the resamples.

    Returns:
        BootstrapResult over x_c, alpha (and E).
    """
    _check_args(num_resamples, level)
    clock = time.perf_counter()
    log_x = np.log(validate_positive("x", x))
    log_l = np.log(validate_positive("loss", loss))
    counts = resample_counts(log_x.size, num_resamples, np.random.default_rng(seed))
    rows = np.array([refit_kaplan(log_x, log_l, c, irreducible) for c in counts])  # (R, 2|3)
    samples = {"x_c": np.exp(rows[:, 1]), "alpha": rows[:, 0]}
    if irreducible:
        samples["E"] = np.exp(rows[:, 2])
    intervals, num_failed = percentile_intervals(samples, level)
    return BootstrapResult(samples, intervals, level, num_resamples, num_failed, seed,
                           time.perf_counter() - clock)
