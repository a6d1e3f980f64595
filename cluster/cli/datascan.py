"""The text-data scan that `validate` prints and `run` checks before Ray or MLflow start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from configs import ConfigError, SweepConfig

if TYPE_CHECKING:
    from trainers.data.scan import DomainScan


def scan_sweep(sweep: SweepConfig) -> list[tuple[str, list[DomainScan]]]:
    """Each distinct text data config of the sweep (a grid may vary it), labelled, with its scan."""
    from trainers.data.scan import scan_data  # reads files: only for sweeps that have text domains

    distinct = {t.data.model_dump_json(): t.data for t in sweep.trials() if t.data.task == "text"}
    labelled = []
    for i, data in enumerate(distinct.values()):
        label = "data" if len(distinct) == 1 else f"data variant {i + 1} of {len(distinct)}"
        labelled.append((f"{label}: seq_len {data.seq_len}, num_test_tokens {data.num_test_tokens}", scan_data(data)))
    return labelled


def check_data_or_exit(console: Console, sweep: SweepConfig, show: bool) -> None:
    """Scan the sweep's text domains (printing the table if `show`); exit 2 on a domain too small."""
    from cluster.tables import print_table
    from trainers.data.scan import refuse_problems

    scans = scan_sweep(sweep)
    for title, domain_scans in scans:
        if show:
            print_table(console, title, [s.row() for s in domain_scans])
        for warning in (w for s in domain_scans for w in s.warnings):
            console.print(f"[yellow]warning[/yellow]: {warning}", highlight=False)
    try:
        for _, domain_scans in scans:
            refuse_problems(domain_scans)
    except ConfigError as err:
        console.print(f"[red]data error[/red]: {err}", highlight=False)
        raise typer.Exit(2) from None
