"""Scaling-law points (N, D, C, loss): from an experiment's runs or from a CSV.

C is the compute the runs logged, unless the 6ND convention is asked for by name
(`analysis.laws.flops.with_compute`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.laws.flops import REQUIRED_COLUMNS, FlopsConvention, with_compute
from analysis.laws.inputs import canonical_columns
from analysis.load import NoRunsError, load_runs
from configs import metrics as M


@dataclass(frozen=True)
class ExperimentPoints:
    """One point per finished run, what was left out, and the true loss floor if known.

    Attributes:
        table: Finished runs: N, D, C, loss, run_id and the config columns.
        run_ids: Ids of the runs in `table`.
        entropy_floor: The synthetic language's entropy rate, when every run logged it.
        num_left_out: Trial runs not in `table`, by state (diverged, running, failed,
            killed); fits never see them.
    """

    table: pd.DataFrame
    run_ids: list[str]
    entropy_floor: float | None
    num_left_out: dict[str, int]


def points_from_experiment(tracking_uri: str, experiment: str,
                           loss_metric: str = M.VAL_LOSS) -> ExperimentPoints:
    """Read an experiment's finished runs and keep N, D, C and `loss_metric` as `loss`.

    Runs that are not finished (diverged, running, failed, killed: `configs.runs`) are
    left out and counted in `num_left_out`.

    Raises:
        NoRunsError: no finished trial run (the message counts the others by state).
        AnalysisInputError: the metric was never logged, naming the loss metrics that were.
    """
    runs = load_runs(tracking_uri, experiment, include_unfinished=True)
    finished = runs["state"] == "finished"
    left_out = dict(Counter(runs.loc[~finished, "state"]))
    if not finished.any():
        counts = ", ".join(f"{n} {state}" for state, n in sorted(left_out.items()))
        raise NoRunsError(f"experiment '{experiment}' has no finished trial runs yet ({counts})")
    runs = runs[finished].reset_index(drop=True)
    if loss_metric not in runs:
        logged = sorted(c for c in runs.columns
                        if c.startswith(("val/", M.DISTORTION_PREFIX, "train/")))
        raise AnalysisInputError(f"--loss-metric {loss_metric!r} was not logged in "
                                 f"'{experiment}'; logged: {logged}")
    table = runs.assign(loss=runs[loss_metric])
    floor = None
    if M.ENTROPY_FLOOR in runs and runs[M.ENTROPY_FLOOR].notna().all():
        floors = runs[M.ENTROPY_FLOOR].to_numpy(dtype=np.float64)
        floor = float(floors.mean()) if np.ptp(floors) < 1e-9 else None  # one source only
    return ExperimentPoints(table, list(runs["run_id"]), floor, left_out)


def read_points_csv(path: str | Path, convention: FlopsConvention) -> pd.DataFrame:
    """Read a points table with columns N, D, loss and C (FLOPs; optional under "6nd").

    The aliases params, tokens and budget are read as N, D and C (`canonical_columns`).

    Raises:
        AnalysisInputError: naming the file and the missing or non-numeric columns.
    """
    if not Path(path).is_file():
        raise AnalysisInputError(f"{path}: no such file; pass a CSV with columns N, D, loss, C.")
    table = canonical_columns(pd.read_csv(path), str(path))
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise AnalysisInputError(
            f"{path}: missing column(s) {missing} (have {list(table.columns)}); the table "
            "needs N (parameters), D (tokens), loss and C (FLOPs), or the aliases params, tokens, budget.")
    return with_compute(table, convention, str(path))
