"""`scalinglab plan isoflop`: a sweep file of IsoFLOP trials from compute budgets (analysis.laws.isoflop_plan)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cluster.tables import make_console, print_table

plan_app = typer.Typer(no_args_is_help=True, help="Design studies from compute budgets.")
console = make_console()


def _budgets(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"--budgets {text!r} must be comma-separated FLOPs, e.g. 1e13,3e13") from None


@plan_app.command("isoflop")
def plan_isoflop_cmd(
    budgets: Annotated[str, typer.Option(help="Comma-separated compute budgets C in FLOPs.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Sweep YAML to write.")],
    points: Annotated[int, typer.Option(help="Model sizes per budget.")] = 5,
    span: Annotated[float, typer.Option(help="N spans N_opt/span .. N_opt·span.")] = 4.0,
    base: Annotated[Path, typer.Option(help="Sweep whose base (data, optim, train.batch_size) the plan keeps.")] = Path("configs/sweeps/scaling_ladder.yaml"),
    n_layer: Annotated[int, typer.Option(help="Depth of the family.")] = 2,
    head_dim: Annotated[int, typer.Option(help="d_model per head (d_model = head_dim · n_head).")] = 16,
    ff_ratio: Annotated[int, typer.Option(help="d_ff / d_model.")] = 4,
    max_heads: Annotated[int, typer.Option(help="Widest shape: max_heads heads.")] = 16,
    from_fit: Annotated[Path | None, typer.Option(help="fit scaling --json output: place N_opt by its law.")] = None,
    name: Annotated[str | None, typer.Option(help="Sweep name (default: the output file's stem).")] = None,
    recipe: Annotated[Path | None, typer.Option(
        help="YAML of recipe fields (configs/recipe.py): lr and warm-up per N; the batch stays the base's.")] = None,
) -> None:
    """Plan an IsoFLOP sweep: per budget, shapes log-spaced around the expected N_opt, D = C / (C per token)."""
    import yaml

    from analysis.errors import AnalysisInputError
    from analysis.laws.isoflop_plan import Family, plan_grid, plan_isoflop
    from configs.load import load_sweep

    sweep = load_sweep(base)
    data, train = sweep.base.get("data", {}), sweep.base.get("train", {})
    family = Family(n_layer, head_dim, ff_ratio, max_heads, int(data.get("seq_len", 32)),
                    int(data.get("vocab_size", 256)), int(train.get("batch_size", 32)))
    law, k = None, 6.0
    if from_fit is not None:
        fit = json.loads(from_fit.read_text())
        law, k = fit["params"], float(fit["flops"]["flops_per_param_token"])
    try:
        rows = plan_isoflop(family, _budgets(budgets), points, span=span, law=law, k=k)
    except AnalysisInputError as err:
        console.print(f"[red]error[/red]: {err}")
        raise typer.Exit(1) from None
    doc: dict[str, Any] = {"name": name or out.stem, "description": f"IsoFLOP plan for budgets {budgets} "
                           f"({'prior: ' + str(from_fit) if from_fit else 'prior: D = 20 N'})",
                           "base": {k_: v for k_, v in sweep.base.items() if k_ != "model"},
                           "grid": plan_grid(rows), "seeds": list(sweep.seeds),
                           "resources": sweep.resources.model_dump(exclude_defaults=True)}
    if recipe is not None:
        _apply_recipe(doc, recipe)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    print_table(console, f"IsoFLOP plan ({len(rows)} trials)",
                [{k_: (f"{v:.4g}" if isinstance(v, float) else v) for k_, v in r.items()} for r in rows])
    console.print(f"wrote {out}")


def _apply_recipe(doc: dict[str, Any], recipe: Path) -> None:
    """Put `recipe` in the plan and drop the base's lr and warm-up so it resolves them per N.

    The base's train.batch_size stays explicit (so wins over the recipe's batch): the planned
    steps, D and C are computed at that batch.
    """
    from configs.recipe import RecipeConfig
    from configs.yaml_io import read_yaml

    try:
        fields = RecipeConfig.model_validate(read_yaml(recipe)).model_dump()
    except (ValueError, OSError) as err:  # a ConfigError from read_yaml, pydantic's ValidationError
        console.print(f"[red]config error[/red]: --recipe {recipe}: {err}")
        raise typer.Exit(2) from None
    optim = {k: v for k, v in doc["base"].get("optim", {}).items() if k not in ("lr", "warmup_steps")}
    doc["base"] = {**doc["base"], "optim": optim}
    doc["recipe"] = fields
