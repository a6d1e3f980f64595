"""A real two-node Ray cluster on loopback, an MLflow server over HTTP, and a submitted sweep."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from ray.job_submission import JobStatus, JobSubmissionClient

from configs import metrics as M
from tests.integration.processes import ROOT, RayCluster, alive, mlflow_server, processes_matching, two_node_ray_cluster
from configs.runs import trial_filter  # trial runs only: each session also has a parent run

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]
TOKEN = secrets.token_hex(32)

SWEEP = {
    "name": "two_nodes",
    "base": {
        "model": "gpt_debug",
        "data": {"task": "anchor", "num_train": 500, "num_test": 100},
        "optim": {"warmup_steps": 2},
        "train": {"num_steps": 20, "batch_size": 32, "eval_every": 10, "checkpoint_every": 10},
    },
    "grid": {"init.rate": [0.3, 0.8]},
    # One trial per node: each node has one CPU and each trial asks for one.
    "resources": {"cpus_per_trial": 1, "max_failures": 0},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    """The cluster runs with token authentication, as a shared one should (README, security);
    this process and the CLI subprocesses it starts hold the token through the environment."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", "token")
        env.setenv("RAY_AUTH_TOKEN", TOKEN)
        with two_node_ray_cluster(auth_token=TOKEN) as running:
            yield running
    leftovers = alive(processes_matching(running.gcs_address))
    assert not leftovers, f"the test cluster left {len(leftovers)} processes running"


def test_a_sqlite_store_is_refused_on_a_multi_node_cluster(cluster: RayCluster, tmp_path: Path) -> None:
    """Through the CLI in a fresh process: Ray reads RAY_AUTH_MODE once per process, and this
    one (tests/conftest.py) runs with it disabled for the embedded clusters of other tests."""
    sweep_file = tmp_path / "two_nodes.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    refused = _cli("run", str(sweep_file), "--address", cluster.gcs_address, "--workdir", str(tmp_path / "w"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert re.search(r"local sqlite file, but the Ray cluster has 2 nodes.*scalinglab server",
                     " ".join(refused.stdout.split()))
    unauthenticated = _cli("run", str(sweep_file), "--address", cluster.gcs_address, "--workdir",
                           str(tmp_path / "w2"), token=None)
    assert unauthenticated.returncode != 0
    assert "ray-security/token-auth" in unauthenticated.stdout + unauthenticated.stderr  # Ray's auth error


def test_a_submitted_sweep_runs_its_trials_on_both_nodes(cluster: RayCluster, tmp_path: Path) -> None:
    sweep_file = tmp_path / "two_nodes.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    with mlflow_server(tmp_path / "store") as tracking_uri:
        command = [sys.executable, "-m", "cluster.cli", "submit", str(sweep_file), "--address",
                   cluster.dashboard_url, "--tracking-uri", tracking_uri, "--workdir", str(tmp_path / "job")]
        submitted = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        job_id = submitted.stdout.split("submitted job ")[1].split(";")[0].strip()
        # This process's Ray read RAY_AUTH_MODE=disabled at import (tests/conftest.py): explicit header
        client = JobSubmissionClient(cluster.dashboard_url, headers={"Authorization": f"Bearer {TOKEN}"})
        status = wait_for_job(client, job_id)
        logs = client.get_job_logs(job_id)
        assert status == JobStatus.SUCCEEDED, logs
        runs = finished_runs(tracking_uri, "two_nodes")
    assert len(runs) == 2
    nodes = {run.data.tags[M.TAG_NODE_ID] for run in runs}
    assert len(nodes) == 2, f"both trials ran on node(s) {nodes}"
    assert "sweep two_nodes: 2 trials" in logs
    # `jobs`, `logs` and `stop` carry the token; without it the job server refuses them
    listed = _cli("jobs", "--address", cluster.dashboard_url)
    assert listed.returncode == 0 and job_id in listed.stdout, listed.stdout + listed.stderr
    printed = _cli("logs", job_id, "--address", cluster.dashboard_url)
    assert printed.returncode == 0 and "sweep two_nodes: 2 trials" in printed.stdout, printed.stderr
    stopped = _cli("stop", job_id, "--address", cluster.dashboard_url)
    assert stopped.returncode == 0 and "was not running" in stopped.stdout, stopped.stdout + stopped.stderr
    for command in (["jobs"], ["logs", job_id], ["stop", job_id]):
        refused = _cli(*command, "--address", cluster.dashboard_url, token=None)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "refused by the cluster" in refused.stdout and "RAY_AUTH_TOKEN" in refused.stdout, command


def _cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["RAY_AUTH_MODE"] = "token"
    if token is not None:
        env["RAY_AUTH_TOKEN"] = token
    if token is None:
        env["HOME"] = "/nonexistent"  # nor a ~/.ray/auth_token to fall back on
    return subprocess.run([sys.executable, "-m", "cluster.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def wait_for_job(client: JobSubmissionClient, job_id: str, timeout_s: float = 420.0) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get_job_status(job_id)
        if status.is_terminal():
            return status
        time.sleep(2)
    client.stop_job(job_id)
    raise AssertionError(f"job {job_id} did not finish within {timeout_s:g} s")


def finished_runs(uri: str, experiment: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return client.search_runs([found.experiment_id], trial_filter(finished=True))
