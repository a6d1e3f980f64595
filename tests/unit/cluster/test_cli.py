"""The `scalinglab` CLI on small experiments logged to a real (temporary) MLflow store.

Runs are logged directly with MlflowClient, as a trainer would log them, so these tests
exercise the CLI → analysis → MLflow path in seconds without training anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from typer.testing import CliRunner

from cluster.cli import app
from configs import metrics as M

runner = CliRunner()
TRUE = {"E": 1.8, "A": 50.0, "B": 200.0, "alpha": 0.35, "beta": 0.4}


def _log_run(client: MlflowClient, experiment_id: str, params: dict, values: dict, trial_id: str) -> None:
    run = client.create_run(experiment_id)
    tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: trial_id, M.TAG_CONFIG_HASH: trial_id * 4}
    client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), 0, 1) for k, v in values.items()],
                     params=[Param(k, str(v)) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, "FINISHED")


@pytest.fixture
def ladder(mlflow_uri: str, mlflow_experiment: str) -> tuple[str, str]:
    """A 4 × 4 (N, D) ladder whose losses follow a known Chinchilla law with 0.5 % noise."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    rng = np.random.default_rng(0)
    for i, n in enumerate([1e4, 3e4, 1e5, 3e5]):
        for j, d in enumerate([1e6, 3e6, 1e7, 3e7]):
            loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
            values = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: d, M.TOTAL_FLOPS: 6 * n * d, M.ENTROPY_FLOOR: TRUE["E"],
                      M.VAL_LOSS: loss * np.exp(rng.normal(0, 0.005))}
            _log_run(client, experiment_id, {"init.rate": 0.5 if i % 2 else 1.0}, values, f"t{i}{j}")
    return mlflow_uri, mlflow_experiment


def test_fit_scaling_from_experiment_writes_json_plots_and_analysis_run(ladder: tuple[str, str], tmp_path: Path) -> None:
    uri, experiment = ladder
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", "scaling", "-e", experiment, "--tracking-uri", uri, "--bootstrap", "50",
                                 "-o", str(out), "--json", str(tmp_path / "fit.json")])
    assert result.exit_code == 0, result.output
    fitted = json.loads((tmp_path / "fit.json").read_text())
    assert set(fitted["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert fitted["params"]["E"] == pytest.approx(TRUE["E"], rel=0.1)
    low, high = fitted["intervals"]["E"]
    assert low <= TRUE["E"] <= high
    assert fitted["true_entropy_floor"] == pytest.approx(TRUE["E"])
    assert fitted["intervals"]["num_resamples"] == 50
    assert {"loss_vs_N.png", "loss_vs_D.png", "loss_vs_C.png", "scaling_fit.json"} <= {p.name for p in out.iterdir()}
    assert fitted["holdout"]["rule"] == "3 largest by C" and fitted["holdout"]["num_held_out"] == 3
    names = {r.info.run_id: r.info.run_name for r in MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment).experiment_id])}
    held = fitted["holdout"]["rows"]
    assert all(row["run_name"] == names[row["run_id"]] and row["init.rate"] in (0.5, 1.0) for row in held), held
    assert fitted["flops"]["convention"] == "scalinglab" and fitted["num_left_out"] == {}
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    analysis_runs = client.search_runs([experiment_id], f"tags.`{M.TAG_KIND}` = 'analysis'")
    assert len(analysis_runs) == 1 and analysis_runs[0].data.params["form"] == "chinchilla"
    assert analysis_runs[0].data.tags[M.TAG_ANALYSIS] == "fit-scaling"
    again = runner.invoke(app, ["fit", "scaling", "-e", experiment, "--tracking-uri", uri, "--bootstrap", "0",
                                "-o", str(out)])
    assert again.exit_code == 0, again.output
    replaced = client.search_runs([experiment_id], f"tags.`{M.TAG_KIND}` = 'analysis'")
    assert len(replaced) == 1 and replaced[0].info.run_id != analysis_runs[0].info.run_id


def test_fit_scaling_from_csv_with_holdout(tmp_path: Path) -> None:
    n, d = np.meshgrid([1e4, 3e4, 1e5, 3e5, 1e6], [1e6, 1e7, 1e8])
    loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
    csv = tmp_path / "points.csv"
    csv.write_text("N,D,loss\n" + "\n".join(f"{a},{b},{c}" for a, b, c in zip(n.ravel(), d.ravel(), loss.ravel())))
    result = runner.invoke(app, ["fit", "scaling", "--csv", str(csv), "--bootstrap", "0", "--holdout", "N:1e6",
                                 "--flops-convention", "6nd", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "held-out extrapolation (3 runs, N ≥ 1e+06; fitted on 12)" in result.output
    assert "assumes C = k·N·D, k = 6 (6nd convention; runs span k 6..6)" in result.output


def test_fit_scaling_refuses_both_sources() -> None:
    result = runner.invoke(app, ["fit", "scaling", "-e", "x", "--csv", "y.csv"])
    assert result.exit_code != 0
    assert "exactly one of -e/--experiment or --csv" in result.output


def test_fit_density_within_study_recovers_a_known_density(mlflow_uri: str, mlflow_experiment: str,
                                                             tmp_path: Path) -> None:
    """Target runs reach the loss the reference law gives at 2·N, so their density is 2."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    law = lambda n: TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"]  # noqa: E731  (fixed D)
    for i, n in enumerate([1e4, 3e4, 1e5, 3e5, 1e6, 3e6]):
        _log_run(client, experiment_id, {"init.rate": 0.5}, {M.NUM_PARAMS: n, M.VAL_LOSS: law(n)}, f"r{i}")
    for i, n in enumerate([3e4, 3e5]):
        _log_run(client, experiment_id, {"init.rate": 1.0}, {M.NUM_PARAMS: n, M.VAL_LOSS: law(2 * n)}, f"t{i}")
    result = runner.invoke(app, ["fit", "density", "-e", mlflow_experiment, "--tracking-uri", mlflow_uri,
                                 "--group-column", "init.rate", "--reference", "0.5", "--target", "1.0",
                                 "--bootstrap", "50", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "mean density ρ = 2.000" in result.output
    written = pd.read_csv(tmp_path / "density_runs.csv")
    names = {r.info.run_id: r.info.run_name for r in client.search_runs([experiment_id])}
    assert written["run_name"].tolist() == written["run_id"].map(names).tolist() and len(written) == 2
    assert (written["init.rate"] == 1.0).all()  # the sweep's varying column, constant among the targets


def test_validate_reports_a_bad_sweep_and_exits_2(tmp_path: Path) -> None:
    sweep = tmp_path / "bad.yaml"
    sweep.write_text("name: bad\nbase: {model: {d_modle: 64}}\n")
    result = runner.invoke(app, ["validate", str(sweep)])
    assert result.exit_code == 2
    assert "d_modle" in result.output and "did you mean 'd_model'" in result.output


def test_fit_density_catalog_recovers_a_known_doubling_time(tmp_path: Path) -> None:
    """A synthetic catalog whose frontier models double their density every 12 months."""
    law = lambda n: TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"]  # noqa: E731
    sizes = np.array([1e4, 3e4, 1e5, 3e5, 1e6, 3e6])
    (tmp_path / "family.csv").write_text("N,loss\n" + "\n".join(f"{n},{law(n)}" for n in sizes))
    rows = []
    for year in range(6):  # each year a model of the same size that is 2x denser
        rows.append(f"m{year},{2020 + year}-01-01,1e5,{law(1e5 * 2.0 ** year)}")
    (tmp_path / "catalog.csv").write_text("name,date,params,loss\n" + "\n".join(rows))
    result = runner.invoke(app, ["fit", "density", "--catalog", str(tmp_path / "catalog.csv"),
                                 "--reference-csv", str(tmp_path / "family.csv"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "doubling time 12.0 months" in result.output
    assert (tmp_path / "out" / "density_trend.png").stat().st_size > 5_000


@pytest.mark.parametrize(("name", "loss_metric", "kind"), [
    ("fit-scaling", M.VAL_LOSS, "fit-scaling"),
    ("fit-scaling", "distortion/code", "fit-scaling:distortion/code"),
    ("fit-compare", M.VAL_LOSS, "fit-compare"),
])
def test_analysis_kind_names_the_loss_metric_only_when_it_is_not_the_default(name: str, loss_metric: str,
                                                                             kind: str) -> None:
    from cluster.cli.fit import analysis_kind

    assert analysis_kind(name, loss_metric) == kind
