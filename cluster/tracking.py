"""The MLflow store a sweep logs to: default location, one-time setup, finished-trial lookup."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from cluster.workdir import artifact_root, default_tracking_uri
from configs import SweepConfig
from configs import metrics as M
from configs import runs as runs_rule
from trainers.tracker import TrackingTarget


def prepare_experiment(sweep: SweepConfig, workdir: Path, uri: str | None) -> TrackingTarget:
    """Resolve the store and create the experiment once, in the driver, before any trial.

    Two MLflow races make this necessary (STACK_NOTES.md): a fresh sqlite file opened by
    several processes fails its schema migration, and experiment auto-creation from several
    processes drops runs into "Default". Creating the experiment here settles both.
    """
    uri = uri or sweep.tracking.uri or default_tracking_uri(workdir)
    client = MlflowClient(tracking_uri=uri)
    name = sweep.experiment_name
    if client.get_experiment_by_name(name) is None:
        location = None
        if uri.startswith("sqlite:"):
            location = (artifact_root(workdir) / name).as_uri()
        client.create_experiment(name, artifact_location=location)
    return TrackingTarget(uri=uri, experiment=name)


def finished_config_hashes(target: TrackingTarget, sweep_name: str) -> set[str]:
    """Config hashes of this sweep's trials whose runs already finished (skipped on rerun)."""
    client = MlflowClient(tracking_uri=target.uri)
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        return set()
    query = runs_rule.trial_filter({M.TAG_SWEEP: sweep_name}, finished=True)
    runs = client.search_runs([experiment.experiment_id], query, max_results=50_000)
    return {run.data.tags[M.TAG_CONFIG_HASH] for run in runs}
