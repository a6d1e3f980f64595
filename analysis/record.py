"""Log an analysis back to MLflow as its own run, linked to the runs it was computed from.

An experiment holds at most one analysis run of each kind ("phase", "fit-scaling", …):
logging one replaces the previous run of that kind, so re-running an analysis does not
pile up runs in the MLflow UI.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from configs import metrics as M
from configs.runs import KIND_ANALYSIS, analysis_filter


def log_analysis_run(
    tracking_uri: str,
    experiment: str,
    name: str,
    files: list[Path],
    source_run_ids: list[str],
    params: dict[str, object] | None = None,
    values: dict[str, float] | None = None,
    *,
    analysis: str | None = None,
) -> str:
    """Log a FINISHED analysis run holding `files`, params and values; replace the previous one.

    The run is tagged `kind=analysis` and `M.TAG_ANALYSIS=<analysis>`. Previous runs of the
    same kind in the experiment (found by `configs.runs.analysis_filter`) are deleted
    (MLflow's soft delete: they leave the UI and searches, and `mlflow gc` purges them).
    They are deleted after the new run is complete, not before, so a failure while logging
    leaves the previous analysis in place instead of none.

    The link back is a `source_runs.json` artifact listing every source run id, plus a tag
    with their count (tags are capped at 5,000 characters, so the list itself is an artifact).

    Args:
        tracking_uri: MLflow tracking URI.
        experiment: Experiment to log into (created if missing).
        name: Run name shown in the UI.
        files: Files to attach as artifacts.
        source_run_ids: Runs the analysis was computed from.
        params: Settings of the analysis, logged as params.
        values: Headline numbers, logged as metrics.
        analysis: Kind of the analysis (which earlier run it replaces); default `name`.

    Returns:
        The new run's id.
    """
    kind = analysis or name
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    previous = [r.info.run_id for r in client.search_runs([experiment_id], analysis_filter(kind))]
    run = client.create_run(experiment_id, run_name=name,
                            tags={M.TAG_KIND: KIND_ANALYSIS, M.TAG_ANALYSIS: kind})
    run_id: str = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in (values or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        tags=[RunTag("scalinglab.num_source_runs", str(len(source_run_ids)))],
    )
    with tempfile.TemporaryDirectory() as tmp:
        links = Path(tmp) / "source_runs.json"
        links.write_text(json.dumps({"experiment": experiment, "run_ids": source_run_ids}, indent=1))
        client.log_artifact(run_id, str(links))
    for path in files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED")
    for old in previous:
        client.delete_run(old)
    return run_id
