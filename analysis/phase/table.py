"""Complexity-control phases of the composite anchor task (docs/architecture.md, "Phases").

Per (γ, λ) cell, seeds averaged: phase 1 = ID accuracy below `id_min` (not even the seen
pairs are fitted in general); phase 2 = ID ≥ id_min but OOD below `ood_min` (seen pairs
learned as wholes, no composition); phase 3 = ID ≥ id_min and OOD ≥ ood_min (the four
single-anchor maps are learned and composed). Reference: Zhang et al. 2024, arXiv
2405.05409, fig. 2, which uses the best OOD accuracy over training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError
from configs import metrics as M

RATE, WEIGHT_DECAY, WIDTH, FIXED_STD = "init.rate", "optim.weight_decay", "model.d_model", "init.std"
CELL_METRICS = {
    M.ID_ACC: "id_acc",
    M.OOD_ACC: "ood_acc_final",
    M.OOD_ACC_BEST: "ood_acc_best",
    M.TRAIN_ACC: "train_acc",
    M.COMMUTATIVITY: "commutativity",
    M.COMMUTATIVITY_WRONG: "commutativity_wrong",
    M.SYMMETRIC_SHARE: "symmetric_share",
    M.EFFECTIVE_NEURONS: "effective_neurons",
    M.PARAM_NORM: "param_norm",
}


@dataclass(frozen=True)
class PhaseThresholds:
    """Thresholds of the phase classification, and which OOD value is compared."""

    id_min: float = 0.9
    ood_min: float = 0.5
    ood_value: Literal["best", "final"] = "best"

    def __post_init__(self) -> None:
        for name in ("id_min", "ood_min"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise AnalysisInputError(f"{name} ({value}) must be an accuracy in [0, 1]")
        if self.ood_value not in ("best", "final"):
            raise AnalysisInputError(f"ood_value ({self.ood_value!r}) must be 'best' or 'final'")


def classify_phase(id_acc: float, ood_acc: float, thresholds: PhaseThresholds = PhaseThresholds()) -> int:
    """Phase 1, 2 or 3 of one cell from its (seed-averaged) ID and OOD accuracy."""
    if not (np.isfinite(id_acc) and np.isfinite(ood_acc)):
        raise AnalysisInputError(f"accuracies must be finite, got id_acc={id_acc}, ood_acc={ood_acc}")
    if id_acc < thresholds.id_min:
        return 1
    return 3 if ood_acc >= thresholds.ood_min else 2


def _with_scheme(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `scheme` ("rate" or "std") and `gamma_eff` = −ln σ / ln fan_in for fixed-σ runs."""
    runs = runs.copy()
    std = pd.to_numeric(runs[FIXED_STD], errors="coerce") if FIXED_STD in runs else pd.Series(np.nan, runs.index)
    runs["scheme"] = np.where(std.notna(), "std", "rate")
    runs["gamma_eff"] = np.where(std.notna(), -np.log(std) / np.log(runs[WIDTH]), runs[RATE])
    runs["init_value"] = np.where(std.notna(), std, runs[RATE])
    return runs


def cell_table(runs: pd.DataFrame, thresholds: PhaseThresholds = PhaseThresholds()) -> pd.DataFrame:
    """Seed-averaged cells with their phase: one row per (scheme, width, init value, λ).

    Raises:
        AnalysisInputError: a required column is missing (the runs are not anchor-task runs).
    """
    required = [RATE, WEIGHT_DECAY, WIDTH, M.ID_ACC, M.OOD_ACC, M.OOD_ACC_BEST]
    missing = [c for c in required if c not in runs]
    if missing:
        raise AnalysisInputError(f"runs table lacks {missing}; phase analysis needs composite-anchor-task runs")
    runs = _with_scheme(runs)
    keys = ["scheme", WIDTH, "init_value", WEIGHT_DECAY]
    present = {k: v for k, v in CELL_METRICS.items() if k in runs}
    grouped = runs.groupby(keys, dropna=False)
    cells = grouped[list(present)].mean().rename(columns=present)
    cells["ood_acc_std"] = grouped[M.OOD_ACC_BEST if thresholds.ood_value == "best" else M.OOD_ACC].std()
    cells["gamma_eff"] = grouped["gamma_eff"].first()
    cells["num_seeds"] = grouped.size()
    if "run_name" in runs:  # a seed-averaged cell is no one run: it names all of its runs
        cells["run_names"] = grouped["run_name"].agg(lambda names: "; ".join(sorted(map(str, names))))
    cells = cells.reset_index()
    cells["ood_acc"] = cells["ood_acc_best" if thresholds.ood_value == "best" else "ood_acc_final"]
    cells["phase"] = [classify_phase(i, o, thresholds) for i, o in zip(cells["id_acc"], cells["ood_acc"])]
    return cells.sort_values(keys).reset_index(drop=True)


def phase_boundaries(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (scheme, width, λ): where phase 3 begins and ends along the init axis.

    Cells are ordered from weak to strong complexity control (γ ascending, σ descending).
    `boundary` is the first phase-3 init value — the memorizing → composing transition the
    reference phase diagram draws; `last_phase3` is the last one, which sits below the top
    of the grid when the smallest inits have not finished learning in the step budget.
    Both are NaN where no cell is phase 3.
    """
    rows = []
    for (scheme, width, wd), group in cells.groupby(["scheme", WIDTH, WEIGHT_DECAY]):
        ordered = group.sort_values("init_value", ascending=scheme == "rate")
        phase3 = ordered[ordered["phase"] == 3]
        first = phase3.iloc[0] if len(phase3) else None
        rows.append({
            "scheme": scheme, WIDTH: width, WEIGHT_DECAY: wd,
            "boundary": np.nan if first is None else first["init_value"],
            "boundary_gamma_eff": np.nan if first is None else first["gamma_eff"],
            "last_phase3": np.nan if first is None else phase3.iloc[-1]["init_value"],
        })
    return pd.DataFrame(rows)
