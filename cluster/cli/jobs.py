"""`scalinglab submit | jobs | status | logs | stop`: sweeps as Ray Jobs on a cluster."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cluster.cli.options import TrackingUri
from cluster.cli.sweepfile import load_or_exit
from cluster.tables import make_console, print_table

console = make_console()
Address = Annotated[str, typer.Option("--address", help="The cluster's job server, e.g. http://HEAD:8265.")]
JobId = Annotated[str, typer.Argument(help="Job id, as `scalinglab submit` or `scalinglab jobs` print it.")]


def authenticated(command: Callable[..., None]) -> Callable[..., None]:
    """A job command whose refusal by a token-authenticated cluster is one line and exit code 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from ray.exceptions import AuthenticationError

        try:
            command(*args, **kwargs)
        except AuthenticationError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            console.print(f"[red]refused by the cluster[/red]: {first} — it runs token authentication; export "
                          f"RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) with its token", highlight=False)
            raise typer.Exit(2) from None

    return run


@authenticated
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


@authenticated
def jobs(address: Address) -> None:
    """List the cluster's jobs."""
    from cluster.jobs import job_rows

    print_table(console, f"jobs at {address}", job_rows(address))


@authenticated
def status(job_id: JobId, address: Address) -> None:
    """Print a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from cluster.jobs import job_client

    console.print(str(job_client(address).get_job_status(job_id).value))


@authenticated
def logs(job_id: JobId, address: Address,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False) -> None:
    """Print a job's log (the sweep's progress lines and results table)."""
    from cluster.jobs import follow_logs, job_client

    if follow:
        asyncio.run(follow_logs(address, job_id))
    else:
        print(job_client(address).get_job_logs(job_id), end="")


@authenticated
def stop(job_id: JobId, address: Address) -> None:
    """Stop a job: its driver gets SIGTERM, stops its trials and marks their runs KILLED."""
    from cluster.jobs import job_client

    stopped = job_client(address).stop_job(job_id)
    console.print(f"job {job_id}: {'stop requested' if stopped else 'was not running'}")
