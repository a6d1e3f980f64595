"""Analysis runs (analysis.record) on a real temporary sqlite store: one per kind."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow import MlflowClient

from analysis.record import log_analysis_run
from configs import metrics as M
from configs.runs import analysis_filter


def test_a_new_run_replaces_the_previous_one_of_its_kind(mlflow_uri: str, mlflow_experiment: str,
                                                         tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    result = tmp_path / "result.json"
    result.write_text("{}")
    first = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], ["r1", "r2"],
                             {"id_min": 0.9}, {"num_cells": 4.0}, analysis="phase")
    other = log_analysis_run(mlflow_uri, mlflow_experiment, "fit", [], ["r1"], analysis="fit-scaling")
    second = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], ["r1"],
                              analysis="phase")
    phase_runs = client.search_runs([experiment_id], analysis_filter("phase"))
    assert [r.info.run_id for r in phase_runs] == [second]
    assert client.get_run(first).info.lifecycle_stage == "deleted"
    assert client.get_run(other).info.lifecycle_stage == "active"  # another kind stays
    run = client.get_run(second)
    assert run.info.status == "FINISHED"
    assert run.data.tags[M.TAG_KIND] == "analysis" and run.data.tags[M.TAG_ANALYSIS] == "phase"
    assert run.data.tags["scalinglab.num_source_runs"] == "1"
    links = json.loads(Path(client.download_artifacts(second, "source_runs.json", str(tmp_path))).read_text())
    assert links == {"experiment": mlflow_experiment, "run_ids": ["r1"]}


def test_the_kind_defaults_to_the_name(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    log_analysis_run(mlflow_uri, mlflow_experiment, "distortion", [], [])
    latest = log_analysis_run(mlflow_uri, mlflow_experiment, "distortion", [], [])
    assert [r.info.run_id for r in client.search_runs([experiment_id], analysis_filter("distortion"))] == [latest]
