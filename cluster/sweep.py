"""Run a validated sweep on Ray Tune: one trial per `TrialConfig`, logged to MLflow.

A sweep survives its driver. Its identity is its name (`cluster/session.py`): running the
same command again skips finished trials, marks runs a dead driver left RUNNING as KILLED,
stops what that driver's Ray left behind, and resumes every unfinished trial from its newest
checkpoint into its existing MLflow run. SIGINT and SIGTERM stop the trials, mark their runs
KILLED and shut down the Ray this driver started.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.logger import JsonLoggerCallback
from rich.console import Console

from cluster.launch import LaunchTesting, TrialLaunch
from cluster.outcomes import FAILED, TrialOutcome, outcomes_of, summary_lines
from cluster.preflight import SweepLaunchError, check_store_fits_cluster, check_tracking_uri
from cluster.progress import ProgressCallback
from cluster.runtime import RayConnection, cluster_cpus, cluster_gpus, num_alive_nodes, start_ray
from cluster.checkpoints import latest_checkpoint
from cluster.store_template import seed_sqlite_store
from cluster.session import DriverSession, driver_session, record_processes
from cluster.tables import make_console
from cluster.tracking import prepare_experiment, resolve_uri, trials_to_run
from cluster.multiworker import tune_trainable, workers_config
from configs import SweepConfig, TrialConfig
from trainers.lifecycle import end_session_run, mark_interrupted_runs, open_session_run
from configs.sweep import ResourcesConfig
from configs.runs import readable_run_names, run_name
from trainers import TrackingTarget
from trainers.tracker import RunStatus
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


def _launch_space(trials: list[TrialConfig], sweep: SweepConfig, target: TrackingTarget, session: DriverSession,
                  resume: dict[str, str] | None, testing: LaunchTesting | None,
                  run_names: dict[str, str] | None = None, parent_run_id: str | None = None) -> dict[str, Any]:
    """The Tune param space: one `TrialLaunch` dict with a grid over whole trials."""
    res = sweep.resources
    workers = (workers_config(session.sweep_dir, res.workers_per_trial, res.cpus_per_worker, res.gpus_per_worker,
                              res.max_failures) if res.workers_per_trial > 1 else None)
    launch = TrialLaunch(trial=trials[0], tracking=target, resume=resume or {}, workers=workers, testing=testing,
                         run_names=run_names or {}, parent_run_id=parent_run_id)
    return {**launch.model_dump(mode="json"), "trial": tune.grid_search([t.model_dump(mode="json") for t in trials])}


def _name_creator(trials: list[TrialConfig]) -> Callable[[Any], str]:
    """Tune trial (and folder) name = the trial's run name, looked up, not re-validated."""
    names = {_key(t.model_dump(mode="json")): run_name(t) for t in trials}

    def name(trial: Any) -> str:
        return names[_key(trial.config["trial"])]

    return name


def _key(trial: dict[str, Any]) -> str:
    return json.dumps(trial, sort_keys=True)


def build_tuner(
    trials: list[TrialConfig],
    sweep: SweepConfig,
    target: TrackingTarget,
    session: DriverSession,
    max_concurrent: int | None,
    testing: LaunchTesting | None = None,
    resume: dict[str, str] | None = None,
    run_names: dict[str, str] | None = None,
    parent_run_id: str | None = None,
) -> tune.Tuner:
    """A Tuner whose param space is a `TrialLaunch` with a grid over the trial dicts.

    `resume` maps trial id → checkpoint folder of an earlier session to start from;
    `run_names` trial id → readable MLflow run name; `parent_run_id` the session's run.
    """
    res = sweep.resources
    run_config = tune.RunConfig(
        name=session.name,
        storage_path=str(session.sweep_dir),  # absolute (a relative path raises ArrowInvalid)
        failure_config=tune.FailureConfig(max_failures=sweep.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        # result.json only (Tune's result grid reads it); start_ray turns off its other auto loggers (TensorBoard)
        callbacks=[ProgressCallback(len(trials), sweep_dir=session.sweep_dir), JsonLoggerCallback()],
        verbose=0,
    )
    name = _name_creator(trials)
    return tune.Tuner(
        tune_trainable(res.workers_per_trial, res.cpus_per_trial, res.gpus_per_trial),
        param_space=_launch_space(trials, sweep, target, session, resume, testing, run_names, parent_run_id),
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or res.max_concurrent or _worker_trials_that_fit(res),
            trial_name_creator=name,
            trial_dirname_creator=name,
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
    testing: LaunchTesting | None = None,
    console: Console | None = None,
) -> SweepResult:
    """Validate, check the store, skip finished trials, resume or run the rest, summarize.

    `testing` is test-only failure injection (`cluster.launch.LaunchTesting`).

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
    with driver_session((workdir / "ray_results" / sweep.name).resolve(), uri, sweep.name) as session, \
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
                               testing) if plan.todo else []
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
    run_names: dict[str, str]  # trial id → readable MLflow run name, over the whole sweep


def _plan(sweep: SweepConfig, trials: list[TrialConfig], workdir: Path, uri: str, session: DriverSession) -> _Plan:
    """Set up the store, settle what a dead driver left, find what to run and where it resumes."""
    seed_sqlite_store(uri)  # a new workdir's store: a copy of the migrated template, not 3 s of migrations
    target = prepare_experiment(sweep, workdir, uri)
    mark_interrupted_runs(target, sweep.name)
    todo = trials_to_run(target, sweep.name, trials)
    points = {t.trial_id: latest_checkpoint(session.sweep_dir, t, sweep.resources.workers_per_trial) for t in todo}
    resume = {trial_id: str(p.path) for trial_id, p in points.items() if p is not None and p.handed_over}
    return _Plan(target, todo, resume, sum(p is not None for p in points.values()), readable_run_names(trials))


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


def _run_trials(plan: _Plan, sweep: SweepConfig, session: DriverSession, connection: RayConnection,
                max_concurrent: int | None, testing: LaunchTesting | None) -> list[TrialOutcome]:
    parent = open_session_run(plan.target, sweep.name, session.name)  # the trials nest under it
    status: RunStatus = "KILLED"
    try:
        check_store_fits_cluster(plan.target.uri, num_alive_nodes())
        _check_fits(sweep)
        if connection.started:
            record_processes(session.sweep_dir)  # for the next driver, should this one be killed
        tuner = build_tuner(plan.todo, sweep, plan.target, session, max_concurrent, testing, plan.resume,
                            run_names=plan.run_names, parent_run_id=parent)
        with _sigterm_as_interrupt():
            outcomes = _readable(outcomes_of(tuner.fit()), plan)
        status = "FINISHED"
        return outcomes
    except Exception:
        status = "FAILED"
        raise
    finally:
        end_session_run(plan.target, parent, status)
        mark_interrupted_runs(plan.target, sweep.name)  # trials a signal stopped mid-run; Ray is still up


def _readable(outcomes: list[TrialOutcome], plan: _Plan) -> list[TrialOutcome]:
    """Outcomes named by the trials' readable run names instead of their Tune folder names."""
    names = {run_name(t): plan.run_names.get(t.trial_id, run_name(t)) for t in plan.todo}
    return [replace(o, name=names.get(o.name, o.name)) for o in outcomes]


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
