"""Sweeps as Ray Jobs: submitted to a cluster's job server, they outlive the submitting terminal.

The job runs `scalinglab run` on the cluster's head node with the project as its
`working_dir` (only the four packages, `pyproject.toml` and the sweep file are uploaded).
Ray runs the entrypoint under the head's shell PATH, where a bare `python` may be the system
interpreter without Ray (docs/architecture.md "Stack facts"), so the entrypoint names an interpreter explicitly:
by default this one, which is right when the head shares this machine's or image's layout.

A shared cluster should run Ray's token authentication (`RAY_AUTH_MODE=token` on every
`ray start`): the job client here then sends the token Ray finds in `RAY_AUTH_TOKEN`,
`RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token` with every request (`submit`, `jobs`, `status`,
`logs`, `stop`), and a request without it is refused with "Authentication required". Only the
embedded local Ray of `scalinglab run` runs without it (`cluster/runtime.py`).
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ray.job_submission import JobSubmissionClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("configs", "trainers", "cluster", "analysis")
SUBMITTED_SWEEP = "submitted_sweep.yaml"


def job_client(address: str) -> JobSubmissionClient:
    """A client of the job server at `address` (``http://HEAD:8265``)."""
    return JobSubmissionClient(address)


def submit_sweep(
    address: str, sweep_file: Path, workdir: Path, tracking_uri: str | None = None,
    python: str = sys.executable, ray_address: str = "auto",
) -> str:
    """Submit `scalinglab run` of `sweep_file` as a Ray Job; returns the job id.

    Args:
        address: the job server (dashboard) URL of the cluster.
        sweep_file: the validated sweep YAML (uploaded with the code).
        workdir: absolute folder on the head for ray_results/ (and sqlite, if no server).
        tracking_uri: MLflow server every node can reach; None = sqlite in `workdir`
            (refused by the driver when the cluster has several nodes).
        python: interpreter on the head that has scalinglab's dependencies.
        ray_address: how the job's driver attaches to the cluster (``auto`` on the head).
    """
    command = [python, "-m", "cluster.cli", "run", SUBMITTED_SWEEP, "--address", ray_address,
               "--workdir", str(workdir)]
    if tracking_uri:
        command += ["--tracking-uri", tracking_uri]
    with _staged_project(sweep_file) as working_dir:
        return str(job_client(address).submit_job(
            entrypoint=shlex.join(command),
            runtime_env={"working_dir": str(working_dir)},
            metadata={"scalinglab.sweep_file": str(sweep_file)},
        ))


@contextmanager
def _staged_project(sweep_file: Path) -> Iterator[Path]:
    """A temporary copy of the code and the sweep: what the job's working_dir uploads."""
    with tempfile.TemporaryDirectory(prefix="scalinglab-job-") as tmp:
        staged = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in PACKAGES:
            shutil.copytree(PROJECT_ROOT / package, staged / package, ignore=ignore)
        shutil.copy2(PROJECT_ROOT / "pyproject.toml", staged / "pyproject.toml")
        shutil.copy2(sweep_file, staged / SUBMITTED_SWEEP)
        yield staged


def job_rows(address: str) -> list[dict[str, Any]]:
    """One row per job on the cluster: id, status, entrypoint, start and end times."""
    rows = []
    for job in job_client(address).list_jobs():
        rows.append({"job": job.submission_id or job.job_id, "status": str(job.status.value),
                     "sweep": (job.metadata or {}).get("scalinglab.sweep_file", ""),
                     "start": _time(job.start_time), "end": _time(job.end_time)})
    return rows


def _time(milliseconds: int | None) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(milliseconds / 1000).strftime("%Y-%m-%d %H:%M:%S") if milliseconds else ""


async def follow_logs(address: str, job_id: str) -> None:
    """Print a job's log as it grows, until the job ends."""
    async for lines in job_client(address).tail_job_logs(job_id):
        print(lines, end="", flush=True)
