"""`scalinglab plan isoflop|next`: sweep files designed from compute budgets (analysis.laws.isoflop_plan, next_plan)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cluster.cli.fit import FlopsConventionOption, LossMetricOption
from cluster.cli.options import TrackingUri, Workdir, tracking_uri_or_default
from cluster.cli.predict import write_json
from cluster.tables import make_console, print_table
from configs import metrics as M

plan_app = typer.Typer(no_args_is_help=True, help="Design studies from compute budgets.")
console = make_console()


def _budgets(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"--budgets {text!r} must be comma-separated FLOPs, e.g. 1e13,3e13") from None


Budgets = Annotated[str, typer.Option(help="Comma-separated compute budgets C in FLOPs.")]
Out = Annotated[Path, typer.Option("-o", "--out", help="Sweep YAML to write.")]
Base = Annotated[Path, typer.Option(help="Sweep whose base (data, optim, train.batch_size) the plan keeps.")]
NLayer = Annotated[int, typer.Option(help="Depth of the family.")]
HeadDim = Annotated[int, typer.Option(help="d_model per head (d_model = head_dim · n_head).")]
FfRatio = Annotated[int, typer.Option(help="d_ff / d_model.")]
MaxHeads = Annotated[int, typer.Option(help="Widest shape: max_heads heads.")]
Name = Annotated[str | None, typer.Option(help="Sweep name (default: the output file's stem).")]
LADDER = Path("configs/sweeps/scaling_ladder.yaml")


def _family(base: Path, n_layer: int, head_dim: int, ff_ratio: int, max_heads: int) -> tuple[Any, Any]:
    """The base sweep and the width family at its sequence length, vocabulary and batch."""
    from analysis.laws.isoflop_plan import Family
    from configs.load import load_sweep

    sweep = load_sweep(base)
    data, train = sweep.base.get("data", {}), sweep.base.get("train", {})
    return sweep, Family(n_layer, head_dim, ff_ratio, max_heads, int(data.get("seq_len", 32)),
                         int(data.get("vocab_size", 256)), int(train.get("batch_size", 32)))


@plan_app.command("isoflop")
def plan_isoflop_cmd(
    budgets: Budgets, out: Out,
    points: Annotated[int, typer.Option(help="Model sizes per budget.")] = 5,
    span: Annotated[float, typer.Option(help="N spans N_opt/span .. N_opt·span.")] = 4.0,
    base: Base = LADDER, n_layer: NLayer = 2, head_dim: HeadDim = 16, ff_ratio: FfRatio = 4, max_heads: MaxHeads = 16,
    from_fit: Annotated[Path | None, typer.Option(help="fit scaling --json output: place N_opt by its law.")] = None,
    name: Name = None,
    recipe: Annotated[Path | None, typer.Option(
        help="YAML of recipe fields (configs/recipe.py): lr, batch and warm-up per N; steps planned at that batch.")] = None,
) -> None:
    """Plan an IsoFLOP sweep: per budget, shapes log-spaced around the expected N_opt, D = C / (C per token)."""
    from analysis.errors import AnalysisInputError
    from analysis.laws.isoflop_plan import plan_isoflop
    from cluster.cli.plan_next import write_plan

    sweep, family = _family(base, n_layer, head_dim, ff_ratio, max_heads)
    rules = _load_recipe(recipe) if recipe is not None else None
    law, k = None, 6.0
    if from_fit is not None:
        fit = json.loads(from_fit.read_text())
        law, k = fit["params"], float(fit["flops"]["flops_per_param_token"])
    try:
        rows = plan_isoflop(family, _budgets(budgets), points, span=span, law=law, k=k,
                            batch_of=rules.batch if rules else None)
    except AnalysisInputError as err:
        console.print(f"[red]error[/red]: {err}")
        raise typer.Exit(1) from None
    prior = "prior: " + str(from_fit) if from_fit else "prior: D = 20 N"
    write_plan(out, name or out.stem, sweep, family, rows, f"IsoFLOP plan for budgets {budgets} ({prior})", rules)
    print_table(console, f"IsoFLOP plan ({len(rows)} trials)",
                [{k_: (f"{v:.4g}" if isinstance(v, float) else v) for k_, v in r.items()} for r in rows])
    console.print(f"wrote {out}")


@plan_app.command("next")
def plan_next_cmd(
    budget: Annotated[float, typer.Option(help="FLOPs to spend on the next runs (their C summed).")],
    out: Out,
    experiment: Annotated[str | None, typer.Option("-e", "--experiment", help="MLflow experiment to read.")] = None,
    csv: Annotated[Path | None, typer.Option(help="CSV with columns N, D, loss (and C) instead of -e.")] = None,
    target_c: Annotated[float | None, typer.Option(help="Target budget C: its compute-optimal (N, D) under the fit.")] = None,
    target_n: Annotated[float | None, typer.Option(help="Target N (with --target-d) instead of --target-c.")] = None,
    target_d: Annotated[float | None, typer.Option(help="Target D (with --target-n).")] = None,
    min_steps: Annotated[int, typer.Option(help="Fewest steps of a candidate run.")] = 250,
    max_steps: Annotated[int, typer.Option(help="Most steps of a candidate run.")] = 8000,
    steps_levels: Annotated[int, typer.Option(help="Step counts per shape, log-spaced over min..max.")] = 6,
    smaller_runs: Annotated[bool, typer.Option(help="Also consider runs smaller in N or shorter in D than every "
                                                    "current run (off: they sit furthest from an upward target).")] = False,
    base: Base = LADDER, n_layer: NLayer = 2, head_dim: HeadDim = 16, ff_ratio: FfRatio = 4, max_heads: MaxHeads = 8,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap refits of the current runs.")] = 300,
    level: Annotated[float, typer.Option(help="Nominal coverage of the reported intervals.")] = 0.95,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the plan's summary as JSON here.")] = None,
    name: Annotated[str | None, typer.Option(
        help="Sweep name (default: the experiment's, so `run` adds the runs to it; else the file's stem).")] = None,
    flops_convention: FlopsConventionOption = "scalinglab",
    loss_metric: LossMetricOption = M.VAL_LOSS,
    seed: int = 0,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
) -> None:
    """Plan the runs within --budget that most shrink the prediction interval at the target, as a sweep file."""
    import numpy as np

    from analysis.laws.predict import bootstrap_ensemble
    from cluster.cli import plan_next as P
    from cluster.cli.fit import _convention, _one_source, _points_table, exit_on_input_error

    _one_source(experiment, csv)
    if (target_c is None) == (target_n is None or target_d is None):
        raise typer.BadParameter("give either --target-c, or --target-n and --target-d")
    sweep, family = _family(base, n_layer, head_dim, ff_ratio, max_heads)
    with exit_on_input_error():
        convention = _convention(flops_convention)
        table = _points_table(experiment, csv, convention, loss_metric, tracking_uri_or_default(tracking_uri, workdir))
        ens = bootstrap_ensemble(table["N"], table["D"], table["loss"], num_resamples=bootstrap,
                                 rng=np.random.default_rng(seed))
        target = P.target_point(table, target_c, target_n, target_d, convention, ens)
        summary, rows = P.plan_summary(table, family, budget, P.steps_levels(min_steps, max_steps, steps_levels),
                                       target, ens, level, seed, smaller_runs)
    P.print_plan(console, summary)
    P.write_plan(out, name or experiment or out.stem, sweep, family, rows,
                 f"plan next: {len(rows)} runs for {budget:.3g} FLOPs toward {P.describe_target(target)}")
    write_json(json_out, summary)
    console.print(f"wrote {out}")


def _load_recipe(path: Path) -> Any:
    """The `RecipeConfig` of a YAML file of recipe fields; a bad file exits 2 before anything is written."""
    from configs.recipe import RecipeConfig
    from configs.yaml_io import read_yaml

    try:
        return RecipeConfig.model_validate(read_yaml(path))
    except (ValueError, OSError) as err:  # a ConfigError from read_yaml, pydantic's ValidationError
        console.print(f"[red]config error[/red]: --recipe {path}: {err}")
        raise typer.Exit(2) from None
