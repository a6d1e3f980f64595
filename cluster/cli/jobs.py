"""`scalinglab submit | jobs | status | logs | stop`: sweeps as Ray Jobs on a cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.options import TrackingUri
from cluster.cli.sweepfile import load_or_exit
from cluster.tables import make_console, print_table

console = make_console()
Address = Annotated[str, typer.Option("--address", help="The cluster's job server, e.g. http://HEAD:8265.")]
JobId = Annotated[str, typer.Argument(help="Job id, as `scalinglab submit` or `scalinglab jobs` print it.")]


def submit(
    sweep_file: str,
    address: Address,
    tracking_uri: TrackingUri = None,
    workdir: Annotated[Path, typer.Option(help=(
        "Folder on the head for ray_results/; a relative one is made absolute against this shell's directory, "
        "so pass the head's own path when that differs."))] = Path("runs"),
    python: Annotated[str | None, typer.Option(help="Interpreter on the head (default: this one).")] = None,
) -> None:
    """Submit a sweep to a Ray cluster as a job: it keeps running when this terminal goes away."""
    import sys

    from cluster.jobs import submit_sweep
    from configs.load import resolve_sweep_path

    load_or_exit(sweep_file)  # a bad sweep fails here, before anything is uploaded
    job_id = submit_sweep(address, resolve_sweep_path(sweep_file), workdir.resolve(), tracking_uri,
                          python or sys.executable)
    console.print(f"submitted job [bold]{job_id}[/bold]; follow it with: scalinglab logs {job_id} "
                  f"--address {address} --follow")


def jobs(address: Address) -> None:
    """List the cluster's jobs."""
    from cluster.jobs import job_rows

    print_table(console, f"jobs at {address}", job_rows(address))


def status(job_id: JobId, address: Address) -> None:
    """Print a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from cluster.jobs import job_client

    console.print(str(job_client(address).get_job_status(job_id).value))


def logs(job_id: JobId, address: Address,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False) -> None:
    """Print a job's log (the sweep's progress lines and results table)."""
    from cluster.jobs import follow_logs, job_client

    if follow:
        asyncio.run(follow_logs(address, job_id))
    else:
        print(job_client(address).get_job_logs(job_id), end="")


def stop(job_id: JobId, address: Address) -> None:
    """Stop a job: its driver gets SIGTERM, stops its trials and marks their runs KILLED."""
    from cluster.jobs import job_client

    stopped = job_client(address).stop_job(job_id)
    console.print(f"job {job_id}: {'stop requested' if stopped else 'was not running'}")
