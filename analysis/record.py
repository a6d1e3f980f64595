"""Log an analysis back to MLflow as its own run, linked to the runs it was computed from.

An experiment holds at most one analysis run of each kind ("phase", "fit-scaling", …):
logging one replaces the previous run of that kind, so re-running an analysis does not
pile up runs in the MLflow UI.

MLflow is imported inside the functions: its import (~0.5 s for `mlflow`, which any
`mlflow.*` module pulls in, plus ~0.5 s for the sqlite store's module) is ~5-15 times what
logging the run itself costs, so a command pays it only when it logs, and
`AnalysisRunWriter` lets a command pay it in a forked process while it computes (when a
core is free to run it).
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.process
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

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
        The new run's id.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    kind = analysis or name
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    previous = [r.info.run_id for r in client.search_runs([experiment_id], analysis_filter(kind))]
    names = lookup_run_names(client, experiment_id, list(source_run_ids), source_run_names)
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
        links.write_text(json.dumps({"experiment": experiment, "run_ids": list(source_run_ids),
                                     "runs": [{"run_id": r, "run_name": n} for r, n in names.items()]}, indent=1))
        client.log_artifact(run_id, str(links))
    for path in files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED")
    for old in previous:
        client.delete_run(old)
    return run_id


@dataclass(frozen=True)
class AnalysisRunJob:
    """The arguments of one `log_analysis_run` call, as sent to the writer process."""

    tracking_uri: str
    experiment: str
    name: str
    files: list[str]
    source_run_ids: list[str]
    params: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    analysis: str | None = None
    source_run_names: dict[str, str | None] = field(default_factory=dict)

    def run(self) -> str:
        """`log_analysis_run` with these arguments; the new run's id."""
        return log_analysis_run(self.tracking_uri, self.experiment, self.name, [Path(f) for f in self.files],
                                self.source_run_ids, dict(self.params), self.values, analysis=self.analysis,
                                source_run_names=self.source_run_names)


class AnalysisRunWriter:
    """`log_analysis_run` from a forked child that imports MLflow while the caller computes.

    The child is forked at once (it shares what the caller has imported so far, so it adds
    no CPU work of its own), imports MLflow (~1 s, overlapping the caller's imports, tables
    and figures when a core is free) and waits for one job on a pipe. It opens no store before
    a job arrives, so a command that fails first leaves nothing behind: the child is killed on
    close. `log` sends the job and waits for the run id; an error in the child is raised here
    with its message. Use as a context manager.

    `log` logs from this process instead where fork is unsafe (no "fork" start method, or the
    caller already runs threads) and where fewer than `min_free_cpus` cores are idle (usable
    CPUs minus the 1-minute load average): with every core busy the two processes take turns
    on one and the command got slower, not faster (`distortion` on this project's shared
    2-core machine, a colleague's sweep running: 3.3 s in-process, 3.9-6.0 s forked).
    """

    def __init__(self, min_free_cpus: float = 1.0) -> None:
        self._sent = False
        self._child: multiprocessing.process.BaseProcess | None = None
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if ("fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1
                or max(cpus - os.getloadavg()[0], 0.0) < min_free_cpus):
            return
        context = multiprocessing.get_context("fork")
        self._conn, child_end = context.Pipe()
        self._child = context.Process(target=_serve, args=(child_end,), daemon=True, name="analysis-run-writer")
        self._child.start()
        child_end.close()

    @property
    def forked(self) -> bool:
        """Whether a child process logs the run (else `log` logs from this process)."""
        return self._child is not None

    def log(self, tracking_uri: str, experiment: str, name: str, files: Sequence[Path], source_run_ids: Sequence[str],
            params: dict[str, object] | None = None, values: dict[str, float] | None = None, *,
            analysis: str | None = None, source_run_names: Mapping[str, str | None] | None = None) -> str:
        """As `log_analysis_run` (params are logged as strings either way)."""
        job = AnalysisRunJob(tracking_uri, experiment, name, [str(f) for f in files], list(source_run_ids),
                             {k: str(v) for k, v in (params or {}).items()},
                             {k: float(v) for k, v in (values or {}).items()}, analysis, dict(source_run_names or {}))
        if self._child is None:
            return job.run()
        if self._sent:
            raise RuntimeError(f"an AnalysisRunWriter logs one run; '{name}' needs a writer of its own")
        self._sent = True
        try:
            self._conn.send(job)
            status, value = self._conn.recv()
        except (EOFError, OSError):  # the child died without a word (killed, out of memory)
            self._child.join()
            status, value = "error", f"the writer process ended with exit code {self._child.exitcode}"
        if status != "ok":
            raise RuntimeError(f"logging the analysis run '{name}' to {tracking_uri} failed: {value}")
        return str(value)

    def close(self) -> None:
        """Kill the child if no job was sent (it has written nothing); else wait for its exit."""
        if self._child is None:
            return
        if not self._sent:
            self._child.kill()
        self._child.join()
        self._conn.close()

    def __enter__(self) -> AnalysisRunWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _serve(conn: Connection) -> None:
    """The writer child: import MLflow first, then log the one job it is sent and reply."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 (the cost to pay before the job arrives)

    try:
        job = conn.recv()
    except EOFError:  # the caller closed without a job
        return
    try:
        conn.send(("ok", job.run()))
    except Exception as err:  # noqa: BLE001 (any failure goes back to the caller, which raises it)
        conn.send(("error", f"{type(err).__name__}: {err}"))
