"""Per-domain scaling laws: one fit per distortion component, with bootstrap intervals.

The fitters are `analysis.laws`': Chinchilla approach 3, L(N, D) = E + A/N^α + B/D^β
(Hoffmann et al. 2022, eq. 2), when both N and D vary across the runs; a Kaplan law with an
irreducible term, L(x) = E + (x_c/x)^α (Kaplan et al. 2020 eqs. 1.1–1.2 with the
Henighan et al. 2020 floor), on whichever of N or D varies when only one does. The fitted
E of a component is its floor; where the task knows the true floor H_i (`floor/<d>`), the
table puts it beside E. Each run's final D_i is one point; other sweep axes (γ, λ, seeds)
are pooled, and the table says which.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.distortion.data import DistortionData
from analysis.distortion.pareto import final_vectors
from analysis.errors import AnalysisInputError
from analysis.laws.bootstrap import BootstrapResult, bootstrap_chinchilla, bootstrap_kaplan
from analysis.laws.chinchilla import fit_chinchilla
from analysis.laws.kaplan import fit_kaplan
from analysis.laws.result import FitResult

#: Points below which a Kaplan law is fitted without its floor E (3 parameters need slack).
KAPLAN_FLOOR_MIN_POINTS = 4


@dataclass(frozen=True)
class LawSettings:
    """How the per-domain laws are fitted."""

    num_resamples: int = 200
    level: float = 0.95
    seed: int = 0


def law_form(table: pd.DataFrame) -> tuple[str, str] | str:
    """("chinchilla", "N,D") or ("kaplan", "N"|"D"), or a note saying why no law fits."""
    if "N" not in table or "D" not in table:
        return "runs lack size/num_params or size/num_tokens"
    varies = {axis: table[axis].nunique() >= 2 for axis in ("N", "D")}
    if all(varies.values()):
        return ("chinchilla", "N,D") if len(table) >= 5 else f"{len(table)} runs; a Chinchilla law needs ≥ 5"
    for axis, vary in varies.items():
        if vary:
            return ("kaplan", axis) if len(table) >= 2 else "fewer than 2 runs"
    return "neither N nor D varies across the runs"


def _fit(form: str, variable: str, table: pd.DataFrame, loss: np.ndarray,
         settings: LawSettings) -> tuple[FitResult, BootstrapResult]:
    n, d = table["N"].to_numpy(np.float64), table["D"].to_numpy(np.float64)
    if form == "chinchilla":
        fit = fit_chinchilla(n, d, loss)
        boot = bootstrap_chinchilla(n, d, loss, num_resamples=settings.num_resamples, level=settings.level,
                                    seed=settings.seed)
        return fit, boot
    x = n if variable == "N" else d
    floor = len(loss) >= KAPLAN_FLOOR_MIN_POINTS
    fit = fit_kaplan(x, loss, irreducible=floor, variable="N" if variable == "N" else "D")
    boot = bootstrap_kaplan(x, loss, irreducible=floor, num_resamples=settings.num_resamples,
                            level=settings.level, seed=settings.seed)
    return fit, boot


def _law_row(domain: str, table: pd.DataFrame, settings: LawSettings) -> dict[str, object]:
    row: dict[str, object] = {"domain": domain, "num_points": len(table)}
    form = law_form(table)
    if isinstance(form, str):
        return {**row, "form": "none", "note": form}
    row.update(form=form[0], variable=form[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit, boot = _fit(form[0], form[1], table, table[domain].to_numpy(np.float64), settings)
        except AnalysisInputError as err:
            return {**row, "note": str(err)}
    row.update(fit.params)
    for name, (low, high) in boot.intervals.items():
        row[f"{name}_low"], row[f"{name}_high"] = low, high
    row["note"] = "; ".join(dict.fromkeys(str(w.message).split(";")[0] for w in caught))
    return row


def per_domain_laws(data: DistortionData, settings: LawSettings = LawSettings()) -> pd.DataFrame:
    """One law per analysed domain: form, parameters, bootstrap intervals, true floor, notes."""
    table = final_vectors(data)
    pooled = [a for a in data.axes if a in table and not a.startswith(("model.", "train.num_steps"))]
    rows = []
    for domain in data.domains:
        row = _law_row(domain, table, settings)
        if domain in data.floors:
            row["floor_true"] = float(data.runs[data.floors[domain]].mean())
        row["pooled_axes"] = ", ".join(pooled)
        rows.append(row)
    return pd.DataFrame(rows)
