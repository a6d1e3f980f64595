"""Two workdirs, one tracking server: the second driver of a sweep is refused, the first one's
live runs stay RUNNING and finish.

Before the (tracking store, sweep name) lock, the second driver started, marked the first
one's live runs KILLED (`trainers.lifecycle.mark_interrupted_runs` is keyed on store + sweep)
and trained the same trials again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from configs.runs import trial_filter
from tests.integration.processes import ROOT, mlflow_server

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]

SWEEP = {
    "name": "shared",
    "base": {
        "model": "gpt_debug",
        "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
        "optim": {"warmup_steps": 10},
        "train": {"num_steps": 2000, "batch_size": 64, "eval_every": 100, "checkpoint_every": 1000},
    },
    "resources": {"cpus_per_trial": 1, "max_failures": 0},
}


def _driver(sweep_file: Path, workdir: Path, uri: str) -> list[str]:
    return [sys.executable, "-m", "cluster.cli", "run", str(sweep_file), "--workdir", str(workdir),
            "--num-cpus", "1", "--tracking-uri", uri]


def _trial_statuses(uri: str) -> list[str]:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("shared")
    if experiment is None:
        return []
    return [r.info.status for r in client.search_runs([experiment.experiment_id], trial_filter())]


def test_a_second_workdir_on_the_same_server_is_refused_and_kills_nothing(tmp_path: Path) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    with mlflow_server(tmp_path / "store") as uri:
        log = (tmp_path / "first.log").open("w")  # a file, not a pipe: a full pipe would stall the driver
        first = subprocess.Popen(_driver(sweep_file, tmp_path / "a", uri), cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 180
            while _trial_statuses(uri) != ["RUNNING"]:  # the first driver's trial is training
                assert first.poll() is None and time.monotonic() < deadline, "the first driver never started its trial"
                time.sleep(0.5)
            second = subprocess.run(_driver(sweep_file, tmp_path / "b", uri), cwd=ROOT, capture_output=True,
                                    text=True, timeout=120)
            assert second.returncode != 0
            assert "sweep 'shared' on the store" in second.stdout + second.stderr
            # Long enough to be still training here; FINISHED would also mean untouched, KILLED is the bug.
            assert _trial_statuses(uri) in (["RUNNING"], ["FINISHED"]), "the second driver must not mark the live run KILLED"
            assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()
        finally:
            if first.poll() is None:
                first.kill()
            log.close()
        assert _trial_statuses(uri) == ["FINISHED"]
