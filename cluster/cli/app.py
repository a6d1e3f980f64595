"""The `scalinglab` command line: the composition root of configs, trainers, cluster, analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.datascan import check_data_or_exit
from cluster.cli.options import Experiment, TrackingUri, Workdir, tracking_uri_or_default
from cluster.cli.effects import effect
from cluster.cli.fit import fit_app
from cluster.cli.plan import plan_app
from cluster.cli import jobs as jobs_cli
from cluster.cli.phase import phase
from cluster.cli.sweepfile import load_or_exit
from cluster.cli.distortion import distortion
from cluster.tables import make_console, print_results, print_table
from configs.runs import readable_run_names
from configs import ConfigError, SweepConfig, TrialConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Scaling studies of decoder-only LMs.")
app.add_typer(fit_app, name="fit")
app.add_typer(plan_app, name="plan")
fit_app.command("effect")(effect)

console = make_console()


def _display_keys(sweep: SweepConfig) -> list[str]:
    """Grid keys as results-table columns; a model preset shows as its width."""
    return list(dict.fromkeys("model.d_model" if k == "model" else k for k in sweep.grid_keys))


def _recipe_columns(trials: list[TrialConfig]) -> list[dict[str, object]]:
    """Per trial: the lr / batch / warm-up the recipe resolved (or the explicit values that won),
    and under μP the lr of the hidden and output matrices (trainers/optim.py: lr · mup_d_model_ref / d_model).

    The decay fields a recipe sets are one value for the whole sweep; they differ between trials
    only through a grid key, which is a column already.
    """
    mup = any(t.optim.mup_d_model_ref is not None for t in trials)
    rows: list[dict[str, object]] = []
    for t in trials:
        row: dict[str, object] = {"lr": f"{t.optim.lr:.3g}", "batch": t.train.batch_size, "warmup": t.optim.warmup_steps}
        if mup:
            row["lr_matrices"] = f"{t.optim.lr * (t.optim.mup_d_model_ref or t.model.d_model) / t.model.d_model:.3g}"
        rows.append(row)
    return rows


@app.command()
def validate(sweep_file: str) -> None:
    """Validate a sweep, list its trials and scan its text data, without starting anything.

    The scan shows per text domain the files read and skipped (binary, not decodable, empty),
    documents after dedup and the train / test split, and refuses a domain too small.
    """
    sweep = load_or_exit(sweep_file)
    keys = _display_keys(sweep)
    trials = sweep.trials()
    recipe = _recipe_columns(trials) if sweep.recipe else [{} for _ in trials]
    names = readable_run_names(trials)  # the MLflow run names `run` will give them
    rows = [{"run": names[t.trial_id], **{k: t.flat_params()[k] for k in keys},
             "seed": t.seed, "N": t.num_params, "D": t.num_tokens, "C": f"{t.compute_flops:.3g}", **extra}
            for t, extra in zip(trials, recipe)]
    print_table(console, f"{sweep.name}: {len(rows)} trials", rows)
    check_data_or_exit(console, sweep, show=True)


@app.command()
def run(
    sweep_file: str,
    address: Annotated[str | None, typer.Option(help="Ray cluster: auto, ray://host:10001, or host:port.")] = None,
    tracking_uri: TrackingUri = None,
    max_concurrent: Annotated[int | None, typer.Option(help="Cap on trials running at once.")] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of an embedded Ray (default: all).")] = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Run a sweep on Ray Tune and print the results table."""
    sweep = load_or_exit(sweep_file)  # before Ray, MLflow or torch load: a bad config fails in < 1 s
    check_data_or_exit(console, sweep, show=False)  # a domain too small fails here: no store, no locks
    from cluster.sweep import SweepLaunchError, run_sweep

    try:
        result = run_sweep(sweep, workdir.resolve(), address=address, tracking_uri=tracking_uri,
                           max_concurrent=max_concurrent, num_cpus=num_cpus, console=console)
    except SweepLaunchError as err:
        console.print(f"[red]cannot start[/red]: {err}")
        raise typer.Exit(2) from None
    except ConfigError as err:  # found while building the text corpora, still before launch
        console.print(f"[red]config error[/red]: {err}")
        raise typer.Exit(2) from None
    head, *others = result.summary()
    console.print(f"finished in {result.wall_seconds:.0f} s; {head}")
    for line in others:
        console.print(line, highlight=False)
    print_results(console, result.target.uri, result.target.experiment, _display_keys(sweep))
    if result.num_failed:
        raise typer.Exit(1)


@app.command()
def resume(
    sweep_file: str,
    address: Annotated[str | None, typer.Option(help="Ray cluster: auto, ray://host:10001, or host:port.")] = None,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Continue a sweep whose driver died.

    Finished trials are skipped and the rest resume from their newest checkpoints: the same as
    running `scalinglab run` again.
    """
    run(sweep_file, address=address, tracking_uri=tracking_uri, max_concurrent=None, num_cpus=None, workdir=workdir)


@app.command()
def results(
    experiment: Experiment,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Print the results table of an experiment: grid columns, state and final metrics per run."""
    if not print_results(console, tracking_uri_or_default(tracking_uri, workdir), experiment, []):
        raise typer.Exit(1)


app.command()(phase)
app.command("distortion")(distortion)
for command in (jobs_cli.submit, jobs_cli.jobs, jobs_cli.status, jobs_cli.logs, jobs_cli.stop):
    app.command()(command)


@app.command()
def ui(workdir: Workdir = Path("runs"), port: int = 5000,
       experiment: Annotated[str | None, typer.Option("-e", "--experiment", help=(
           "Experiment whose runs view the printed URL opens (default: the newest one)."))] = None) -> None:
    """Open the MLflow UI on the workdir's store (bound to 127.0.0.1), at an experiment's runs view."""
    from cluster.server import serve
    from cluster.tracking import ui_url

    from cluster.workdir import default_tracking_uri

    try:
        url = ui_url(default_tracking_uri(workdir.resolve()), f"http://127.0.0.1:{port}", experiment)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--experiment") from None
    console.print(f"MLflow UI on {url} (Ctrl-C to stop)")
    raise typer.Exit(serve(workdir.resolve(), "127.0.0.1", port, ui_only=True))


@app.command()
def server(workdir: Workdir = Path("runs"), host: str = "127.0.0.1", port: int = 5000) -> None:
    """Run an MLflow tracking server for multi-node sweeps (pass its URL as --tracking-uri)."""
    from cluster.server import exposure_warning, serve

    if (warning := exposure_warning(host, port)) is not None:
        console.print(f"[yellow]{warning}[/yellow]", highlight=False)
    console.print(f"MLflow tracking server on http://{host}:{port}")
    raise typer.Exit(serve(workdir.resolve(), host, port))
