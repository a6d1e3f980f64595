"""The train section of a trial: loop length, batch arithmetic, cadences, engine settings.

`TrainConfig.layout` is the one place a step's batch is split over data-parallel workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from configs.base import FrozenModel


class TrainConfig(FrozenModel):
    """Loop length, batch arithmetic, cadences and engine settings."""

    num_steps: int = Field(2_000, ge=1, description="Optimizer steps.")
    batch_size: int = Field(512, ge=1, description="Global batch in sequences per optimizer step.")
    micro_batch_size: int | None = Field(
        None, ge=1, description="Sequences per forward pass; null = batch_size (no accumulation)."
    )
    eval_every: int = Field(100, ge=1, description="Evaluate, log and report every this many steps, and at the last step.")
    checkpoint_every: int = Field(
        500, ge=1, description="Checkpoint every this many steps (not at the last step: a finished trial needs none)."
    )
    zero_stage: Literal[0, 1, 2, 3] = Field(
        0,
        description=(
            "DeepSpeed ZeRO stage; 1–3 shard optimizer state, gradients, parameters across workers. "
            "Under bf16, 0 runs as 1 with fp32 gradient accumulation (DeepSpeed 0.19.8 accumulates "
            "in bf16 without ZeRO; ZeRO-1 shards nothing on one worker); 2 needs micro_batch_size = "
            "batch_size (it accumulates in bf16)."
        ),
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description=(
            "`auto`: bf16 on CUDA, fp32 on CPU (bf16 is slower on CPU). bf16 keeps fp32 master "
            "weights and accumulates gradients in fp32 (trainers/engine.py, `precision_config`)."
        ),
    )
    num_threads: int = Field(1, ge=1, description="torch intra-op threads per trial (CPU).")
    cooldowns: list[float] = Field(
        default_factory=list,
        description=(
            "`optim.schedule: wsd` only: fractions of num_steps, in (0, 1), increasing, at which "
            "a cool-down branch ends; each branch is logged as a run of its own with D = "
            "fraction·num_tokens (trainers/cooldown.py)."
        ),
    )

    @model_validator(mode="after")
    def _cooldowns_increasing_fractions(self) -> TrainConfig:
        for fraction in self.cooldowns:
            if not 0 < fraction < 1:
                raise ValueError(
                    f"train.cooldowns ({self.cooldowns}) holds {fraction}, outside (0, 1); list "
                    "fractions of num_steps strictly between 0 and 1 (the run's own end is 1)"
                )
        if any(b <= a for a, b in zip(self.cooldowns, self.cooldowns[1:])):
            raise ValueError(
                f"train.cooldowns ({self.cooldowns}) must be strictly increasing; write them "
                f"sorted without repeats, e.g. {sorted(set(self.cooldowns))}"
            )
        return self

    @model_validator(mode="after")
    def _batch_arithmetic(self) -> TrainConfig:
        if self.batch_size % self.micro_batch:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be a multiple of "
                f"train.micro_batch_size ({self.micro_batch}); pick a divisor of batch_size"
            )
        return self

    @model_validator(mode="after")
    def _checkpoints_on_evaluations(self) -> TrainConfig:
        # A checkpoint carries the evaluation of its step, so Ray's view and MLflow's agree.
        if self.checkpoint_every % self.eval_every:
            raise ValueError(
                f"train.checkpoint_every ({self.checkpoint_every}) must be a multiple of "
                f"train.eval_every ({self.eval_every}); e.g. checkpoint_every: "
                f"{max(self.checkpoint_every // self.eval_every, 1) * self.eval_every}"
            )
        return self

    @property
    def micro_batch(self) -> int:
        """Sequences per forward pass."""
        return self.micro_batch_size or self.batch_size

    @property
    def grad_accum_steps(self) -> int:
        """Forward/backward passes per optimizer step (single worker)."""
        return self.batch_size // self.micro_batch

    def layout(self, world_size: int) -> BatchLayout:
        """How each optimizer step's batch splits over `world_size` data-parallel workers.

        Every worker takes its 1/world_size share of each micro-batch, and the accumulation
        count stays that of one worker: step k's gradient then averages the very sequences a
        single worker would average, so the trajectory does not depend on the worker count.

        Raises:
            ValueError: the micro-batch does not split evenly (names both fields and a fix).
        """
        if self.micro_batch % world_size:
            raise ValueError(
                f"train.micro_batch_size ({self.micro_batch}) must be divisible by "
                f"resources.workers_per_trial ({world_size}); pick a micro-batch that is a multiple of {world_size}"
            )
        return BatchLayout(self.micro_batch // world_size, self.grad_accum_steps, world_size)


@dataclass(frozen=True)
class BatchLayout:
    """One optimizer step's batch over the data-parallel workers (`TrainConfig.layout`)."""

    micro_per_worker: int  # sequences per forward pass on each worker
    grad_accum_steps: int  # forward/backward passes per optimizer step
    world_size: int

    def worker_slice(self, micro_start: int, rank: int) -> slice:
        """Rows of the global batch worker `rank` runs in the micro-batch starting at row `micro_start`."""
        lo = micro_start + rank * self.micro_per_worker
        return slice(lo, lo + self.micro_per_worker)
