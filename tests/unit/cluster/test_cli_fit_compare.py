"""`scalinglab fit compare` on a real (temporary) MLflow store: a known compute ratio comes back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from typer.testing import CliRunner

from cluster.cli import app
from configs import metrics as M

runner = CliRunner()
TRUE = {"E": 1.8, "A": 400.0, "B": 900.0, "alpha": 0.34, "beta": 0.3}
RATIO = 3.0  # the γ = 1.0 group reaches any loss with a third of the reference's compute


@pytest.fixture(scope="module")
def two_groups(mlflow_uri: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """γ 0.5 runs follow the law; γ 1.0 runs reach L(s N, s D) with s = √RATIO, 1 % noise.

    Logged once for the module (32 runs take seconds on sqlite); each test reads them.
    """
    client = MlflowClient(tracking_uri=mlflow_uri)
    mlflow_experiment = f"compare-{uuid.uuid4().hex[:12]}"
    artifacts = tmp_path_factory.mktemp("compare-artifacts")
    experiment_id = client.create_experiment(mlflow_experiment, artifact_location=artifacts.as_uri())
    rng = np.random.default_rng(0)
    for gamma, scale in ((0.5, 1.0), (1.0, np.sqrt(RATIO))):
        for n in np.geomspace(1e6, 1e9, 4):
            for d in np.geomspace(1e8, 1e11, 4):
                loss = TRUE["E"] + TRUE["A"] / (scale * n) ** TRUE["alpha"] + TRUE["B"] / (scale * d) ** TRUE["beta"]
                values = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: d, M.TOTAL_FLOPS: 6.3 * n * d,
                          M.VAL_LOSS: loss * np.exp(rng.normal(0, 0.01))}
                run = client.create_run(experiment_id)
                tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: f"{gamma}-{n:.0f}-{d:.0f}"}
                client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), 0, 1) for k, v in values.items()],
                                 params=[Param("init.rate", str(gamma))], tags=[RunTag(k, v) for k, v in tags.items()])
                client.set_terminated(run.info.run_id, "FINISHED")
    return mlflow_uri, mlflow_experiment


def test_fit_compare_recovers_a_known_compute_multiplier(two_groups: tuple[str, str], tmp_path: Path) -> None:
    uri, experiment = two_groups
    args = ["fit", "compare", "-e", experiment, "--tracking-uri", uri, "--group-column", "init.rate",
            "--reference", "0.5", "--bootstrap", "100", "-o", str(tmp_path), "--json", str(tmp_path / "c.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "c.json").read_text())
    rows = {row["group"]: row for row in summary["groups"]}
    assert rows["0.5"]["multiplier"] == 1.0
    assert rows["1.0"]["multiplier_lo"] <= RATIO <= rows["1.0"]["multiplier_hi"]
    assert summary["shared_E"] is True and summary["num_points"] == 32
    assert (tmp_path / "compare.png").stat().st_size > 5_000
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    first = client.search_runs([experiment_id], f"tags.`{M.TAG_ANALYSIS}` = 'fit-compare'")
    assert len(first) == 1 and first[0].data.metrics["multiplier/1.0"] == pytest.approx(rows["1.0"]["multiplier"])
    again = runner.invoke(app, [*args[:-4], "--separate-E", "--bootstrap", "0"])
    assert again.exit_code == 0, again.output
    assert "E per group; multipliers at loss" in again.output
    replaced = client.search_runs([experiment_id], f"tags.`{M.TAG_ANALYSIS}` = 'fit-compare'")
    assert len(replaced) == 1 and replaced[0].info.run_id != first[0].info.run_id


@pytest.mark.parametrize(("extra", "message"), [
    (["--group-column", "init.nope"], "--group-column 'init.nope' is not a column"),
    (["--group-column", "init.rate", "--reference", "0.7"], "--reference '0.7' is not a value of 'init.rate'"),
])
def test_fit_compare_mistakes_are_one_line(two_groups: tuple[str, str], tmp_path: Path, extra: list[str],
                                           message: str) -> None:
    uri, experiment = two_groups
    result = runner.invoke(app, ["fit", "compare", "-e", experiment, "--tracking-uri", uri, "--bootstrap", "0",
                                 "-o", str(tmp_path), *extra])
    assert result.exit_code == 1 and message in " ".join(result.output.split())
