"""A failure anywhere in a trial's life ends its MLflow run FAILED (trainers/lifecycle.py).

Before, opening the run (setup logging, the step-0 metrics) and the final FINISHED sat outside
the guard: a failure there left the run RUNNING. The store is a real sqlite MLflow; the
failure comes from a tracker that breaks at one chosen call.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from trainers import run_trial
from trainers.hooks import Hook
from trainers.tracker import MlflowTracker, RunStatus, TrackingTarget

from tests.unit.trainers.test_loop import no_figures, tiny_trial  # noqa: F401 (no_figures: a fixture)


class BreaksAt(MlflowTracker):
    """A real MLflow tracker whose `where` call raises once (the run is opened normally)."""

    def __init__(self, target: TrackingTarget, where: str) -> None:
        super().__init__(target, "breaks")
        self.where = where

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        if self.where == "start" and step == 0:
            raise RuntimeError("injected at start")
        super().log_metrics(values, step)

    def finish(self, status: RunStatus) -> None:
        if self.where == "finish" and status == "FINISHED":
            raise RuntimeError("injected at finish")
        super().finish(status)


@pytest.mark.usefixtures("no_figures")
@pytest.mark.parametrize("where", ["start", "finish"])
def test_a_failure_at_start_or_finish_ends_the_run_failed(
    target: TrackingTarget, client: MlflowClient, tmp_path: Path, where: str
) -> None:
    tracker = BreaksAt(target, where)
    trial = tiny_trial(train={"num_steps": 5, "eval_every": 5, "checkpoint_every": 5})
    with pytest.raises(RuntimeError, match=f"injected at {where}"):
        run_trial(trial, tracking=tracker, checkpoint_root=tmp_path)
    assert client.get_run(tracker.run_id).info.status == "FAILED"


@pytest.mark.usefixtures("no_figures")
def test_a_trial_run_logs_system_metrics(target: TrackingTarget, client: MlflowClient, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from trainers.tracker import SYSTEM_METRICS_ENV

    monkeypatch.setenv(SYSTEM_METRICS_ENV, "0.1")
    trial = tiny_trial(train={"num_steps": 5, "eval_every": 5, "checkpoint_every": 5})
    # Each step waits 0.2 s, so the 0.1 s monitor samples within the trial however fast it trains.
    slow = Hook(1, lambda info: time.sleep(0.2), name="slow")
    result = run_trial(trial, tracking=target, checkpoint_root=tmp_path, extra_hooks=[slow])
    wanted = {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"}
    # MLflow's monitor thread sends its samples asynchronously: under load they can land a
    # moment after the run ends, so wait for them (bounded) instead of reading once.
    deadline = time.monotonic() + 20
    while not wanted <= set(client.get_run(result.run_id).data.metrics) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wanted <= set(client.get_run(result.run_id).data.metrics)
