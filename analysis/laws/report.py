"""Orchestration of a scaling-law analysis: the layer the CLI calls.

`fit_scaling_table` runs fit -> bootstrap -> hold-out check -> compute-optimal on a points
table; `to_json_dict` and `write_scaling_outputs` turn the result into files, as
`write_compare_outputs` does for a group comparison. Nothing here computes; it only wires
the modules of `analysis.laws`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.laws import forms
from analysis.laws.bootstrap import BootstrapResult, bootstrap_chinchilla, bootstrap_kaplan
from analysis.laws.chinchilla import fit_chinchilla
from analysis.laws.compare import CompareResult, compare_to_json
from analysis.laws.compute_optimal import IsoflopResult, fit_isoflop, optimal_allocation_table
from analysis.laws.flops import FlopsConvention, FlopsRelation, flops_relation, with_compute
from analysis.laws.holdout import HoldoutResult, HoldoutSpec, run_holdout
from analysis.laws.kaplan import fit_kaplan
from analysis.laws.result import FitResult

Form = Literal["chinchilla", "kaplan"]


@dataclass(frozen=True)
class ScalingReport:
    """Everything one scaling analysis produced.

    Attributes:
        fit: The law fitted on every run of the table.
        bootstrap: Bootstrap of `fit`, or None when num_bootstrap was 0.
        holdout: The hold-out check (a second fit without the held-out runs, used only
            for its extrapolation error), or None.
        holdout_note: Why `holdout` is None ("" otherwise).
        relation: The C = k N D relation used for compute-optimal allocation.
        allocation: Approach-3 compute-optimal table (Chinchilla only), or None.
        isoflop: Approach-2 result when the runs form >= 3 IsoFLOP groups, else None.
        isoflop_note: Why `isoflop` is None ("" otherwise).
        held_out: Mask over the table's rows that the hold-out check predicts.
        seed: Seed used for the bootstrap.
    """

    fit: FitResult
    bootstrap: BootstrapResult | None
    holdout: HoldoutResult | None
    holdout_note: str
    relation: FlopsRelation
    allocation: pd.DataFrame | None
    isoflop: IsoflopResult | None
    isoflop_note: str
    held_out: npt.NDArray[np.bool_]
    seed: int


def fit_scaling_table(
    df: pd.DataFrame, form: Form = "chinchilla", num_bootstrap: int = 1000,
    holdout: HoldoutSpec = HoldoutSpec(), seed: int = 0, *,
    convention: FlopsConvention = "scalinglab", kaplan_irreducible: bool = False,
    level: float = 0.95,
) -> ScalingReport:
    """Fit a law to a points table, with bootstrap, hold-out check and compute-optimal results.

    Args:
        df: Columns N, D, loss and C (C is optional under the "6nd" convention).
        form: "chinchilla" (L(N, D)) or "kaplan" (L(N)).
        num_bootstrap: Resamples; 0 skips the bootstrap.
        holdout: Which runs the hold-out check predicts (default: the 3 largest by C).
        seed: Bootstrap seed.
        convention: FLOPs convention of C ("scalinglab": as logged; "6nd": 6 N D).
        kaplan_irreducible: Give the Kaplan law an irreducible term E.
        level: Interval coverage.

    Returns:
        ScalingReport.

    Raises:
        AnalysisInputError: on a bad table, an unknown form or too few runs.
    """
    if form not in ("chinchilla", "kaplan"):
        raise AnalysisInputError(f"`form` ({form!r}) must be 'chinchilla' or 'kaplan'.")
    table = with_compute(df.reset_index(drop=True), convention, "points table")
    law = _fit(table, form, kaplan_irreducible)
    hold_res, hold_note = run_holdout(table, holdout, form=form,
                                      kaplan_irreducible=kaplan_irreducible)
    held = np.zeros(len(table), dtype=bool) if hold_res is None else hold_res.held_mask
    boot = _bootstrap(law, table, num_bootstrap, seed, level, kaplan_irreducible)
    relation = flops_relation(table, convention)
    alloc = None
    if law.form == "chinchilla":
        alloc = optimal_allocation_table(law, _budgets(table), relation, boot)
    iso, note = _try_isoflop(table, relation)
    return ScalingReport(law, boot, hold_res, hold_note, relation, alloc, iso, note, held, seed)


def _fit(table: pd.DataFrame, form: Form, irreducible: bool) -> FitResult:
    if form == "chinchilla":
        return fit_chinchilla(table["N"], table["D"], table["loss"])
    return fit_kaplan(table["N"], table["loss"], irreducible=irreducible)


def _bootstrap(law: FitResult, table: pd.DataFrame, num: int, seed: int, level: float,
               irreducible: bool) -> BootstrapResult | None:
    if num == 0:
        return None
    if law.form == "chinchilla":
        return bootstrap_chinchilla(table["N"], table["D"], table["loss"], num_resamples=num,
                                    seed=seed, level=level)
    return bootstrap_kaplan(table["N"], table["loss"], irreducible=irreducible,
                            num_resamples=num, seed=seed, level=level)


def _budgets(table: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Decades from the smallest budget observed to 100x the largest."""
    lo, hi = np.log10(table["C"].min()), np.log10(table["C"].max())
    return np.asarray(10.0 ** np.arange(math.floor(lo), math.ceil(hi) + 3), dtype=np.float64)


def _try_isoflop(table: pd.DataFrame, relation: FlopsRelation
                 ) -> tuple[IsoflopResult | None, str]:
    try:
        return fit_isoflop(table, relation), ""
    except AnalysisInputError as err:
        return None, str(err)


def clean_json(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [clean_json(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def to_json_dict(report: ScalingReport) -> dict[str, Any]:
    """JSON-ready summary: params, objective, fit_seconds, intervals, holdout, flops and
    compute_optimal (plus form, num_starts, num_starts_at_optimum, num_points)."""
    law, boot = report.fit, report.bootstrap
    rel = report.relation
    out: dict[str, Any] = {
        "form": law.form, "params": law.params, "objective": law.objective,
        "num_starts": law.num_starts, "num_starts_at_optimum": law.num_starts_at_optimum,
        "num_points": law.num_points, "fit_seconds": law.fit_seconds,
        "intervals": None if boot is None else {
            "level": boot.level, "num_resamples": boot.num_resamples, "seed": boot.seed,
            "num_failed": boot.num_failed, "seconds": boot.seconds, **boot.intervals},
        "holdout": _holdout_json(report.holdout),
        "holdout_note": report.holdout_note,
        "flops": {"convention": rel.convention, "flops_per_param_token": rel.flops_per_param_token,
                  "k_min": rel.k_min, "k_max": rel.k_max,
                  "relation": "C = k N D (k: median C/(N D) of the runs, or 6 under 6nd)"},
        "compute_optimal": _compute_optimal_json(report),
    }
    return dict(clean_json(out))


def _holdout_json(hold: HoldoutResult | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {"rule": hold.rule, "axis": hold.axis, "threshold": hold.threshold,
            "num_fitted": hold.num_fitted, "num_held_out": len(hold.rows),
            "params": hold.fit.params, "mean_rel_err": hold.mean_rel_err,
            "max_rel_err": hold.max_rel_err, "mean_abs_log_err": hold.mean_abs_log_err,
            "max_abs_log_err": hold.max_abs_log_err, "mean_rel_log_err": hold.mean_rel_log_err,
            "max_rel_log_err": hold.max_rel_log_err, "rows": hold.rows.to_dict("records"),
            "coverage": float(hold.rows["covered"].mean()) if "covered" in hold.rows else None}


#: The known bias of Approach 2, stated wherever its exponents are shown.
APPROACH2_BIAS = ("Approach 2 bias: at fixed C the loss profile in ln N is not a parabola (it is "
                  "asymmetric), so the parabola's vertex is biased whenever the sizes of a budget sit "
                  "asymmetrically around the true optimum or span a wide range; a grid centred on the "
                  "expected N_opt (plan isoflop) limits it. Approach 3 has no such bias but depends on the form.")


def _compute_optimal_json(report: ScalingReport) -> dict[str, Any] | None:
    if report.allocation is None:
        return None
    p = report.fit.params
    exp_a, exp_b = forms.optimal_exponents(p["alpha"], p["beta"])
    iso = report.isoflop
    return {
        "a": exp_a, "b": exp_b,
        "a_interval": None if report.bootstrap is None else report.bootstrap.intervals["a"],
        "b_interval": None if report.bootstrap is None else report.bootstrap.intervals["b"],
        "flops_per_param_token": report.relation.flops_per_param_token,
        "table": report.allocation.to_dict("records"),
        "isoflop": None if iso is None else {
            "a": iso.n_opt.exponent, "a_interval": iso.n_opt.exponent_interval,
            "b": iso.d_opt.exponent, "b_interval": iso.d_opt.exponent_interval,
            "num_groups_skipped": iso.num_groups_skipped,
            "minima": iso.minima.to_dict("records"), "bias": APPROACH2_BIAS},
        "isoflop_note": report.isoflop_note,
    }


def write_scaling_outputs(report: ScalingReport, df: pd.DataFrame, out_dir: str | Path,
                          summary: dict[str, Any] | None = None) -> list[Path]:
    """Write scaling_fit.json and the plots into out_dir; return the written paths.

    Args:
        report: The analysis.
        df: The points table it was computed from.
        out_dir: Folder to write into (created).
        summary: JSON to write (default `to_json_dict(report)`), e.g. with extra keys.
    """
    from analysis.laws.plots import plot_isoflop, plot_loss_vs  # matplotlib: only when figures are written

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = with_compute(df.reset_index(drop=True), report.relation.convention, "points table")
    json_path = out / "scaling_fit.json"
    text = json.dumps(clean_json(summary or to_json_dict(report)), indent=2, allow_nan=False)
    json_path.write_text(text)
    paths = [json_path]
    axes: list[Literal["N", "D", "C"]] = ["N"] if report.fit.form == "kaplan" else ["N", "D", "C"]
    for axis in axes:
        paths.append(plot_loss_vs(
            table, report.fit, out / f"loss_vs_{axis}.png", axis=axis, boot=report.bootstrap,
            held_out=report.held_out, relation=report.relation))
    if report.isoflop is not None:
        paths.append(plot_isoflop(table, report.isoflop, out / "isoflop.png"))
    return paths


def write_compare_outputs(result: CompareResult, table: pd.DataFrame, group_column: str,
                          out_dir: str | Path, check: dict[str, object] | None = None) -> list[Path]:
    """Write compare.json (with the comparison `check` when given) and compare.png into out_dir.

    Returns:
        The written paths, compare.json first.
    """
    from analysis.laws.plots import plot_compare  # matplotlib: only when figures are written

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "compare.json"
    summary = compare_to_json(result, group_column)
    if check is not None:
        summary["comparison_check"] = check
    json_path.write_text(json.dumps(clean_json(summary), indent=2, allow_nan=False))
    return [json_path, plot_compare(table, group_column, result, out / "compare.png")]

