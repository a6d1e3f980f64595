"""`scalinglab phase`: cell table, boundaries and figures of a complexity-control sweep."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.checks import ComparisonCheck, arm_labels, check_arms
from analysis.load import load_runs
from analysis.phase.plots import plot_gamma_curves, plot_phase_diagram
from analysis.phase.table import WEIGHT_DECAY, PhaseThresholds, cell_table, phase_boundaries
from analysis.record import log_analysis_run

#: Kind of the analysis run `run_phase_analysis` logs (one per experiment).
ANALYSIS_KIND = "phase"
#: Columns whose values make a phase cell's arm; cells are compared at matched N and D.
ARM_COLUMNS = ("init.scheme", "init.rate", "init.std", WEIGHT_DECAY)
CHECK_FILE = "comparison_check.json"


@dataclass(frozen=True)
class PhaseReport:
    """Outputs of a phase analysis, and the comparison check of its cells."""

    cells: pd.DataFrame
    boundaries: pd.DataFrame
    files: list[Path]
    analysis_run_id: str | None
    check: ComparisonCheck = field(default_factory=ComparisonCheck)


def check_phase(runs: pd.DataFrame) -> ComparisonCheck:
    """The comparison check of a phase diagram: its (init, λ) arms may differ in init and λ only.

    The arms are the runs' values of the `ARM_COLUMNS` that vary; γ_eff, λ and the decay
    shrinkage are what they control, so lr, D/N or tokenizer differences are confounds, and
    so is a fixed-σ arm whose γ_eff changes with width.
    """
    present = [c for c in ARM_COLUMNS if c in runs]
    varying = [c for c in present if runs[c].astype(str).nunique() > 1] or present[:1]
    return check_arms(runs, arm_labels(runs, varying), varying)


def write_phase_outputs(cells: pd.DataFrame, boundaries: pd.DataFrame, out_dir: Path, id_min: float) -> list[Path]:
    """Write the cell table (CSV + JSON), the boundaries and both figures into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "phase_cells.csv", out_dir / "phase_cells.json", out_dir / "phase_boundaries.csv"]
    cells.to_csv(files[0], index=False)
    files[1].write_text(json.dumps(cells.to_dict(orient="records"), indent=1, default=float))
    boundaries.to_csv(files[2], index=False)
    files.append(plot_phase_diagram(cells, out_dir / "phase_diagram.png", id_min=id_min))
    files.append(plot_gamma_curves(cells, out_dir / "gamma_curves.png"))
    return files


def run_phase_analysis(
    tracking_uri: str,
    experiment: str,
    out_dir: Path,
    thresholds: PhaseThresholds = PhaseThresholds(),
    log_to_mlflow: bool = True,
) -> PhaseReport:
    """Load the experiment's runs, classify cells, write outputs, log an analysis run.

    The analysis run is of kind "phase": it replaces the experiment's previous one.

    Raises:
        AnalysisInputError: no store, no finished runs, or runs without the anchor-task
            metrics.
    """
    runs = load_runs(tracking_uri, experiment)
    cells = cell_table(runs, thresholds)
    boundaries = phase_boundaries(cells)
    check = check_phase(runs)
    files = write_phase_outputs(cells, boundaries, out_dir, thresholds.id_min)
    files.append(check.write(out_dir / CHECK_FILE))
    run_id = None
    if log_to_mlflow:
        params: dict[str, object] = {"id_min": thresholds.id_min, "ood_min": thresholds.ood_min, "ood_value": thresholds.ood_value}
        values = {f"num_phase{p}_cells": float((cells["phase"] == p).sum()) for p in (1, 2, 3)}
        run_id = log_analysis_run(tracking_uri, experiment, "phase-analysis", files,
                                  list(runs["run_id"]), params, values, analysis=ANALYSIS_KIND)
    return PhaseReport(cells, boundaries, files, run_id, check)


def phase_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """The columns people read first, rounded for printing."""
    columns = ["scheme", "model.d_model", "init_value", WEIGHT_DECAY, "num_seeds", "id_acc", "ood_acc",
               "commutativity", "commutativity_wrong", "effective_neurons", "phase"]
    return cells[[c for c in columns if c in cells]].round(3)
