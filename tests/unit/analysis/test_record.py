"""Analysis runs (analysis.record) on a real temporary sqlite store: one per kind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

import pytest

from analysis.record import AnalysisRunWriter, log_analysis_run, lookup_run_names
from configs import metrics as M
from configs.runs import analysis_filter

ROOT = Path(__file__).resolve().parents[3]


def test_a_new_run_replaces_the_previous_one_of_its_kind(mlflow_uri: str, mlflow_experiment: str,
                                                         tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
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


def test_the_kind_defaults_to_the_name(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    log_analysis_run(mlflow_uri, mlflow_experiment, "distortion", [], [])
    latest = log_analysis_run(mlflow_uri, mlflow_experiment, "distortion", [], [])
    assert [r.info.run_id for r in client.search_runs([experiment_id], analysis_filter("distortion"))] == [latest]


# A fresh process, as a CLI command is: the writer forks only while no other thread runs, and
# MLflow calls earlier in this pytest process leave threads behind.
WRITER_SCRIPT = """
import json, sys
from analysis.record import AnalysisRunWriter
uri, experiment, result, source, error = sys.argv[1:]
with AnalysisRunWriter(min_free_cpus=0) as writer:  # fork however busy the machine is
    forked = writer.forked
    run_id = writer.log(uri, experiment, "distortion-analysis", [result], [source], {"phi0": 0.5},
                        {"num_runs": 1.0}, analysis="distortion")
    try:
        writer.log(error, experiment, "fit", [], [])  # one writer, one run
    except RuntimeError as err:
        failed = str(err)
with AnalysisRunWriter(min_free_cpus=0) as writer:
    try:
        writer.log(error, experiment, "fit", [], [])
    except RuntimeError as err:
        message = str(err)
print(json.dumps({"forked": forked, "run_id": run_id, "error": message, "second": failed}))
"""


def test_the_writer_process_logs_the_same_run(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    source = client.create_run(experiment_id, run_name="demo λ0.1 s1").info.run_id
    result = tmp_path / "result.json"
    result.write_text("{}")
    done = subprocess.run([sys.executable, "-c", WRITER_SCRIPT, mlflow_uri, mlflow_experiment, str(result), source,
                           "bogus-scheme://x"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-6000:]
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["forked"]  # Linux, one thread: the forked child logged the run
    assert re.match(r"logging the analysis run 'fit' to bogus-scheme://x failed: \w+", reply["error"])
    assert reply["second"] == "an AnalysisRunWriter logs one run; 'fit' needs a writer of its own"
    run = client.get_run(reply["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags[M.TAG_ANALYSIS] == "distortion"
    assert (run.data.params, run.data.metrics) == ({"phi0": "0.5"}, {"num_runs": 1.0})
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"result.json", "source_runs.json"}
    links = json.loads(Path(client.download_artifacts(run.info.run_id, "source_runs.json", str(tmp_path))).read_text())
    assert links["runs"] == [{"run_id": source, "run_name": "demo λ0.1 s1"}]


def test_without_fork_the_writer_logs_from_this_process(mlflow_uri: str, mlflow_experiment: str) -> None:
    with AnalysisRunWriter(min_free_cpus=float("inf")) as writer:  # never a core that free: in-process
        assert not writer.forked
        with pytest.raises(Exception, match="bogus-scheme"):
            writer.log("bogus-scheme://x", mlflow_experiment, "fit", [], [])
        run_id = writer.log(mlflow_uri, mlflow_experiment, "fit", [], [], analysis="fit-scaling")
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.status == "FINISHED"


def test_names_the_caller_has_are_used_and_the_rest_looked_up(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    ids = [client.create_run(experiment_id, run_name=f"demo s{i}").info.run_id for i in range(3)]
    known = {ids[0]: "as the caller read it", ids[1]: None}
    assert lookup_run_names(client, experiment_id, [*ids, "gone"], known) == {
        ids[0]: "as the caller read it", ids[1]: "demo s1", ids[2]: "demo s2", "gone": None}
