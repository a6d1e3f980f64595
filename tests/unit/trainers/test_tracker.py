"""Trackers (trainers/tracker.py): in-memory de-duplication and MLflow resume semantics.

Which run a retry reopens follows `configs.runs`' one rule: an unfinished (status other than
FINISHED) trial run carrying the trial's identity tags.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from configs import TrialConfig
from configs import metrics as M
from configs import runs
from trainers.tracker import InMemoryTracker, MlflowTracker, TrackingTarget, log_run_setup

IDENTITY = {M.TAG_SWEEP: "s", M.TAG_CONFIG_HASH: "abc123"}
TRIAL_TAGS = {**IDENTITY, M.TAG_TRIAL_ID: "abc", M.TAG_KIND: runs.KIND_TRIAL}  # what run_trial sets


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def crash(tracker: MlflowTracker, client: MlflowClient) -> None:
    """What a killed attempt leaves behind: its logs stored, the run no longer RUNNING.

    (`finish` would do the same, but MLflow's `set_terminated` joins its async-logging
    thread, which polls with a 1 s timeout; one test covers `finish` itself.)
    """
    tracker.flush()
    client.update_run(tracker.run_id, status="FAILED")


# --- InMemoryTracker -------------------------------------------------------------------


def test_in_memory_drops_steps_at_or_before_the_last_logged() -> None:
    tracker = InMemoryTracker()
    tracker.log_metrics({"a": 1.0, "b": 2}, step=0)
    tracker.log_metrics({"a": 3.0}, step=10)
    tracker.log_metrics({"a": 99.0}, step=10)  # duplicate step
    tracker.log_metrics({"a": 99.0, "c": 5.0}, step=5)  # earlier step
    tracker.log_metrics({"a": 4.0}, step=20)
    assert tracker.history == {"a": {0: 1.0, 10: 3.0, 20: 4.0}, "b": {0: 2.0}}
    assert tracker.last_logged_step == 20
    assert isinstance(tracker.history["b"][0], float)


def test_in_memory_params_tags_artifacts_and_status(tmp_path: Path) -> None:
    tracker = InMemoryTracker()
    tracker.log_params({"a": 1, "b": 2})
    tracker.log_params({"a": 99, "c": 3})  # a retry: params already there are kept
    tracker.set_tags({"t": "1"})
    tracker.set_tags({"t": "2", "u": "3"})
    tracker.log_artifact(tmp_path / "x.png")
    tracker.flush()
    tracker.finish("FAILED")
    assert tracker.params == {"a": 1, "b": 2, "c": 3}
    assert tracker.tags == {"t": "2", "u": "3"}
    assert tracker.artifacts == ["x.png"] and tracker.status == "FAILED"


# --- MlflowTracker -----------------------------------------------------------------------


def test_logs_batched_metrics_and_flush_waits(target: TrackingTarget, client: MlflowClient) -> None:
    tracker = MlflowTracker(target, "run-a")
    assert tracker.last_logged_step == -1
    for step in (10, 20, 30):
        tracker.log_metrics({M.TRAIN_LOSS: 1.0 / step, M.VAL_LOSS: 2.0 / step}, step)
    tracker.log_metrics({M.TRAIN_LOSS: 123.0}, 20)  # duplicate: dropped
    tracker.flush()
    # After flush, a different client sees every metric.
    assert history(client, tracker.run_id, M.TRAIN_LOSS) == [(10, 0.1), (20, 0.05), (30, 1 / 30)]
    assert history(client, tracker.run_id, M.VAL_LOSS) == [(10, 0.2), (20, 0.1), (30, 2 / 30)]
    run = client.get_run(tracker.run_id)
    assert run.info.run_name == "run-a" and run.info.status == "RUNNING"
    tracker.finish("FINISHED")
    assert client.get_run(tracker.run_id).info.status == "FINISHED"


def test_missing_experiment_is_an_error(mlflow_uri: str) -> None:
    with pytest.raises(RuntimeError, match=r"MLflow experiment 'never-created' does not exist at .*create it once in the driver"):
        MlflowTracker(TrackingTarget(mlflow_uri, "never-created"), "run")


def test_reopen_by_run_id_continues_without_duplicates(target: TrackingTarget, client: MlflowClient) -> None:
    first = MlflowTracker(target, "run-b")
    first.log_metrics({M.NUM_PARAMS: 100.0}, 0)
    for step in (10, 20, 30):
        first.log_metrics({M.TRAIN_LOSS: float(step), M.VAL_LOSS: float(step)}, step)
    crash(first, client)

    # A retry resumed from the step-20 checkpoint re-runs steps 21..40.
    second = MlflowTracker(target, "run-b", run_id=first.run_id)
    assert second.run_id == first.run_id
    assert second.last_logged_step == 30  # max logged train/loss step
    assert client.get_run(first.run_id).info.status == "RUNNING"
    second.log_metrics({M.TRAIN_LOSS: -1.0, M.VAL_LOSS: -1.0}, 30)  # re-run step: dropped
    second.log_metrics({M.TRAIN_LOSS: 40.0, M.VAL_LOSS: 40.0}, 40)
    second.flush()
    expected = [(10, 10.0), (20, 20.0), (30, 30.0), (40, 40.0)]
    assert history(client, first.run_id, M.TRAIN_LOSS) == expected
    assert history(client, first.run_id, M.VAL_LOSS) == expected
    assert history(client, first.run_id, M.NUM_PARAMS) == [(0, 100.0)]


def tagged_run(target: TrackingTarget, client: MlflowClient, name: str, tags: dict[str, str]) -> MlflowTracker:
    tracker = MlflowTracker(target, name, identity=IDENTITY)
    tracker.set_tags(tags)
    return tracker


@pytest.mark.parametrize("status", ["FAILED", "KILLED", "RUNNING"])
def test_unfinished_run_with_matching_tags_is_reused(target: TrackingTarget, client: MlflowClient, status: str) -> None:
    first = tagged_run(target, client, "run-c", TRIAL_TAGS)
    first.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    first.flush()
    client.update_run(first.run_id, status=status)  # before its first checkpoint: no run id

    retry = MlflowTracker(target, "run-c", identity=IDENTITY)
    assert retry.run_id == first.run_id
    assert retry.last_logged_step == 10
    assert client.get_run(first.run_id).info.status == "RUNNING"
    retry.log_metrics({M.TRAIN_LOSS: 2.0}, 10)  # the re-run of step 10: dropped
    retry.flush()
    assert history(client, first.run_id, M.TRAIN_LOSS) == [(10, 1.0)]


def test_finished_or_differently_tagged_runs_are_not_reused(target: TrackingTarget, client: MlflowClient) -> None:
    done = tagged_run(target, client, "done", TRIAL_TAGS)
    client.set_terminated(done.run_id, status="FINISHED")  # the one rule: FINISHED is finished
    other = tagged_run(target, client, "other", {**TRIAL_TAGS, M.TAG_CONFIG_HASH: "different"})
    analysis = tagged_run(target, client, "analysis", {**TRIAL_TAGS, M.TAG_KIND: runs.KIND_ANALYSIS})
    crash(other, client)
    crash(analysis, client)

    fresh = MlflowTracker(target, "fresh", identity=IDENTITY)
    assert fresh.run_id not in (done.run_id, other.run_id, analysis.run_id)
    assert fresh.last_logged_step == -1


def test_log_run_setup_writes_params_tags_and_config_artifact(target: TrackingTarget, client: MlflowClient) -> None:
    trial = TrialConfig(sweep="s", seed=3)
    params = trial.flat_params()
    tags = runs.trial_tags(trial)
    tracker = MlflowTracker(target, "run-d", identity=runs.identity_tags(trial))
    log_run_setup(tracker, params, tags)

    run = client.get_run(tracker.run_id)
    assert run.data.params == {k: str(v) for k, v in params.items()}
    assert run.data.params["model.d_model"] == "64" and run.data.params["seed"] == "3"
    assert run.data.params["init.scheme"] == "fan_in" and run.data.params["optim.weight_decay_mode"] == "decoupled"
    assert tags.items() <= run.data.tags.items()
    local = Path(client.download_artifacts(tracker.run_id, M.TRIAL_CONFIG_ARTIFACT, str(Path(target.uri[10:]).parent)))
    assert json.loads(local.read_text()) == params

    # Setup again on the reopened run (a retry): params already there are not re-sent.
    again = MlflowTracker(target, "run-d", run_id=tracker.run_id)
    log_run_setup(again, params, tags)
    assert client.get_run(tracker.run_id).data.params == run.data.params


def test_log_artifact_and_set_tags(target: TrackingTarget, client: MlflowClient, tmp_path: Path) -> None:
    tracker = MlflowTracker(target, "run-e")
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG")
    tracker.log_artifact(figure)
    tracker.set_tags({M.TAG_OUTCOME: runs.OUTCOME_DIVERGED, "other": "x"})
    assert [a.path for a in client.list_artifacts(tracker.run_id)] == ["figure.png"]
    assert {M.TAG_OUTCOME: "diverged", "other": "x"}.items() <= client.get_run(tracker.run_id).data.tags.items()


def test_retry_before_first_evaluation_does_not_duplicate_step_zero(target: TrackingTarget, client: MlflowClient) -> None:
    first = tagged_run(target, client, "run-f", TRIAL_TAGS)
    first.log_metrics({M.NUM_PARAMS: 100.0}, 0)  # what run_trial logs before training
    crash(first, client)

    retry = MlflowTracker(target, "run-f", identity=IDENTITY)
    assert retry.run_id == first.run_id
    retry.log_metrics({M.NUM_PARAMS: 100.0}, 0)  # run_trial starts again from step 0
    retry.flush()
    assert history(client, first.run_id, M.NUM_PARAMS) == [(0, 100.0)]


def test_last_logged_step_counts_every_key(target: TrackingTarget, client: MlflowClient) -> None:
    # A probe hook off the evaluation cadence logged step 15 after the step-10 evaluation.
    first = MlflowTracker(target, "run-g")
    first.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    first.log_metrics({"probe/x": 2.0}, 15)
    crash(first, client)
    assert MlflowTracker(target, "run-g", run_id=first.run_id).last_logged_step == 15


def test_an_unfinished_run_is_reused_only_by_its_own_measurement(target: TrackingTarget, client: MlflowClient) -> None:
    measured = {**IDENTITY, M.TAG_MEASUREMENT_HASH: "m1"}
    other = tagged_run(target, client, "other", {**TRIAL_TAGS, M.TAG_MEASUREMENT_HASH: "m2"})
    crash(other, client)
    fresh = MlflowTracker(target, "fresh", identity=measured)  # m2's run is another measurement
    assert fresh.run_id != other.run_id
    assert client.get_run(fresh.run_id).data.tags[M.TAG_MEASUREMENT_HASH] == "m1"
    crash(fresh, client)
    assert MlflowTracker(target, "retry", identity=measured).run_id == fresh.run_id


def test_an_unfinished_run_without_a_measurement_tag_is_reused_by_any(target: TrackingTarget, client: MlflowClient) -> None:
    older = tagged_run(target, client, "older", TRIAL_TAGS)  # logged before the measurement tag
    crash(older, client)
    assert MlflowTracker(target, "retry", identity={**IDENTITY, M.TAG_MEASUREMENT_HASH: "m1"}).run_id == older.run_id
