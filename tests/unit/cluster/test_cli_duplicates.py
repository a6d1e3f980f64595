"""Duplicate runs of one identity: the CLIs count a trial once and say what they dropped."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from typer.testing import CliRunner

from cluster.cli import app
from configs import metrics as M

runner = CliRunner()
NOTE = "dropped 1 duplicate run of 1 identity (newest finished kept)"


@pytest.fixture
def rerun(mlflow_uri: str, mlflow_experiment: str) -> tuple[str, str]:
    """Four finished runs of a Kaplan L(N) ladder; the smallest was logged twice (a rerun)."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    for i, n in enumerate([1e4, 1e4, 3e4, 1e5, 3e5]):
        run = client.create_run(experiment_id)
        trial = f"t{max(i - 1, 0)}"  # runs 0 and 1 are one trial
        tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: trial, M.TAG_CONFIG_HASH: trial * 4}
        values = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: 1e7, M.TOTAL_FLOPS: 6e7 * n, M.VAL_LOSS: (2e4 / n) ** 0.3}
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, 0, 1) for k, v in values.items()],
                         params=[Param("seed", "0")], tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id, "FINISHED", end_time=1_000 + i)
    return mlflow_uri, mlflow_experiment


def test_results_shows_each_trial_once_and_says_it_dropped_one(rerun: tuple[str, str]) -> None:
    uri, experiment = rerun
    result = runner.invoke(app, ["results", "-e", experiment, "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    assert NOTE in result.output and f"results: {experiment} (4 runs)" in result.output


def test_fit_fits_each_trial_once_and_says_it_dropped_one(rerun: tuple[str, str], tmp_path: Path) -> None:
    uri, experiment = rerun
    result = runner.invoke(app, ["fit", "scaling", "-e", experiment, "--tracking-uri", uri, "--form", "kaplan",
                                 "--bootstrap", "0", "--holdout-largest", "0", "-o", str(tmp_path / "fit")])
    assert result.exit_code == 0, result.output
    assert NOTE in result.output and "(4 points" in result.output
