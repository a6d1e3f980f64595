"""Run a validated sweep on Ray Tune: one trial per `TrialConfig`, logged to MLflow."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune
from rich.console import Console

from cluster.progress import ProgressCallback
from cluster.tables import make_console
from cluster.runtime import cluster_cpus, cluster_gpus, start_ray
from cluster.tracking import finished_config_hashes, prepare_experiment
from cluster.trainable import train_trial
from configs import SweepConfig, TrialConfig
from configs.runs import run_name
from trainers import TrackingTarget


class SweepLaunchError(RuntimeError):
    """The sweep cannot start as asked; the message says why and what to change."""


@dataclass(frozen=True)
class SweepResult:
    """What a sweep run leaves behind."""

    target: TrackingTarget
    num_trials: int
    num_skipped: int  # already finished in MLflow before this run
    num_failed: int
    storage_path: Path
    wall_seconds: float


def _trial_name(trial: Any) -> str:
    return run_name(TrialConfig.model_validate(trial.config["trial"]))


def build_tuner(
    trials: list[TrialConfig],
    sweep: SweepConfig,
    target: TrackingTarget,
    storage_path: Path,
    max_concurrent: int | None,
    extra_config: dict[str, Any] | None = None,
) -> tune.Tuner:
    """A Tuner whose param space is the list of trial dicts (a grid over whole trials)."""
    resources = {"cpu": sweep.resources.cpus_per_trial, "gpu": sweep.resources.gpus_per_trial}
    param_space = {
        "trial": tune.grid_search([t.model_dump(mode="json") for t in trials]),
        "tracking": {"uri": target.uri, "experiment": target.experiment},
        **(extra_config or {}),
    }
    run_config = tune.RunConfig(
        name=f"{sweep.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        storage_path=str(storage_path.resolve()),  # must be absolute (ArrowInvalid otherwise)
        failure_config=tune.FailureConfig(max_failures=sweep.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[ProgressCallback(len(trials))],
        verbose=0,
    )
    return tune.Tuner(
        tune.with_resources(train_trial, resources),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or sweep.resources.max_concurrent,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=run_config,
    )


def run_sweep(
    sweep: SweepConfig,
    workdir: Path,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    max_concurrent: int | None = None,
    num_cpus: int | None = None,
    extra_config: dict[str, Any] | None = None,
    console: Console | None = None,
) -> SweepResult:
    """Validate, expand, start Ray, skip finished trials, run the rest, return a summary."""
    console = console or make_console()
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    trials = sweep.trials()  # validated before Ray starts
    target = prepare_experiment(sweep, workdir, tracking_uri)
    done = finished_config_hashes(target, sweep.name)
    todo = [t for t in trials if t.config_hash not in done]
    console.print(
        f"sweep [bold]{sweep.name}[/bold]: {len(trials)} trials, {len(trials) - len(todo)} already "
        f"finished, MLflow {target.uri} (experiment '{target.experiment}')"
    )
    storage = (workdir / "ray_results").resolve()
    num_failed = 0
    if todo:
        start_ray(address, num_cpus)
        _check_fits(sweep)
        tuner = build_tuner(todo, sweep, target, storage, max_concurrent, extra_config)
        results = tuner.fit()
        num_failed = results.num_errors
    return SweepResult(target, len(trials), len(trials) - len(todo), num_failed, storage, time.monotonic() - started)


def _check_fits(sweep: SweepConfig) -> None:
    """Refuse a sweep whose trials could never be scheduled (Tune would wait forever)."""
    for field, wanted, available in (
        ("cpus_per_trial", sweep.resources.cpus_per_trial, cluster_cpus()),
        ("gpus_per_trial", sweep.resources.gpus_per_trial, cluster_gpus()),
    ):
        if wanted > available:
            raise SweepLaunchError(
                f"resources.{field} ({wanted:g}) exceeds the cluster's {available:g}; no trial could "
                f"ever start — lower {field} or attach to a larger cluster with --address"
            )
