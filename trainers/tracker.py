"""Where a trial's metrics go: a small Tracker interface with MLflow and in-memory backends.

Levanter's `Tracker` shape: the loop logs through an interface, so unit tests use
`InMemoryTracker` and real runs use `MlflowTracker`. The MLflow tracker batches each
evaluation's metrics into one `log_batch` call (a single `log_metric` costs ~7 ms on
sqlite).

Outages lose nothing: each batch is appended to a local spool file (`MetricSpool`, JSON
lines under `spool_dir()`), then sent, and leaves the spool only once MLflow accepted it.
While the server is unreachable training goes on; later `log_metrics`/`flush` calls resend
the spool oldest first, and `finish` waits (up to `patience_s()`) until it is empty.
`flush()`, called before every checkpoint, means durable (in MLflow or fsynced in the
spool) and returns within seconds when the server is down. Resending is idempotent: a
batch keeps its timestamp, and MLflow ignores a (key, value, timestamp, step) it holds.

Resume contract: a retried trial re-runs the steps after its last checkpoint. Reopening a
run first sends what an earlier attempt left in this machine's spool and in the checkpoint it
resumes from (`trainers.spool`: a checkpoint carries the unsent batches), then learns the
last step already in the run (`last_logged_step`) and drops anything at or before it, so the
history has no duplicated and no missing steps.

Run names, tags and the "finished" rule are `configs.runs`'; this module only carries them
to MLflow. It imports neither torch nor (until a tracker is opened) MLflow, so the driver
can import `TrackingTarget` from here cheaply.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from configs import metrics as M
from configs import runs
from trainers.spool import (CARRIED_SPOOL_FILE, FAIL_FAST_HTTP_ENV, PATIENCE_ENV, MetricSpool, TrackingUnreachable, is_outage,
                             patience_s, spool_dir)


RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
"""Terminal MLflow statuses; what each means is `configs.runs`' rule."""

DESCRIPTION_TAG = "mlflow.note.content"
"""MLflow shows this tag as the run's description (the divergence message goes there)."""

T = TypeVar("T")

SYSTEM_METRICS_ENV = "SCALINGLAB_SYSTEM_METRICS_S"
"""Seconds between a trial run's system-metric samples (default 10; 0: off, as the tests set it)."""


def system_metrics_s() -> float:
    """`$SCALINGLAB_SYSTEM_METRICS_S`, else 10 s."""
    return float(os.environ.get(SYSTEM_METRICS_ENV) or 10.0)


PARENT_RUN_TAG = "mlflow.parentRunId"
"""MLflow's nesting tag (`mlflow.utils.mlflow_tags.MLFLOW_PARENT_RUN_ID`; the UI draws the tree
from it). Spelled out because this module must not import MLflow until a tracker opens."""


class Tracker(Protocol):
    """What the training loop needs from a metrics backend."""

    run_id: str

    def log_params(self, params: dict[str, Any]) -> None:
        """Record the flattened config; keys the run already holds are left as they are."""

    def set_tags(self, tags: dict[str, str]) -> None:
        """Set (or overwrite) run tags."""

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        """Record `values` at `step` (dropped if `step` was already logged)."""

    def log_artifact(self, path: Path) -> None:
        """Attach a file to the run."""

    def flush(self, carry_to: Path | None = None) -> None:
        """Block until everything logged so far is stored; copy what is unsent into `carry_to`.

        `carry_to` is a checkpoint folder: a retry restoring it on another node sends the copy
        (`trainers.spool`, the rule for spools)."""

    def finish(self, status: RunStatus) -> None:
        """Store everything pending, then end the run with `status` and release resources."""


@dataclass
class InMemoryTracker:
    """Keeps metrics in a dict of {key: {step: value}}; for tests and debugging."""

    run_id: str = "in-memory"
    history: dict[str, dict[int, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)  # file names (the files may be temporary)
    branches: list[InMemoryTracker] = field(default_factory=list)  # runs opened beside this one (cool-downs)
    last_logged_step: int = -1
    status: str = "RUNNING"

    def log_params(self, params: dict[str, Any]) -> None:
        self.params = {**params, **self.params}

    def set_tags(self, tags: dict[str, str]) -> None:
        self.tags.update(tags)

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        if step <= self.last_logged_step:
            return
        for key, value in values.items():
            self.history.setdefault(key, {})[step] = float(value)
        self.last_logged_step = step

    def log_artifact(self, path: Path) -> None:
        self.artifacts.append(path.name)

    def flush(self, carry_to: Path | None = None) -> None:
        pass

    def finish(self, status: RunStatus) -> None:
        self.status = status


@dataclass(frozen=True)
class TrackingTarget:
    """An MLflow store and experiment. URIs must be absolute: Ray changes trial cwd."""

    uri: str
    experiment: str


class MlflowTracker:
    """Logs one trial to one MLflow run; reopens the same run when a trial resumes."""

    def __init__(
        self,
        target: TrackingTarget,
        run_name: str,
        run_id: str | None = None,
        identity: dict[str, str] | None = None,
        patience: float | None = None,
        resume_from: Path | None = None,
        parent_run_id: str | None = None,
        system_metrics: bool = False,
    ) -> None:
        """Open run `run_id`, else an unfinished trial run carrying `identity`, else a new run.

        `resume_from` is the checkpoint folder the trial restarts from: the unsent batches it
        carries (written on whichever node) are sent first, with this node's own spool.
        A new run is nested under `parent_run_id` (MLflow's `mlflow.parentRunId` tag: the
        sweep session's run for a trial, the trial's run for a cool-down branch).
        `system_metrics` samples CPU, memory, disk, network (and GPU) into `system/*` metrics
        every `system_metrics_s()` seconds (MLflow's monitor thread; 0 turns it off).

        Reusing an unfinished run covers a trial retried before its first checkpoint: it
        restarts from step 0 but keeps logging into the run its first attempt created.
        "Unfinished" is `configs.runs`' one rule (MLflow status other than FINISHED). Every
        request waits out an outage of up to `patience` seconds (default `patience_s()`).

        Raises:
            RuntimeError: the experiment does not exist.
            TrackingUnreachable: the server stayed unreachable for `patience` seconds.
        """
        from mlflow import MlflowClient

        if target.uri.startswith(("http://", "https://")):
            for name, value in FAIL_FAST_HTTP_ENV.items():  # read by MLflow on every request
                os.environ.setdefault(name, value)
        self.target = target  # where sibling runs (cool-down branches) are opened
        self.patience = patience_s() if patience is None else patience
        self._client = MlflowClient(tracking_uri=target.uri)
        self._next_send = 0.0  # monotonic time before which log_metrics/flush do not resend
        self._send_pause = 0.0
        self.run_name = run_name  # what a branch's name extends
        self.run_id = run_id or self._retrying(lambda: self._find_or_create(run_name, identity, parent_run_id),
                                               "opening the run")
        if self._retrying(lambda: self._client.get_run(self.run_id), "opening the run").info.status != "RUNNING":
            self._retrying(lambda: self._client.update_run(self.run_id, status="RUNNING"), "reopening the run")
        self.spool = MetricSpool(spool_dir() / f"{self.run_id}.jsonl")
        if resume_from is not None:
            self.spool.adopt(resume_from / CARRIED_SPOOL_FILE)
        self._drain()  # an earlier attempt's unsent steps count as logged: send them first
        self.last_logged_step = self._retrying(self._max_logged_step, "reading the run's history")
        self._monitor = self._start_system_metrics() if system_metrics else None

    def _start_system_metrics(self) -> Any:
        interval = system_metrics_s()
        if interval <= 0:
            return None
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(self.run_id, sampling_interval=interval, resume_logging=True,
                                       tracking_uri=self.target.uri)
        monitor.start()
        return monitor

    def _experiment_id(self) -> str:
        experiment = self._client.get_experiment_by_name(self.target.experiment)
        if experiment is None:  # the driver creates it; see docs/architecture.md "Stack facts" (creation race)
            raise RuntimeError(
                f"MLflow experiment '{self.target.experiment}' does not exist at {self.target.uri}; "
                "create it once in the driver before starting trials"
            )
        return str(experiment.experiment_id)

    def _find_or_create(self, run_name: str, identity: dict[str, str] | None, parent_run_id: str | None) -> str:
        experiment_id = self._experiment_id()
        found = self._unfinished_run(experiment_id, identity)
        if found:
            return found
        # The identity goes on at creation: should the server's answer be lost in an outage,
        # the retry finds this run instead of creating a second one.
        tags = {M.TAG_KIND: runs.KIND_TRIAL, **identity} if identity else {}
        if parent_run_id:
            tags[PARENT_RUN_TAG] = parent_run_id
        return str(self._client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id)

    def has_finished_run(self, identity: dict[str, str]) -> bool:
        """Whether this run's experiment holds a finished trial run carrying `identity`.

        Waits out an outage like every other request (a cool-down branch asks this as it starts).
        """

        def search() -> bool:
            return bool(self._runs_of(self._experiment_id(), identity, finished=True))

        return self._retrying(search, "looking for a finished run")

    def _unfinished_run(self, experiment_id: str, identity: dict[str, str] | None) -> str | None:
        if not identity:
            return None
        found = self._runs_of(experiment_id, identity, finished=False)
        return str(found[0].info.run_id) if found else None

    def _runs_of(self, experiment_id: str, identity: dict[str, str], finished: bool) -> list[Any]:
        # The measurement is matched here, not in the filter: a run logged before the tag existed
        # counts for any measurement (configs/runs.py), which MLflow's filter cannot say.
        measurement = identity.get(M.TAG_MEASUREMENT_HASH)
        query = runs.trial_filter({k: v for k, v in identity.items() if k != M.TAG_MEASUREMENT_HASH}, finished=finished)
        return [run for run in self._client.search_runs([experiment_id], query)
                if measurement is None or runs.same_measurement(run.data.tags, measurement)]

    def _max_logged_step(self) -> int:
        # Every key's history, not only train/loss: a hook off the evaluation cadence may
        # have logged later steps (one query per key, paid once when a run is reopened).
        keys = self._client.get_run(self.run_id).data.metrics
        return max((m.step for key in keys for m in self._client.get_metric_history(self.run_id, key)), default=-1)

    def _retrying(self, call: Callable[[], T], what: str, kept: str = "") -> T:
        """`call()`, retried with backoff (1, 2, 4 … 30 s) while `is_outage`; other errors propagate."""
        started, delay = time.monotonic(), 1.0
        while True:
            try:
                return call()
            except Exception as error:
                if not is_outage(error):
                    raise
                waited = time.monotonic() - started
                if waited >= self.patience:
                    raise TrackingUnreachable(
                        f"MLflow server {self.target.uri} unreachable for {waited:.0f} s while {what}; "
                        f"gave up after the {self.patience:g} s patience (${PATIENCE_ENV}){kept}"
                    ) from error
                delay = min(delay, self.patience - waited)
                print(f"scalinglab: MLflow server {self.target.uri} unreachable while {what}; retrying in "
                      f"{delay:.0f} s ({waited:.0f} of {self.patience:g} s patience)", file=sys.stderr)
                time.sleep(delay)
                delay = min(2 * delay, 30.0)

    def send_batch(self, batch: dict[str, Any]) -> None:
        """Send one spooled batch to MLflow (raises what MLflow raises)."""
        from mlflow.entities import Metric

        metrics = [Metric(k, v, batch["timestamp_ms"], batch["step"]) for k, v in batch["values"].items()]
        self._client.log_batch(self.run_id, metrics=metrics)

    def _send_spool(self) -> None:
        """Send every pending batch, oldest first; on an error the unsent ones stay."""
        sent = 0
        try:
            for batch in self.spool.pending:
                self.send_batch(batch)
                sent += 1
        finally:
            self.spool.drop_sent(sent)

    def _try_send(self) -> None:
        """One non-blocking attempt at the spool; after an outage, the next waits 1, 2, 4 … 30 s."""
        if not self.spool.pending or time.monotonic() < self._next_send:
            return
        try:
            self._send_spool()
        except Exception as error:
            if not is_outage(error):
                raise
            if not self._send_pause:
                print(f"scalinglab: MLflow server {self.target.uri} unreachable; run {self.run_id} keeps its "
                      f"metrics in {self.spool.path} until it is back", file=sys.stderr)
            self._send_pause = min(2 * self._send_pause, 30.0) if self._send_pause else 1.0
            self._next_send = time.monotonic() + self._send_pause
            return
        if self._send_pause:
            print(f"scalinglab: MLflow server {self.target.uri} is back; spooled metrics sent", file=sys.stderr)
        self._send_pause = 0.0

    def _drain(self) -> None:
        if self.spool.pending:
            count = len(self.spool.pending)
            kept = f"; the unsent metrics stay in {self.spool.path} (reopening the run sends them)"
            self._retrying(self._send_spool, f"sending {count} spooled metric batches", kept)
            self._send_pause = self._next_send = 0.0

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        def send() -> None:
            existing = self._client.get_run(self.run_id).data.params  # MLflow refuses a re-logged param
            fresh = [Param(k, str(v)) for k, v in params.items() if k not in existing]
            self._client.log_batch(self.run_id, params=fresh)

        self._retrying(send, "logging params")

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self._retrying(lambda: self._client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()]),
                       "setting tags")

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        if step <= self.last_logged_step:
            return
        now = int(time.time() * 1000)
        self.spool.append({"step": step, "timestamp_ms": now, "values": {k: float(v) for k, v in values.items()}})
        self.last_logged_step = step  # spooled counts as logged (the resume contract's rule)
        self._try_send()

    def log_artifact(self, path: Path) -> None:
        self._retrying(lambda: self._client.log_artifact(self.run_id, str(path)), f"uploading {path.name}")

    def flush(self, carry_to: Path | None = None) -> None:
        """Make everything logged so far durable: sent to MLflow, or fsynced in the spool
        (and, with `carry_to`, copied into that checkpoint folder).

        Returns within seconds when the server is down (one attempt, at most).
        """
        self._try_send()
        self.spool.sync()
        if carry_to is not None:
            self.spool.copy_into(carry_to)

    def finish(self, status: RunStatus) -> None:
        """Send the whole spool (waiting out an outage up to the patience), then end the run.

        Raises:
            TrackingUnreachable: the server stayed down; the spool file (named in the
                message) keeps every unsent batch.
        """
        if self._monitor is not None:
            self._monitor.finish()  # its last sample goes in before the run ends
            self._monitor = None
        self._drain()
        self._retrying(lambda: self._client.set_terminated(self.run_id, status=status), f"ending the run {status}")


def log_run_setup(tracker: Tracker, params: dict[str, Any], tags: dict[str, str]) -> None:
    """Params (flattened config), tags and the `trial_config.json` artifact; safe to repeat."""
    tracker.log_params(params)
    tracker.set_tags(tags)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / M.TRIAL_CONFIG_ARTIFACT
        path.write_text(config_json(params))
        tracker.log_artifact(path)


def config_json(params: dict[str, Any]) -> str:
    """The resolved config as pretty JSON (the `trial_config.json` artifact)."""
    return json.dumps(params, indent=2, sort_keys=True)
