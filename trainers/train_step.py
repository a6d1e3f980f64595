"""`train_step`: one optimizer step of a trial, shared by the loop and the cool-down branches.

Its own module so that `trainers.cooldown` (a hook) can step the model without importing
the loop that assembles the hooks (that was an import cycle, hidden in a function-level
import).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from configs.train import BatchLayout
from trainers.data.tasks import EvalSet
from trainers.distributed import mean_over_workers, world
from trainers.evaluate import sequence_loss
from trainers.optim import LossSpec, l2_penalty


def train_step(engine: Any, batch: EvalSet, lr: float, layout: BatchLayout, loss: LossSpec) -> float:
    """One optimizer step over `batch` (the global batch), split as `layout` says.

    Args:
        engine: a DeepSpeed engine (its gradient accumulation equals the number of
            micro-batches in `batch`; it steps the optimizer at the boundary, after averaging
            the gradients over the workers).
        batch: inputs and targets of the whole step, the same on every worker.
        lr: the schedule's learning rate for this step; each parameter group runs at lr times
            its `lr_scale` (1 unless `optim.mup_d_model_ref` is set, `trainers.optim.param_groups`).
        layout: micro-batch rows per worker and this worker's share (`TrainConfig.layout`).
        loss: scored positions and the `l2` penalty, if any, added to each micro-batch loss.

    Returns:
        The mean data loss (cross-entropy, without the penalty) over the micro-batches and
        over the workers: what one worker running the whole batch would report.
    """
    for group in engine.optimizer.param_groups:
        # μP's per-group multiplier (trainers/optim.py); a group restored from a checkpoint
        # written before groups carried one ran at the plain lr.
        group["lr"] = lr * group.get("lr_scale", 1.0)
    device, losses = engine.device, []
    rank = world()[0]
    micro_rows = layout.micro_per_worker * layout.world_size
    for lo in range(0, len(batch.inputs), micro_rows):
        rows = layout.worker_slice(lo, rank)
        x = torch.from_numpy(batch.inputs[rows]).to(device)
        y = torch.from_numpy(batch.targets[rows]).to(device)
        data_loss = sequence_loss(engine, x, y, loss.loss_on)
        penalty = l2_penalty(loss)
        engine.backward(data_loss if penalty is None else data_loss + penalty)
        engine.step()  # DeepSpeed steps the optimizer at accumulation boundaries
        losses.append(float(data_loss.detach()))
    return mean_over_workers(float(np.mean(losses)))
