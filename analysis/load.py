"""The one place analysis reads MLflow: runs → a tidy table, and per-step histories.

Reading never creates anything: a sqlite URI whose file does not exist is refused before
MLflow is asked (MLflow would create an empty store and run its schema migrations), and
every failure a user can cause is an `AnalysisInputError` with a one-line message.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError

from analysis.errors import AnalysisInputError
from configs import metrics as M
from configs.runs import run_state, trial_filter

# Columns every results table has, besides config columns and metric columns.
ID_COLUMNS = ("run_id", "run_name", "status", "state", "sweep", "trial_id", "config_hash")
SIZE_COLUMNS = {M.NUM_PARAMS: "N", M.TOTAL_TOKENS: "D", M.TOTAL_FLOPS: "C"}
#: MLflow's search cap per call; a sweep with more trial runs than this is not expected.
MAX_RUNS = 50_000


class NoRunsError(AnalysisInputError, LookupError):
    """The experiment is missing or holds no (finished) trial runs."""


class StoreNotFoundError(NoRunsError):
    """The tracking URI names a sqlite file that does not exist (so it holds no runs)."""


class StoreUnreadableError(AnalysisInputError):
    """The tracking store exists but cannot be read (not a database, server unreachable)."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file a `sqlite:///…` URI names, or None for other schemes and in-memory sqlite.

    `sqlite:///runs/mlflow.db` is relative, `sqlite:////abs/mlflow.db` absolute (SQLAlchemy's
    URL rule: what follows the third slash is the path).
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None  # `sqlite://` alone is an in-memory database
    path = unquote(tracking_uri[len("sqlite:///"):].split("?", 1)[0])
    return Path(path) if path and path != ":memory:" else None


def _client(tracking_uri: str) -> MlflowClient:
    """A client on an existing store; refuses a missing sqlite file instead of creating it."""
    path = sqlite_path(tracking_uri)
    if path is not None and not path.is_file():
        raise StoreNotFoundError(
            f"no MLflow store at {path} (from {tracking_uri}); run a sweep first, or pass "
            "--tracking-uri (or --workdir) to point at an existing store.")
    client: MlflowClient = _read(tracking_uri, MlflowClient, tracking_uri)
    return client


def _read(where: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a client method, turning storage failures into one-line `StoreUnreadableError`s."""
    try:
        return call(*args, **kwargs)
    except (MlflowException, SQLAlchemyError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StoreUnreadableError(f"cannot read the MLflow store at {where}: {first}") from err


def _experiment_id(client: MlflowClient, experiment: str, tracking_uri: str) -> str:
    found = _read(tracking_uri, client.get_experiment_by_name, experiment)
    if found is None:
        names = [e.name for e in _read(tracking_uri, client.search_experiments)]
        raise NoRunsError(f"experiment '{experiment}' not found at {tracking_uri}; "
                          f"experiments there: {', '.join(names) or 'none'}")
    return str(found.experiment_id)


def _numeric(series: pd.Series) -> pd.Series:
    converted = pd.to_numeric(series, errors="coerce")
    return converted if converted.notna().sum() == series.notna().sum() else series


def load_runs(tracking_uri: str, experiment: str, include_unfinished: bool = False) -> pd.DataFrame:
    """One row per trial run of `experiment`: ids, state, config columns, N, D, C, final metrics.

    Config columns are the dotted config paths (``init.rate``, ``optim.weight_decay``, …)
    as numbers where they are numeric. Metric columns are the `configs.metrics` keys holding
    each run's last logged value (MLflow's "latest" = highest step). `state` is
    `configs.runs.run_state`: finished, running, failed, diverged or killed.

    Args:
        tracking_uri: MLflow tracking URI of an existing store.
        experiment: Experiment name.
        include_unfinished: Also return runs that are not finished (by the one rule of
            `configs.runs`: MLflow status FINISHED), e.g. to count diverged runs.

    Raises:
        StoreNotFoundError: the URI names a sqlite file that does not exist.
        StoreUnreadableError: the store cannot be read.
        NoRunsError: the experiment does not exist or has no (finished) trial runs.
    """
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, experiment, tracking_uri)
    query = trial_filter(finished=None if include_unfinished else True)
    runs = _read(tracking_uri, client.search_runs, [experiment_id], query, max_results=MAX_RUNS)
    if not runs:
        raise NoRunsError(f"experiment '{experiment}' at {tracking_uri} has no "
                          f"{'' if include_unfinished else 'finished '}trial runs"
                          f"{'' if include_unfinished else _unfinished_note(client, experiment_id)}")
    table = pd.DataFrame([_row(run) for run in runs])
    for column in table.columns:
        if column not in ID_COLUMNS:
            table[column] = _numeric(table[column])
    return table.sort_values(["sweep", "trial_id"]).reset_index(drop=True)


def _unfinished_note(client: MlflowClient, experiment_id: str) -> str:
    """' yet (2 running, 1 diverged)' style tail naming the runs that are not finished."""
    others = client.search_runs([experiment_id], trial_filter(finished=False), max_results=MAX_RUNS)
    counts = Counter(run_state(r.info.status, r.data.tags) for r in others)
    listed = ", ".join(f"{num} {state}" for state, num in sorted(counts.items()))
    return f" yet ({listed})" if listed else " yet"


def _row(run: Any) -> dict[str, object]:
    info, data = run.info, run.data
    row: dict[str, object] = {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "status": info.status,
        "state": run_state(info.status, data.tags),
        "sweep": data.tags.get(M.TAG_SWEEP),
        "trial_id": data.tags.get(M.TAG_TRIAL_ID),
        "config_hash": data.tags.get(M.TAG_CONFIG_HASH),
    }
    row.update(data.params)
    for key, column in SIZE_COLUMNS.items():
        row[column] = data.metrics.get(key)
    row.update(data.metrics)
    return row


def load_history(tracking_uri: str, run_ids: list[str], keys: list[str]) -> pd.DataFrame:
    """Per-step values of `keys` for `run_ids`, long format: run_id, key, step, value.

    Raises:
        StoreNotFoundError: the URI names a sqlite file that does not exist.
        StoreUnreadableError: the store cannot be read.
    """
    client = _client(tracking_uri)
    records = [
        {"run_id": run_id, "key": key, "step": m.step, "value": m.value}
        for run_id in run_ids
        for key in keys
        for m in _read(tracking_uri, client.get_metric_history, run_id, key)
    ]
    return pd.DataFrame(records, columns=["run_id", "key", "step", "value"])
