"""Loading a sweep file for a command: shared by `run` (app.py) and `submit` (jobs.py).

Its own module so that jobs.py need not import app.py, which imports jobs.py.
"""

from __future__ import annotations

import typer

from cluster.tables import make_console
from configs import ConfigError, SweepConfig, load_sweep

console = make_console()


def load_or_exit(sweep_file: str) -> SweepConfig:
    """The validated sweep, or a one-line config error and exit code 2."""
    try:
        return load_sweep(sweep_file)
    except ConfigError as err:
        console.print(f"[red]config error[/red]: {err}")
        raise typer.Exit(2) from None
