"""`TrialLaunch`: the one typed contract between the sweep driver and the Tune trainable.

Tune hands its trainable a plain dict (the param space with the grid resolved); the trainable
validates it into a `TrialLaunch` once, at entry, and passes the model on. A multi-worker
coordinator forwards the same model, serialized, to its Ray Train workers, which are other
processes and validate it once each.

Test-only failure injection lives under its own field path, `testing`, which production
sweeps never set (`run_sweep(..., testing=...)` is the only way in).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from configs import TrialConfig
from trainers.tracker import TrackingTarget


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkersLaunch(_Frozen):
    """How a multi-worker trial's Ray Train run is laid out (absent for one-worker trials)."""

    num_workers: int = Field(ge=2)
    """Data-parallel workers of the trial (`resources.workers_per_trial`)."""
    cpus_per_worker: float = Field(ge=0)
    """CPUs each worker reserves."""
    gpus_per_worker: float = Field(ge=0)
    """GPUs each worker reserves."""
    storage: str
    """Absolute folder holding one Ray Train run folder per multi-worker trial."""
    max_failures: int = Field(ge=0)
    """Worker-group restarts Ray Train allows before the trial fails."""


class LaunchTesting(_Frozen):
    """Test-only: crash the first attempt of every trial once, to exercise retry and resume."""

    fail_once_at_step: int = Field(ge=1)
    """Step at (or after) which the first attempt raises `InjectedFailure`."""
    failure_marker_dir: str
    """Folder where a marker per trial records that it already crashed once."""


class TrialLaunch(_Frozen):
    """Everything one Tune trial receives."""

    trial: TrialConfig
    """The trial to train (validated by the driver; re-validated here only as transport)."""
    tracking: TrackingTarget
    """MLflow store (absolute URI) and experiment the trial logs to."""
    resume: dict[str, str] = Field(default_factory=dict)
    """Trial id → checkpoint folder an earlier driver session left (one-worker trials)."""
    workers: WorkersLaunch | None = None
    """Ray Train layout of a multi-worker trial; None runs the trial in the Tune actor itself."""
    run_names: dict[str, str] = Field(default_factory=dict)
    """Trial id → readable MLflow run name over the whole sweep (`configs.runs.readable_run_names`)."""
    parent_run_id: str | None = None
    """The driver session's MLflow run, under which a newly created trial run nests."""
    testing: LaunchTesting | None = None
    """Test-only failure injection; never set by a production sweep."""

    def earlier_checkpoint(self) -> str | None:
        """The checkpoint folder an earlier session left for this trial, if any."""
        return self.resume.get(self.trial.trial_id)

    def naming(self) -> dict[str, str | None]:
        """`run_trial`'s `run_name` and `parent_run_id` (None: its defaults)."""
        return {"run_name": self.run_names.get(self.trial.trial_id), "parent_run_id": self.parent_run_id}
