"""Capability density (Xiao et al. 2024, "Densing law of LLMs", arXiv 2412.04315).

A reference law L(N) (Kaplan form with irreducible term, eq. 4 of the paper restricted
to fixed data) maps a loss to the *effective size* N-hat = L^-1(loss): the size a
reference model would need to reach it. When a downstream score is measured instead, a
fitted sigmoid S(L) (eq. 3) is inverted first. Density is rho = N-hat / N (eq. 2).

* Within a study (`density_within_study`): the reference law is fitted on reference runs
  (e.g. default initialization) and every target run (e.g. complexity-controlled) gets a
  density; the group mean has a bootstrap interval that resamples both the reference
  rows (refitting the law) and the target rows.
* Across models (`density_trend`): for a dated catalog, ln rho_max = A t + B with t in
  years, fitted by OLS on the *frontier*: the maximum density at each date, kept only
  where it exceeds every earlier date's maximum (the upper envelope, as the paper fits the
  line on the densest model at each time). A's interval is the OLS t-interval; the
  doubling time is ln 2 / A (converted to months).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.checks import ComparisonCheck, check_arms, extrapolation_finding, points_finding, value_text
from analysis.errors import AnalysisInputError, TooFewPointsError
from analysis.laws import forms
from analysis.laws.bootstrap import percentile_intervals, resample_counts
from analysis.laws.inputs import validate_positive
from analysis.laws.kaplan import fit_kaplan, refit_kaplan
from analysis.laws.lines import fit_line
from analysis.laws.result import FitResult
from analysis.laws.sigmoid import SigmoidFit, fit_sigmoid_score  # noqa: F401  (part of this module's API)

FloatArray = npt.NDArray[np.float64]
DAYS_PER_YEAR = 365.25
_KAPLAN_PARAMS = ("x_c", "alpha", "E")  # the reference law L(N) = E + (x_c / N)^alpha


@dataclass(frozen=True)
class DensityResult:
    """Densities of target runs against a reference law.

    Attributes:
        reference: Kaplan fit (with E) of the reference rows.
        runs: Per target run: N, loss, effective_N, density (NaN where loss <= E) and
            extrapolated (N-hat outside `reference_range`: `outside_reference_range`).
        mean_density: Mean density of the group (NaN rows left out).
        interval: Bootstrap percentile interval of the mean at `level`.
        level: Interval coverage.
        num_bootstrap: Resamples drawn.
        num_undefined: Target runs without a density (loss at or below the asymptote).
        reference_range: Smallest and largest N of the reference rows.
    """

    reference: FitResult
    runs: pd.DataFrame
    mean_density: float
    interval: tuple[float, float]
    level: float
    num_bootstrap: int
    num_undefined: int
    reference_range: tuple[float, float] = (float("nan"), float("nan"))


def outside_reference_range(effective_n: npt.ArrayLike, ref_n: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each N-hat lies outside [min, max] of the reference N: there N-hat is the law
    extrapolated, not interpolated (a NaN N-hat, below the asymptote, is not flagged here)."""
    n_hat, ref = np.asarray(effective_n, dtype=np.float64), np.asarray(ref_n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray((n_hat < ref.min()) | (n_hat > ref.max()), dtype=bool)


def effective_size(reference: FitResult, loss: npt.ArrayLike) -> FloatArray:
    """N-hat = L^-1(loss) under a Kaplan reference; NaN plus a warning below its asymptote."""
    p = reference.params
    n_hat = forms.kaplan_inverse(np.asarray(loss, dtype=np.float64), p["x_c"], p["alpha"],
                                p.get("E", 0.0))
    if np.isnan(n_hat).any():
        warnings.warn(
            f"{int(np.isnan(n_hat).sum())} loss value(s) are at or below the reference "
            f"law's asymptote E = {p.get('E', 0.0):.4g}; their effective size and density "
            "are NaN. Fit the reference on runs that span those losses.",
            RuntimeWarning, stacklevel=2)
    return n_hat


def density_within_study(
    ref_n: npt.ArrayLike, ref_loss: npt.ArrayLike, target_n: npt.ArrayLike,
    target_loss: npt.ArrayLike | None = None, *, target_score: npt.ArrayLike | None = None,
    score_map: SigmoidFit | None = None, num_bootstrap: int = 1000, level: float = 0.95,
    seed: int = 0,
) -> DensityResult:
    """Density of target runs relative to a law fitted on reference runs.

    Args:
        ref_n: Parameters of the reference runs.
        ref_loss: Losses of the reference runs.
        target_n: Parameters of the target runs.
        target_loss: Losses of the target runs (or give target_score and score_map).
        target_score: Scores of the target runs, mapped to loss by `score_map`.
        score_map: Fitted sigmoid used to turn scores into losses.
        num_bootstrap: Resamples for the interval of the mean density.
        level: Interval coverage.
        seed: Seed of the numpy Generator.

    Returns:
        DensityResult.

    Raises:
        AnalysisInputError: on bad input, or when neither a loss nor a score (+ map) is given.
    """
    losses = _target_losses(target_loss, target_score, score_map)
    n_t = validate_positive("target_n", target_n)
    if n_t.size != losses.size:
        raise AnalysisInputError(f"`target_n` has {n_t.size} values but {losses.size} target "
                                 "losses/scores were given; pass one per target run.")
    reference = fit_kaplan(ref_n, ref_loss, irreducible=True, variable="N")
    n_hat = effective_size(reference, losses)
    density = n_hat / n_t
    runs = pd.DataFrame({"N": n_t, "loss": losses, "effective_N": n_hat, "density": density,
                         "extrapolated": outside_reference_range(n_hat, ref_n)})
    if np.isnan(density).all():
        raise AnalysisInputError("no target run has a defined density: every target loss is at "
                                 "or below the reference asymptote E; check the reference group.")
    boot = _bootstrap_mean_density(ref_n, ref_loss, n_t, losses, num_bootstrap, level, seed)
    ref_arr = np.asarray(ref_n, dtype=np.float64)
    return DensityResult(reference, runs, float(np.nanmean(density)), boot, level, num_bootstrap,
                         int(np.isnan(density).sum()), (float(ref_arr.min()), float(ref_arr.max())))


def _target_losses(loss: npt.ArrayLike | None, score: npt.ArrayLike | None,
                   score_map: SigmoidFit | None) -> FloatArray:
    if loss is not None:
        return validate_positive("target_loss", loss)
    if score is None or score_map is None:
        raise AnalysisInputError("pass `target_loss`, or `target_score` together with "
                                 "`score_map` (a SigmoidFit from fit_sigmoid_score).")
    return score_map.loss_from_score(score)


def _bootstrap_mean_density(
    ref_n: npt.ArrayLike, ref_loss: npt.ArrayLike, n_t: FloatArray, loss_t: FloatArray,
    num_bootstrap: int, level: float, seed: int,
) -> tuple[float, float]:
    """Percentile interval of the mean density, resampling reference and target rows.

    Each resample refits the reference law with the full `fit_kaplan` search.
    """
    rng = np.random.default_rng(seed)
    log_x = np.log(validate_positive("ref_n", ref_n))
    log_l = np.log(validate_positive("ref_loss", ref_loss))
    ref_counts = resample_counts(log_x.size, num_bootstrap, rng)
    tgt_counts = resample_counts(n_t.size, num_bootstrap, rng)
    means = np.full(num_bootstrap, np.nan)
    for i in range(num_bootstrap):
        alpha, log_xc, log_e = refit_kaplan(log_x, log_l, ref_counts[i], irreducible=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = forms.kaplan_inverse(loss_t, np.exp(log_xc), alpha, np.exp(log_e)) / n_t
        ok = np.isfinite(rho) & (tgt_counts[i] > 0)
        if ok.any():
            means[i] = np.average(rho[ok], weights=tgt_counts[i][ok])
    intervals, _ = percentile_intervals({"mean": means}, level)
    return intervals["mean"]


@dataclass(frozen=True)
class DensityTrendResult:
    """ln rho_max = A t + B over a dated catalog (t in years since 1970).

    Attributes:
        table: Catalog rows with loss, effective_N, density, ln_density, t_years and
            on_frontier.
        slope: A (per year), from OLS on the frontier rows.
        slope_interval: t-interval of A at `level`.
        intercept: B.
        doubling_months: ln 2 / A in months.
        doubling_interval: Doubling time mapped from slope_interval (NaN, with a warning,
            where the slope interval reaches 0 or below).
        level: Interval coverage.
    """

    table: pd.DataFrame
    slope: float
    slope_interval: tuple[float, float]
    intercept: float
    doubling_months: float
    doubling_interval: tuple[float, float]
    level: float


def read_catalog_csv(path: str) -> pd.DataFrame:
    """Read a model catalog: columns name, date (ISO), params, and score or loss.

    Raises:
        AnalysisInputError: naming missing columns or unparsable dates.
    """
    if not Path(path).is_file():
        raise AnalysisInputError(f"{path}: no such file; pass a catalog CSV (name, date, params, "
                                 "score or loss).")
    table = pd.read_csv(path)
    missing = {"name", "date", "params"} - set(table.columns)
    if missing or not {"score", "loss"} & set(table.columns):
        raise AnalysisInputError(f"{path}: catalog needs columns name, date, params and score "
                                 f"or loss; missing {sorted(missing) or ['score|loss']} "
                                 f"(have {list(table.columns)}).")
    try:
        table["date"] = pd.to_datetime(table["date"], format="ISO8601")
    except (ValueError, TypeError) as err:
        raise AnalysisInputError(f"{path}: column `date` must hold ISO dates (YYYY-MM-DD): "
                                 f"{err}") from err
    return table


def density_trend(
    catalog: pd.DataFrame, reference: FitResult, *, score_map: SigmoidFit | None = None,
    level: float = 0.95,
) -> DensityTrendResult:
    """Fit ln rho_max = A t + B on the density frontier of a dated catalog.

    Args:
        catalog: Columns name, date (datetime), params, and loss or score.
        reference: Kaplan reference law (with E) for the effective size.
        score_map: Needed when the catalog has scores and no losses.
        level: Coverage of the slope interval.

    Returns:
        DensityTrendResult.

    Raises:
        AnalysisInputError: when fewer than 2 frontier models have a defined density.
    """
    table = catalog.copy()
    if "loss" in table.columns:
        table["loss"] = validate_positive("loss", table["loss"])
    else:
        table["loss"] = _target_losses(None, table["score"], score_map)
    params = validate_positive("params", table["params"])
    table["effective_N"] = effective_size(reference, table["loss"])
    table["density"] = table["effective_N"] / params
    table["ln_density"] = np.log(table["density"])
    epoch = pd.Timestamp("1970-01-01")
    table["t_years"] = (pd.to_datetime(table["date"]) - epoch).dt.days / DAYS_PER_YEAR
    table["on_frontier"] = _frontier(table)
    front = table[table["on_frontier"]]
    if len(front) < 2:
        raise AnalysisInputError(f"only {len(front)} frontier model(s) with a defined density; "
                                 "the trend needs >= 2 dates where the density record rises.")
    slope, interval, intercept, _ = fit_line(
        front["t_years"].to_numpy(dtype=float), front["ln_density"].to_numpy(dtype=float),
        level)
    return DensityTrendResult(table, slope, interval, intercept, _doubling_months(slope),
                              _doubling_interval(interval), level)


def _frontier(table: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Rows holding their date's max density, where it beats every earlier date's max."""
    dens = table["density"].fillna(-np.inf)
    best_at_date = dens.groupby(table["t_years"]).transform("max")
    on_top = (dens == best_at_date) & np.isfinite(dens)
    date_max = dens.groupby(table["t_years"]).max().sort_index()
    record = date_max > date_max.cummax().shift(1, fill_value=-np.inf)
    return np.asarray(on_top & table["t_years"].map(record).astype(bool), dtype=bool)


def _doubling_months(slope: float) -> float:
    if slope <= 0:
        warnings.warn(f"density slope A = {slope:.4g} per year is not positive: no doubling "
                      "time (NaN).", RuntimeWarning, stacklevel=3)
        return float("nan")
    return float(12.0 * np.log(2.0) / slope)


def _doubling_interval(slope_interval: tuple[float, float]) -> tuple[float, float]:
    lo, hi = slope_interval
    if not (np.isfinite(lo) and lo > 0):
        warnings.warn(f"the slope interval ({lo:.4g}, {hi:.4g}) reaches 0 or is undefined: "
                      "the doubling-time interval is unbounded (NaN).", RuntimeWarning,
                      stacklevel=3)
        return float("nan"), float("nan")
    return float(12.0 * np.log(2.0) / hi), float(12.0 * np.log(2.0) / lo)


def fit_density_table(
    df: pd.DataFrame, *, group_column: str, reference_group: Any, target_group: Any,
    num_bootstrap: int = 1000, seed: int = 0,
) -> DensityResult:
    """Density of one group of runs (columns N, loss) against another group's law.

    Raises:
        AnalysisInputError: if the column is missing or a group is empty.
    """
    if group_column not in df.columns:
        raise AnalysisInputError(f"`group_column` {group_column!r} is not a column "
                                 f"(have {list(df.columns)}).")
    ref, tgt = df[df[group_column] == reference_group], df[df[group_column] == target_group]
    for name, part, value in (("reference_group", ref, reference_group),
                              ("target_group", tgt, target_group)):
        if part.empty:
            raise AnalysisInputError(
                f"`{name}` {value!r} matches no row of {group_column!r} "
                f"(values: {sorted(map(str, df[group_column].unique()))}).")
    return density_within_study(ref["N"], ref["loss"], tgt["N"], tgt["loss"],
                                num_bootstrap=num_bootstrap, seed=seed)


def fit_density_catalog(
    catalog_path: str | Path, reference: pd.DataFrame, *,
    score_map: SigmoidFit | None = None, level: float = 0.95,
) -> DensityTrendResult:
    """Density trend of a dated model catalog against a reference table (N, loss).

    The trend's table gains `extrapolated`: N-hat outside the reference table's N range.
    """
    ref_law = fit_kaplan(reference["N"], reference["loss"], irreducible=True)
    trend = density_trend(read_catalog_csv(str(catalog_path)), ref_law, score_map=score_map,
                          level=level)
    flags = outside_reference_range(trend.table["effective_N"], reference["N"])
    return replace(trend, table=trend.table.assign(extrapolated=flags))


def check_density(table: pd.DataFrame, group_column: str, groups: pd.Series, reference: str, target: str,
                  result: DensityResult) -> ComparisonCheck:
    """The comparison check of a within-study density: arms, the reference law's points, N-hat range.

    Args:
        table: The runs the density was computed from (with N, run_name).
        group_column: The column separating reference and target runs.
        groups: "reference", "target" or other per row of `table`.
        reference: The reference value of `group_column`, as the user typed it.
        target: The target value, likewise.
        result: The density of the target rows against the reference law.
    """
    ref_arm, tgt_arm = f"{group_column}={value_text(reference)}", f"{group_column}={value_text(target)}"
    arms = groups.map({"reference": ref_arm, "target": tgt_arm})
    check = check_arms(table, arms, [group_column], reference=ref_arm)
    ref_n = table.loc[groups == "reference", "N"]
    names = table.loc[groups == "target"].get("run_name", table.loc[groups == "target"].index.astype(str))
    return check.extended([
        points_finding(f"the reference law L(N) of {ref_arm}", len(ref_n), int(ref_n.nunique()),
                       len(result.reference.params)),
        extrapolation_finding(list(map(str, names)), result.runs["N"], result.runs["effective_N"],
                              result.runs["extrapolated"], result.reference_range)])


def check_catalog(reference: pd.DataFrame, trend: DensityTrendResult) -> ComparisonCheck:
    """The comparison check of a catalog trend: the reference law's points and the N-hat range."""
    ref_n = reference["N"]
    table = trend.table
    return ComparisonCheck().extended([
        points_finding("the reference law L(N)", len(ref_n), int(ref_n.nunique()), len(_KAPLAN_PARAMS)),
        extrapolation_finding(list(map(str, table["name"])), table["params"], table["effective_N"],
                              table["extrapolated"], (float(ref_n.min()), float(ref_n.max())))])
