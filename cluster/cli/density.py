"""The two density analyses behind `scalinglab fit density`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console

from analysis.select import matches, rows_where
from cluster.cli.check import print_check
from cluster.tables import print_table

if TYPE_CHECKING:
    from analysis.checks import ComparisonCheck

CHECK_FILE = "comparison_check.json"


def _varying_columns(table: pd.DataFrame) -> list[str]:
    """Config columns (dotted names) and D whose values differ between the rows: what tells runs apart."""
    candidates = ["D", *(c for c in table.columns if "." in c)]
    return [c for c in candidates if c in table and table[c].astype(str).nunique() > 1]


def density_within(console: Console, uri: str, experiment: str, group_column: str, reference: str, target: str,
                   loss_metric: str, bootstrap: int, out: Path, analysis: str, where: list[str]) -> ComparisonCheck:
    """Density of the target group's runs against a law L(N) fitted on the reference group.

    The law is in N alone, so reference runs should share D (`where`, e.g. train.num_steps=250).
    Each row of the output names its run and the config columns that vary, and whether its N̂
    is extrapolated. The comparison check is printed above the table and written to
    comparison_check.json. Logs the result as the experiment's analysis run of kind `analysis`
    (replacing the previous one).

    Returns:
        The comparison check (for --strict).

    Raises:
        AnalysisInputError: no finished runs, an unknown column, an empty group.
    """
    from analysis.errors import AnalysisInputError
    from analysis.laws.density import check_density, fit_density_table
    from analysis.laws.points import points_from_experiment
    from analysis.record import log_analysis_run

    points = points_from_experiment(uri, experiment, loss_metric)
    table = rows_where(points.table, where)
    if group_column not in table:
        raise AnalysisInputError(f"--group-column {group_column!r} is not a config column of '{experiment}'")
    labels = pd.Series("other", index=table.index)
    labels[matches(table[group_column], reference)] = "reference"
    labels[matches(table[group_column], target)] = "target"
    result = fit_density_table(table.assign(group=labels), group_column="group", reference_group="reference",
                               target_group="target", num_bootstrap=bootstrap)
    targets = table[labels == "target"]
    naming = ["run_id", "run_name", *_varying_columns(table)]  # the sweep's varying columns, not only the targets'
    runs = pd.concat([targets[naming].reset_index(drop=True), result.runs], axis=1)
    runs_path = out / "density_runs.csv"
    runs.to_csv(runs_path, index=False)
    check = check_density(table, group_column, labels, reference, target, result)
    check_path = check.write(out / CHECK_FILE)
    print_check(console, check)
    print_table(console, f"density of {group_column}={target} against the {group_column}={reference} law",
                runs.drop(columns="run_id").round(4).to_dict(orient="records"))
    lo, hi = result.interval
    console.print(f"mean density ρ = {result.mean_density:.3f} [{lo:.3f}, {hi:.3f}] ({result.level:.0%} bootstrap); "
                  f"{result.num_undefined} runs below the reference asymptote")
    log_analysis_run(uri, experiment, "fit-density", [runs_path, check_path], points.run_ids,
                     {"group_column": group_column, "reference": reference, "target": target, "where": " ".join(where)},
                     {"mean_density": result.mean_density}, analysis=analysis)
    console.print(f"wrote {runs_path}\nwrote {check_path}")
    return check


def density_catalog(console: Console, catalog: Path, reference_csv: Path | None, experiment: str | None,
                    uri: str, loss_metric: str, out: Path) -> ComparisonCheck:
    """ln ρ_max = A·t + B over a dated catalog, against a reference family's L(N).

    Returns:
        The comparison check (the reference law's points, N̂ outside its N range).

    Raises:
        AnalysisInputError: no reference family, a bad catalog, too few frontier models.
    """
    from analysis.errors import AnalysisInputError
    from analysis.laws.density import check_catalog, fit_density_catalog
    from analysis.laws.plots import plot_density_trend

    if reference_csv is not None:
        if not reference_csv.is_file():
            raise AnalysisInputError(f"--reference-csv {reference_csv}: no such file")
        reference = pd.read_csv(reference_csv)
    elif experiment is not None:
        from analysis.laws.points import points_from_experiment

        reference = points_from_experiment(uri, experiment, loss_metric).table
    else:
        raise AnalysisInputError("--catalog needs a reference family: --reference-csv FILE (N, loss) or -e EXPERIMENT")
    trend = fit_density_catalog(catalog, reference)
    table_path = out / "density_catalog.csv"
    trend.table.to_csv(table_path, index=False)
    figure = plot_density_trend(trend, out / "density_trend.png")
    check = check_catalog(reference, trend)
    check_path = check.write(out / CHECK_FILE)
    print_check(console, check)
    lo, hi = trend.slope_interval
    numeric = trend.table.select_dtypes("number").columns
    shown = trend.table.assign(date=trend.table["date"].dt.date).round({c: 4 for c in numeric})
    print_table(console, "catalog densities", shown.to_dict(orient="records"))
    console.print(f"ln ρ_max = A·t + B: A = {trend.slope:.3f}/year [{lo:.3f}, {hi:.3f}]; "
                  f"doubling time {trend.doubling_months:.1f} months "
                  f"[{trend.doubling_interval[0]:.1f}, {trend.doubling_interval[1]:.1f}]")
    console.print(f"wrote {table_path}\nwrote {figure}\nwrote {check_path}")
    return check
