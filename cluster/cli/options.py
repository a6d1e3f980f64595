"""Command-line options shared by every command group, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperOption

from cluster.workdir import default_tracking_uri

Workdir = Annotated[Path, typer.Option(help="Holds mlflow.db, mlartifacts/ and ray_results/.")]
TrackingUri = Annotated[str | None, typer.Option("--tracking-uri", help="MLflow URI (default: sqlite in workdir).")]
Experiment = Annotated[str, typer.Option("-e", "--experiment", help="MLflow experiment to read.")]
Where = Annotated[list[str] | None, typer.Option(
    help="COLUMN=VALUE: keep only runs where it holds (repeatable; `none` = unset), e.g. train.num_steps=250.")]
Strict = Annotated[bool, typer.Option(
    "--strict", help="Exit with code 3 when the comparison check has findings (after printing and writing "
                     "everything); see docs/comparison_checks.md.")]


def tracking_uri_or_default(tracking_uri: str | None, workdir: Path) -> str:
    """The given URI, else the workdir's sqlite store; a server that does not answer exits 1 at once.

    MLflow's client retries a refused connection for minutes (250 s measured, bench/cli_latency.py);
    one health request fails in milliseconds when the port refuses, or after its short timeout.
    """
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        from cluster.preflight import TrackingUnavailable, check_tracking_uri

        try:
            check_tracking_uri(tracking_uri)
        except TrackingUnavailable as err:
            typer.echo(f"cannot read: {err}", err=True)
            raise typer.Exit(1) from None
    return tracking_uri or default_tracking_uri(workdir)


def _flags_without_type(self: TyperOption, ctx: click.Context) -> str | None:
    return None if self.is_flag else _typed(self, ctx)


# Typer 0.29 prints `<bool>` beside every flag (--help, --strict), which takes no value; the
# type column stays for options that do. Typer has no setting for it, so flags opt out here.
_typed = TyperOption.display_type_rich
TyperOption.display_type_rich = _flags_without_type  # type: ignore[method-assign]
