"""The standard hook bodies of every trial: divergence checks, evaluation, logging, checkpoint, report.

`trainers.loop.default_hooks` puts them in order around the probes and the cool-down
branches; the logging hook sends a step's metrics to the tracker before the checkpoint hook
saves (so a checkpoint never runs ahead of the log), and the report hook hands metrics and
checkpoint to the caller (Ray Tune).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from configs import metrics as M
from trainers.checkpoint import save_checkpoint
from trainers.distributed import all_workers, local_parameter_values
from trainers.engine import resolve_precision
from trainers.evaluate import evaluate
from trainers.hooks import Report, StepInfo, TrialDiverged, TrialRun, progress_metrics
from trainers.throughput import device_peak, throughput_metrics

# Metrics whose best-over-training value is logged beside the current one.
BEST_OF = {M.OOD_ACC: M.OOD_ACC_BEST, M.ID_ACC: M.ID_ACC_BEST}


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
