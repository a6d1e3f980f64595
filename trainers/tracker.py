"""Where a trial's metrics go: a small Tracker interface with MLflow and in-memory backends.

Levanter's `Tracker` shape: the loop logs through an interface, so unit tests use
`InMemoryTracker` and real runs use `MlflowTracker`. The MLflow tracker batches each
evaluation's metrics into one `log_batch` call (a single `log_metric` costs ~7 ms on
sqlite) and sends it asynchronously; `flush()` waits for everything sent so far, and the
loop calls it before every checkpoint, so a checkpoint never runs ahead of the log.

Resume contract: a retried trial re-runs the steps after its last checkpoint. The tracker
learns the last step already in the run (`last_logged_step`) and drops anything at or
before it, so the history has no duplicated and no missing steps.

Run names, tags and the "finished" rule are `configs.runs`'; this module only carries them
to MLflow. It imports neither torch nor (until a tracker is opened) MLflow, so the driver
can import `TrackingTarget` from here cheaply.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from configs import metrics as M
from configs import runs


RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
"""Terminal MLflow statuses; what each means is `configs.runs`' rule."""

DESCRIPTION_TAG = "mlflow.note.content"
"""MLflow shows this tag as the run's description (the divergence message goes there)."""


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

    def flush(self) -> None:
        """Block until everything logged so far is stored."""

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

    def flush(self) -> None:
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
    ) -> None:
        """Open run `run_id`, else an unfinished trial run carrying `identity`, else a new run.

        Reusing an unfinished run covers a trial retried before its first checkpoint: it
        restarts from step 0 but keeps logging into the run its first attempt created.
        "Unfinished" is `configs.runs`' one rule (MLflow status other than FINISHED).
        """
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=target.uri)
        self._pending: list[Any] = []
        if run_id is None:
            experiment = self._client.get_experiment_by_name(target.experiment)
            if experiment is None:  # the driver creates it; see STACK_NOTES (creation race)
                raise RuntimeError(
                    f"MLflow experiment '{target.experiment}' does not exist at {target.uri}; "
                    "create it once in the driver before starting trials"
                )
            run_id = self._unfinished_run(experiment.experiment_id, identity)
            if run_id is None:
                run_id = self._client.create_run(experiment.experiment_id, run_name=run_name).info.run_id
        if self._client.get_run(run_id).info.status != "RUNNING":  # a retry: FAILED before
            self._client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        self.target = target  # where sibling runs (cool-down branches) are opened
        self.last_logged_step = self._max_logged_step()

    def _unfinished_run(self, experiment_id: str, identity: dict[str, str] | None) -> str | None:
        if not identity:
            return None
        found = self._client.search_runs([experiment_id], runs.trial_filter(identity, finished=False))
        return str(found[0].info.run_id) if found else None

    def _max_logged_step(self) -> int:
        # Every key's history, not only train/loss: a hook off the evaluation cadence may
        # have logged later steps (one query per key, paid once when a run is reopened).
        keys = self._client.get_run(self.run_id).data.metrics
        return max((m.step for key in keys for m in self._client.get_metric_history(self.run_id, key)), default=-1)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self._client.get_run(self.run_id).data.params  # MLflow refuses a re-logged param
        self._client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items() if k not in existing])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self._client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        if step <= self.last_logged_step:
            return
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in values.items()]
        self._pending.append(self._client.log_batch(self.run_id, metrics=batch, synchronous=False))
        self.last_logged_step = step

    def log_artifact(self, path: Path) -> None:
        self._client.log_artifact(self.run_id, str(path))

    def flush(self) -> None:
        for operation in self._pending:
            operation.wait()
        self._pending.clear()

    def finish(self, status: RunStatus) -> None:
        self.flush()
        self._client.set_terminated(self.run_id, status=status)


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
