"""The MLflow loader (analysis.load) on a real temporary sqlite store."""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from analysis import sqlite_read
from analysis.errors import AnalysisInputError, DuplicateRunsWarning
from analysis.load import (
    NoRunsError,
    StoreNotFoundError,
    StoreUnreadableError,
    load_history,
    load_runs,
    sqlite_path,
)
from configs import TrialConfig
from configs import metrics as M
from configs import runs
from configs.runs import trial_filter


def _log(client: MlflowClient, experiment_id: str, trial_id: str, status: str,
         tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
         end_time: int | None = None) -> str:
    run = client.create_run(experiment_id)
    all_tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: trial_id, **(tags or {})}
    client.log_batch(run.info.run_id, metrics=[Metric(M.VAL_LOSS, 3.0, 0, 5), Metric(M.VAL_LOSS, 2.5, 0, 9),
                                               Metric(M.NUM_PARAMS, 1e6, 0, 0)],
                     params=[Param(k, v) for k, v in (params or {"init.rate": "0.5"}).items()],
                     tags=[RunTag(k, v) for k, v in all_tags.items()])
    if status != "RUNNING":
        client.set_terminated(run.info.run_id, status, end_time=end_time)
    return str(run.info.run_id)


def _params(change: dict[str, object]) -> dict[str, str]:
    """The params a trainer logs for the trial `change` makes of the defaults (`str` of each value)."""
    return {k: str(v) for k, v in TrialConfig.model_validate(change).flat_params().items()}


@pytest.mark.parametrize(("uri", "expected"), [
    ("sqlite:///runs/mlflow.db", Path("runs/mlflow.db")),
    ("sqlite:////abs/dir/mlflow.db", Path("/abs/dir/mlflow.db")),
    ("sqlite:///a%20b/mlflow.db?timeout=5", Path("a b/mlflow.db")),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("http://127.0.0.1:5000", None),
    ("file:///tmp/mlruns", None),
])
def test_sqlite_path(uri: str, expected: Path | None) -> None:
    assert sqlite_path(uri) == expected


def test_state_column_and_the_finished_rule(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    _log(client, experiment_id, "a", "FINISHED")
    _log(client, experiment_id, "b", "FAILED", {M.TAG_OUTCOME: "diverged"})
    _log(client, experiment_id, "c", "FAILED")
    _log(client, experiment_id, "d", "KILLED")
    _log(client, experiment_id, "e", "RUNNING")
    client.create_run(experiment_id, tags={M.TAG_KIND: "analysis"})  # never a trial row
    finished = load_runs(mlflow_uri, mlflow_experiment)
    assert finished["trial_id"].tolist() == ["a"] and finished["state"].tolist() == ["finished"]
    assert finished[M.VAL_LOSS].iloc[0] == 2.5  # the last logged value
    assert finished["init.rate"].iloc[0] == 0.5 and finished["N"].iloc[0] == 1e6
    every = load_runs(mlflow_uri, mlflow_experiment, include_unfinished=True)
    assert dict(zip(every["trial_id"], every["state"])) == {
        "a": "finished", "b": "diverged", "c": "failed", "d": "killed", "e": "running"}
    history = load_history(mlflow_uri, list(finished["run_id"]), [M.VAL_LOSS])
    assert history["step"].tolist() == [5, 9]


def test_no_finished_runs_says_what_there_is(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    _log(client, experiment_id, "b", "FAILED", {M.TAG_OUTCOME: "diverged"})
    with pytest.raises(NoRunsError, match=r"has no finished trial runs yet \(1 diverged\)"):
        load_runs(mlflow_uri, mlflow_experiment)


def test_unknown_experiment_lists_the_known_ones(mlflow_uri: str, mlflow_experiment: str) -> None:
    with pytest.raises(NoRunsError, match=rf"experiment 'nope' not found .*{mlflow_experiment}"):
        load_runs(mlflow_uri, "nope")


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    with pytest.raises(StoreNotFoundError, match=rf"no MLflow store at {db}.*run a sweep first"):
        load_runs(f"sqlite:///{db}", "x")
    with pytest.raises(StoreNotFoundError):
        load_history(f"sqlite:///{db}", ["r"], [M.VAL_LOSS])
    assert not db.exists()


def test_an_unreadable_store_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_text("not a database")
    with pytest.raises(StoreUnreadableError, match="cannot read the MLflow store at .*file is not a database"):
        load_runs(f"sqlite:///{db}", "x")


def test_every_loader_error_is_an_analysis_input_error() -> None:
    for err in (NoRunsError, StoreNotFoundError, StoreUnreadableError):
        assert issubclass(err, AnalysisInputError) and issubclass(err, ValueError)
    assert issubclass(NoRunsError, LookupError)


def test_two_finished_runs_of_one_identity_are_one_row(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    same = {M.TAG_CONFIG_HASH: "h1"}
    _log(client, experiment_id, "a", "FINISHED", same, end_time=1_000)
    newest = _log(client, experiment_id, "a", "FINISHED", same, end_time=2_000)
    failed = _log(client, experiment_id, "a", "FAILED", same, end_time=3_000)  # newer, but not finished
    other = _log(client, experiment_id, "b", "FINISHED", {M.TAG_CONFIG_HASH: "h2"})
    lone = _log(client, experiment_id, "c", "FINISHED")  # no hash, no full config: its own identity
    lone_too = _log(client, experiment_id, "c", "FINISHED")
    with pytest.warns(DuplicateRunsWarning, match=r"^dropped 1 duplicate run of 1 identity \(newest finished kept\)$"):
        finished = load_runs(mlflow_uri, mlflow_experiment)
    assert set(finished["run_id"]) == {newest, other, lone, lone_too}
    with pytest.warns(DuplicateRunsWarning, match=r"^dropped 2 duplicate runs of 1 identity"):
        every = load_runs(mlflow_uri, mlflow_experiment, include_unfinished=True)
    assert newest in set(every["run_id"]) and failed not in set(every["run_id"])
    assert set(every["identity_version"]) == {"1"}  # no version tag: logged before version 2


@pytest.mark.parametrize(("first", "second", "tags", "num_rows"), [
    # Logged before version 2 under two v1 hashes (probe cadence, threads), one training: one row.
    ({"eval": {"phi_weight_every": 50}}, {"train": {"num_threads": 2}}, ({}, {}), 1),
    # A v1 run and its v2 rerun with another precision: one row.
    ({}, {"train": {"precision": "fp32"}}, ({}, {M.TAG_IDENTITY_VERSION: "2"}), 1),
    # What is trained differs: two rows.
    ({}, {"init": {"rate": 0.7}}, ({}, {}), 2),
    ({}, {"optim": {"lr": 1e-3}}, ({}, {}), 2),
    # A cool-down branch is a run of its own even where its config matches a plain run.
    ({}, {}, ({}, {M.TAG_COOLDOWN_OF_STEP: "15"}), 2),
])
def test_runs_with_a_full_config_are_one_identity_by_its_trained_fields(
        mlflow_uri: str, mlflow_experiment: str, first: dict, second: dict, tags: tuple[dict, dict],
        num_rows: int) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    older = _log(client, experiment_id, "x", "FINISHED", {M.TAG_CONFIG_HASH: "h1", **tags[0]}, _params(first), 1_000)
    newer = _log(client, experiment_id, "y", "FINISHED", {M.TAG_CONFIG_HASH: "h2", **tags[1]}, _params(second), 2_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_runs(mlflow_uri, mlflow_experiment)
    assert sorted(table["run_id"]) == sorted([newer] if num_rows == 1 else [older, newer])
    assert len([w for w in caught if w.category is DuplicateRunsWarning]) == 2 - num_rows


def test_a_run_logged_before_a_field_was_added_is_one_identity_with_its_rerun(
        mlflow_uri: str, mlflow_experiment: str) -> None:
    from configs.identity import ADDED_AT_DEFAULT

    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    before = {k: v for k, v in _params({}).items() if k not in ADDED_AT_DEFAULT}  # logged without the new params
    _log(client, experiment_id, "x", "FINISHED", {M.TAG_CONFIG_HASH: "h1"}, before, 1_000)
    newer = _log(client, experiment_id, "y", "FINISHED", {M.TAG_CONFIG_HASH: "h2"}, _params({}), 2_000)
    with pytest.warns(DuplicateRunsWarning, match=r"^dropped 1 duplicate run of 1 identity"):
        table = load_runs(mlflow_uri, mlflow_experiment)
    assert list(table["run_id"]) == [newer]


def test_the_direct_sqlite_read_matches_mlflows_client(mlflow_uri: str, mlflow_experiment: str) -> None:
    """`analysis.sqlite_read` (no mlflow import) returns what `MlflowClient.search_runs` does."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    kept = [_log(client, experiment_id, "a", "FINISHED"), _log(client, experiment_id, "b", "FAILED")]
    client.log_metric(kept[1], M.OOD_ACC, float("nan"), step=3)  # NaN is stored as is_nan: read back as NaN
    client.delete_run(_log(client, experiment_id, "gone", "FINISHED"))  # deleted: neither reader shows it
    client.create_run(experiment_id, tags={M.TAG_KIND: "analysis"})  # not a trial
    path = sqlite_path(mlflow_uri)
    assert path is not None
    for finished in (None, True, False):
        expected = client.search_runs([experiment_id], trial_filter(finished=finished))
        with contextlib.closing(sqlite_read.connect(path)) as db:
            assert sqlite_read.experiment_id(db, mlflow_experiment) == experiment_id
            got = sqlite_read.search_runs(db, experiment_id, {M.TAG_KIND: "trial"}, finished)
            history = {run_id: sqlite_read.metric_history(db, run_id, M.VAL_LOSS) for run_id in kept}

        def view(run: Any) -> tuple[object, ...]:
            metrics = {k: "nan" if math.isnan(v) else v for k, v in run.data.metrics.items()}
            return (run.info.run_id, run.info.run_name, run.info.status, run.info.start_time, run.info.end_time,
                    run.data.params, run.data.tags, metrics)

        assert sorted(map(view, got)) == sorted(map(view, expected)) and len(got) == {None: 2, True: 1, False: 1}[finished]
    assert all(history[r] == [(m.step, m.value) for m in client.get_metric_history(r, M.VAL_LOSS)] for r in kept)


def test_measurement_runs_of_one_identity_are_all_kept(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    narrow = {"eval": {"probes": ["phi_weight"], "phi_weight_epsilon": 0.1}}
    wide = {"eval": {"probes": ["phi_weight"], "phi_weight_epsilon": 0.5}}
    trials = [TrialConfig.model_validate(change) for change in (narrow, wide)]
    logged = [_log(client, experiment_id, t.trial_id, "FINISHED", runs.trial_tags(t), _params(change), end_time)
              for t, change, end_time in zip(trials, (narrow, wide), (1_000, 2_000))]
    rerun = _log(client, experiment_id, trials[1].trial_id, "FINISHED", runs.trial_tags(trials[1]), _params(wide), 3_000)
    with pytest.warns(DuplicateRunsWarning, match=r"^dropped 1 duplicate run of 1 identity \(newest finished kept\)$"):
        table = load_runs(mlflow_uri, mlflow_experiment)
    assert sorted(table["run_id"]) == sorted([logged[0], rerun])  # both measurements; the newer rerun of one
    assert sorted(table["measurement_hash"]) == sorted(t.measurement_hash for t in trials)
    assert table["config_hash"].nunique() == 1
