"""The sweep schema: a base trial, a grid over dotted paths, seeds, resources and tracking."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from configs.base import FrozenModel
from configs.errors import ConfigError
from configs.grid import expand_grid
from configs.recipe import RecipeConfig
from configs.schema import TrialConfig


class ResourcesConfig(FrozenModel):
    """What Ray gives each trial, and how failures are handled.

    A one-worker trial is one Ray Tune trial process with `cpus_per_trial`/`gpus_per_trial`.
    With `workers_per_trial` > 1 the Tune trial only coordinates (it reserves nothing) and
    a Ray Train `TorchTrainer` runs that many data-parallel DeepSpeed workers, each with
    `cpus_per_worker`/`gpus_per_worker` (`cluster/multiworker.py`).
    """

    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs Ray reserves per one-worker trial.")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs Ray reserves per one-worker trial.")
    workers_per_trial: int = Field(
        1, ge=1, description="Data-parallel DeepSpeed workers per trial (> 1: a Ray Train TorchTrainer per trial)."
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs per worker when workers_per_trial > 1.")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per worker when workers_per_trial > 1.")
    max_concurrent: int | None = Field(None, ge=1, description="Cap on trials running at once.")
    max_failures: int = Field(2, ge=0, description="Retries of a failed trial (resumes from checkpoint).")


class TrackingConfig(FrozenModel):
    """Where metrics go."""

    uri: str | None = Field(None, description="MLflow tracking URI; null = sqlite store in the workdir.")
    experiment: str | None = Field(None, description="MLflow experiment; null = the sweep name.")


class SweepConfig(FrozenModel):
    """A base trial, a grid over dotted paths and a list of seeds."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Sweep name.")
    description: str = Field("", description="Free text shown in reports.")
    base: dict[str, Any] = Field(default_factory=dict, description="Partial TrialConfig shared by all trials.")
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]] = Field(
        default_factory=dict,
        description="Dotted path → list of values; the product is swept. A list of such maps sweeps their union.",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="Seeds per grid point.")
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    recipe: RecipeConfig | None = Field(
        None, description="lr, batch and warm-up from each trial's N (configs/recipe.py); base or grid values win."
    )

    @property
    def grids(self) -> list[dict[str, list[Any]]]:
        """The grid as a list of product grids (a single map is a list of one)."""
        return self.grid if isinstance(self.grid, list) else [self.grid]

    @property
    def grid_keys(self) -> list[str]:
        """Every dotted path any grid varies, in first-seen order."""
        return list(dict.fromkeys(key for grid in self.grids for key in grid))

    @property
    def experiment_name(self) -> str:
        """MLflow experiment the sweep logs to."""
        return self.tracking.experiment or self.name

    def trials(self) -> list[TrialConfig]:
        """Expand the grid × seeds into validated trials, in a deterministic order.

        Raises:
            ConfigError: a grid point is invalid, or a trial's batch does not split over
                `resources.workers_per_trial` workers.

        With a `recipe:`, each point's unset lr / batch / warm-up come from its N, and
        `recipe.lr_check` appends lr/2 and 2·lr arms at the smallest and largest N.
        """
        prepare = self.recipe.fill if self.recipe else None
        trials = expand_grid(self.name, self.base, self.grids, self.seeds, prepare)
        trials += self.recipe.lr_arms(trials) if self.recipe else []
        for trial in trials:
            check_splits_over_workers(trial, self.resources.workers_per_trial)
        return trials


def check_splits_over_workers(trial: TrialConfig, workers: int) -> None:
    """Raise ConfigError unless every micro-batch of `trial` splits evenly over `workers`."""
    try:
        trial.train.layout(workers)
    except ValueError as err:
        raise ConfigError(f"trial {trial.trial_id} ({trial.sweep}): {err}") from None
