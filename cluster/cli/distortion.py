"""`scalinglab distortion`: trajectories, stability, stopping, metastable region, Pareto fronts
and per-domain laws of an experiment's distortion vectors (reads MLflow only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.fit import exit_on_input_error
from cluster.cli.options import Experiment, TrackingUri, Workdir, tracking_uri_or_default
from cluster.tables import make_console, print_table
from configs import metrics as M

console = make_console()
PHI_KEYS = {"weight": M.PHI_WEIGHT, "input": M.PHI_INPUT}
# Columns printed from the per-cell stopping table (the CSV and the report have all).
STOP_COLUMNS = ("num_runs", "t_star_step", "early_stop_step", "best_ood_step", "t_star_val_loss",
                "early_stop_val_loss", "t_star_ood_acc", "early_stop_ood_acc", "best_ood_ood_acc")


def _domains(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(d.strip() for d in text.split(",") if d.strip())
    if not names:
        raise typer.BadParameter(f"--domains {text!r} must list domains separated by commas, e.g. id,ood")
    return names


def distortion(
    experiment: Experiment,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")] = Path("out/distortion"),
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
    phi0: Annotated[float | None, typer.Option(help="Metastable threshold φ₀ (default: the sweep's median φ).")] = None,
    domains: Annotated[str | None, typer.Option(help="Domains to analyse, comma-separated (default: all).")] = None,
    phi: Annotated[str, typer.Option(help="Which stability defines t* and Φ: weight or input.")] = "weight",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the per-domain laws.")] = 200,
    phi_form: Annotated[str, typer.Option(help="φ form: retained_gain (default) or relative (the earlier form).")] = "retained_gain",
    tstar_after: Annotated[float, typer.Option(help="t* only after val/loss fell by this share of its total drop.")] = 0.5,
) -> None:
    """Distortion-vector analysis of an experiment: HTML report + CSV/JSON/PNG (replaces its previous distortion analysis run)."""
    if phi not in PHI_KEYS:
        raise typer.BadParameter(f"--phi {phi!r} must be weight or input")
    if bootstrap < 2:
        raise typer.BadParameter(f"--bootstrap ({bootstrap}) must be ≥ 2, e.g. 200")
    from analysis.distortion.laws import LawSettings
    from analysis.distortion.report import DistortionSettings, run_distortion_analysis

    settings = DistortionSettings(phi0=phi0, domains=_domains(domains), phi_key=PHI_KEYS[phi], phi_form=phi_form,
                                  tstar_after=tstar_after, laws=LawSettings(num_resamples=bootstrap))
    with exit_on_input_error():
        report = run_distortion_analysis(tracking_uri_or_default(tracking_uri, workdir), experiment, out, settings)
    cells = report.tables["stopping_cells"]
    shown = [c for c in cells.columns if c not in STOP_COLUMNS and c != "run_id"][:4] + [c for c in STOP_COLUMNS if c in cells]
    print_table(console, "stopping rules per cell (seeds averaged)", cells[shown].round(3).to_dict(orient="records"))
    if len(report.tables["phi_by_phase"]):
        print_table(console, f"φ per phase (φ₀ = {report.phi0:.3g})",
                    report.tables["phi_by_phase"].round(4).to_dict(orient="records"))
    laws = report.tables["laws"]
    print_table(console, "per-domain laws", laws[[c for c in ("domain", "form", "variable", "E", "alpha", "beta", "note")
                                                  if c in laws]].round(4).to_dict(orient="records"))
    for note in report.notes:
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
    console.print(f"report: {report.html}")
    console.print(f"wrote {len(report.files)} files to {out}")
