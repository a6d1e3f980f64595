"""`scalinglab fit effect`: the effect of one factor with the others held equal (reads MLflow only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.fit import exit_on_input_error
from cluster.cli.check import exit_if_strict, print_check
from cluster.cli.options import Experiment, Strict, TrackingUri, Where, Workdir, tracking_uri_or_default
from cluster.tables import make_console, print_table
from configs import metrics as M

console = make_console()


def _names(text: str, option: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names and option != "--held":
        raise typer.BadParameter(f"{option} {text!r} must list names separated by commas")
    return names


def effect(
    experiment: Experiment,
    factor: Annotated[str, typer.Option(help="The config column that changes, e.g. init.rate.")],
    held: Annotated[str, typer.Option(help="Columns held equal within each pair, comma-separated, e.g. optim.weight_decay.")] = "",
    metric: Annotated[str, typer.Option(help="Metrics compared, comma-separated.")] = M.VAL_LOSS,
    levels: Annotated[str | None, typer.Option(help="FROM,TO values of --factor (needed when it takes more than two; `none` = unset).")] = None,
    where: Where = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Also write the table as CSV here.")] = None,
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
    strict: Strict = False,
) -> None:
    """Effect of changing one factor (to − from), runs paired on the held columns, N, D and seed: mean ± seed sd."""
    from analysis.checks import arm_labels, check_arms
    from analysis.effects import factor_effects
    from analysis.load import load_runs
    from analysis.select import rows_where

    pair = None
    if levels is not None:
        parts = [p.strip().replace("none", "unset") for p in levels.split(",")]
        if len(parts) != 2:
            raise typer.BadParameter(f"--levels {levels!r} must be FROM,TO, e.g. 0.5,1.0")
        pair = (parts[0], parts[1])
    with exit_on_input_error():
        runs = rows_where(load_runs(tracking_uri_or_default(tracking_uri, workdir), experiment), where or [])
        columns = [factor, *_names(held, "--held")]
        table = factor_effects(runs, factor, columns[1:], _names(metric, "--metric"), pair)
        check = check_arms(runs, arm_labels(runs, columns), columns)
    print_check(console, check)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    shown = table.assign(N=table["N"].map(lambda n: n if n == "all" else f"{float(n):,.0f}"))
    print_table(console, f"effect of {factor} ({experiment}; paired on {', '.join([*_names(held, '--held'), 'N', 'D', 'seed'])})",
                shown.round(4).to_dict(orient="records"))
    if out is not None:
        console.print(f"wrote {out}")
    exit_if_strict(console, check, strict)
