"""The hook types: `Hook`, what a hook reads (`StepInfo`, `TrialRun`) and how a trial ends early.

Levanter's idea (`trainer.add_hook(fn, every=N)`, levanter/callbacks): the loop only steps;
after every step it runs, in list order, each `Hook(every, fn)` that is due. This module only
defines the types (and `progress_metrics`, which `TrialDiverged` logs), so every hook body —
the standard ones (`trainers.standard_hooks`), the probes (`trainers.probes`), the cool-down
branches (`trainers.cooldown`) — imports it and it imports none of them. The loop assembles
the list (`trainers.loop.default_hooks`); docs/architecture.md lists its order.

A hook reads the run through a `StepInfo` and writes this step's metrics into
`info.metrics`. A hook ends the trial by raising (`TrialDiverged` for a non-finite run;
early stopping would raise its own type).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs import TrialConfig
from configs.train import BatchLayout
from configs import metrics as M
from trainers.checkpoint import TrainState
from trainers.data.tasks import TaskData
from trainers.distributed import world
from trainers.model import GPT
from trainers.optim import LossSpec
from trainers.schedule import decay_shrinkage
from trainers.tracker import Tracker

Report = Callable[[dict[str, float], Path | None], None]


@dataclass
class TrialRun:
    """What lives for one `run_trial` call; hooks reach it as `StepInfo.run`.

    Attributes:
        trial: the resolved config.
        task: the trial's data (training set and evaluation domains).
        engine: the DeepSpeed engine; `engine.module` (also `model`) is the GPT.
        device: `cpu` or `cuda`.
        tracker: where metrics, tags and artifacts go.
        state: the loop state a checkpoint saves (step, running loss, best metrics, ...).
        loss: how the training loss is formed (`trainers.optim.LossSpec`).
        checkpoint_root: folder the checkpoint hook writes into.
        last_metrics: what the latest report carried: the latest evaluation plus what
            other hooks added at its step (`TrialResult.final`).
    """

    trial: TrialConfig
    task: TaskData
    engine: Any
    device: str
    tracker: Tracker
    state: TrainState
    loss: LossSpec
    checkpoint_root: Path
    last_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> GPT:
        """The GPT being trained (DeepSpeed's `engine.module`)."""
        return self.engine.module  # type: ignore[no-any-return]

    @functools.cached_property
    def layout(self) -> BatchLayout:
        """How each step's batch splits over this trial's data-parallel workers (fixed for the run)."""
        return self.trial.train.layout(world()[1])


@dataclass
class StepInfo:
    """What a hook sees after an optimizer step; `metrics` and `checkpoint` are its outputs.

    Attributes:
        step: optimizer steps completed, 1..num_steps (so the step just taken, 1-based).
        loss: mean training loss of that step over its micro-batches (data loss only).
        lr: the learning rate that step used.
        run: the trial being trained.
        metrics: this step's metrics, filled by hooks and logged by the logging hook.
        checkpoint: the folder the checkpoint hook saved this step into, else None.
    """

    step: int
    loss: float
    lr: float
    run: TrialRun
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None

    @property
    def is_last(self) -> bool:
        """Whether this was the trial's final step."""
        return self.step == self.run.trial.train.num_steps


@dataclass(frozen=True)
class Hook:
    """Run `fn` after every step divisible by `every`, and at the last step if `at_last_step`.

    `at_last_step=False` skips the last step even when `every` divides it (a checkpoint of a
    finished trial is never used); True runs it there even when `every` does not divide it
    (the final evaluation).
    """

    every: int
    fn: Callable[[StepInfo], None]
    at_last_step: bool = True
    name: str = ""
    start: Callable[[TrialRun], None] | None = None  # once before the first step of this call (after a resume too)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(
                f"Hook {self.name or self.fn!r}: every ({self.every}) must be ≥ 1; "
                "use every=1 to run after every step"
            )

    def due(self, step: int, num_steps: int) -> bool:
        """Whether the hook runs after `step` (1-based) of a `num_steps`-step trial."""
        if step == num_steps:
            return self.at_last_step
        return step % self.every == 0


def start_hooks(hooks: Sequence[Hook], run: TrialRun) -> None:
    """Run every hook's `start` (state a hook must rebuild from the model, e.g. after a resume)."""
    for hook in hooks:
        if hook.start is not None:
            hook.start(run)


def run_hooks(hooks: Sequence[Hook], info: StepInfo) -> None:
    """Run, in order, every hook due after `info.step`."""
    for hook in hooks:
        if hook.due(info.step, info.run.trial.train.num_steps):
            hook.fn(info)


class TrialDiverged(RuntimeError):
    """The loss or a parameter went non-finite; the trial stops and is not retried.

    Attributes:
        step: the step (1-based) at which it was found.
        loss: the non-finite loss (`what` = train/loss or val/loss), else the step's train loss.
        lr: that step's learning rate.
        what: the metric key that went non-finite, or `parameters`.
        step_metrics: what to log at `step` (the non-finite value, lr, progress, and any
            evaluation of that step).
        last_metrics: the last report before it (all finite), possibly empty.
    """

    def __init__(self, info: StepInfo, what: str, loss: float) -> None:
        self.step, self.loss, self.lr, self.what = info.step, loss, info.lr, what
        self.step_metrics = {**info.metrics, **progress_metrics(info.run.trial, info.step, info.lr)}
        if what == M.TRAIN_LOSS:
            self.step_metrics[M.TRAIN_LOSS] = loss
        self.last_metrics = dict(info.run.last_metrics)
        if what == "parameters":
            message = f"diverged: parameters became non-finite at step {self.step} (train loss {loss}), lr {self.lr:g}"
        else:
            message = f"diverged: {_LABELS.get(what, what)} was {loss} at step {self.step}, lr {self.lr:g}"
        super().__init__(message)


_LABELS = {M.TRAIN_LOSS: "train loss", M.VAL_LOSS: "val loss"}


def progress_metrics(trial: TrialConfig, step: int, lr: float, schedule_steps: int | None = None) -> dict[str, float]:
    """Learning rate, tokens D, FLOPs C and the decay shrinkage after `step` steps.

    `schedule_steps`: length of the lr schedule the steps followed (a cool-down branch's
    end; default `train.num_steps`).
    """
    num_tokens = step * trial.train.batch_size * trial.data.seq_len
    return {
        M.LEARNING_RATE: lr,
        M.NUM_TOKENS: float(num_tokens),
        M.COMPUTE_FLOPS: float(num_tokens * trial.compute_flops / trial.num_tokens),
        M.DECAY_SHRINKAGE: decay_shrinkage(step, trial.optim, schedule_steps or trial.train.num_steps),
    }
