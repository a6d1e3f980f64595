"""Analysis runs (analysis.record) on a real temporary sqlite store: one per kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from analysis.record import _the_one_with_digest, analysis_digest, log_analysis_run, lookup_run_names
from configs import metrics as M
from configs.runs import analysis_filter

ROOT = Path(__file__).resolve().parents[3]


Store = tuple[MlflowClient, str]


@pytest.fixture
def store(mlflow_uri: str, mlflow_experiment: str) -> Store:
    """A client on the test store and the test experiment's id."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    return client, client.get_experiment_by_name(mlflow_experiment).experiment_id


def test_a_new_run_replaces_the_previous_one_of_its_kind(store: Store, mlflow_uri: str, mlflow_experiment: str,
                                                         tmp_path: Path) -> None:
    client, experiment_id = store
    result = tmp_path / "result.json"
    result.write_text("{}")
    r1 = client.create_run(experiment_id, run_name="demo γ0.8 s0").info.run_id
    r2 = client.create_run(experiment_id, run_name="demo γ1.0 s0").info.run_id
    first = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [r1, r2],
                             {"id_min": 0.9}, {"num_cells": 4.0}, analysis="phase")
    other = log_analysis_run(mlflow_uri, mlflow_experiment, "fit", [], [r1], analysis="fit-scaling")
    second = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [r1, "gone"],
                              analysis="phase")
    phase_runs = client.search_runs([experiment_id], analysis_filter("phase"))
    assert [r.info.run_id for r in phase_runs] == [second]
    assert client.get_run(first).info.lifecycle_stage == "deleted"
    assert client.get_run(other).info.lifecycle_stage == "active"  # another kind stays
    run = client.get_run(second)
    assert run.info.status == "FINISHED"
    assert run.data.tags[M.TAG_KIND] == "analysis" and run.data.tags[M.TAG_ANALYSIS] == "phase"
    assert run.data.tags["scalinglab.num_source_runs"] == "2"
    links = json.loads(Path(client.download_artifacts(second, "source_runs.json", str(tmp_path))).read_text())
    # each link names its run as the UI does; an id not in the experiment keeps its place, unnamed
    assert links == {"experiment": mlflow_experiment, "run_ids": [r1, "gone"],
                     "runs": [{"run_id": r1, "run_name": "demo γ0.8 s0"}, {"run_id": "gone", "run_name": None}]}


def test_the_kind_defaults_to_the_name(store: Store, mlflow_uri: str, mlflow_experiment: str) -> None:
    client, experiment_id = store
    log_analysis_run(mlflow_uri, mlflow_experiment, "distortion", [], [])
    latest = log_analysis_run(mlflow_uri, mlflow_experiment, "distortion", [], [])
    assert [r.info.run_id for r in client.search_runs([experiment_id], analysis_filter("distortion"))] == [latest]


def test_names_the_caller_has_are_used_and_the_rest_looked_up(store: Store) -> None:
    client, experiment_id = store
    ids = [client.create_run(experiment_id, run_name=f"demo s{i}").info.run_id for i in range(3)]
    known = {ids[0]: "as the caller read it", ids[1]: None}
    assert lookup_run_names(client, experiment_id, [*ids, "gone"], known) == {
        ids[0]: "as the caller read it", ids[1]: "demo s1", ids[2]: "demo s2", "gone": None}


def test_an_unchanged_analysis_keeps_the_run_that_holds_it(store: Store, mlflow_uri: str, mlflow_experiment: str,
                                                           tmp_path: Path) -> None:
    client, experiment_id = store
    result = tmp_path / "result.json"
    result.write_text('{"a": 1}')
    source = client.create_run(experiment_id).info.run_id
    first = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [source], {"x": 1},
                             analysis="phase")
    again = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [source], {"x": 1},
                             analysis="phase")
    assert again == first
    assert [r.info.run_id for r in client.search_runs([experiment_id], analysis_filter("phase"))] == [first]
    result.write_text('{"a": 2}')  # one byte of one file differs: a new run replaces the old
    changed = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [source], {"x": 1},
                               analysis="phase")
    assert changed != first and client.get_run(first).info.lifecycle_stage == "deleted"
    other_params = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [source], {"x": 2},
                                    analysis="phase")
    assert other_params != changed


def test_the_digest_check_reads_sqlite_without_importing_mlflow(mlflow_uri: str, mlflow_experiment: str,
                                                                tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_text("{}")
    first = log_analysis_run(mlflow_uri, mlflow_experiment, "phase-analysis", [result], [], analysis="phase")
    script = (f"import sys; from pathlib import Path; from analysis.record import log_analysis_run; "
              f"run = log_analysis_run({mlflow_uri!r}, {mlflow_experiment!r}, 'phase-analysis', "
              f"[Path({str(result)!r})], [], analysis='phase'); print(run, 'mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == [first, "False"]


def test_a_server_store_makes_the_same_check(store: Store, mlflow_uri: str, mlflow_experiment: str) -> None:
    client, experiment_id = store
    logged = log_analysis_run(mlflow_uri, mlflow_experiment, "fit", [], ["r"], analysis="fit-scaling")
    runs = client.search_runs([experiment_id], analysis_filter("fit-scaling"))
    assert _the_one_with_digest(runs, analysis_digest("fit", [], ["r"], None, None)) == logged
    assert _the_one_with_digest(runs, analysis_digest("fit", [], ["other"], None, None)) is None
    assert _the_one_with_digest([*runs, *runs], analysis_digest("fit", [], ["r"], None, None)) is None
