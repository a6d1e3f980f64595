"""Hooks: everything besides the optimizer step, each at its own cadence.

Levanter's idea (`trainer.add_hook(fn, every=N)`, levanter/callbacks): the loop only steps;
after every step it runs, in list order, each `Hook(every, fn)` that is due. The default list
(`default_hooks`) is: divergence check of the train loss and parameters (every step),
evaluation (`train.eval_every`), divergence check of the held-out loss (`train.eval_every`),
the probes of `trial.eval` (`trainers.probes`), any extra hooks, logging (every step that
produced metrics), the cool-down branches of a `wsd` trial (`trainers.cooldown`), checkpoint
(`train.checkpoint_every`), report to the caller (`train.eval_every`). A hook reads the run through a `StepInfo` and writes this step's
metrics into `info.metrics`; the logging hook sends them to the tracker before the
checkpoint hook saves (so a checkpoint never runs ahead of the log), and the report hook
hands metrics and checkpoint to the caller (Ray Tune).

Adding a probe touches neither the loop nor this list — pass it to `run_trial`:

    def stability(info: StepInfo) -> None:
        info.metrics["stability/phi"] = probe(info.run.model, info.run.task)

    run_trial(trial, report, extra_hooks=[Hook(every=200, fn=stability)])

Extra hooks run after evaluation and the probes and before logging, so what they add is
logged at that step and, on evaluation steps, reported with the evaluation. A hook ends the
trial by raising (`TrialDiverged` for a non-finite run; early stopping would raise its own
type).
"""

from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from configs import TrialConfig
from configs.train import BatchLayout
from configs import metrics as M
from trainers.checkpoint import TrainState, save_checkpoint
from trainers.data.tasks import TaskData
from trainers.distributed import all_workers, local_parameter_values, world
from trainers.engine import resolve_precision
from trainers.evaluate import evaluate
from trainers.model import GPT
from trainers.optim import LossSpec
from trainers.schedule import decay_shrinkage
from trainers.throughput import device_peak, throughput_metrics
from trainers.tracker import Tracker

Report = Callable[[dict[str, float], Path | None], None]
# Metrics whose best-over-training value is logged beside the current one.
BEST_OF = {M.OOD_ACC: M.OOD_ACC_BEST, M.ID_ACC: M.ID_ACC_BEST}


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


def parameters_finite(model: torch.nn.Module) -> bool:
    """Whether every parameter is finite, in one reduction per tensor (cheap next to a step).

    A sum is non-finite when any element is (NaN and ±inf propagate). It also overflows for
    finite weights near 1e38/numel, which is divergence by any measure. Under ZeRO-3 each
    worker checks its shards and all workers agree on the answer, so all stop together.
    """
    sums = torch.stack([p.detach().float().sum() for p in local_parameter_values(model)])
    return all_workers(bool(torch.isfinite(sums).all()))


def check_training(info: StepInfo) -> None:
    """Raise `TrialDiverged` if this step's train loss or any parameter is non-finite."""
    if not math.isfinite(info.loss):
        raise TrialDiverged(info, M.TRAIN_LOSS, info.loss)
    if not parameters_finite(info.run.model):
        raise TrialDiverged(info, "parameters", info.loss)


def check_held_out(info: StepInfo) -> None:
    """Raise `TrialDiverged` if this step's evaluation has a non-finite held-out loss.

    The training loss can stay finite (if huge) while the held-out loss is already NaN.
    """
    val_loss = info.metrics.get(M.VAL_LOSS, 0.0)
    if not math.isfinite(val_loss):
        raise TrialDiverged(info, M.VAL_LOSS, val_loss)


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


def evaluate_model(info: StepInfo) -> None:
    """Held-out metrics, best-so-far values, mean train loss since the last evaluation, throughput."""
    run, state = info.run, info.run.state
    values = evaluate(run.model, run.task, run.device)
    for key, best_key in BEST_OF.items():
        if key in values:
            state.best[best_key] = max(state.best.get(best_key, 0.0), values[key])
    values.update(state.best)
    values[M.TRAIN_LOSS] = state.loss_sum / max(state.loss_count, 1)
    values.update(progress_metrics(run.trial, info.step, info.lr))
    values.update(_throughput(run, values[M.NUM_TOKENS], state.train_seconds))
    state.loss_sum, state.loss_count = 0.0, 0
    info.metrics.update(values)


def _throughput(run: TrialRun, num_tokens: float, seconds: float) -> dict[str, float]:
    """Tokens/s, FLOP/s and (CUDA) MFU of the trial's training so far (`trainers.throughput`)."""
    peak = device_peak(run.device, resolve_precision(run.trial, run.device))
    return throughput_metrics(run.trial, num_tokens, seconds, peak, run.layout.world_size)


def log_metrics(info: StepInfo) -> None:
    """Send this step's metrics, if any hook produced some, to the tracker."""
    if info.metrics:
        info.run.tracker.log_metrics(info.metrics, info.step)


def save_step_checkpoint(info: StepInfo) -> None:
    """Checkpoint into a fresh folder under `checkpoint_root`, after the log is stored."""
    run = info.run
    directory = Path(tempfile.mkdtemp(prefix=f"step{info.step}-", dir=run.checkpoint_root))
    run.tracker.flush(carry_to=directory)  # durable first; unsent batches travel with the checkpoint
    info.checkpoint = save_checkpoint(run.engine, directory, run.state)


def reporter(report: Report) -> Callable[[StepInfo], None]:
    """A hook body handing `{"step", **metrics}` and the step's checkpoint to `report`."""

    def report_step(info: StepInfo) -> None:
        info.run.last_metrics = dict(info.metrics)
        report({"step": float(info.step), **info.metrics}, info.checkpoint)

    return report_step


def default_hooks(trial: TrialConfig, report: Report, extra: Sequence[Hook] = ()) -> list[Hook]:
    """The standard hook list of a trial, with `extra` hooks after evaluation (see module doc).

    The probes of `trial.eval` (`trainers.probes`) follow evaluation and its divergence
    check (no probe runs on a model whose held-out loss is already NaN), before `extra`.
    """
    from trainers.cooldown import cooldown_hooks  # here: both build on this module's Hook
    from trainers.probes import probe_hooks

    train = trial.train
    return [
        Hook(1, check_training, name="divergence"),
        Hook(train.eval_every, evaluate_model, name="evaluate"),
        Hook(train.eval_every, check_held_out, name="held-out divergence"),
        *probe_hooks(trial),
        *extra,
        Hook(1, log_metrics, name="log"),
        *cooldown_hooks(trial),  # before the checkpoint: a crash in a branch replays it
        Hook(train.checkpoint_every, save_step_checkpoint, at_last_step=False, name="checkpoint"),
        Hook(train.eval_every, reporter(report), name="report"),
    ]
