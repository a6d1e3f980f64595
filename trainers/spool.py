"""Metrics that survive a tracking-server outage: an on-disk spool per run, and what counts as an outage.

`trainers.tracker.MlflowTracker` appends every metric batch to its run's `MetricSpool` before
sending it and drops it once MLflow accepted it; `is_outage` tells an unreachable server (keep
the batch, retry later) from a real error (raise). The settings are environment variables so
that a trial process on any node picks them up without config plumbing.

A spool lives on the node that wrote it, so the rule for a trial retried elsewhere is: every
checkpoint carries a copy of the batches still unsent when it was written
(`CARRIED_SPOOL_FILE`, via `MetricSpool.copy_into`). Ray Train syncs the checkpoint folder
to the trial's storage; the retry restores it on whichever node and `adopt`s the copy, so
the batches before the checkpoint step reach MLflow. Batches after the checkpoint step need
no copy: the retry trains those steps again and logs them anew.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

CARRIED_SPOOL_FILE = "metric_spool.jsonl"
"""A checkpoint folder's copy of its run's unsent batches (see `MetricSpool.copy_into`)."""

SPOOL_DIR_ENV = "SCALINGLAB_SPOOL_DIR"
"""Folder of the metric spools (default: `<system temp>/scalinglab-spool`)."""

PATIENCE_ENV = "SCALINGLAB_TRACKING_PATIENCE_S"
"""How long a tracker waits for an unreachable server before it gives up (default 600 s)."""

DEFAULT_PATIENCE_S = 600.0

FAIL_FAST_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
"""MLflow's own HTTP retries (7, backoff factor 2: ~4 min a request to a dead server) would
stall training in one `log_batch`; the tracker retries by itself, so a request gets one quick
retry (for a stale pooled connection after a restart) and 10 s per attempt."""


class TrackingUnreachable(RuntimeError):
    """The tracking server stayed unreachable for longer than the tracker's patience."""


def spool_dir() -> Path:
    """Where metric spools live: `$SCALINGLAB_SPOOL_DIR`, else `<system temp>/scalinglab-spool`."""
    return Path(os.environ.get(SPOOL_DIR_ENV) or Path(tempfile.gettempdir()) / "scalinglab-spool")


def patience_s() -> float:
    """`$SCALINGLAB_TRACKING_PATIENCE_S`, else `DEFAULT_PATIENCE_S`."""
    return float(os.environ.get(PATIENCE_ENV) or DEFAULT_PATIENCE_S)


def is_outage(error: BaseException) -> bool:
    """True when `error` says the server could not be reached (not that it refused a request).

    MLflow wraps a failed HTTP request in an `MlflowException` whose context is the requests
    error; retries given up on 429/5xx answers read "Max retries exceeded". An sqlite store
    raises neither, so its real errors propagate."""
    import requests
    from mlflow.exceptions import MlflowException

    unreachable = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    chain = [error, error.__cause__, error.__context__]
    if any(isinstance(link, unreachable) for link in chain):
        return True
    markers = ("Max retries exceeded", "Connection refused", "Connection aborted", "failed with timeout exception")
    return isinstance(error, MlflowException) and any(marker in error.message for marker in markers)


class MetricSpool:
    """Metric batches of one run not yet accepted by MLflow: a JSON-lines file, oldest first.

    One line per batch: `{"step": int, "timestamp_ms": int, "values": {key: float}}`. The
    file and `pending` always hold the same batches; the file is removed when none is left.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[dict[str, Any]] = []
        if path.exists():
            lines = path.read_text().splitlines()
            for line in lines:
                try:
                    self.pending.append(json.loads(line))
                except json.JSONDecodeError:  # torn by a crash mid-append (it was never fsynced)
                    print(f"scalinglab: dropping a torn line of {path}", file=sys.stderr)
            if len(self.pending) < len(lines):
                self._rewrite()  # else the next append would continue the torn line

    def append(self, batch: dict[str, Any]) -> None:
        """Add a batch at the end (written through to the OS; `sync` makes it durable)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(json.dumps(batch) + "\n")
        self.pending.append(batch)

    def copy_into(self, directory: Path) -> None:
        """Write the pending batches to `directory/CARRIED_SPOOL_FILE` (nothing when none is)."""
        if self.pending:
            MetricSpool(directory / CARRIED_SPOOL_FILE)._replace(self.pending)

    def adopt(self, carried: Path) -> int:
        """Append the batches of a carried copy that this spool lacks; returns how many.

        A batch already accepted by MLflow may come back this way: resending it is harmless
        (MLflow ignores a (key, value, timestamp, step) it holds).
        """
        if not carried.is_file():
            return 0
        new = [batch for batch in MetricSpool(carried).pending if batch not in self.pending]
        if new:
            self._replace(self.pending + new)
        return len(new)

    def _replace(self, batches: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.pending = list(batches)
        self._rewrite()

    def drop_sent(self, count: int) -> None:
        """Remove the `count` oldest batches (MLflow accepted them)."""
        if count == 0:
            return
        del self.pending[:count]
        self._rewrite()

    def _rewrite(self) -> None:
        """Replace the file (atomically, fsynced) with `pending`; remove it if that is empty."""
        if not self.pending:
            self.path.unlink(missing_ok=True)
            return
        partial = self.path.with_suffix(".tmp")
        with partial.open("w") as file:
            file.writelines(json.dumps(batch) + "\n" for batch in self.pending)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(self.path)

    def sync(self) -> None:
        """fsync the file (there is one when anything is pending)."""
        if self.pending:
            with self.path.open("a") as file:
                os.fsync(file.fileno())
