"""`scalinglab fit scaling|compare|density`: law fits from an experiment or a CSV, printed and saved.

Every mistake a user can make with these commands (no store, unknown experiment, no
finished runs, too few runs, a missing column) ends in one line and exit code 1;
a malformed option ends in typer's usage error (exit code 2). Never a traceback.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cluster.cli.check import exit_if_strict, print_check
from cluster.cli.options import Experiment, Strict, TrackingUri, Where, Workdir, tracking_uri_or_default
from cluster.tables import make_console, print_table, printing_duplicate_notes
from configs import metrics as M

if TYPE_CHECKING:
    from analysis.checks import ComparisonCheck
    from analysis.laws.holdout import HoldoutSpec

fit_app = typer.Typer(no_args_is_help=True, help="Fit scaling laws, compute multipliers and density laws.")
console = make_console()

OptionalExperiment = Annotated[str | None, typer.Option("-e", "--experiment",
                                                        help="MLflow experiment to read.")]
LossMetricOption = Annotated[str, typer.Option(help="Loss column to fit (experiment mode).")]
FlopsConventionOption = Annotated[str, typer.Option(
    help="C of each run: scalinglab (as logged: head and attention included) or 6nd "
         "(C = 6·N·D, the papers' convention).")]


@contextlib.contextmanager
def exit_on_input_error() -> Iterator[None]:
    """Turn an `AnalysisInputError` into one red line and exit code 1; print dropped duplicate runs."""
    from analysis.errors import AnalysisInputError

    try:
        with printing_duplicate_notes(console):
            yield
    except AnalysisInputError as err:
        console.print(f"[red]error[/red]: {err}")
        raise typer.Exit(1) from None


def analysis_kind(name: str, loss_metric: str) -> str:
    """Kind of an analysis run: `name`, plus the loss metric when it is not val/loss.

    Per-domain fits of different loss metrics are different analyses and must not
    replace each other; re-running the same one does.
    """
    return name if loss_metric == M.VAL_LOSS else f"{name}:{loss_metric}"


def _convention(text: str) -> Literal["scalinglab", "6nd"]:
    if text not in M.FLOPS_CONVENTIONS:
        raise typer.BadParameter(f"--flops-convention {text!r} must be one of {', '.join(M.FLOPS_CONVENTIONS)}")
    return "6nd" if text == "6nd" else "scalinglab"


def _holdout_spec(text: str | None, largest: int) -> HoldoutSpec:
    from analysis.laws.holdout import HoldoutSpec

    if largest < 0:
        raise typer.BadParameter(f"--holdout-largest ({largest}) must be >= 0")
    if text is None:
        return HoldoutSpec(largest=largest)
    axis, _, value = text.partition(":")
    try:
        threshold = float(value)
    except ValueError:
        threshold = float("nan")
    if axis not in ("C", "N") or threshold != threshold:
        raise typer.BadParameter(f"--holdout {text!r} must look like C:1e12 or N:2e5 (hold out rows ≥ the value)")
    return HoldoutSpec(largest=largest, threshold=("C" if axis == "C" else "N", threshold))


def _param_rows(report_json: dict[str, Any]) -> list[dict[str, Any]]:
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
    experiment: OptionalExperiment = None,
    csv: Annotated[Path | None, typer.Option(help="CSV with columns N, D, loss and C (C optional with --flops-convention 6nd); "
                                               "params, tokens, budget are read as N, D, C.")] = None,
    form: Annotated[str, typer.Option(help="chinchilla: L(N,D); kaplan: L(N).")] = "chinchilla",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (0 = none).")] = 1000,
    holdout_largest: Annotated[int, typer.Option(help="Hold-out check: predict the K largest-C runs from the rest (0 = off).")] = 3,
    holdout: Annotated[str | None, typer.Option(help="Hold-out check on rows ≥ a threshold instead, e.g. C:1e12 or N:2e5.")] = None,
    flops_convention: FlopsConventionOption = "scalinglab",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the fit as JSON here.")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help=(
        "Folder for plots and JSON (default: none with --csv, only the table is printed; out/fit with -e, "
        "whose files the analysis run logs)."))] = None,
    loss_metric: LossMetricOption = M.VAL_LOSS,
    seed: int = 0,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Fit a scaling law with bootstrap intervals, a hold-out check and compute-optimal allocation."""
    _one_source(experiment, csv)
    if form not in ("chinchilla", "kaplan"):
        raise typer.BadParameter(f"--form {form!r} must be chinchilla or kaplan")
    convention, spec = _convention(flops_convention), _holdout_spec(holdout, holdout_largest)
    with exit_on_input_error():
        _fit_scaling(ScalingRequest(experiment, csv, "kaplan" if form == "kaplan" else "chinchilla", bootstrap, spec,
                                    convention, json_out, out if out or csv else Path("out/fit"), loss_metric, seed,
                                    tracking_uri_or_default(tracking_uri, workdir)))


@dataclass(frozen=True)
class ScalingRequest:
    """What `fit scaling` was asked, validated by the command (one object, not 11 positionals)."""

    experiment: str | None
    csv: Path | None
    form: Literal["chinchilla", "kaplan"]
    bootstrap: int
    spec: HoldoutSpec
    convention: Literal["scalinglab", "6nd"]
    json_out: Path | None
    out: Path | None  # None: no figures (a --csv fit without -o)
    loss_metric: str
    seed: int
    uri: str


def _fit_scaling(req: ScalingRequest) -> None:
    experiment, csv, form, bootstrap, spec = req.experiment, req.csv, req.form, req.bootstrap, req.spec
    convention, json_out, out, loss_metric, seed, uri = (req.convention, req.json_out, req.out, req.loss_metric,
                                                         req.seed, req.uri)
    from analysis.laws.points import points_from_experiment, read_points_csv
    from analysis.laws.report import fit_scaling_table, to_json_dict, write_scaling_outputs

    floor, run_ids, left_out = None, [], {}
    if csv is not None:
        table = read_points_csv(csv, convention)
    else:
        points = points_from_experiment(uri, str(experiment), loss_metric)
        table, floor, run_ids, left_out = points.table, points.entropy_floor, points.run_ids, points.num_left_out
    _warn_under_tuned(table)
    report = fit_scaling_table(table, form=form, num_bootstrap=bootstrap, holdout=spec, seed=seed,
                               convention=convention)
    summary = to_json_dict(report)
    summary["num_left_out"] = left_out
    if floor is not None:
        summary["true_entropy_floor"] = floor
        if "E" in summary["params"]:
            summary["E_rel_err_vs_floor"] = summary["params"]["E"] / floor - 1
    files = [] if out is None else write_scaling_outputs(report, table, out, summary)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2))
    _print_scaling(summary)
    if experiment is not None:
        from analysis.record import log_analysis_run

        run_id = log_analysis_run(uri, experiment, f"fit-scaling-{form}", files, run_ids,
                                  {"form": form, "bootstrap": bootstrap, "holdout": report.holdout_note or
                                   (report.holdout.rule if report.holdout else ""), "loss_metric": loss_metric,
                                   "flops_convention": convention},
                                  {k: v for k, v in summary["params"].items() if v is not None},
                                  analysis=analysis_kind("fit-scaling", loss_metric))
        console.print(f"logged analysis run {run_id} to experiment '{experiment}' (replacing the previous one)")
    for path in files:
        console.print(f"wrote {path}")


def _warn_under_tuned(table: Any) -> None:
    from analysis.laws.lr_edges import under_tuned_rungs

    for rung in under_tuned_rungs(table):
        console.print(f"[yellow]warning[/yellow]: under-tuned rung N = {rung['N']:.4g}: its best lr "
                      f"{rung['best_lr']:.3g} is the {rung['edge']} edge of its arms "
                      f"[{rung['lr_min']:.3g}, {rung['lr_max']:.3g}]; widen the lr arms there")


def _print_scaling(summary: dict[str, Any]) -> None:
    level = (summary.get("intervals") or {}).get("level", 0.95)
    print_table(console, f"{summary['form']} fit ({summary['num_points']} points; {level:.0%} bootstrap intervals)",
                _param_rows(summary))
    left_out = summary.get("num_left_out") or {}
    if left_out:
        listed = ", ".join(f"{n} {state}" for state, n in sorted(left_out.items()))
        console.print(f"left out {sum(left_out.values())} unfinished runs ({listed})")
    console.print(f"objective {summary['objective']:.10g}; {summary['num_starts_at_optimum']} of "
                  f"{summary['num_starts']} polished start(s) reached it; fit {summary['fit_seconds']:.3f} s")
    if "true_entropy_floor" in summary:
        console.print(f"true entropy floor {summary['true_entropy_floor']:.4f} nats/token; fitted E is "
                      f"{summary.get('E_rel_err_vs_floor', float('nan')):+.1%} off")
    hold = summary.get("holdout")
    if hold:
        console.print(f"held-out extrapolation ({hold['num_held_out']} runs, {hold['rule']}; fitted on "
                      f"{hold['num_fitted']}): mean |rel err| {hold['mean_rel_err']:.2%}, max {hold['max_rel_err']:.2%}"
                      + (f"; {hold['coverage']:.0%} inside their prediction intervals" if "coverage" in hold else ""))
    elif summary.get("holdout_note"):
        console.print(summary["holdout_note"])
    flops = summary["flops"]
    co = summary.get("compute_optimal")
    if co and co.get("table"):
        console.print(f"compute-optimal allocation assumes C = k·N·D, k = {flops['flops_per_param_token']:.4g} "
                      f"({flops['convention']} convention; runs span k {flops['k_min']:.4g}..{flops['k_max']:.4g})")
        print_table(console, "compute-optimal allocation", co["table"])
        _print_approach2(co)


def _print_approach2(co: dict[str, Any]) -> None:
    iso = co.get("isoflop")
    if not iso:
        if co.get("isoflop_note"):
            console.print(f"Approach 2: {co['isoflop_note']}")
        return
    console.print(f"N_opt ∝ C^a: Approach 3 (law) a = {co['a']:.3f}, b = {co['b']:.3f}; Approach 2 (IsoFLOP "
                  f"parabolas, {len(iso['minima'])} budgets) a = {iso['a']:.3f}, b = {iso['b']:.3f}")
    console.print(f"[dim]{iso['bias']}[/dim]")


@fit_app.command("predict")
def fit_predict(
    experiment: OptionalExperiment = None,
    csv: Annotated[Path | None, typer.Option(help="CSV with columns N, D, loss (and C).")] = None,
    n: Annotated[float | None, typer.Option("--n", help="Parameters N of the predicted run.")] = None,
    d: Annotated[float | None, typer.Option("--d", help="Tokens D of the predicted run.")] = None,
    c: Annotated[float | None, typer.Option("--c", help="Budget C: predict its compute-optimal (N, D) instead.")] = None,
    rollout: Annotated[bool, typer.Option("--rollout", help="Also refit on the k smallest sizes and predict the next, for every k.")] = False,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the interval.")] = 1000,
    level: Annotated[float, typer.Option(help="Nominal coverage of the prediction interval.")] = 0.95,
    flops_convention: FlopsConventionOption = "scalinglab",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the prediction as JSON here.")] = None,
    loss_metric: LossMetricOption = M.VAL_LOSS,
    seed: int = 0,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Predicted loss of a Chinchilla fit at (N, D) or budget C, with a 95 % prediction interval."""
    from cluster.cli import predict as P

    _one_source(experiment, csv)
    if (c is None) == (n is None or d is None) or (c is not None and (n is not None or d is not None)):
        raise typer.BadParameter("give either --n and --d, or --c (not both)")
    with exit_on_input_error():
        convention = _convention(flops_convention)
        table = _points_table(experiment, csv, convention, loss_metric, tracking_uri_or_default(tracking_uri, workdir))
        summary = P.predict_summary(table, n, d, c, convention, bootstrap, level, seed)
        P.print_prediction(console, summary)
        if rollout:
            summary["rollout"] = P.run_rollout(console, table, min(bootstrap, 300), level, seed)
    P.write_json(json_out, summary)


def _one_source(experiment: str | None, csv: Path | None) -> None:
    """`fit` reads either an experiment or a CSV of points, never both or neither."""
    if (experiment is None) == (csv is None):
        raise typer.BadParameter("give exactly one of -e/--experiment or --csv")


def _points_table(experiment: str | None, csv: Path | None, convention: Literal["scalinglab", "6nd"],
                  loss_metric: str, uri: str) -> Any:
    from analysis.laws.flops import with_compute
    from analysis.laws.points import points_from_experiment, read_points_csv

    if csv is not None:
        return read_points_csv(csv, convention)
    return with_compute(points_from_experiment(uri, str(experiment), loss_metric).table, convention,
                        f"experiment '{experiment}'")


@fit_app.command("compare")
def fit_compare(
    experiment: Experiment,
    group_column: Annotated[str, typer.Option(help="Config column whose values form the groups, e.g. init.rate.")],
    reference: Annotated[str | None, typer.Option(help="Value of --group-column of the reference group (default: the smallest).")] = None,
    shared_e: Annotated[bool, typer.Option("--shared-E/--separate-E", help="One irreducible loss E for all groups, or one per group.")] = True,
    at_loss: Annotated[float | None, typer.Option(help="Loss at which multipliers are evaluated with --separate-E (default: the reference frontier at the largest C).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples within each group (0 = none).")] = 1000,
    flops_convention: FlopsConventionOption = "scalinglab",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the comparison as JSON here.")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for compare.json and compare.png.")] = Path("out/compare"),
    loss_metric: Annotated[str, typer.Option(help="Loss column to fit.")] = M.VAL_LOSS,
    where: Where = None,
    seed: int = 0,
    strict: Strict = False,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Compute multiplier of each group against a reference at equal loss (joint fit, shared exponents)."""
    convention = _convention(flops_convention)
    with exit_on_input_error():
        check = _fit_compare(experiment, group_column, reference, shared_e, at_loss, bootstrap, convention, json_out,
                             out, loss_metric, where or [], seed, tracking_uri_or_default(tracking_uri, workdir))
    exit_if_strict(console, check, strict)


def _fit_compare(experiment: str, group_column: str, reference: str | None, shared_e: bool, at_loss: float | None,
                 bootstrap: int, convention: Literal["scalinglab", "6nd"], json_out: Path | None, out: Path,
                 loss_metric: str, where: list[str], seed: int, uri: str) -> ComparisonCheck:
    from analysis.laws.compare import check_compare, compare_groups
    from analysis.laws.flops import flops_relation, with_compute
    from analysis.laws.points import points_from_experiment
    from analysis.laws.report import write_compare_outputs
    from analysis.record import log_analysis_run
    from analysis.select import rows_where

    points = points_from_experiment(uri, experiment, loss_metric)
    table = with_compute(rows_where(points.table, where), convention, f"experiment '{experiment}'")
    result = compare_groups(table, group_column, flops_relation(table, convention), reference=reference,
                            shared_e=shared_e, at_loss=at_loss, num_bootstrap=bootstrap, seed=seed)
    check = check_compare(table, group_column, result)
    files = write_compare_outputs(result, table, group_column, out, check.to_json())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(files[0].read_text())
    print_check(console, check)
    _print_compare(result, group_column, points.num_left_out)
    values = {f"multiplier/{g}": float(m) for g, m in zip(result.table["group"], result.table["multiplier"])
              if m == m}
    log_analysis_run(uri, experiment, "fit-compare", files, points.run_ids,
                     {"group_column": group_column, "reference": result.reference, "shared_E": result.shared_e,
                      "at_loss": result.at_loss, "bootstrap": bootstrap, "loss_metric": loss_metric,
                      "flops_convention": convention, "where": " ".join(where)},
                     {"alpha": result.alpha, "beta": result.beta, **values},
                     analysis=":".join([analysis_kind("fit-compare", loss_metric), *where]))
    for path in files:
        console.print(f"wrote {path}")
    return check


def _print_compare(result: Any, group_column: str, left_out: dict[str, int]) -> None:
    shown = result.table.drop(columns=["frontier_coef"]).round(4).to_dict(orient="records")
    print_table(console, f"compute multipliers against {group_column} = {result.reference} "
                         f"({result.level:.0%} bootstrap)", shown)
    e_text = "E shared" if result.shared_e else f"E per group; multipliers at loss {result.at_loss:.4g}"
    console.print(f"joint fit of {result.num_points} runs: α = {result.alpha:.4f}, β = {result.beta:.4f} (shared), "
                  f"{e_text}; objective {result.objective:.6g}; fit {result.fit_seconds:.3f} s, bootstrap "
                  f"{result.bootstrap_seconds:.2f} s")
    if left_out:
        console.print(f"left out {sum(left_out.values())} unfinished runs "
                      f"({', '.join(f'{n} {s}' for s, n in sorted(left_out.items()))})")
    console.print("multiplier m: the group reaches the reference's loss with 1/m of its compute")


@fit_app.command("density")
def fit_density(
    experiment: OptionalExperiment = None,
    group_column: Annotated[str | None, typer.Option(help="Config column separating reference and target runs.")] = None,
    reference: Annotated[str | None, typer.Option(help="Value of --group-column for the reference runs.")] = None,
    target: Annotated[str | None, typer.Option(help="Value of --group-column for the target runs (none: runs where it is unset).")] = None,
    where: Where = None,
    catalog: Annotated[Path | None, typer.Option(help="CSV: name, date, params, score or loss.")] = None,
    reference_csv: Annotated[Path | None, typer.Option(help="CSV (N, loss) of the reference family.")] = None,
    out: Annotated[Path, typer.Option("-o", "--out")] = Path("out/density"),
    loss_metric: str = M.VAL_LOSS,
    bootstrap: int = 1000,
    strict: Strict = False,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Density ρ = N̂/N of target runs against a reference law, or the density trend of a catalog."""
    from cluster.cli.density import density_catalog, density_within

    uri = tracking_uri_or_default(tracking_uri, workdir)
    if catalog is not None:
        if reference_csv is None and experiment is None:
            raise typer.BadParameter("--catalog needs a reference family: --reference-csv FILE (N, loss) or -e EXPERIMENT")
        with exit_on_input_error():
            out.mkdir(parents=True, exist_ok=True)
            check = density_catalog(console, catalog, reference_csv, experiment, uri, loss_metric, out)
        exit_if_strict(console, check, strict)
        return
    if experiment is None or group_column is None or reference is None or target is None:
        raise typer.BadParameter("within a study give -e, --group-column, --reference and --target; "
                                 "across models give --catalog with --reference-csv or -e")
    with exit_on_input_error():
        out.mkdir(parents=True, exist_ok=True)
        kind = ":".join([analysis_kind("fit-density", loss_metric), *(where or [])])
        check = density_within(console, uri, experiment, group_column, reference, target, loss_metric, bootstrap,
                               out, kind, where or [])
    exit_if_strict(console, check, strict)
