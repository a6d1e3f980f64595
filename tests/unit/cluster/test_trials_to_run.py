"""What a rerun trains (cluster.tracking.trials_to_run), in a real MLflow store, across identity versions."""

from __future__ import annotations

from mlflow import MlflowClient

from cluster.tracking import trials_to_run
from configs import TrialConfig
from configs import metrics as M
from configs import runs
from trainers.tracker import TrackingTarget


def _log(client: MlflowClient, experiment_id: str, tags: dict[str, str], status: str) -> None:
    run = client.create_run(experiment_id, tags={M.TAG_KIND: runs.KIND_TRIAL, M.TAG_SWEEP: "s", **tags})
    client.set_terminated(run.info.run_id, status)


def _threads(trial: TrialConfig, num_threads: int) -> TrialConfig:
    return TrialConfig.model_validate({**trial.model_dump(), "train": {**trial.train.model_dump(), "num_threads": num_threads}})


def test_a_sweep_started_before_identity_v2_keeps_its_finished_trials(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    v1_done, v2_done, v1_diverged, v1_failed, fresh, v1_changed = (
        TrialConfig(sweep="s", seed=seed) for seed in range(6))
    _log(client, experiment_id, {M.TAG_CONFIG_HASH: v1_done.config_hash_v1}, "FINISHED")  # no version tag
    _log(client, experiment_id, {M.TAG_CONFIG_HASH: v2_done.config_hash, M.TAG_IDENTITY_VERSION: "2"}, "FINISHED")
    _log(client, experiment_id, {M.TAG_CONFIG_HASH: v1_diverged.config_hash_v1, M.TAG_OUTCOME: "diverged"}, "FAILED")
    _log(client, experiment_id, {M.TAG_CONFIG_HASH: v1_failed.config_hash_v1}, "FAILED")
    _log(client, experiment_id, {M.TAG_CONFIG_HASH: v1_changed.config_hash_v1}, "FINISHED")
    # The rerun asks for 2 threads where v2_done and v1_changed ran with 1: version 2 ignores
    # threads, version 1 hashed them, so only the trial finished under version 1 trains again.
    rerun = [v1_done, _threads(v2_done, 2), v1_diverged, v1_failed, fresh, _threads(v1_changed, 2)]
    todo = trials_to_run(TrackingTarget(mlflow_uri, mlflow_experiment), "s", rerun)
    assert [t.seed for t in todo] == [3, 4, 5]
    assert trials_to_run(TrackingTarget(mlflow_uri, mlflow_experiment), "other", [v1_done]) == [v1_done]


def _epsilon(trial: TrialConfig, epsilon: float) -> TrialConfig:
    return TrialConfig.model_validate({**trial.model_dump(), "eval": {**trial.eval.model_dump(), "phi_weight_epsilon": epsilon}})


def test_each_measurement_of_one_identity_runs_once(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    base = TrialConfig(sweep="s", eval={"probes": ["phi_weight"]})
    narrow, wide, old = _epsilon(base, 0.1), _epsilon(base, 0.5), TrialConfig(sweep="s", seed=1)
    assert narrow.config_hash == wide.config_hash and narrow.measurement_hash != wide.measurement_hash
    _log(client, experiment_id, runs.trial_tags(narrow), "FINISHED")
    # A run logged before measurements were tagged counts for every measurement of its identity.
    _log(client, experiment_id, runs.identity_tags(old), "FINISHED")
    todo = trials_to_run(TrackingTarget(mlflow_uri, mlflow_experiment), "s",
                         [narrow, wide, _epsilon(old, 0.5), _epsilon(old, 0.1)])
    assert todo == [wide]
