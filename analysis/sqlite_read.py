"""Read-only access to an MLflow sqlite store without importing MLflow (issue 18, item 4).

Importing `mlflow` costs about a second of CPU, most of a read-only command's time, for a
few SELECTs. A sqlite store is read here with the standard library, opened read-only (a
reader never migrates or creates anything), through the tables of MLflow's schema
(`experiments`, `runs`, `tags`, `params`, `latest_metrics`, `metrics`), which MLflow has
kept since 1.x. Other stores (an MLflow server) still go through `MlflowClient`.

Runs come back as `StoredRun`s, shaped like `mlflow.entities.Run` (`.info.run_id`,
`.info.status`, `.data.params`, …) in the parts `analysis.load` reads.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StoredInfo:
    run_id: str
    run_name: str | None
    status: str
    start_time: int | None
    end_time: int | None


@dataclass(frozen=True)
class StoredData:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRun:
    info: StoredInfo
    data: StoredData


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection (`mode=ro`: a missing file is an error, never a new store)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def experiment_id(db: sqlite3.Connection, name: str) -> str | None:
    """The id of the experiment called `name` (any lifecycle stage, as `get_experiment_by_name`), or None."""
    row = db.execute("SELECT experiment_id FROM experiments WHERE name = ?",  # any stage, as MLflow's lookup
                     (name,)).fetchone()
    return None if row is None else str(row[0])


def experiment_names(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM experiments WHERE lifecycle_stage = 'active' ORDER BY name")]


def search_runs(db: sqlite3.Connection, experiment: str, tags: dict[str, str],
                finished: bool | None) -> list[StoredRun]:
    """Active runs of `experiment` carrying every tag of `tags`; `finished` narrows by status."""
    sql = "SELECT run_uuid, name, status, start_time, end_time FROM runs WHERE experiment_id = ? " \
          "AND lifecycle_stage = 'active'"
    args: list[object] = [experiment]
    for key, value in tags.items():
        sql += " AND run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)"
        args += [key, value]
    if finished is not None:
        sql += f" AND status {'=' if finished else '!='} 'FINISHED'"
    # MLflow's default order: newest first
    infos = [StoredInfo(*row) for row in db.execute(sql + " ORDER BY start_time DESC, run_uuid", args)]
    ids = [info.run_id for info in infos]
    params, run_tags = _pairs(db, "params", ids), _pairs(db, "tags", ids)
    metrics = _latest_metrics(db, ids)
    return [StoredRun(info, StoredData(params[info.run_id], run_tags[info.run_id], metrics[info.run_id]))
            for info in infos]


def metric_history(db: sqlite3.Connection, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every logged value of `key`, as MLflow's `get_metric_history` orders them."""
    rows = db.execute("SELECT step, value, is_nan FROM metrics WHERE run_uuid = ? AND key = ? "
                      "ORDER BY timestamp, step, value", (run_id, key))
    return [(int(step), math.nan if is_nan else float(value)) for step, value, is_nan in rows]


def _in(ids: list[str]) -> str:
    return ",".join("?" * len(ids))


def _chunks(ids: list[str], size: int = 900) -> list[list[str]]:
    """sqlite caps bound parameters per statement (999 in old builds)."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _pairs(db: sqlite3.Connection, table: str, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for run_id, key, value in db.execute(
                f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({_in(chunk)})", chunk):
            out[run_id][key] = value
    return out


def _latest_metrics(db: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for run_id, key, value, is_nan in db.execute(
                f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({_in(chunk)})", chunk):
            out[run_id][key] = math.nan if is_nan else float(value)
    return out
