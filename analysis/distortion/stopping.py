"""Stopping rules and the metastable region (docs/architecture.md, "Stability φ").

Three rules pick a step of each run: the stability-optimal stop t* = argmax_t φ(t) over the
steps after val/loss has fallen by at least a fraction f (default 0.5, `TSTAR_AFTER`) of its
total drop L₀ − min_t val/loss (L₀ = `init/val_loss`, the untrained model's) — without that
condition any φ that is flat or noisy near the start would put t* at the first probe; the
early-stopping step argmin_t val/loss; and, on the composite anchor task, the best-OOD step
argmax_t OOD accuracy (an oracle: it looks at the OOD test set). For each rule the table
keeps what stopping there would have kept: val/loss, ID and OOD accuracy.

The metastable region of a sweep is Φ = {(run, step): φ(run, step) ≥ φ₀}. Per cell of the
sweep's axes (seeds averaged) it is summarised by the share of probed steps in Φ, the first
step in Φ and whether the run ends in Φ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.distortion.data import DistortionData, with_axes
from analysis.errors import AnalysisInputError
from analysis.phase.table import PhaseThresholds, classify_phase
from configs import metrics as M

#: The rules, by name: (metric, "max" or "min").
RULES = {"t_star": (None, "max"), "early_stop": (M.VAL_LOSS, "min"), "best_ood": (M.OOD_ACC, "max")}
KEPT = {M.VAL_LOSS: "val_loss", M.ID_ACC: "id_acc", M.OOD_ACC: "ood_acc"}


def _pick(run: pd.DataFrame, key: str, how: str) -> pd.Series | None:
    """The row of `run` where `key` is largest/smallest (first such step); None if never logged."""
    rows = run[run[key].notna()] if key in run else run.iloc[:0]
    if rows.empty:
        return None
    position = rows[key].to_numpy(dtype=np.float64)
    return rows.iloc[int(np.argmax(position) if how == "max" else np.argmin(position))]


def _trained_enough(run: pd.DataFrame, reference: float | None, fraction: float) -> pd.DataFrame:
    """The rows of `run` whose nearest evaluation has val/loss ≤ L₀ − fraction·(L₀ − min val/loss)."""
    evals = run[run[M.VAL_LOSS].notna()] if M.VAL_LOSS in run else run.iloc[:0]
    if evals.empty:
        return run.iloc[:0]
    losses = evals[M.VAL_LOSS].to_numpy(dtype=np.float64)
    start = reference if reference is not None and np.isfinite(reference) else float(losses[0])
    threshold = start - fraction * (start - float(losses.min()))
    steps = evals["step"].to_numpy()
    nearest = np.abs(run["step"].to_numpy()[:, None] - steps[None, :]).argmin(axis=1)
    return run[losses[nearest] <= threshold + 1e-12]


def _kept_at(run: pd.DataFrame, step: int) -> dict[str, float]:
    """val/loss and accuracies at the evaluation nearest to `step` (φ may use its own cadence)."""
    evals = run[run[M.VAL_LOSS].notna()] if M.VAL_LOSS in run else run.iloc[:0]
    if evals.empty:
        return {}
    row = evals.iloc[int(np.argmin(np.abs(evals["step"].to_numpy() - step)))]
    return {name: float(row[key]) for key, name in KEPT.items() if key in row and pd.notna(row[key])}


#: t* looks only at steps after val/loss has fallen by this share of its total drop.
TSTAR_AFTER = 0.5


def stopping_table(data: DistortionData, phi_key: str = M.PHI_WEIGHT, tstar_after: float = TSTAR_AFTER) -> pd.DataFrame:
    """One row per run: each rule's step, its φ or metric, and the loss/accuracies it keeps.

    Columns `<rule>_step` and `<rule>_<kept>` for rule in t_star, early_stop, best_ood
    (best_ood only on the anchor task), plus `phi_at_t_star`, `final_step` and `final_*`.
    t* is taken over the steps after val/loss has fallen by `tstar_after` of its drop.

    Raises:
        AnalysisInputError: `tstar_after` outside [0, 1].
    """
    if not 0 <= tstar_after <= 1:
        raise AnalysisInputError(f"--tstar-after ({tstar_after}) must lie in [0, 1], e.g. 0.5")
    references = data.runs.set_index("run_id")[M.INIT_VAL_LOSS] if M.INIT_VAL_LOSS in data.runs else pd.Series(dtype=float)
    rows = []
    for run_id, run in data.history.groupby("run_id", sort=True):
        run = run.sort_values("step")
        row: dict[str, object] = {"run_id": run_id, "final_step": int(run["step"].max())}
        for rule, (key, how) in RULES.items():
            candidates = _trained_enough(run, references.get(run_id), tstar_after) if rule == "t_star" else run
            picked = _pick(candidates, key or phi_key, how)
            if picked is None:
                continue
            row[f"{rule}_step"] = int(picked["step"])
            row.update({f"{rule}_{name}": value for name, value in _kept_at(run, int(picked["step"])).items()})
            if rule == "t_star":
                row["phi_at_t_star"] = float(picked[phi_key])
        row.update({f"final_{name}": v for name, v in _kept_at(run, int(run["step"].max())).items()})
        rows.append(row)
    return with_axes(pd.DataFrame(rows), data)


def cell_means(table: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Seed-averaged numeric columns per cell of `axes` (one row for a sweep without axes), each
    with its seed-to-seed standard deviation beside it (`<column>_sd`, NaN for a single run)."""
    numeric = [c for c in table.columns if c not in (*axes, "run_id", "seed") and pd.api.types.is_numeric_dtype(table[c])]
    grouped = table.groupby(axes, dropna=False) if axes else table.assign(_all=0).groupby("_all")
    means, spread = grouped[numeric].mean(), grouped[numeric].std(ddof=1).add_suffix("_sd")
    cells = pd.concat([means, spread], axis=1)[[c for n in numeric for c in (n, f"{n}_sd")]]
    cells.insert(0, "num_runs", grouped.size())
    return cells.reset_index(drop=not axes)


def metastable_points(data: DistortionData, phi0: float, phi_key: str = M.PHI_WEIGHT) -> pd.DataFrame:
    """Every probed (run, step) with its name, sweep axes, φ and whether it lies in Φ (φ ≥ φ₀).

    Raises:
        AnalysisInputError: φ₀ is not finite.
    """
    if not np.isfinite(phi0):
        raise AnalysisInputError(f"--phi0 ({phi0}) must be a finite number, e.g. -0.1")
    if phi_key not in data.history:
        return pd.DataFrame(columns=["run_id", "step", "phi", "in_region"])
    points = data.history.loc[data.history[phi_key].notna(), ["run_id", "step", phi_key]].rename(columns={phi_key: "phi"})
    points["in_region"] = points["phi"] >= phi0
    return with_axes(points.reset_index(drop=True), data)


def metastable_runs(points: pd.DataFrame, data: DistortionData) -> pd.DataFrame:
    """Per run: share of probed steps in Φ, first and last step in Φ, final φ, ends in Φ."""
    rows = []
    for run_id, run in points.sort_values("step").groupby("run_id", sort=True):
        inside = run[run["in_region"]]
        rows.append({"run_id": run_id, "share_in_region": float(run["in_region"].mean()),
                     "first_step_in_region": float(inside["step"].min()) if len(inside) else np.nan,
                     "last_step_in_region": float(inside["step"].max()) if len(inside) else np.nan,
                     "phi_final": float(run["phi"].iloc[-1]), "phi_max": float(run["phi"].max()),
                     "ends_in_region": float(bool(run["in_region"].iloc[-1]))})
    return with_axes(pd.DataFrame(rows, columns=["run_id", "share_in_region", "first_step_in_region",
                                                  "last_step_in_region", "phi_final", "phi_max", "ends_in_region"]), data)


def default_phi0(phi: pd.Series) -> float:
    """φ₀ when none is given: the median φ over every probed (run, step) of the sweep.

    A data-driven split (half of all probed states are "metastable"): φ's scale depends on
    ε and on the task, so no fixed number means the same thing across sweeps.

    Raises:
        AnalysisInputError: no φ was logged (pass --phi0, or run the sweep with probes on).
    """
    values = phi.dropna()
    if values.empty:
        raise AnalysisInputError("no stability φ was logged by these runs, so φ₀ cannot default to its median; "
                                 "run the sweep with eval.phi_weight_every ≠ 0, or pass --phi0")
    return float(values.median())


def phase_cells(data: DistortionData, runs_region: pd.DataFrame,
                thresholds: PhaseThresholds = PhaseThresholds()) -> pd.DataFrame:
    """Seed-averaged cells of the sweep's axes with their φ summary and complexity-control phase.

    The phase of a cell is `analysis.phase.table.classify_phase` of its mean final ID
    accuracy and mean best-over-training OOD accuracy (the phase analysis' default). Empty
    when the runs are not anchor-task runs or no φ was logged.
    """
    needed = [M.ID_ACC, M.OOD_ACC_BEST]
    if not data.is_anchor or any(k not in data.runs for k in needed) or runs_region.empty:
        return pd.DataFrame(columns=["phase"])
    table = runs_region.merge(data.runs[["run_id", *needed]], on="run_id")
    cells = cell_means(table, [a for a in data.axes if a in table])
    cells["phase"] = [classify_phase(i, o, thresholds) for i, o in zip(cells[M.ID_ACC], cells[M.OOD_ACC_BEST])]
    return cells


def phi_by_phase(cells: pd.DataFrame) -> pd.DataFrame:
    """φ per phase over `phase_cells`: number of cells, final φ (mean/min/max), max φ, share in Φ."""
    if cells.empty:
        return pd.DataFrame(columns=["phase", "num_cells"])
    summary = cells.groupby("phase").agg(
        num_cells=("phase", "size"), phi_final_mean=("phi_final", "mean"), phi_final_min=("phi_final", "min"),
        phi_final_max=("phi_final", "max"), phi_max_mean=("phi_max", "mean"),
        share_in_region=("share_in_region", "mean"))
    return summary.reset_index()
