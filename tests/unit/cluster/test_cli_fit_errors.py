"""User mistakes with the analysis commands end in one line and a non-zero exit, never a traceback.

Each case runs the real CLI against a real (temporary) sqlite MLflow store, or none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag
from typer.testing import CliRunner

from cluster.cli import app
from configs import metrics as M

runner = CliRunner()
TRUE = {"E": 1.8, "A": 50.0, "B": 200.0, "alpha": 0.35, "beta": 0.4}


def _log(client: MlflowClient, experiment_id: str, n: float, d: float, trial_id: str,
         status: str = "FINISHED", tags: dict[str, str] | None = None) -> None:
    run = client.create_run(experiment_id)
    loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
    values = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: d, M.TOTAL_FLOPS: 6 * n * d, M.VAL_LOSS: loss}
    all_tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: trial_id, **(tags or {})}
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, 0, 1) for k, v in values.items()],
                     tags=[RunTag(k, v) for k, v in all_tags.items()])
    client.set_terminated(run.info.run_id, status)


def _invoke(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize("command", [
    ["fit", "scaling", "-e", "nope"],
    ["fit", "density", "-e", "nope", "--group-column", "g", "--reference", "a", "--target", "b"],
    ["phase", "-e", "nope"],
])
def test_reading_a_workdir_without_a_store_fails_and_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    code, output = _invoke([*command, "--workdir", str(tmp_path), "-o", str(tmp_path / "out")])
    assert code == 1
    assert f"no MLflow store at {(tmp_path / 'mlflow.db').resolve()}" in output
    assert "run a sweep first" in output and "Traceback" not in output
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_experiment(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    code, output = _invoke(["fit", "scaling", "-e", "nope", "--tracking-uri", mlflow_uri, "-o", str(tmp_path)])
    assert code == 1
    assert "experiment 'nope' not found" in output and mlflow_experiment in output


def test_unreadable_store(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_text("not a database")
    code, output = _invoke(["fit", "scaling", "-e", "x", "--workdir", str(tmp_path), "-o", str(tmp_path)])
    assert code == 1 and "cannot read the MLflow store" in output and "file is not a database" in output


def test_no_finished_runs_counts_the_others(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    _log(client, experiment_id, 1e5, 1e7, "a", "FAILED", {M.TAG_OUTCOME: "diverged"})
    _log(client, experiment_id, 1e5, 1e8, "b", "RUNNING")
    code, output = _invoke(["fit", "scaling", "-e", mlflow_experiment, "--tracking-uri", mlflow_uri,
                            "-o", str(tmp_path)])
    assert code == 1
    assert f"experiment '{mlflow_experiment}' has no finished trial runs yet (1 diverged, 1 running)" in output


def test_too_few_runs_names_the_numbers(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    for i, n in enumerate([1e4, 1e5, 1e6, 1e7]):
        _log(client, experiment_id, n, 1e8, f"t{i}")
    code, output = _invoke(["fit", "scaling", "-e", mlflow_experiment, "--tracking-uri", mlflow_uri,
                            "--bootstrap", "0", "-o", str(tmp_path)])
    assert code == 1
    assert "error: the Chinchilla law (5 free parameters) needs ≥ 5 runs, found 4" in output
    assert len(output.strip().splitlines()) <= 2


def test_diverged_runs_are_left_out_and_counted(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    for i, n in enumerate([1e4, 3e4, 1e5, 3e5]):
        for j, d in enumerate([1e6, 1e7, 1e8]):
            _log(client, experiment_id, n, d, f"t{i}{j}")
    _log(client, experiment_id, 1e6, 1e8, "bad1", "FAILED", {M.TAG_OUTCOME: "diverged"})
    _log(client, experiment_id, 3e6, 1e8, "bad2", "FAILED", {M.TAG_OUTCOME: "diverged"})
    code, output = _invoke(["fit", "scaling", "-e", mlflow_experiment, "--tracking-uri", mlflow_uri,
                            "--bootstrap", "0", "-o", str(tmp_path)])
    assert code == 0, output
    assert "chinchilla fit (12 points" in output
    assert "left out 2 unfinished runs (2 diverged)" in output


@pytest.mark.parametrize(("args", "message"), [
    (["--flops-convention", "kaplan"], "--flops-convention 'kaplan' must be one of scalinglab, 6nd"),
    (["--holdout", "C:lots"], "--holdout 'C:lots' must look like C:1e12"),
    (["--holdout-largest", "-1"], "--holdout-largest (-1) must be >= 0"),
])
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = _invoke(["fit", "scaling", "--csv", str(tmp_path / "x.csv"), *args])
    assert code == 2 and message in " ".join(output.split()).replace("│", "").replace("  ", " ")


def test_missing_csv(tmp_path: Path) -> None:
    code, output = _invoke(["fit", "scaling", "--csv", str(tmp_path / "x.csv"), "-o", str(tmp_path)])
    assert code == 1 and "x.csv: no such file" in output
