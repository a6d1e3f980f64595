"""What the distortion analysis reads: runs, their histories, domains, floors and sweep axes.

Everything comes from MLflow through `analysis.load` (one row per finished trial run, and
per-step metric histories). The history is pivoted to one row per (run, evaluated step) with
one column per metric key, which is the shape every other module of this package reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.load import load_history, load_runs
from configs import metrics as M

#: History keys read besides the distortion components (those absent from a sweep are skipped).
SCALAR_KEYS = (M.VAL_LOSS, M.PHI_WEIGHT, M.PHI_INPUT, M.PROBE_LOSS, M.WEIGHT_NOISE_LOSS, M.INPUT_NOISE_LOSS,
               M.ID_ACC, M.OOD_ACC, M.NUM_TOKENS, M.COMPUTE_FLOPS)
#: Run-table columns that are not sweep axes although they are dotted config paths.
NOT_AXES = ("seed", "sweep")


@dataclass(frozen=True)
class DistortionData:
    """A sweep as the distortion analysis sees it.

    Attributes:
        runs: `analysis.load.load_runs`' table, one row per finished trial run.
        history: one row per (run_id, step) with a column per metric key that was logged
            at that step (NaN where not): distortion components, val/loss, φ, accuracies.
        domains: the distortion components analysed, in logged order.
        axes: the config columns (dotted paths) that vary across the runs.
        floors: floor column per domain (`floor/<d>` in `runs`), where it was logged.
    """

    runs: pd.DataFrame
    history: pd.DataFrame
    domains: list[str]
    axes: list[str]
    floors: dict[str, str]

    @property
    def is_anchor(self) -> bool:
        """Whether the runs carry the composite anchor task's OOD accuracy."""
        return M.OOD_ACC in self.history.columns


def choose_domains(columns: list[str], wanted: list[str] | None) -> list[str]:
    """The domains with a `distortion/<d>` column, or the `wanted` subset of them.

    Raises:
        AnalysisInputError: no distortion components, or a wanted domain is not logged.
    """
    logged = M.domains_of(columns, M.DISTORTION_PREFIX)
    if not logged:
        raise AnalysisInputError("the runs log no distortion/<domain> metrics; they are not scalinglab trial runs "
                                 "with held-out domains")
    if not wanted:
        return logged
    missing = [d for d in wanted if d not in logged]
    if missing:
        raise AnalysisInputError(f"--domains names {', '.join(missing)}, not logged by these runs; "
                                 f"logged domains: {', '.join(logged)}")
    return list(dict.fromkeys(wanted))


def sweep_axes(runs: pd.DataFrame) -> list[str]:
    """Config columns (dotted paths, not metric keys) that take more than one value."""
    return [c for c in runs.columns
            if "." in c and "/" not in c and c not in NOT_AXES and runs[c].astype(str).nunique() > 1]


def wide_history(long: pd.DataFrame) -> pd.DataFrame:
    """Long (run_id, key, step, value) → one row per (run_id, step), one column per key."""
    if long.empty:
        return pd.DataFrame(columns=["run_id", "step"])
    wide = long.pivot_table(index=["run_id", "step"], columns="key", values="value", aggfunc="last")
    wide.columns.name = None
    return wide.reset_index().sort_values(["run_id", "step"]).reset_index(drop=True)


def load_distortion_data(tracking_uri: str, experiment: str, domains: list[str] | None = None) -> DistortionData:
    """Read an experiment's finished trial runs and the histories the analysis needs.

    Step 0 holds only the run's size metrics and its untrained reference (`size/…`,
    `init/…`, read from the runs table), so the history starts at the first evaluation or probe.

    Raises:
        AnalysisInputError: no store, no finished runs, no distortion metrics, or an
            unknown domain in `domains`.
    """
    runs = load_runs(tracking_uri, experiment)
    chosen = choose_domains(list(runs.columns), domains)
    keys = [M.distortion_key(d) for d in chosen] + [k for k in SCALAR_KEYS if k in runs.columns]
    keys += [M.training_kl_key(d) for d in chosen if M.training_kl_key(d) in runs.columns]
    history = wide_history(load_history(tracking_uri, list(runs["run_id"]), keys))
    floors = {d: M.floor_key(d) for d in chosen if M.floor_key(d) in runs.columns}
    return DistortionData(runs, history, chosen, sweep_axes(runs), floors)


def with_axes(table: pd.DataFrame, data: DistortionData) -> pd.DataFrame:
    """Prefix a per-run table (with a `run_id` column) with each run's name, sweep axes, seed, N, D, C."""
    columns = [c for c in ["run_name", *data.axes, "seed", "N", "D", "C"] if c in data.runs]
    return data.runs[["run_id", *columns]].merge(table, on="run_id", how="right")
