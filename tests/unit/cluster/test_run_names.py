"""Readable run names and the run tree in MLflow (cluster/tracking.py, issue 18 item 2).

Runs are named by what varies in the sweep; a driver session's trials nest under its parent
run and a cool-down branch under its trial, via MLflow's `mlflow.parentRunId` (the UI's tree).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from configs.runs import readable_run_names
from trainers.lifecycle import end_session_run, mark_interrupted_runs, open_session_run
from configs import metrics as M
from configs.load import load_sweep, resolve_sweep_path
from trainers import run_trial
from trainers.tracker import PARENT_RUN_TAG, TrackingTarget

from tests.unit.trainers.test_cooldown import START, wsd_trial


def test_demo_runs_are_named_by_the_fields_that_vary() -> None:
    trials = load_sweep(resolve_sweep_path("demo")).trials()
    names = readable_run_names(trials)
    assert sorted(names.values()) == sorted(
        f"demo γ{t.init.rate:g} λ{t.optim.weight_decay:g}" for t in trials)
    assert len(set(names.values())) == len(trials) and set(names) == {t.trial_id for t in trials}


def test_names_that_would_collide_get_the_trial_id() -> None:
    trial = wsd_trial()
    near = trial.model_validate({**trial.model_dump(), "init": {**trial.init.model_dump(), "rate": trial.init.rate + 1e-9}})
    names = readable_run_names([trial, near])  # both print as γ<rate:g>
    assert names == {t.trial_id: f"cd γ{trial.init.rate:g} {t.trial_id}" for t in (trial, near)}


@pytest.fixture(autouse=True)
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])


def test_session_trial_and_branch_form_a_tree(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    target, client = TrackingTarget(mlflow_uri, mlflow_experiment), MlflowClient(tracking_uri=mlflow_uri)
    session = open_session_run(target, "cd", "session-000")
    trial = wsd_trial()
    result = run_trial(trial, tracking=target, checkpoint_root=tmp_path, run_name="cd γ1", parent_run_id=session)
    end_session_run(target, session, "FINISHED")

    run = client.get_run(result.run_id)
    assert (run.info.run_name, run.data.tags[PARENT_RUN_TAG]) == ("cd γ1", session)
    assert run.data.tags[M.TAG_CONFIG_HASH] == trial.config_hash  # the hash stays, as a tag
    branches = client.search_runs([run.info.experiment_id], f"tags.`{PARENT_RUN_TAG}` = '{result.run_id}'")
    assert [(b.info.run_name, b.data.tags[M.TAG_COOLDOWN_OF_STEP]) for b in branches] == [(f"cd γ1-cd{START}",
                                                                                           str(START))]
    assert client.get_run(session).info.status == "FINISHED"


def test_a_dead_drivers_session_run_is_marked_killed(mlflow_uri: str, mlflow_experiment: str) -> None:
    target = TrackingTarget(mlflow_uri, mlflow_experiment)
    session = open_session_run(target, "s", "session-000")  # its driver dies: the run stays RUNNING
    assert mark_interrupted_runs(target, "s") == 1
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(session).info.status == "KILLED"


def test_the_ui_url_opens_an_experiments_runs_view(mlflow_uri: str, mlflow_experiment: str) -> None:
    from cluster.tracking import ui_url

    experiment_id = MlflowClient(tracking_uri=mlflow_uri).get_experiment_by_name(mlflow_experiment).experiment_id
    base = "http://127.0.0.1:5000"
    assert ui_url(mlflow_uri, base, mlflow_experiment) == f"{base}/#/experiments/{experiment_id}/runs"
    assert ui_url(mlflow_uri, base) == f"{base}/#/experiments/{experiment_id}/runs"  # the newest
    with pytest.raises(ValueError, match="experiment 'nope' not found"):
        ui_url(mlflow_uri, base, "nope")
