"""`scalinglab fit scaling|density`: law fits from an experiment or a CSV, printed and saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from cluster.tables import make_console, print_table
from configs import metrics as M

fit_app = typer.Typer(no_args_is_help=True, help="Fit scaling laws and density laws.")
console = make_console()

Experiment = Annotated[str | None, typer.Option("-e", "--experiment", help="MLflow experiment to read.")]
TrackingUri = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow URI (default: sqlite in workdir).")]
Workdir = Annotated[Path, typer.Option(help="Workdir of the default sqlite store.")]


def _uri(tracking_uri: str | None, workdir: Path) -> str:
    from cluster.tracking import default_tracking_uri

    return tracking_uri or default_tracking_uri(workdir)


def _parse_holdout(text: str | None) -> tuple[Literal["C", "N"], float] | None:
    if text is None:
        return None
    axis, _, value = text.partition(":")
    if axis not in ("C", "N") or not value:
        raise typer.BadParameter(f"--holdout {text!r} must look like C:1e12 or N:2e5 (hold out rows ≥ the value)")
    return axis, float(value)  # type: ignore[return-value]


def _param_rows(report_json: dict) -> list[dict]:
    intervals = report_json.get("intervals") or {}
    rows = []
    for name, value in report_json["params"].items():
        lo, hi = intervals.get(name, (None, None)) or (None, None)
        rows.append({"param": name, "value": value, "lo": lo, "hi": hi})
    for name in ("a", "b"):
        if name in intervals:
            co = report_json["compute_optimal"] or {}
            rows.append({"param": f"{name} (N_opt∝C^a, D_opt∝C^b)", "value": co.get(name), "lo": intervals[name][0],
                         "hi": intervals[name][1]})
    return rows


@fit_app.command("scaling")
def fit_scaling(
    experiment: Experiment = None,
    csv: Annotated[Path | None, typer.Option(help="CSV with columns N, D, loss (optional C).")] = None,
    form: Annotated[str, typer.Option(help="chinchilla: L(N,D); kaplan: L(N).")] = "chinchilla",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (0 = none).")] = 1000,
    holdout: Annotated[str | None, typer.Option(help="Hold out rows ≥ threshold, e.g. C:1e12 or N:2e5.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the fit as JSON here.")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for plots and JSON.")] = Path("out/fit"),
    loss_metric: Annotated[str, typer.Option(help="Loss column to fit (experiment mode).")] = M.VAL_LOSS,
    seed: int = 0,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Fit a scaling law with bootstrap intervals, held-out error and compute-optimal allocation."""
    from analysis.scaling_report import fit_scaling_table, read_points_csv, to_json_dict, write_scaling_outputs

    if (experiment is None) == (csv is None):
        raise typer.BadParameter("give exactly one of -e/--experiment or --csv")
    if form not in ("chinchilla", "kaplan"):
        raise typer.BadParameter(f"--form {form!r} must be chinchilla or kaplan")
    floor, run_ids = None, []
    if csv is not None:
        table = read_points_csv(csv)
    else:
        from analysis.points import points_from_experiment

        points = points_from_experiment(_uri(tracking_uri, workdir), experiment, loss_metric)  # type: ignore[arg-type]
        table, floor, run_ids = points.table, points.entropy_floor, points.run_ids
    report = fit_scaling_table(table, form=form, num_bootstrap=bootstrap, holdout=_parse_holdout(holdout), seed=seed)  # type: ignore[arg-type]
    summary = to_json_dict(report)
    if floor is not None:
        summary["true_entropy_floor"] = floor
        if "E" in summary["params"]:
            summary["E_rel_err_vs_floor"] = summary["params"]["E"] / floor - 1
    files = write_scaling_outputs(report, table, out)
    (out / "scaling_fit.json").write_text(json.dumps(summary, indent=2))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2))
    _print_scaling(summary)
    if experiment is not None:
        from analysis.record import log_analysis_run

        run_id = log_analysis_run(_uri(tracking_uri, workdir), experiment, f"fit-scaling-{form}", files, run_ids,
                                  {"form": form, "bootstrap": bootstrap, "holdout": holdout, "loss_metric": loss_metric},
                                  {k: v for k, v in summary["params"].items() if v is not None})
        console.print(f"logged analysis run {run_id} to experiment '{experiment}'")
    for path in files:
        console.print(f"wrote {path}")


def _print_scaling(summary: dict) -> None:
    level = (summary.get("intervals") or {}).get("level", 0.95)
    print_table(console, f"{summary['form']} fit ({summary['num_points']} points; {level:.0%} bootstrap intervals)",
                _param_rows(summary))
    console.print(f"objective {summary['objective']:.6g}; {summary['num_starts_at_optimum']}/{summary['num_starts']} "
                  f"starts reached the optimum; fit {summary['fit_seconds']:.2f} s")
    if "true_entropy_floor" in summary:
        console.print(f"true entropy floor {summary['true_entropy_floor']:.4f} nats/token; fitted E is "
                      f"{summary.get('E_rel_err_vs_floor', float('nan')):+.1%} off")
    hold = summary.get("holdout")
    if hold:
        console.print(f"held-out extrapolation ({hold['num_held_out']} runs with {hold['axis']} ≥ {hold['threshold']:g}): "
                      f"mean |rel err| {hold['mean_rel_err']:.2%}, max {hold['max_rel_err']:.2%}")
    co = summary.get("compute_optimal")
    if co and co.get("table"):
        print_table(console, "compute-optimal allocation", co["table"])


@fit_app.command("density")
def fit_density(
    experiment: Experiment = None,
    group_column: Annotated[str | None, typer.Option(help="Config column separating reference and target runs.")] = None,
    reference: Annotated[str | None, typer.Option(help="Value of --group-column for the reference runs.")] = None,
    target: Annotated[str | None, typer.Option(help="Value of --group-column for the target runs.")] = None,
    catalog: Annotated[Path | None, typer.Option(help="CSV: name, date, params, score or loss.")] = None,
    reference_csv: Annotated[Path | None, typer.Option(help="CSV (N, loss) of the reference family.")] = None,
    out: Annotated[Path, typer.Option("-o", "--out")] = Path("out/density"),
    loss_metric: str = M.VAL_LOSS,
    bootstrap: int = 1000,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Density ρ = N̂/N of target runs against a reference law, or the density trend of a catalog."""
    from cluster.cli.density import density_catalog, density_within

    out.mkdir(parents=True, exist_ok=True)
    if catalog is not None:
        density_catalog(console, catalog, reference_csv, experiment, _uri(tracking_uri, workdir), loss_metric, out)
        return
    if experiment is None or group_column is None or reference is None or target is None:
        raise typer.BadParameter("within a study give -e, --group-column, --reference and --target; "
                                 "across models give --catalog with --reference-csv or -e")
    density_within(console, _uri(tracking_uri, workdir), experiment, group_column, reference, target,
                   loss_metric, bootstrap, out)

