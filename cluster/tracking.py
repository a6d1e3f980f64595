"""The MLflow store a sweep logs to: default location, one-time setup, finished-trial lookup and
readable run names. How runs are created and end (the session run too) is `trainers.lifecycle`'s."""

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
    return {config_hash for config_hash, _ in finished_measurements(target, sweep_name)}


def finished_measurements(target: TrackingTarget, sweep_name: str) -> set[tuple[str, str | None]]:
    """(config hash, measurement hash or None when untagged) of each finished or diverged trial run."""
    client = MlflowClient(tracking_uri=target.uri)
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        return set()
    sweep_tag = {M.TAG_SWEEP: sweep_name}
    queries = (runs_rule.trial_filter(sweep_tag, finished=True),
               runs_rule.trial_filter({**sweep_tag, M.TAG_OUTCOME: runs_rule.OUTCOME_DIVERGED}))
    return {(run.data.tags[M.TAG_CONFIG_HASH], run.data.tags.get(M.TAG_MEASUREMENT_HASH))
            for query in queries
            for run in client.search_runs([experiment.experiment_id], query, max_results=50_000)}


def trials_to_run(target: TrackingTarget, sweep_name: str, trials: list[TrialConfig]) -> list[TrialConfig]:
    """The trials of `trials` that a (re)run trains: no finished or diverged run of their identity and measurement.

    A run logged before identity version 2 carries its version-1 hash, which counts too
    (`configs.runs.recorded_hashes`): a sweep started then does not train its finished trials again.
    A run without a measurement tag counts for every measurement (`configs.runs.same_measurement`).
    """
    done = finished_measurements(target, sweep_name)
    return [trial for trial in trials if not any(
        config_hash in runs_rule.recorded_hashes(trial)
        and runs_rule.same_measurement({} if measured is None else {M.TAG_MEASUREMENT_HASH: measured},
                                       trial.measurement_hash)
        for config_hash, measured in done)]











def ui_url(uri: str, base: str, experiment: str | None = None) -> str:
    """The MLflow UI's runs view of `experiment` (default: the newest besides "Default"), else `base`.

    The UI's hash route is `#/experiments/<id>/runs` (without `/runs`, MLflow 3.17 opens its
    GenAI overview); the runs there show as the session > trial > branch tree (`mlflow.parentRunId`).
    """
    client = MlflowClient(tracking_uri=uri)
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ValueError(f"experiment '{experiment}' not found in {uri}; pass one of "
                             f"{[e.name for e in client.search_experiments()]}")
    else:
        listed = [e for e in client.search_experiments() if e.name != "Default"]
        found = max(listed, key=lambda e: e.creation_time or 0, default=None)
    return f"{base}/#/experiments/{found.experiment_id}/runs" if found else base
