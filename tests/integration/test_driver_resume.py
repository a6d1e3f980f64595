"""A dead driver costs nothing: SIGKILL and SIGTERM of a real `scalinglab run` process.

One sweep of two trials is driven three times: killed with SIGKILL mid-training, stopped
with SIGTERM mid-training after resuming, then run to the end. The final losses must equal
those of the same trials trained without interruption, every logged step must appear once,
and nothing of a killed session may stay alive.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml
from mlflow import MlflowClient

from configs import TrialConfig, parse_sweep
from configs import metrics as M
from tests.integration.processes import ROOT, alive, driver_command
from trainers.loop import run_trial
from configs.runs import trial_filter  # trial runs only: each session also has a parent run

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]

EVAL_EVERY, CHECKPOINT_EVERY, NUM_STEPS = 20, 40, 400
SWEEP = {
    "name": "driver_kill",
    "base": {
        "model": "gpt_anchor",
        "data": {"task": "anchor", "num_train": 4000, "num_test": 200},
        "optim": {"warmup_steps": 10},
        "train": {"num_steps": NUM_STEPS, "batch_size": 128, "eval_every": EVAL_EVERY,
                  "checkpoint_every": CHECKPOINT_EVERY},
    },
    "grid": {"init.rate": [0.3, 0.8]},
    "resources": {"cpus_per_trial": 1, "max_failures": 1},
}


def start_driver(sweep_file: Path, workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(driver_command(sweep_file, workdir), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def latest_steps(uri: str) -> dict[str, int]:
    """run id → highest logged train/loss step, for every trial run of the sweep."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("driver_kill")
    if experiment is None:
        return {}
    steps = {}
    for run in client.search_runs([experiment.experiment_id], trial_filter()):
        history = client.get_metric_history(run.info.run_id, M.TRAIN_LOSS)
        steps[run.info.run_id] = max((m.step for m in history), default=0)
    return steps


def wait_until_every_trial_passes(uri: str, step: int, driver: subprocess.Popen[str], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert driver.poll() is None, f"the driver ended early:\n{driver.stdout.read() if driver.stdout else ''}"
        steps = latest_steps(uri)
        if len(steps) == 2 and min(steps.values()) >= step:
            return
        time.sleep(0.5)
    raise AssertionError(f"trials did not reach step {step} in {timeout_s:g} s: {latest_steps(uri)}")


def session_processes(driver: subprocess.Popen[str]) -> set[psutil.Process]:
    return {psutil.Process(driver.pid), *psutil.Process(driver.pid).children(recursive=True)}


@pytest.fixture(scope="module")
def interrupted_sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    workdir = tmp_path_factory.mktemp("driver_kill")
    sweep_file = workdir / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    uri = f"sqlite:///{workdir / 'mlflow.db'}"

    first = start_driver(sweep_file, workdir)
    wait_until_every_trial_passes(uri, 2 * CHECKPOINT_EVERY + EVAL_EVERY, first)
    killed_session = session_processes(first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_status = {r.info.status for r in MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("driver_kill").experiment_id], trial_filter())}

    second = start_driver(sweep_file, workdir)
    wait_until_every_trial_passes(uri, 5 * CHECKPOINT_EVERY + EVAL_EVERY, second)
    alive_after_kill = alive(killed_session, grace_s=15)  # the second driver reaped the first one's Ray
    stopped_session = session_processes(second)
    second.send_signal(signal.SIGTERM)
    second_output, _ = second.communicate(timeout=120)
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name("driver_kill").experiment_id
    status_after_term = {r.info.status for r in client.search_runs([experiment_id], trial_filter())}
    alive_after_term = alive(stopped_session, grace_s=15)  # Ray's processes exit a moment after the driver

    started = time.monotonic()
    third = subprocess.run(driver_command(sweep_file, workdir), cwd=ROOT, capture_output=True, text=True, timeout=600)
    return {"uri": uri, "experiment_id": experiment_id, "killed_status": killed_status,
            "alive_after_kill": alive_after_kill, "second_code": second.returncode,
            "second_output": second_output, "status_after_term": status_after_term,
            "alive_after_term": alive_after_term, "third": third, "third_seconds": time.monotonic() - started}


def test_the_killed_session_leaves_nothing_running(interrupted_sweep: dict[str, object]) -> None:
    assert interrupted_sweep["killed_status"] == {"RUNNING"}  # what SIGKILL leaves
    assert interrupted_sweep["alive_after_kill"] == []


def test_sigterm_stops_trials_marks_runs_killed_and_shuts_down_ray(interrupted_sweep: dict[str, object]) -> None:
    assert interrupted_sweep["status_after_term"] == {"KILLED"}, interrupted_sweep["second_output"]
    assert interrupted_sweep["alive_after_term"] == []


def test_the_rerun_resumes_from_checkpoints_and_finishes(interrupted_sweep: dict[str, object]) -> None:
    third = interrupted_sweep["third"]
    assert isinstance(third, subprocess.CompletedProcess)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "2 resume from a checkpoint" in third.stdout
    client = MlflowClient(tracking_uri=str(interrupted_sweep["uri"]))
    runs = client.search_runs([str(interrupted_sweep["experiment_id"])], trial_filter())
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        assert int(run.data.tags[M.TAG_RESUMED_FROM_STEP]) >= 5 * CHECKPOINT_EVERY - CHECKPOINT_EVERY


def test_every_step_is_logged_once(interrupted_sweep: dict[str, object]) -> None:
    client = MlflowClient(tracking_uri=str(interrupted_sweep["uri"]))
    for run in client.search_runs([str(interrupted_sweep["experiment_id"])], trial_filter()):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, M.TRAIN_LOSS)]
        assert sorted(steps) == list(range(EVAL_EVERY, NUM_STEPS + 1, EVAL_EVERY))


def test_final_losses_equal_an_uninterrupted_run(interrupted_sweep: dict[str, object]) -> None:
    client = MlflowClient(tracking_uri=str(interrupted_sweep["uri"]))
    by_hash = {r.data.tags[M.TAG_CONFIG_HASH]: r for r in client.search_runs([str(interrupted_sweep["experiment_id"])], trial_filter())}
    for trial in parse_sweep(SWEEP).trials():
        uninterrupted = run_trial(TrialConfig.model_validate(trial.model_dump()))
        logged = by_hash[trial.config_hash].data.metrics
        for key in (M.TRAIN_LOSS, M.VAL_LOSS):
            assert logged[key] == pytest.approx(uninterrupted.final[key], rel=1e-6), key
