"""The one place analysis reads MLflow: runs → a tidy table, and per-step histories.

One row per identity and measurement: a trial rerun (or logged twice) leaves several runs of the
same training, which a fit must count once. `load_runs` keeps the newest finished run of each
(identity, measurement) and says how many runs it dropped (`DuplicateRunsWarning`; the CLIs
print it). Runs of one identity that measured differently (an `eval.*` grid) are all kept.

Reading never creates anything: a sqlite URI whose file does not exist is refused before
MLflow is asked (MLflow would create an empty store and run its schema migrations), and
every failure a user can cause is an `AnalysisInputError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pandas as pd

from analysis import sqlite_read
from analysis.errors import AnalysisInputError, DuplicateRunsWarning
from configs import metrics as M
from configs.identity import ADDED_AT_DEFAULT, IDENTITY_FIELDS
from configs.runs import KIND_TRIAL, run_state, trial_filter

if TYPE_CHECKING:  # mlflow loads only for a non-sqlite store: a sqlite one is read directly
    from mlflow import MlflowClient

# Columns every results table has, besides config columns and metric columns.
ID_COLUMNS = ("run_id", "run_name", "status", "state", "sweep", "trial_id", "config_hash", "identity_version",
              "measurement_hash")
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


def _existing_sqlite(tracking_uri: str) -> Path | None:
    """The sqlite file of the URI (None for other stores); refuses a missing one instead of creating it."""
    path = sqlite_path(tracking_uri)
    if path is not None and not path.is_file():
        raise StoreNotFoundError(
            f"no MLflow store at {path} (from {tracking_uri}); run a sweep first, or pass "
            "--tracking-uri (or --workdir) to point at an existing store.")
    return path


def _client(tracking_uri: str) -> MlflowClient:
    """A client on an existing non-sqlite store (a server)."""
    from mlflow import MlflowClient

    client: MlflowClient = _read(tracking_uri, MlflowClient, tracking_uri)
    return client


def _read(where: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a store method, turning storage failures into one-line `StoreUnreadableError`s."""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    if "mlflow" in sys.modules:  # a client call: its errors too (importing them would cost mlflow's import)
        from mlflow.exceptions import MlflowException
        from sqlalchemy.exc import SQLAlchemyError

        errors += (MlflowException, SQLAlchemyError)
    try:
        return call(*args, **kwargs)
    except errors as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StoreUnreadableError(f"cannot read the MLflow store at {where}: {first}") from err


def _trial_runs(tracking_uri: str, experiment: str, finished: bool | None) -> list[Any]:
    """The trial runs of `experiment` (`configs.runs.trial_filter`), read directly from a sqlite store."""
    path = _existing_sqlite(tracking_uri)
    if path is None:
        client = _client(tracking_uri)
        experiment_id = _experiment_id(client, experiment, tracking_uri)
        return list(_read(tracking_uri, client.search_runs, [experiment_id], trial_filter(finished=finished),
                          max_results=MAX_RUNS))
    with contextlib.closing(_read(tracking_uri, sqlite_read.connect, path)) as db:
        found = _read(tracking_uri, sqlite_read.experiment_id, db, experiment)
        if found is None:
            names = _read(tracking_uri, sqlite_read.experiment_names, db)
            raise NoRunsError(f"experiment '{experiment}' not found at {tracking_uri}; "
                              f"experiments there: {', '.join(names) or 'none'}")
        runs: list[Any] = _read(tracking_uri, sqlite_read.search_runs, db, found, {M.TAG_KIND: KIND_TRIAL}, finished)
        return runs


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

    One row per identity (`run_identity`): its newest finished run, else (with
    `include_unfinished`) its newest run; a `DuplicateRunsWarning` says how many were dropped.

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
    runs = _trial_runs(tracking_uri, experiment, finished=None if include_unfinished else True)
    if not runs:
        raise NoRunsError(f"experiment '{experiment}' at {tracking_uri} has no "
                          f"{'' if include_unfinished else 'finished '}trial runs"
                          f"{'' if include_unfinished else _unfinished_note(tracking_uri, experiment)}")
    runs = _newest_per_identity(runs)
    raw = pd.DataFrame([_row(run) for run in runs])
    # one frame built at once: column-by-column replacement fragments a table of hundreds of metrics
    table = pd.DataFrame({c: raw[c] if c in ID_COLUMNS else _numeric(raw[c]) for c in raw.columns})
    return table.sort_values(["sweep", "trial_id"]).reset_index(drop=True)


def run_identity(params: dict[str, str], tags: dict[str, str], run_id: str) -> tuple[str | None, ...]:
    """What a run trained, as far as its params and tags tell: two runs with one key are duplicates.

    A run that logged every `configs.identity.IDENTITY_FIELDS` param is keyed by their values
    (and by the step a cool-down branch left from). That holds for runs of either identity
    version, so a run logged before version 2 and its rerun that differed only in, say, eval
    settings are one identity. Other runs are keyed by their config-hash tag; a run without
    one is an identity of its own. The key ends with the run's measurement tag (None on runs
    logged before it), so measurement runs of one identity are not duplicates.
    """
    measurement = tags.get(M.TAG_MEASUREMENT_HASH)
    # A run logged before a field joined ADDED_AT_DEFAULT trained at that default (params are str()).
    params = {**{path: str(default) for path, default in ADDED_AT_DEFAULT.items()}, **params}
    if all(path in params for path in IDENTITY_FIELDS):
        return ("params", *(params[path] for path in IDENTITY_FIELDS), tags.get(M.TAG_COOLDOWN_OF_STEP), measurement)
    return ("config_hash", tags.get(M.TAG_CONFIG_HASH) or run_id, measurement)


def _newest_per_identity(runs: list[Any]) -> list[Any]:
    """The newest finished run of each identity, else its newest run; warns when it drops any."""
    groups: dict[tuple[str | None, ...], list[Any]] = {}
    for run in runs:
        groups.setdefault(run_identity(run.data.params, run.data.tags, run.info.run_id), []).append(run)

    def recency(run: Any) -> tuple[bool, int]:
        return run.info.status == "FINISHED", run.info.end_time or run.info.start_time or 0

    kept = {max(group, key=recency).info.run_id for group in groups.values()}
    duplicated = [group for group in groups.values() if len(group) > 1]
    if duplicated:
        num_dropped = len(runs) - len(kept)
        unfinished = any(all(run.info.status != "FINISHED" for run in group) for group in duplicated)
        warnings.warn(DuplicateRunsWarning(
            f"dropped {num_dropped} duplicate run{'s' * (num_dropped > 1)} of {len(duplicated)} "
            f"identit{'ies' if len(duplicated) > 1 else 'y'} (newest finished kept"
            f"{', else the newest' if unfinished else ''})"), stacklevel=3)
    return [run for run in runs if run.info.run_id in kept]


def _unfinished_note(tracking_uri: str, experiment: str) -> str:
    """' yet (2 running, 1 diverged)' style tail naming the runs that are not finished."""
    others = _trial_runs(tracking_uri, experiment, finished=False)
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
        "identity_version": data.tags.get(M.TAG_IDENTITY_VERSION, "1"),
        "measurement_hash": data.tags.get(M.TAG_MEASUREMENT_HASH),
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
    path = _existing_sqlite(tracking_uri)
    if path is not None:
        with contextlib.closing(_read(tracking_uri, sqlite_read.connect, path)) as db:
            records = [{"run_id": run_id, "key": key, "step": step, "value": value}
                       for run_id in run_ids for key in keys
                       for step, value in _read(tracking_uri, sqlite_read.metric_history, db, run_id, key)]
        return pd.DataFrame(records, columns=["run_id", "key", "step", "value"])
    client = _client(tracking_uri)
    records = [
        {"run_id": run_id, "key": key, "step": m.step, "value": m.value}
        for run_id in run_ids
        for key in keys
        for m in _read(tracking_uri, client.get_metric_history, run_id, key)
    ]
    return pd.DataFrame(records, columns=["run_id", "key", "step", "value"])


def last_finite(tracking_uri: str, run_ids: list[str], keys: list[str]) -> pd.DataFrame:
    """Per run (index run_id): each key's last finite value, and `diverged_at_step`.

    A diverged run's latest value of a metric is the non-finite one the trainer logged at the
    step it diverged (trainers/lifecycle.py), so MLflow's "latest" hides what it reached;
    this reads the histories instead. `diverged_at_step` is the first step at which any of
    `keys` was non-finite, else its last logged step (a run that diverged in its parameters
    logs finite values at the step it stopped). Runs with no history of `keys` are absent.
    """
    history = load_history(tracking_uri, run_ids, keys).sort_values("step", kind="stable")
    # MLflow's sqlite store keeps ±inf as ±sys.float_info.max: that counts as non-finite too
    if history.empty:
        return pd.DataFrame(columns=["diverged_at_step"])
    finite = history.loc[pd.to_numeric(history["value"]).map(lambda v: math.isfinite(v) and abs(v) < sys.float_info.max)]
    values = finite.groupby(["run_id", "key"])["value"].last().unstack("key")
    bad = history.loc[~history.index.isin(finite.index)]
    steps = bad.groupby("run_id")["step"].min().combine_first(history.groupby("run_id")["step"].max())
    return values.join(steps.rename("diverged_at_step"), how="outer")
