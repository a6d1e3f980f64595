"""Cool-down branches in a real MLflow store: what analysis and the driver see of them.

A branch must look like any finished trial run to `analysis.load_runs` (its own N, D, C and
final val/loss), and must never pass for its parent in the driver's finished-hash lookup.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from analysis.load import load_runs
from cluster.tracking import finished_config_hashes
from configs import TrialConfig
from configs import metrics as M
from trainers import run_trial
from trainers.cooldown import branch_tags
from trainers.lifecycle import open_branch_tracker
from trainers.tracker import MlflowTracker, TrackingTarget

from tests.unit.trainers.test_cooldown import END, START, wsd_trial


@pytest.fixture(autouse=True)
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])


def test_branch_is_an_ordinary_finished_trial_run(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    trial = wsd_trial()
    target = TrackingTarget(mlflow_uri, mlflow_experiment)
    result = run_trial(trial, tracking=target, checkpoint_root=tmp_path)
    table = load_runs(mlflow_uri, mlflow_experiment).set_index("trial_id")
    parent, branch = table.loc[trial.trial_id], table.loc[trial.trial_id + f"-cd{START}"]
    assert branch["config_hash"] == trial.config_hash + f"-cd{START}"
    tags = MlflowClient(tracking_uri=mlflow_uri).get_run(branch["run_id"]).data.tags
    assert (tags[M.TAG_PARENT_RUN_ID], tags[M.TAG_COOLDOWN_OF_STEP]) == (parent["run_id"], str(START))
    assert (branch["N"], branch["D"]) == (parent["N"], parent["D"] * END / 40)
    assert branch["C"] == pytest.approx(parent["C"] * END / 40, rel=1e-12)
    assert branch["train.num_steps"] == END and branch[M.NUM_TOKENS] == branch["D"]
    assert 0 < branch[M.VAL_LOSS] < 10 and branch["state"] == "finished"
    # The driver's skip-finished lookup holds the parent's hash once, and the branch's apart.
    assert finished_config_hashes(target, "cd") == {trial.config_hash, trial.config_hash + f"-cd{START}"}
    # A later attempt meeting the branch again finds it finished (by its tags) and skips it.
    tags = branch_tags(trial, START, result.run_id)
    parent_tracker = MlflowTracker(target, "again", run_id=result.run_id)
    assert open_branch_tracker(parent_tracker, "again-cd15", tags) is None
    # The same branch of another measurement of this identity (an eval.* grid) is not done yet.
    other = TrialConfig.model_validate({**trial.model_dump(), "eval": {"probes": ["phi_weight"]}})
    assert other.config_hash == trial.config_hash and other.measurement_hash != trial.measurement_hash
    opened = open_branch_tracker(parent_tracker, "other-cd15", branch_tags(other, START, result.run_id))
    assert opened is not None and opened.run_id != branch["run_id"]
