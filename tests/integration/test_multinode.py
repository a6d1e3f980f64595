"""A real two-node Ray cluster on loopback, an MLflow server over HTTP, and a submitted sweep."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from ray.job_submission import JobStatus, JobSubmissionClient

from cluster.sweep import SweepLaunchError, run_sweep
from configs import metrics as M
from configs import parse_sweep
from tests.integration.processes import ROOT, RayCluster, alive, mlflow_server, processes_matching, two_node_ray_cluster
from configs.runs import trial_filter  # trial runs only: each session also has a parent run

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]

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
    with two_node_ray_cluster() as running:
        yield running
    leftovers = alive(processes_matching(running.gcs_address))
    assert not leftovers, f"the test cluster left {len(leftovers)} processes running"


def test_a_sqlite_store_is_refused_on_a_multi_node_cluster(cluster: RayCluster, tmp_path: Path) -> None:
    with pytest.raises(SweepLaunchError, match=r"local sqlite file, but the Ray cluster has 2 nodes.*scalinglab server"):
        run_sweep(parse_sweep(SWEEP), tmp_path, address=cluster.gcs_address)


def test_a_submitted_sweep_runs_its_trials_on_both_nodes(cluster: RayCluster, tmp_path: Path) -> None:
    sweep_file = tmp_path / "two_nodes.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    with mlflow_server(tmp_path / "store") as tracking_uri:
        command = [sys.executable, "-m", "cluster.cli", "submit", str(sweep_file), "--address",
                   cluster.dashboard_url, "--tracking-uri", tracking_uri, "--workdir", str(tmp_path / "job")]
        submitted = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        job_id = submitted.stdout.split("submitted job ")[1].split(";")[0].strip()
        status = wait_for_job(JobSubmissionClient(cluster.dashboard_url), job_id)
        logs = JobSubmissionClient(cluster.dashboard_url).get_job_logs(job_id)
        assert status == JobStatus.SUCCEEDED, logs
        runs = finished_runs(tracking_uri, "two_nodes")
    assert len(runs) == 2
    nodes = {run.data.tags[M.TAG_NODE_ID] for run in runs}
    assert len(nodes) == 2, f"both trials ran on node(s) {nodes}"
    assert "sweep two_nodes: 2 trials" in logs


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
