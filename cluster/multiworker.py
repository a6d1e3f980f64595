"""Multi-worker trials: a Ray Train `TorchTrainer` launched from inside the Tune trial.

With `resources.workers_per_trial` = W > 1, the Tune trial function (`train_trial_workers`)
only coordinates: it starts a TorchTrainer with W workers (the Ray Train V2 pattern), each of
which runs the ordinary `trainers.loop.run_trial` in one gloo/NCCL process group, so DeepSpeed
data parallelism — and ZeRO-1/2/3 sharding — is real. `TuneReportCallback` forwards rank 0's
reports to Tune, so the sweep's progress and results read as for one worker.

Checkpoints: every worker saves its own DeepSpeed files (ZeRO shards included) into a local
folder and reports it; Ray Train merges the workers' folders into one checkpoint in the
trial's Train run folder `<sweep>/train/<run name>`. That folder is stable across driver
sessions and Tune retries, and Ray Train V2 resumes a run folder of the same name from its
latest checkpoint — so a retried trial, or the rerun after a dead driver, continues from the
newest checkpoint (`ray.train.get_checkpoint()` in every worker) with nothing added here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ray import train, tune

from cluster.launch import TrialLaunch, WorkersLaunch
from configs.runs import run_name
from trainers.hooks import TrialDiverged

TRAIN_FOLDER = "train"
"""Sub-folder of the sweep's storage holding one Ray Train run folder per multi-worker trial."""

# Ray Train blocks each report for up to its health-check interval (2 s by default, stack
# notes); a trial reports every evaluation, so on small models that would dominate.
HEALTH_CHECK_S = "0.2"


def worker_loop(config: dict[str, Any]) -> None:
    """One data-parallel worker: the same loop as a one-worker trial, reporting through Ray Train."""
    from cluster.trainable import diverged_metrics, failure_injector, ray_reporter, run_from

    launch = TrialLaunch.model_validate(config)  # this worker is its own process: validated once here
    # One worker crashing takes the whole group down; rank 0 alone owns the test marker.
    maybe_fail = failure_injector(launch) if train.get_context().get_world_rank() == 0 else None
    report = ray_reporter(train.report, train.Checkpoint, maybe_fail)

    try:
        run_from(train.get_checkpoint(), launch, report)
    except TrialDiverged as diverged:  # every worker sees the same mean loss, so all end here
        train.report(diverged_metrics(diverged))


def train_trial_workers(config: dict[str, Any]) -> None:
    """Tune entry point of a multi-worker trial: run its TorchTrainer to the end.

    `config` is a `TrialLaunch` dict whose `workers` is set; the workers get it without `workers`.
    """
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", HEALTH_CHECK_S)
    launch = TrialLaunch.model_validate(config)
    workers = launch.workers
    if workers is None:
        raise ValueError("train_trial_workers needs a TrialLaunch with `workers` set (resources.workers_per_trial > 1)")
    resources = {"CPU": workers.cpus_per_worker}
    if workers.gpus_per_worker:
        resources["GPU"] = workers.gpus_per_worker
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config=launch.model_copy(update={"workers": None}).model_dump(mode="json"),
        scaling_config=train.ScalingConfig(
            num_workers=workers.num_workers, use_gpu=bool(workers.gpus_per_worker), resources_per_worker=resources,
        ),
        run_config=train.RunConfig(
            name=run_name(launch.trial),  # stable: a rerun resumes this folder's latest checkpoint
            storage_path=workers.storage,
            failure_config=train.FailureConfig(max_failures=workers.max_failures),
            checkpoint_config=train.CheckpointConfig(num_to_keep=2),
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]  # a V2 UserCallback; the annotation is V1's
        ),
    )
    trainer.fit()


def workers_config(sweep_dir: Path, num_workers: int, cpus: float, gpus: float, max_failures: int) -> WorkersLaunch:
    """The `workers` entry of a multi-worker trial's `TrialLaunch`."""
    return WorkersLaunch(num_workers=num_workers, cpus_per_worker=cpus, gpus_per_worker=gpus,
                         storage=str(sweep_dir / TRAIN_FOLDER), max_failures=max_failures)


def tune_trainable(workers_per_trial: int, cpus_per_trial: float, gpus_per_trial: float) -> Any:
    """The Tune trainable with its resources: one worker in the trial itself, or a coordinator.

    A coordinator reserves no CPU: its W workers hold the trial's resources, and even a
    fraction of a CPU for it would keep a 2-CPU machine from ever fitting 2 one-CPU workers.
    Ray refuses an empty request, so it asks for 1 MiB of memory instead.
    """
    from cluster.trainable import train_trial

    if workers_per_trial == 1:
        return tune.with_resources(train_trial, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    return tune.with_resources(train_trial_workers, {"cpu": 0, "memory": 2**20})
