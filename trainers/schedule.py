"""Learning-rate schedule as a pure function of the step (nanoGPT's `get_lr` shape)."""

from __future__ import annotations

import math

from configs import OptimConfig
from configs.schema import wsd_decay_steps


def lr_at(step: int, optim: OptimConfig, num_steps: int) -> float:
    """Learning rate used for optimizer step `step` (0-based).

    1. Warm-up: linear from lr/warmup_steps at step 0 up to lr at step warmup_steps − 1.
    2. Decay: from lr at step warmup_steps down to min_lr_ratio·lr at step num_steps − 1,
       following `optim.schedule` (cosine, linear or constant).
    3. `wsd` instead holds lr (stable phase) until its last k = `wsd_decay_steps(num_steps,
       optim.cooldown_fraction)` steps, which decay linearly: step num_steps − k uses
       lr − (lr − min_lr)/k, the last step min_lr (Hägele et al. 2024, "Scaling Laws and
       Compute-Optimal Training Beyond Fixed Training Durations", §3). A cool-down branch
       ending at step e uses `lr_at(step, optim, e)`: the schedule of a wsd run of e steps.
    """
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    min_lr = optim.lr * optim.min_lr_ratio
    if optim.schedule == "wsd":
        return _wsd_stable_or_decay(step, optim.lr, min_lr, num_steps, optim.cooldown_fraction)
    decay_steps = max(num_steps - 1 - optim.warmup_steps, 1)
    progress = min((step - optim.warmup_steps) / decay_steps, 1.0)
    if optim.schedule == "constant":
        return optim.lr
    if optim.schedule == "linear":
        return optim.lr - (optim.lr - min_lr) * progress
    return min_lr + 0.5 * (optim.lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def _wsd_stable_or_decay(step: int, lr: float, min_lr: float, num_steps: int, cooldown_fraction: float) -> float:
    decay = wsd_decay_steps(num_steps, cooldown_fraction)
    # The decay's first step already lowers lr, so its last step (num_steps − 1) lands on
    # min_lr exactly: k steps of decay take k steps of training, none spent at the peak.
    progress = min((step - (num_steps - decay) + 1) / decay, 1.0)
    if progress <= 0:
        return lr
    return lr - (lr - min_lr) * progress
