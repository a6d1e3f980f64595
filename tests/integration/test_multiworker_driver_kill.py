"""A SIGKILLed driver costs a 2-worker trial nothing: the rerun resumes its Ray Train run folder.

Slow-marked (≈ 3 min here; `make test-all`): CI runs the one-worker driver-kill test and the
2-worker trajectory test, which together cover each half of this path.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from configs import metrics as M
from tests.integration.processes import ROOT, driver_command
from configs.runs import trial_filter  # trial runs only: each session also has a parent run

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.slow]

EVAL_EVERY, CHECKPOINT_EVERY, NUM_STEPS = 20, 100, 400
SWEEP = {
    "name": "mw_driver_kill",
    "base": {
        "model": "gpt_debug",
        "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
        "optim": {"warmup_steps": 5},
        "train": {"num_steps": NUM_STEPS, "batch_size": 64, "micro_batch_size": 32, "eval_every": EVAL_EVERY,
                  "checkpoint_every": CHECKPOINT_EVERY, "zero_stage": 2},
        "eval": {"phi_weight_every": 0, "phi_input_every": 0, "ratedist_bits": [], "calibration_at_last_step": False},
    },
    "resources": {"workers_per_trial": 2, "cpus_per_worker": 1, "max_failures": 1},
}


def _latest_step(client: MlflowClient) -> int:
    experiment = client.get_experiment_by_name(SWEEP["name"])
    runs = client.search_runs([experiment.experiment_id], trial_filter()) if experiment else []
    return max((m.step for r in runs for m in client.get_metric_history(r.info.run_id, M.TRAIN_LOSS)), default=0)


def test_a_rerun_after_a_killed_driver_resumes_the_two_worker_trial(tmp_path: Path) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = subprocess.Popen(driver_command(sweep_file, tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _latest_step(client) < 2 * CHECKPOINT_EVERY + EVAL_EVERY:  # past the step-200 checkpoint
        assert first.poll() is None and time.monotonic() < deadline, "the first driver ended or stalled"
        time.sleep(1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    rerun = subprocess.run(driver_command(sweep_file, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "1 resume from a checkpoint" in rerun.stdout
    (run,) = client.search_runs([client.get_experiment_by_name(SWEEP["name"]).experiment_id], trial_filter())
    assert run.info.status == "FINISHED"
    assert int(run.data.tags[M.TAG_RESUMED_FROM_STEP]) >= 2 * CHECKPOINT_EVERY
    steps = [m.step for m in client.get_metric_history(run.info.run_id, M.TRAIN_LOSS)]
    assert sorted(steps) == list(range(EVAL_EVERY, NUM_STEPS + 1, EVAL_EVERY)), "every step exactly once"
