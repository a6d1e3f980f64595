"""The Ray Tune function trainable: re-validate the trial, resume if there is a checkpoint.

Where a trial resumes from: the checkpoint Ray hands a retry in this session, else the one
an earlier driver session left (`TrialLaunch.resume`: trial id → checkpoint folder, filled
by `cluster.sweep`), else it starts at step 0.

A diverged trial (`trainers.hooks.TrialDiverged`) returns normally after one last report
with `diverged: 1`, so Ray does not retry it: a retry would diverge again at the same step.
Its MLflow run is already FAILED and tagged diverged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray import tune

from cluster.outcomes import DIVERGED_FLAG
from cluster.launch import TrialLaunch
from configs import metrics as M
from trainers.hooks import Report, TrialDiverged
from trainers.loop import run_trial

DIVERGED = DIVERGED_FLAG
"""Key of the flag in a diverged trial's last Ray report (1.0; absent from normal reports)."""


class InjectedFailure(RuntimeError):
    """Raised once, on request, to exercise Ray's retry-and-resume path in tests."""


def failure_injector(launch: TrialLaunch) -> Any:
    """Return a check that crashes the first attempt at `testing.fail_once_at_step`, if set."""
    testing, trial_id = launch.testing, launch.trial.trial_id
    marker = Path(testing.failure_marker_dir) / trial_id if testing else None

    def check(step: int) -> None:
        if marker is not None and testing is not None and step >= testing.fail_once_at_step and not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            raise InjectedFailure(f"injected failure of trial {trial_id} at step {step}")

    return check


def ray_reporter(send: Callable[..., None], checkpoint_type: Any, after: Callable[[int], None] | None) -> Report:
    """A loop `Report` that hands metrics and checkpoints to Ray (`tune.report` or `train.report`).

    `checkpoint_type` is the matching `Checkpoint` class (Tune's and Train's differ); `after`,
    if given, is called with the step once Ray has the report (test failure injection).
    """

    def report(metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        if checkpoint_dir is None:
            send(metrics)
        else:
            send(metrics, checkpoint=checkpoint_type.from_directory(str(checkpoint_dir)))
            shutil.rmtree(checkpoint_dir, ignore_errors=True)  # Ray has persisted its copy
        if after is not None:
            after(int(metrics["step"]))

    return report


def train_trial(config: dict[str, Any]) -> None:
    """Tune entry point: `config` is a `TrialLaunch` as a dict, validated here once."""
    launch = TrialLaunch.model_validate(config)  # the dict was only transport
    report = ray_reporter(tune.report, tune.Checkpoint, failure_injector(launch))
    earlier = launch.earlier_checkpoint()
    try:
        # A retry in this session has Tune's checkpoint, newer than `earlier`.
        run_from(tune.get_checkpoint(), launch, report, Path(earlier) if earlier else None)
    except TrialDiverged as diverged:
        tune.report(diverged_metrics(diverged))


def diverged_metrics(diverged: TrialDiverged) -> dict[str, float]:
    """A diverged trial's last report: its last finite report updated with the values of the
    step it diverged at (the non-finite loss, lr, progress), and the flag."""
    return {**diverged.last_metrics, **diverged.step_metrics, "step": float(diverged.step), DIVERGED: 1.0}


def run_from(checkpoint: Any | None, launch: TrialLaunch, report: Report, earlier: Path | None = None) -> None:
    """Run the launch's trial from Ray's `checkpoint` (Tune's or Train's) if there is one, else
    from `earlier`, else from step 0; each attempt's run is tagged with the node that ran it."""
    tags = {M.TAG_NODE_ID: ray.get_runtime_context().get_node_id()}
    if checkpoint is None:
        run_trial(launch.trial, report, tracking=launch.tracking, resume_from=earlier, tags=tags, **launch.naming())
        return
    with checkpoint.as_directory() as directory:
        run_trial(launch.trial, report, tracking=launch.tracking, resume_from=Path(directory), tags=tags, **launch.naming())
