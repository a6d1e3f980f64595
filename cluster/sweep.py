"""Run a validated sweep on Ray Tune: one trial per `TrialConfig`, logged to MLflow.

A sweep survives its driver. Its identity is its name (`cluster/session.py`): running the
same command again skips finished trials, marks runs a dead driver left RUNNING as KILLED,
stops what that driver's Ray left behind, and resumes every unfinished trial from its newest
checkpoint into its existing MLflow run. SIGINT and SIGTERM stop the trials, mark their runs
KILLED and shut down the Ray this driver started.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from rich.console import Console

from cluster.outcomes import FAILED, TrialOutcome, outcomes_of, summary_lines
from cluster.preflight import SweepLaunchError, check_store_fits_cluster, check_tracking_uri
from cluster.progress import ProgressCallback
from cluster.runtime import RayConnection, cluster_cpus, cluster_gpus, num_alive_nodes, start_ray
from cluster.session import DriverSession, driver_session, latest_checkpoint, record_processes
from cluster.tables import make_console
from cluster.tracking import mark_interrupted_runs, prepare_experiment, resolve_uri, trials_to_run
from cluster.multiworker import train_checkpoint_exists, tune_trainable, workers_config
from configs import SweepConfig, TrialConfig
from configs.sweep import ResourcesConfig
from configs.runs import run_name
from trainers import TrackingTarget
from trainers.data.text_cache import prepare_sweep_text_data

__all__ = ["SweepLaunchError", "SweepResult", "run_sweep"]


@dataclass(frozen=True)
class SweepResult:
    """What a sweep run leaves behind."""

    target: TrackingTarget
    num_trials: int
    num_skipped: int  # already finished in MLflow before this run
    num_failed: int  # trials that ended with an error (diverged or killed ones are not counted)
    num_resumed: int  # unfinished trials continued from a checkpoint of an earlier session
    storage_path: Path  # the sweep's folder: <workdir>/ray_results/<sweep>
    wall_seconds: float
    outcomes: tuple[TrialOutcome, ...] = ()  # how each trial this session ran ended

    def summary(self) -> list[str]:
        """Finished / diverged / failed / killed counts, then each non-finished trial and why."""
        return summary_lines(list(self.outcomes))


def _trial_name(trial: Any) -> str:
    return run_name(TrialConfig.model_validate(trial.config["trial"]))


def build_tuner(
    trials: list[TrialConfig],
    sweep: SweepConfig,
    target: TrackingTarget,
    session: DriverSession,
    max_concurrent: int | None,
    extra_config: dict[str, Any] | None = None,
    resume: dict[str, str] | None = None,
) -> tune.Tuner:
    """A Tuner whose param space is the list of trial dicts (a grid over whole trials).

    `resume` maps trial id → checkpoint folder of an earlier session to start from.
    """
    res = sweep.resources
    param_space = {
        "trial": tune.grid_search([t.model_dump(mode="json") for t in trials]),
        "tracking": {"uri": target.uri, "experiment": target.experiment},
        "resume": resume or {},
        **(extra_config or {}),
    }
    if res.workers_per_trial > 1:
        param_space["workers"] = workers_config(session.sweep_dir, res.workers_per_trial, res.cpus_per_worker,
                                                res.gpus_per_worker, res.max_failures)
    run_config = tune.RunConfig(
        name=session.name,
        storage_path=str(session.sweep_dir),  # absolute (a relative path raises ArrowInvalid)
        failure_config=tune.FailureConfig(max_failures=sweep.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[ProgressCallback(len(trials), sweep_dir=session.sweep_dir)],
        verbose=0,
    )
    return tune.Tuner(
        tune_trainable(res.workers_per_trial, res.cpus_per_trial, res.gpus_per_trial),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or res.max_concurrent or _worker_trials_that_fit(res),
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
            # A fresh actor per trial re-imports torch, DeepSpeed and MLflow and re-initializes
            # DeepSpeed's process group: seconds per trial that small ladders pay many times.
            reuse_actors=True,
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
    """Validate, check the store, skip finished trials, resume or run the rest, summarize.

    Raises:
        SweepLaunchError: the store is unreachable or unfit for the cluster, another driver
            holds the sweep, or no trial could ever be scheduled. Nothing was launched.
        ConfigError: a text corpus turned out unusable when it was built (e.g. empty after
            filtering, or shorter than one held-out sequence). Nothing was launched.
    """
    console = console or make_console()
    started = time.monotonic()
    trials = sweep.trials()  # validated before anything else
    uri = resolve_uri(sweep, workdir, tracking_uri)
    check_tracking_uri(uri)
    workdir.mkdir(parents=True, exist_ok=True)
    with driver_session((workdir / "ray_results" / sweep.name).resolve()) as session, \
            _DriverRay(address, num_cpus) as driver_ray:
        with ThreadPoolExecutor(max_workers=1) as pool:
            planned = pool.submit(_plan, sweep, trials, workdir, uri, session)
            if session.first:
                # A first session nearly always has trials to run, so Ray (≈ 7 s to start on
                # 2 cores) starts while the store is set up (≈ 5 s for a fresh sqlite file).
                # A rerun waits for the plan: it may have nothing left to run.
                driver_ray.connect()
            plan = planned.result()
        # Tokenized once, before any trial; here, not in the thread, so Ctrl-C stops it at once.
        for info in prepare_sweep_text_data(t.data for t in plan.todo):
            console.print(f"text data {'built' if info.built else 'cached'}: {info.path}")
        console.print(
            f"sweep [bold]{sweep.name}[/bold]: {len(trials)} trials, {len(trials) - len(plan.todo)} already "
            f"finished, {plan.num_resumed} resume from a checkpoint; MLflow {plan.target.uri} "
            f"(experiment '{plan.target.experiment}')"
        )
        outcomes = _run_trials(plan, sweep, session, driver_ray.connect(), max_concurrent,
                               extra_config) if plan.todo else []
    num_failed = sum(o.outcome == FAILED for o in outcomes)
    return SweepResult(plan.target, len(trials), len(trials) - len(plan.todo), num_failed, plan.num_resumed,
                       session.sweep_dir, time.monotonic() - started, tuple(outcomes))


@dataclass(frozen=True)
class _Plan:
    """What this driver session runs, decided from MLflow and the sweep folder before launch."""

    target: TrackingTarget
    todo: list[TrialConfig]  # not finished (nor diverged) in MLflow, under either identity version
    resume: dict[str, str]  # trial id → checkpoint folder of an earlier session
    num_resumed: int  # trials that continue from a checkpoint (Tune's or Ray Train's)


def _plan(sweep: SweepConfig, trials: list[TrialConfig], workdir: Path, uri: str, session: DriverSession) -> _Plan:
    """Set up the store, settle what a dead driver left, find what to run and where it resumes."""
    target = prepare_experiment(sweep, workdir, uri)
    mark_interrupted_runs(target, sweep.name)
    todo = trials_to_run(target, sweep.name, trials)
    resume = _resume_points(session, todo)
    num_resumed = len(resume) + sum(train_checkpoint_exists(session.sweep_dir, run_name(t)) for t in todo)
    return _Plan(target, todo, resume, num_resumed)


class _DriverRay:
    """The Ray connection of one driver: made at most once, undone on exit (even on an error)."""

    def __init__(self, address: str | None, num_cpus: int | None) -> None:
        self._address, self._num_cpus = address, num_cpus
        self._connection: RayConnection | None = None

    def connect(self) -> RayConnection:
        if self._connection is None:
            self._connection = start_ray(self._address, self._num_cpus)
        return self._connection

    def __enter__(self) -> _DriverRay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._connection is not None and self._connection.connected:
            ray.shutdown()  # stops an embedded Ray; detaches from a cluster it attached to


def _resume_points(session: DriverSession, todo: list[TrialConfig]) -> dict[str, str]:
    points = {t.trial_id: latest_checkpoint(session.sweep_dir, run_name(t)) for t in todo}
    return {trial_id: str(found[0]) for trial_id, found in points.items() if found is not None}


def _run_trials(plan: _Plan, sweep: SweepConfig, session: DriverSession, connection: RayConnection,
                max_concurrent: int | None, extra_config: dict[str, Any] | None) -> list[TrialOutcome]:
    try:
        check_store_fits_cluster(plan.target.uri, num_alive_nodes())
        _check_fits(sweep)
        if connection.started:
            record_processes(session.sweep_dir)  # for the next driver, should this one be killed
        tuner = build_tuner(plan.todo, sweep, plan.target, session, max_concurrent, extra_config, plan.resume)
        with _sigterm_as_interrupt():
            return outcomes_of(tuner.fit())
    finally:
        mark_interrupted_runs(plan.target, sweep.name)  # trials a signal stopped mid-run; Ray is still up


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, which Tune answers by stopping its trials cleanly."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _worker_trials_that_fit(res: ResourcesConfig) -> int | None:
    """How many multi-worker trials the cluster holds at once (None: one-worker trials, Tune decides).

    A coordinator reserves nothing, so without this cap Tune would start every trial's
    coordinator at once, each waiting for workers.
    """
    if res.workers_per_trial == 1:
        return None
    cpus, gpus = cluster_cpus(), cluster_gpus()
    fits = int(cpus // (res.workers_per_trial * res.cpus_per_worker))
    if res.gpus_per_worker:
        fits = min(fits, int(gpus // (res.workers_per_trial * res.gpus_per_worker)))
    return max(fits, 1)


def _check_fits(sweep: SweepConfig) -> None:
    """Refuse a sweep whose trials could never be scheduled (Tune would wait forever)."""
    res = sweep.resources
    if res.workers_per_trial == 1:
        wanted = {"cpus_per_trial": res.cpus_per_trial, "gpus_per_trial": res.gpus_per_trial}
    else:
        wanted = {"cpus_per_worker": res.cpus_per_worker * res.workers_per_trial,
                  "gpus_per_worker": res.gpus_per_worker * res.workers_per_trial}
    for (field, amount), available in zip(wanted.items(), (cluster_cpus(), cluster_gpus())):
        if amount > available:
            times = f" × workers_per_trial {res.workers_per_trial}" if res.workers_per_trial > 1 else ""
            raise SweepLaunchError(
                f"resources.{field}{times} ({amount:g}) exceeds the cluster's {available:g}; no trial could "
                f"ever start — lower {field} or attach to a larger cluster with --address"
            )
