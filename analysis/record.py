"""Log an analysis back to MLflow as its own run, linked to the runs it was computed from.

An experiment holds at most one analysis run of each kind ("phase", "fit-scaling", …):
logging one replaces the previous run of that kind, so re-running an analysis does not
pile up runs in the MLflow UI. Re-running it on unchanged runs with unchanged settings
gives byte-identical files (the bootstraps are seeded), and then the run MLflow already
holds is kept as it is: its digest tag (`analysis_digest`: the files, params, values and
source runs) matches, so nothing is written, and on a sqlite store nothing of MLflow is
even imported (the check reads the store directly, `analysis.sqlite_read`).

MLflow is imported inside the functions: its import (~0.5 s for `mlflow`, which any
`mlflow.*` module pulls in, plus ~0.5 s for the sqlite store's module) is ~5-15 times what
logging the run itself costs, so a command pays it only when it logs. (Overlapping that
import with the command's work in a forked process was measured: it saved ~0.8 s with an
idle core and cost 0.6-2.7 s on this busy 2-core machine, so it was not kept.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from configs import metrics as M
from configs.runs import KIND_ANALYSIS, analysis_filter

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: Run ids per `attributes.run_id IN (…)` search (keeps the SQL statement short).
NAME_QUERY_CHUNK = 100


def lookup_run_names(client: MlflowClient, experiment_id: str, run_ids: Sequence[str],
                     known: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
    """The readable name (tag `mlflow.runName`) of each run id; None for one not in the experiment.

    Names in `known` (what the caller read with the runs) are taken as they are; the rest are
    searched for, `NAME_QUERY_CHUNK` ids per query.
    """
    from mlflow.entities import ViewType

    names: dict[str, str | None] = {r: (known or {}).get(r) for r in run_ids}
    missing = [r for r in run_ids if names[r] is None]
    for start in range(0, len(missing), NAME_QUERY_CHUNK):
        chunk = missing[start:start + NAME_QUERY_CHUNK]
        quoted = ", ".join("'" + r.replace("'", "") + "'" for r in chunk)
        for run in client.search_runs([experiment_id], f"attributes.run_id IN ({quoted})",
                                      run_view_type=ViewType.ALL, max_results=len(chunk)):
            names[run.info.run_id] = run.info.run_name
    return names


def log_analysis_run(
    tracking_uri: str,
    experiment: str,
    name: str,
    files: Sequence[Path],
    source_run_ids: Sequence[str],
    params: dict[str, object] | None = None,
    values: dict[str, float] | None = None,
    *,
    analysis: str | None = None,
    source_run_names: Mapping[str, str | None] | None = None,
) -> str:
    """Log a FINISHED analysis run holding `files`, params and values; replace the previous one.

    The run is tagged `kind=analysis` and `M.TAG_ANALYSIS=<analysis>`. Previous runs of the
    same kind in the experiment (found by `configs.runs.analysis_filter`) are deleted
    (MLflow's soft delete: they leave the UI and searches, and `mlflow gc` purges them).
    They are deleted after the new run is complete, not before, so a failure while logging
    leaves the previous analysis in place instead of none.

    The link back is a `source_runs.json` artifact: `run_ids` (every source run id) and
    `runs` (one `{"run_id", "run_name"}` per source run, the name MLflow's UI shows), plus a
    tag with their count (tags are capped at 5,000 characters, so the list is an artifact).

    Args:
        tracking_uri: MLflow tracking URI.
        experiment: Experiment to log into (created if missing).
        name: Run name shown in the UI.
        files: Files to attach as artifacts.
        source_run_ids: Runs the analysis was computed from.
        params: Settings of the analysis, logged as params.
        values: Headline numbers, logged as metrics.
        analysis: Kind of the analysis (which earlier run it replaces); default `name`.
        source_run_names: Run id → name, where the caller has them (the rest are looked up).

    Returns:
        The new run's id, or the id of the run already holding this very analysis.
    """
    kind = analysis or name
    digest = analysis_digest(name, files, source_run_ids, params, values)
    if (unchanged := _sqlite_run_with_digest(tracking_uri, experiment, kind, digest)) is not None:
        return unchanged
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    previous = client.search_runs([experiment_id], analysis_filter(kind))
    if (unchanged := _the_one_with_digest(previous, digest)) is not None:  # a server store
        return unchanged
    names = lookup_run_names(client, experiment_id, list(source_run_ids), source_run_names)
    run = client.create_run(experiment_id, run_name=name,
                            tags={M.TAG_KIND: KIND_ANALYSIS, M.TAG_ANALYSIS: kind})
    run_id: str = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), 0, 0) for k, v in (values or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        tags=[RunTag("scalinglab.num_source_runs", str(len(source_run_ids))),
              RunTag(M.TAG_ANALYSIS_DIGEST, digest)],
    )
    with tempfile.TemporaryDirectory() as tmp:
        links = Path(tmp) / "source_runs.json"
        links.write_text(json.dumps({"experiment": experiment, "run_ids": list(source_run_ids),
                                     "runs": [{"run_id": r, "run_name": n} for r, n in names.items()]}, indent=1))
        client.log_artifact(run_id, str(links))
    for path in files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED")  # last: a FINISHED run with a digest holds all its files
    for old in previous:
        client.delete_run(old.info.run_id)
    return run_id


def analysis_digest(name: str, files: Sequence[Path], source_run_ids: Sequence[str],
                    params: Mapping[str, object] | None, values: Mapping[str, float] | None) -> str:
    """sha256 of what an analysis run would hold: its name, params, values, sources and files' bytes."""
    header = {"name": name, "params": {k: str(v) for k, v in (params or {}).items()},
              "values": {k: float(v) for k, v in (values or {}).items()}, "sources": list(source_run_ids)}
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for path in files:
        digest.update(Path(path).name.encode() + b"\0")
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _the_one_with_digest(runs: Sequence[Any], digest: str) -> str | None:
    """The run id if `runs` (MLflow's or `sqlite_read`'s) is one FINISHED run tagged `digest`, else None."""
    if len(runs) != 1:
        return None
    run = runs[0]
    found = run.info.status == "FINISHED" and run.data.tags.get(M.TAG_ANALYSIS_DIGEST) == digest
    return str(run.info.run_id) if found else None


def _sqlite_run_with_digest(tracking_uri: str, experiment: str, kind: str, digest: str) -> str | None:
    """`_the_one_with_digest` of the kind's analysis runs, read directly from a sqlite store.

    None for other stores, a missing file, or a store that cannot be read now: the caller then
    goes through MLflow, which makes the same check and reports a real failure properly.
    """
    from analysis import sqlite_read
    from analysis.load import sqlite_path

    path = sqlite_path(tracking_uri)
    if path is None or not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite_read.connect(path)) as db:
            experiment_id = sqlite_read.experiment_id(db, experiment)
            if experiment_id is None:
                return None
            runs = sqlite_read.search_runs(db, experiment_id, {M.TAG_KIND: KIND_ANALYSIS, M.TAG_ANALYSIS: kind},
                                           finished=None)
    except sqlite3.Error:
        return None
    return _the_one_with_digest(runs, digest)
