"""Held-out extrapolation: fit on the small runs, predict the large ones.

The test that matters for a scaling law is extrapolation (Hoffmann et al. 2022, section
3.4 and appendix D.2; Besiroglu et al. 2024, section 4): the law is fitted on the other
runs and the held-out runs are predicted and compared with what was observed. Two rules
pick the held-out runs: the `num` largest by compute C (the default of every fit), or
every run at or above a threshold of C or N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.laws.chinchilla import fit_chinchilla
from analysis.laws.kaplan import fit_kaplan
from analysis.laws.objective import DEFAULT_DELTA
from analysis.laws.result import FitResult, predict_loss

FloatArray = npt.NDArray[np.float64]
HoldoutAxis = Literal["C", "N"]
#: Bootstrap resamples of the hold-out rows' prediction intervals.
HOLDOUT_RESAMPLES = 300


@dataclass(frozen=True)
class HoldoutResult:
    """Extrapolation error of a law fitted without the held-out rows.

    Attributes:
        axis: Column the rule looks at ("C" or "N").
        threshold: Rows with axis value >= threshold were held out (for the largest-runs
            rule, the smallest held-out value).
        rule: The rule in words, e.g. "3 largest by C" or "C ≥ 1e+20".
        held_mask: Which rows of the table given were held out.
        fit: The law fitted on the kept rows.
        rows: One row per held-out run: N, D, C, loss, predicted (and, for Chinchilla
            fits of >= 6 runs, pred = predicted, pred_lo, pred_hi: the 95 % prediction
            interval of `analysis.laws.predict`, and covered), rel_err =
            |pred - obs| / obs, abs_log_err = |log pred - log obs| and rel_log_err =
            abs_log_err / |log obs|.
        num_fitted: Number of rows fitted.
        mean_rel_err: Mean of rel_err over held-out rows.
        max_rel_err: Max of rel_err.
        mean_abs_log_err: Mean of abs_log_err.
        max_abs_log_err: Max of abs_log_err.
        mean_rel_log_err: Mean of rel_log_err.
        max_rel_log_err: Max of rel_log_err.
    """

    axis: HoldoutAxis
    threshold: float
    rule: str
    held_mask: npt.NDArray[np.bool_]
    fit: FitResult
    rows: pd.DataFrame
    num_fitted: int
    mean_rel_err: float
    max_rel_err: float
    mean_abs_log_err: float
    max_abs_log_err: float
    mean_rel_log_err: float
    max_rel_log_err: float


def _check_axis(table: pd.DataFrame, axis: str) -> None:
    if axis not in ("C", "N"):
        raise AnalysisInputError(f"`axis` ({axis!r}) must be 'C' or 'N'.")
    if axis not in table.columns:
        raise AnalysisInputError(f"column {axis!r} is missing (columns: {list(table.columns)});"
                                 " add it or hold out along another axis.")


def split_rows(table: pd.DataFrame, axis: HoldoutAxis, threshold: float
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (fitted rows: axis < threshold, held-out rows: axis >= threshold).

    Raises:
        AnalysisInputError: for an unknown axis, a missing column, or a split leaving
            either side empty.
    """
    _check_axis(table, axis)
    below = table[axis].to_numpy(dtype=np.float64) < threshold
    if below.all() or not below.any():
        lo, hi = float(table[axis].min()), float(table[axis].max())
        raise AnalysisInputError(
            f"`threshold` ({threshold:.4g}) leaves {int(below.sum())} fitted and "
            f"{int((~below).sum())} held-out rows; pick a value inside [{lo:.4g}, {hi:.4g}].")
    return table[below], table[~below]


def split_largest(table: pd.DataFrame, num_held_out: int, axis: HoldoutAxis = "C"
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (the other rows, the `num_held_out` rows largest in `axis`).

    Ties are broken by row order (a stable sort), so exactly `num_held_out` rows are held.

    Raises:
        AnalysisInputError: for a bad axis, or a count outside [1, len(table) - 1].
    """
    _check_axis(table, axis)
    if not 1 <= num_held_out < len(table):
        raise AnalysisInputError(f"cannot hold out {num_held_out} of {len(table)} runs; "
                                 f"pick a number in [1, {len(table) - 1}].")
    order = np.argsort(table[axis].to_numpy(dtype=np.float64), kind="stable")
    held = np.zeros(len(table), dtype=bool)
    held[order[-num_held_out:]] = True
    return table[~held], table[held]


def evaluate_holdout(
    table: pd.DataFrame, axis: HoldoutAxis, threshold: float, *,
    form: Literal["chinchilla", "kaplan"] = "chinchilla", delta: float = DEFAULT_DELTA,
    kaplan_irreducible: bool = False,
) -> HoldoutResult:
    """Fit on rows with axis < threshold and report the error on the rest.

    Args:
        table: Columns N, D, loss and (for axis "C") C.
        axis: Column to threshold.
        threshold: Split point (same unit as the column).
        form: Law to fit; "kaplan" fits L(N).
        delta: Huber threshold for the Chinchilla fit.
        kaplan_irreducible: Give the Kaplan law an irreducible term E.

    Returns:
        HoldoutResult.
    """
    kept, held = split_rows(table, axis, threshold)
    return _evaluate(table, kept, held, axis, float(threshold), f"{axis} ≥ {threshold:g}", form,
                     delta, kaplan_irreducible)


def evaluate_holdout_largest(
    table: pd.DataFrame, num_held_out: int, *, axis: HoldoutAxis = "C",
    form: Literal["chinchilla", "kaplan"] = "chinchilla", delta: float = DEFAULT_DELTA,
    kaplan_irreducible: bool = False,
) -> HoldoutResult:
    """Fit on all but the `num_held_out` largest runs (by `axis`) and predict those.

    Args: as `evaluate_holdout`, with `num_held_out` instead of a threshold.

    Returns:
        HoldoutResult.
    """
    kept, held = split_largest(table, num_held_out, axis)
    threshold = float(held[axis].min())
    return _evaluate(table, kept, held, axis, threshold, f"{num_held_out} largest by {axis}", form,
                     delta, kaplan_irreducible)


def _evaluate(table: pd.DataFrame, kept: pd.DataFrame, held: pd.DataFrame, axis: HoldoutAxis,
              threshold: float, rule: str, form: Literal["chinchilla", "kaplan"],
              delta: float, kaplan_irreducible: bool) -> HoldoutResult:
    if form == "chinchilla":
        law = fit_chinchilla(kept["N"], kept["D"], kept["loss"], delta=delta)
    else:
        law = fit_kaplan(kept["N"], kept["loss"], irreducible=kaplan_irreducible, variable="N")
    rows = _with_interval(_error_rows(held, predict_loss(law, held["N"], held["D"]), _naming_columns(table)),
                          kept, form, delta)
    return HoldoutResult(
        axis=axis, threshold=threshold, rule=rule,
        held_mask=np.asarray(table.index.isin(held.index)), fit=law, rows=rows,
        num_fitted=len(kept),
        mean_rel_err=float(rows["rel_err"].mean()), max_rel_err=float(rows["rel_err"].max()),
        mean_abs_log_err=float(rows["abs_log_err"].mean()),
        max_abs_log_err=float(rows["abs_log_err"].max()),
        mean_rel_log_err=float(rows["rel_log_err"].mean()),
        max_rel_log_err=float(rows["rel_log_err"].max()),
    )


def _with_interval(rows: pd.DataFrame, kept: pd.DataFrame, form: str, delta: float) -> pd.DataFrame:
    """Add pred, pred_lo, pred_hi (95 % prediction interval, `analysis.laws.predict`) and covered.

    Chinchilla only, and only with at least 6 fitted runs (the residual noise needs n > p);
    300 resamples keep `fit scaling --csv` fast.
    """
    from analysis.laws.predict import NUM_PARAMS, predict_interval

    if form != "chinchilla" or len(kept) <= NUM_PARAMS:
        return rows
    pred = predict_interval(kept["N"], kept["D"], kept["loss"], rows["N"], rows["D"],
                            num_resamples=HOLDOUT_RESAMPLES, delta=delta)
    covered = (pred.lo <= rows["loss"]) & (rows["loss"] <= pred.hi)
    return rows.assign(pred=rows["predicted"], pred_lo=pred.lo, pred_hi=pred.hi, covered=covered)


def _naming_columns(table: pd.DataFrame) -> list[str]:
    """What tells a held-out row's run apart: its id and readable name, and the config columns that vary."""
    varying = [c for c in table.columns if "." in c and "/" not in c and not c.startswith("scalinglab.")
               and c not in ("seed", "sweep") and table[c].astype(str).nunique() > 1]
    return [c for c in ("run_id", "run_name") if c in table.columns] + varying


def _error_rows(held: pd.DataFrame, predicted: FloatArray, names: list[str]) -> pd.DataFrame:
    obs = held["loss"].to_numpy(dtype=np.float64)
    cols = [*names, *(c for c in ("N", "D", "C") if c in held.columns and c not in names)]
    out = held[cols].reset_index(drop=True).assign(loss=obs, predicted=predicted)
    out["rel_err"] = np.abs(predicted - obs) / obs
    out["abs_log_err"] = np.abs(np.log(predicted) - np.log(obs))
    # |log L| is 0 only at L = 1 nat; NaN there rather than a silent infinity.
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_log = out["abs_log_err"] / np.abs(np.log(obs))
    out["rel_log_err"] = np.where(np.isfinite(rel_log), rel_log, np.nan)
    return out


@dataclass(frozen=True)
class HoldoutSpec:
    """Which runs a fit's hold-out check predicts.

    Attributes:
        largest: Hold out this many runs with the largest C (0: no hold-out check).
        threshold: Instead, hold out every run with axis >= value, e.g. ("C", 1e20).
    """

    largest: int = 3
    threshold: tuple[HoldoutAxis, float] | None = None


def run_holdout(
    table: pd.DataFrame, spec: HoldoutSpec, *, form: Literal["chinchilla", "kaplan"],
    kaplan_irreducible: bool = False,
) -> tuple[HoldoutResult | None, str]:
    """The hold-out check `spec` asks for, or why there is none.

    A largest-runs check that would leave too few runs to fit is skipped with a note
    (it is on by default, so a small experiment must still fit); an explicit threshold
    that cannot be met is an error.

    Returns:
        (result or None, note: "" or the reason the check was skipped).
    """
    if spec.threshold is not None:
        axis, value = spec.threshold
        return evaluate_holdout(table, axis, value, form=form,
                                kaplan_irreducible=kaplan_irreducible), ""
    if spec.largest == 0:
        return None, "hold-out check off (--holdout-largest 0)"
    num_free = 5 if form == "chinchilla" else 3 if kaplan_irreducible else 2
    if len(table) - spec.largest < num_free:
        return None, (f"hold-out check skipped: holding out {spec.largest} of {len(table)} "
                      f"runs leaves fewer than the {num_free} the {form} law needs")
    return evaluate_holdout_largest(table, spec.largest, form=form,
                                    kaplan_irreducible=kaplan_irreducible), ""
