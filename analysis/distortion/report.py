"""`scalinglab distortion`: every table and figure of the distortion analysis, and its HTML report.

`run_distortion_analysis` reads the experiment (MLflow only), computes the tables of
`trajectories`, `stopping`, `pareto`, `laws` and `probes`, writes them as CSV (and all of
them in one JSON), draws the figures, renders one self-contained HTML report and logs the
lot as the experiment's single analysis run of kind "distortion" (replaced on re-run).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.distortion import plots
from analysis.distortion.data import DistortionData, load_distortion_data
from analysis.distortion.html import Section, render_report
from analysis.distortion.laws import LawSettings, per_domain_laws
from analysis.distortion.pareto import front_by_size, pareto_note, pareto_table
from analysis.distortion.probes import calibration_table, ratedist_table, training_kl_table
from analysis.distortion.phi import with_phi_form
from analysis.distortion.stopping import (TSTAR_AFTER, cell_means, default_phi0, metastable_points, metastable_runs,
                                          phase_cells, phi_by_phase, stopping_table)
from analysis.distortion.trajectories import distortion_path, rebalancing_intervals, trajectory_table
from analysis.record import log_analysis_run
from configs import metrics as M

#: Kind of the analysis run (one per experiment, replaced on re-run).
ANALYSIS_KIND = "distortion"
HTML_NAME = "distortion_report.html"


@dataclass(frozen=True)
class DistortionSettings:
    """What the analysis reads and its thresholds.

    Attributes:
        phi0: Metastable threshold φ₀; None = the median φ of the sweep.
        domains: Components to analyse; None = every logged one.
        phi_key: Which φ defines t* and Φ (`stability/phi_weight` or `stability/phi_input`).
        phi_form: `retained_gain` (default) or `relative`, recomputed from the raw losses
            (`analysis.distortion.phi`).
        tstar_after: t* only over steps after val/loss fell by this share of its total drop.
        compute_rtol: Budgets within this factor chain are "comparable compute" for fronts.
        rebalance_min_change: Relative change below which a step is not a rise or a fall.
        laws: Bootstrap settings of the per-domain laws.
    """

    phi0: float | None = None
    domains: tuple[str, ...] | None = None
    phi_key: str = M.PHI_WEIGHT
    phi_form: str = "retained_gain"
    tstar_after: float = TSTAR_AFTER
    compute_rtol: float = 0.1
    rebalance_min_change: float = 1e-3
    laws: LawSettings = field(default_factory=LawSettings)


@dataclass(frozen=True)
class DistortionReport:
    """Outputs of one distortion analysis."""

    tables: dict[str, pd.DataFrame]
    files: list[Path]
    html: Path
    phi0: float
    analysis_run_id: str | None
    #: What the report left out and why (e.g. the Pareto figure with one run per budget), one line each.
    notes: tuple[str, ...] = ()


def compute_tables(data: DistortionData, settings: DistortionSettings, phi0: float) -> dict[str, pd.DataFrame]:
    """Every table of the analysis, by name (the CSV file stem)."""
    stops = stopping_table(data, settings.phi_key, settings.tstar_after)
    points = metastable_points(data, phi0, settings.phi_key)
    region = metastable_runs(points, data)
    phases = phase_cells(data, region)
    fronts = pareto_table(data, settings.compute_rtol)
    ratedist = ratedist_table(data)
    return {
        "trajectories": trajectory_table(data),
        "rebalancing": rebalancing_intervals(data, settings.rebalance_min_change),
        "stopping": stops,
        "stopping_cells": cell_means(stops, data.axes),
        "metastable_points": points,
        "metastable_runs": region,
        "metastable_cells": cell_means(region, data.axes),
        "phase_cells": phases,
        "phi_by_phase": phi_by_phase(phases),
        "pareto": fronts,
        "pareto_by_size": front_by_size(fronts, data.domains),
        "laws": per_domain_laws(data, settings.laws),
        "ratedist": ratedist,
        "training_kl": training_kl_table(data),
        "ratedist_summary": (ratedist.groupby(["domain", "bits"])[["loss", "extra", "retained_gain"]].median().reset_index()
                             if len(ratedist) else ratedist),
        "calibration": calibration_table(data),
    }


def draw_figures(data: DistortionData, tables: dict[str, pd.DataFrame], settings: DistortionSettings,
                 phi0: float, out_dir: Path) -> dict[str, Path]:
    """The figures that the data supports, by name."""
    figures = {"trajectories": plots.plot_trajectories(tables["trajectories"], data, out_dir / "trajectories.png")}
    if data.floors:
        excess = tables["trajectories"].dropna(subset=["excess"])
        figures["excess"] = plots.plot_trajectories(excess, data, out_dir / "excess.png", column="excess")
    if len(data.domains) >= 2:
        figures["path"] = plots.plot_path(distortion_path(data), data, out_dir / "path.png")
    if len(tables["metastable_points"]):
        figures["phi"] = plots.plot_phi(data, tables["stopping"], settings.phi_key, phi0, out_dir / "phi.png")
        figures["metastable"] = plots.plot_metastable(tables["metastable_points"], tables["metastable_runs"], data,
                                                      phi0, out_dir / "metastable.png")
    if pareto_note(tables["pareto"]) is None and len(tables["pareto"]):
        figures["pareto"] = plots.plot_pareto(tables["pareto"], data.domains, out_dir / "pareto.png")
    if len(tables["ratedist"]):
        figures["ratedist"] = plots.plot_ratedist(tables["ratedist"], out_dir / "ratedist.png")
    return figures


def write_tables(tables: dict[str, pd.DataFrame], meta: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """One CSV per table, and all of them (with `meta`) in distortion_summary.json."""
    files = {}
    for name, table in tables.items():
        files[name] = out_dir / f"{name}.csv"
        table.to_csv(files[name], index=False)
    records = {name: json.loads(table.to_json(orient="records")) for name, table in tables.items()
               if name not in ("trajectories", "metastable_points", "training_kl")}  # the long tables stay CSV-only
    files["summary"] = out_dir / "distortion_summary.json"
    files["summary"].write_text(json.dumps({**meta, "tables": records}, indent=1, default=str))
    return files


def _sections(data: DistortionData, tables: dict[str, pd.DataFrame], figures: dict[str, Path],
              csv: dict[str, Path], phi0: float, settings: DistortionSettings) -> list[Section]:
    def pick(*names: str) -> tuple[Path, ...]:
        return tuple(figures[n] for n in names if n in figures)

    def tab(caption: str, name: str) -> tuple[str, pd.DataFrame, Path | None]:
        return caption, tables[name], csv.get(name)

    return [
        Section("Trajectories", "D_i(t) of every run; the path through distortion space (two domains, or the first "
                "two principal components); excess distortion D_i − H_i where the task knows its floor H_i.",
                pick("trajectories", "excess", "path")),
        Section("Rebalancing", "Intervals where a component rises while the weighted mean (val/loss) falls — the "
                "theory's second training stage.", (), (tab("intervals per run", "rebalancing"),)),
        Section("Stopping", f"t* = argmax φ(t) ({settings.phi_key}, {settings.phi_form} form) over the steps after "
                f"val/loss has fallen by {settings.tstar_after:.0%} of its total drop from the untrained model's, "
                "against early stopping (min val/loss) and, on the anchor task, the best-OOD step, with what each "
                "rule keeps.", pick("phi"),
                (tab("per cell (seeds averaged)", "stopping_cells"), tab("per run", "stopping"))),
        Section("Metastable region", f"Φ = {{(run, step): φ ≥ φ₀}} with φ₀ = {phi0:.4g}.", pick("metastable"),
                (tab("per cell", "metastable_cells"), tab("φ per complexity-control phase", "phi_by_phase"),
                 tab("cells with phase", "phase_cells"))),
        Section("Pareto fronts", "Non-dominated final distortion vectors within each group of comparable compute, "
                "and which sizes N hold the front." + (f" {note}" if (note := pareto_note(tables["pareto"])) else ""),
                pick("pareto"),
                (tab("front by size", "pareto_by_size"), tab("final vectors", "pareto"))),
        Section("Per-domain laws", "One Chinchilla (N and D vary) or Kaplan (one of them varies) law per component, "
                f"{settings.laws.level:.0%} bootstrap intervals over {settings.laws.num_resamples} resamples.",
                (), (tab("laws", "laws"),)),
        Section("Rate–distortion and calibration", "Held-out loss with weights quantized per row; temperature T* "
                "minimizing held-out CE, the loss at T* and top-1 ECE at T = 1 (last probe of each run).",
                pick("ratedist"), (tab("rate–distortion (median over runs)", "ratedist_summary"),
                                   tab("calibration", "calibration"))),
    ]


def headline_values(tables: dict[str, pd.DataFrame], phi0: float, data: DistortionData) -> dict[str, float]:
    """The numbers logged as the analysis run's metrics."""
    stops = tables["stopping"]
    gap = (stops["t_star_step"] - stops["early_stop_step"]).mean() if "t_star_step" in stops else math.nan
    values = {"num_runs": float(len(data.runs)), "phi0": phi0,
              "num_rebalancing_intervals": float(len(tables["rebalancing"])),
              "mean_t_star_minus_early_stop": float(gap),
              "share_in_region": float(tables["metastable_points"]["in_region"].mean())
              if len(tables["metastable_points"]) else math.nan,
              "num_on_front": float(tables["pareto"]["on_front"].sum())}
    return {k: v for k, v in values.items() if math.isfinite(v)}


def run_distortion_analysis(tracking_uri: str, experiment: str, out_dir: Path,
                            settings: DistortionSettings = DistortionSettings(),
                            log_to_mlflow: bool = True) -> DistortionReport:
    """Read the experiment, write every table, figure and the HTML report, log them back.

    Raises:
        AnalysisInputError: no store, no finished runs, no distortion metrics, an unknown
            domain, or no φ logged while `settings.phi0` is None.
    """
    data = load_distortion_data(tracking_uri, experiment, list(settings.domains) if settings.domains else None)
    data = with_phi_form(data, settings.phi_form)
    phi_values = data.history[settings.phi_key] if settings.phi_key in data.history else pd.Series(dtype=float)
    phi0 = settings.phi0 if settings.phi0 is not None else default_phi0(phi_values)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = compute_tables(data, settings, phi0)
    meta = {"experiment": experiment, "phi0": phi0, "phi_key": settings.phi_key, "phi_form": settings.phi_form,
            "tstar_after": settings.tstar_after, "domains": data.domains,
            "axes": data.axes, "num_runs": len(data.runs)}
    csv = write_tables(tables, meta, out_dir)
    figures = draw_figures(data, tables, settings, phi0, out_dir)
    summary = [("experiment", experiment), ("runs", str(len(data.runs))), ("domains", ", ".join(data.domains)),
               ("sweep axes", ", ".join(data.axes) or "none"), ("φ", f"{settings.phi_key} ({settings.phi_form})"),
               ("φ₀", f"{phi0:.4g}" + (" (median of the sweep's φ)" if settings.phi0 is None else ""))]
    page = render_report(f"Distortion analysis: {experiment}", summary,
                         _sections(data, tables, figures, csv, phi0, settings), out_dir / HTML_NAME)
    files = [*csv.values(), *figures.values(), page]
    run_id = None
    if log_to_mlflow:
        params: dict[str, object] = {"phi0": phi0, "phi_key": settings.phi_key, "phi_form": settings.phi_form,
                                     "tstar_after": settings.tstar_after, "domains": ",".join(data.domains),
                                     "compute_rtol": settings.compute_rtol,
                                     "num_resamples": settings.laws.num_resamples}
        names = dict(zip(data.runs["run_id"], data.runs["run_name"])) if "run_name" in data.runs else {}
        run_id = log_analysis_run(tracking_uri, experiment, "distortion-analysis", files, list(data.runs["run_id"]),
                                  params, headline_values(tables, phi0, data), analysis=ANALYSIS_KIND,
                                  source_run_names={str(k): None if pd.isna(v) else str(v) for k, v in names.items()})
    notes = tuple(n for n in (pareto_note(tables["pareto"]),) if n)
    return DistortionReport(tables, files, page, phi0, run_id, notes)
