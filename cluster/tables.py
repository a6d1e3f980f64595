"""Printing tables to the terminal."""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from configs import metrics as M

if TYPE_CHECKING:  # pandas loads only when a results table is printed
    import pandas as pd

# The metric columns shown in a results table, in order, when present.
RESULT_METRICS = (M.TRAIN_LOSS, M.VAL_LOSS, M.ID_ACC, M.OOD_ACC, M.OOD_ACC_BEST, M.COMMUTATIVITY, M.EFFECTIVE_NEURONS,
                  M.TOKENS_PER_S, M.MFU)


# Short headers so a results table fits an 80-column terminal.
SHORT_NAMES = {"init.rate": "γ", M.TRAIN_LOSS: "train_loss", "init.std": "σ", "optim.weight_decay": "λ", "model.d_model": "d_model",
               M.VAL_LOSS: "val_loss", M.ID_ACC: "id_acc", M.OOD_ACC: "ood", M.OOD_ACC_BEST: "ood_best",
               M.COMMUTATIVITY: "comm", M.EFFECTIVE_NEURONS: "eff_neur", M.TOKENS_PER_S: "tok/s", M.MFU: "mfu",
               "commutativity": "comm", "commutativity_wrong": "comm_wrong", "effective_neurons": "eff_neur",
               "init_value": "init", "num_seeds": "seeds", "boundary_gamma_eff": "γ_eff", "last_phase3": "last phase 3"}


def make_console() -> Console:
    """A console that does not wrap at 80 columns when writing to a log file or CI."""
    # soft_wrap: a message is one line however long (a log or CI must not split an error);
    # tables still fit their width.
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=True)


@contextlib.contextmanager
def printing_duplicate_notes(console: Console) -> Iterator[None]:
    """Print each `DuplicateRunsWarning` of the analysis (runs it dropped) on `console` as one line."""
    from analysis.errors import DuplicateRunsWarning

    with warnings.catch_warnings():  # restores the filters and `showwarning` on exit
        warnings.simplefilter("always", DuplicateRunsWarning)
        fallback = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *rest: Any, **kwargs: Any) -> None:
            if issubclass(category, DuplicateRunsWarning):
                console.print(f"[yellow]{message}[/yellow]")
            else:
                fallback(message, category, *rest, **kwargs)

        warnings.showwarning = show
        yield


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def print_table(console: Console, title: str, rows: Sequence[Mapping[Any, Any]]) -> None:
    """Render a list of dicts (same keys) as a rich table."""
    if not rows:
        console.print(f"{title}: (empty)")
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(SHORT_NAMES.get(str(column), str(column)), justify="right")
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def varying_config_columns(runs: pd.DataFrame) -> list[str]:
    """Dotted config columns whose value differs between runs (the sweep's grid axes)."""
    config = [c for c in runs.columns if "." in c and "/" not in c and not c.startswith("scalinglab.")]
    return [c for c in config if c != "seed" and runs[c].astype(str).nunique() > 1]


def _state_column(runs: pd.DataFrame) -> pd.Series:
    if "state" in runs:
        return runs["state"]
    return runs["status"].str.lower()


def _with_divergence(runs: pd.DataFrame, tracking_uri: str, metrics: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Diverged runs' metrics replaced by their last finite values, and an `outcome` column
    ("diverged at step N") when any run diverged; else `runs` as is and no column."""
    from analysis.load import last_finite

    diverged = runs["state"] == "diverged"
    if not diverged.any():
        return runs, []
    found = last_finite(tracking_uri, runs.loc[diverged, "run_id"].tolist(), metrics)
    runs = runs.assign(outcome="")
    for row in runs.index[diverged]:
        run_id = runs.at[row, "run_id"]
        reached = found.loc[run_id].to_dict() if run_id in found.index else {}
        for metric in metrics:  # the latest value is the non-finite one; show what it reached
            runs.at[row, metric] = reached.get(metric, math.nan)
        step = float(reached.get("diverged_at_step", math.nan))
        runs.at[row, "outcome"] = "diverged" if math.isnan(step) else f"diverged at step {int(step)}"
    return runs, ["outcome"]


def print_results(console: Console, tracking_uri: str, experiment: str, grid_keys: list[str]) -> bool:
    """Print one row per trial run of `experiment` (any state); False when there is nothing to show.

    Columns: the run's name (its trial id where a run has none), the grid's config columns
    (given, or found as those that vary across runs), seed, N, the run's state (finished /
    running / failed / diverged / killed) and the final metrics. Rows follow the sweep's axes.
    """
    from analysis.errors import AnalysisInputError
    from analysis.load import load_runs

    try:
        with printing_duplicate_notes(console):
            runs = load_runs(tracking_uri, experiment, include_unfinished=True)
    except AnalysisInputError as err:
        console.print(f"[yellow]{err}[/yellow]")
        return False
    runs = runs.assign(state=_state_column(runs))
    keys = [k for k in grid_keys if k in runs] or varying_config_columns(runs)
    metrics = [m for m in RESULT_METRICS if m in runs]
    runs, outcome = _with_divergence(runs, tracking_uri, metrics)
    # The run's name as the MLflow UI shows it ("demo γ0.8 λ0.1 s0"), not the trial id's hash;
    # a run logged by other code (or before a param existed) may lack a name, trial_id, seed or N.
    runs = runs.rename(columns={"run_name": "run"})
    name = "run" if "run" in runs and runs["run"].notna().all() else "trial_id"
    columns = [c for c in (name, *keys, "seed", "N", "state", *outcome, *metrics) if c in runs]
    runs = _sorted_by(runs, [c for c in (*keys, "seed") if c in runs])
    print_table(console, f"results: {experiment} ({len(runs)} runs)", runs[columns].to_dict(orient="records"))
    return True


def _sorted_by(runs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows in the order of the sweep's axes, then seed (as they are where an axis mixes types)."""
    try:
        return runs.sort_values(columns, kind="stable", na_position="last")
    except TypeError:  # e.g. init.std holding both numbers and None-as-text
        return runs
