"""`scalinglab phase`: the complexity-control phase diagram of an anchor-task experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.check import exit_if_strict, print_check
from cluster.cli.fit import exit_on_input_error
from cluster.cli.options import Experiment, Strict, TrackingUri, Workdir, tracking_uri_or_default
from cluster.tables import make_console, print_table

console = make_console()


def phase(
    experiment: Experiment,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")] = Path("out/phase"),
    tracking_uri: TrackingUri = None,
    workdir: Workdir = Path("runs"),
    id_min: float = 0.9,
    ood_min: float = 0.5,
    ood_value: Annotated[str, typer.Option(help="best (over training) or final.")] = "best",
    strict: Strict = False,
) -> None:
    """Complexity-control phase diagram of an anchor-task experiment (replaces its previous phase analysis run)."""
    from analysis.phase.report import phase_summary, run_phase_analysis
    from analysis.phase.table import PhaseThresholds

    if ood_value not in ("best", "final"):
        raise typer.BadParameter(f"--ood-value {ood_value!r} must be best or final")
    with exit_on_input_error():
        thresholds = PhaseThresholds(id_min, ood_min, "best" if ood_value == "best" else "final")
        report = run_phase_analysis(tracking_uri_or_default(tracking_uri, workdir), experiment, out, thresholds)
    print_check(console, report.check)
    print_table(console, "phase cells (seeds averaged)", phase_summary(report.cells).to_dict(orient="records"))
    print_table(console, "phase boundary (first phase-3 init value, from weak to strong control)",
                report.boundaries.round(3).to_dict(orient="records"))
    for path in report.files:
        console.print(f"wrote {path}")
    exit_if_strict(console, report.check, strict)
