"""Every per-run table the distortion analysis writes names its runs: run_name and the sweep's axes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from analysis.distortion.data import load_distortion_data
from analysis.distortion.laws import LawSettings
from analysis.distortion.report import DistortionSettings, compute_tables, write_tables


def test_each_written_table_with_a_run_id_carries_its_run_name_and_axes(mlflow_uri: str, anchor_experiment: str,
                                                                       tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(anchor_experiment).experiment_id
    names = {run.info.run_id: run.info.run_name for run in client.search_runs([experiment_id])}
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    assert data.axes == ["init.rate", "optim.weight_decay"]
    files = write_tables(compute_tables(data, DistortionSettings(phi0=0.7, laws=LawSettings(num_resamples=4)), 0.7),
                         {}, tmp_path)
    per_run = {name: pd.read_csv(path) for name, path in files.items() if path.suffix == ".csv"}
    per_run = {name: table for name, table in per_run.items() if "run_id" in table and len(table)}
    assert {"pareto", "stopping", "metastable_points", "metastable_runs", "ratedist", "calibration"} <= set(per_run)
    for name, table in per_run.items():
        assert {"run_name", *data.axes} <= set(table.columns), (name, list(table.columns))
        assert table["run_name"].tolist() == table["run_id"].map(names).tolist(), name
    summary = json.loads(files["summary"].read_text())["tables"]
    assert all(row["run_name"] == names[row["run_id"]] for row in summary["pareto"])
