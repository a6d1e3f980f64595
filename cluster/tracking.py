"""The MLflow store a sweep logs to: default location, one-time setup, finished-trial lookup."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from cluster.workdir import artifact_root, default_tracking_uri
from configs import SweepConfig, TrialConfig
from configs import metrics as M
from configs import runs as runs_rule
from trainers.tracker import TrackingTarget


def resolve_uri(sweep: SweepConfig, workdir: Path, uri: str | None) -> str:
    """The store a sweep logs to: the command line's URI, else the sweep file's, else sqlite."""
    return uri or sweep.tracking.uri or default_tracking_uri(workdir)


def prepare_experiment(sweep: SweepConfig, workdir: Path, uri: str | None) -> TrackingTarget:
    """Resolve the store and create the experiment once, in the driver, before any trial.

    Two MLflow races make this necessary (docs/architecture.md "Stack facts"): a fresh sqlite file opened by
    several processes fails its schema migration, and experiment auto-creation from several
    processes drops runs into "Default". Creating the experiment here settles both.
    """
    uri = resolve_uri(sweep, workdir, uri)
    client = MlflowClient(tracking_uri=uri)
    name = sweep.experiment_name
    if client.get_experiment_by_name(name) is None:
        location = None
        if uri.startswith("sqlite:"):
            location = (artifact_root(workdir) / name).as_uri()
        client.create_experiment(name, artifact_location=location)
    return TrackingTarget(uri=uri, experiment=name)


def finished_config_hashes(target: TrackingTarget, sweep_name: str) -> set[str]:
    """Config hashes of this sweep's trials a rerun must skip: finished, or diverged.

    The hashes are as logged, of either identity version (`trials_to_run` matches both).

    A diverged trial is not retried (docs/architecture.md, failure semantics): the same seed and config
    would diverge again at the same step.
    """
    client = MlflowClient(tracking_uri=target.uri)
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        return set()
    sweep_tag = {M.TAG_SWEEP: sweep_name}
    queries = (runs_rule.trial_filter(sweep_tag, finished=True),
               runs_rule.trial_filter({**sweep_tag, M.TAG_OUTCOME: runs_rule.OUTCOME_DIVERGED}))
    return {run.data.tags[M.TAG_CONFIG_HASH]
            for query in queries
            for run in client.search_runs([experiment.experiment_id], query, max_results=50_000)}


def trials_to_run(target: TrackingTarget, sweep_name: str, trials: list[TrialConfig]) -> list[TrialConfig]:
    """The trials of `trials` that a (re)run trains: no finished or diverged run carries their hash.

    A run logged before identity version 2 carries its version-1 hash, which counts too
    (`configs.runs.recorded_hashes`): a sweep started then does not train its finished trials again.
    """
    done = finished_config_hashes(target, sweep_name)
    return [trial for trial in trials if done.isdisjoint(runs_rule.recorded_hashes(trial))]


def mark_interrupted_runs(target: TrackingTarget, sweep_name: str) -> int:
    """Set this sweep's RUNNING trial runs to KILLED; returns how many.

    Called by a driver that holds the sweep's lock, so no live trial owns those runs: they
    were left RUNNING by a driver that died or stopped. A resumed trial reopens its run and
    sets it RUNNING again.
    """
    client = MlflowClient(tracking_uri=target.uri)
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        return 0
    query = runs_rule.trial_filter({M.TAG_SWEEP: sweep_name}) + " and attributes.status = 'RUNNING'"
    stale = client.search_runs([experiment.experiment_id], query, max_results=50_000)
    for run in stale:
        client.set_terminated(run.info.run_id, status="KILLED")
    return len(stale)
