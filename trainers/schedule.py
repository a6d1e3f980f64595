"""Learning-rate schedule as a pure function of the step (nanoGPT's `get_lr` shape).

`lr_at` is the schedule's lr; `trainers.train_step` runs each optimizer parameter group at it
times the group's `lr_scale` (1 unless μP is on, `trainers.optim.param_groups`).
"""

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


def decay_shrinkage(steps: int, optim: OptimConfig, num_steps: int) -> float:
    """Π_{t<steps} (1 − lr_t·λ): what weight decay alone leaves of a decayed weight after `steps` steps.

    `decoupled` (AdamW) multiplies each decayed parameter by exactly (1 − lr_t·λ) every step,
    besides the gradient's update, so this is the share of its value decay removes over the
    run (λ 1 at lr 3e-3 over 250 cosine steps leaves ≈ 0.69). `l2` puts 2λW into Adam's
    normalized gradient, which has no closed form: the plain-gradient-descent equivalent
    Π (1 − 2·lr_t·λ) is given, as an indication only. A cool-down branch ending at step e
    uses `decay_shrinkage(e, optim, e)` like `lr_at`. With μP (`optim.mup_d_model_ref`) this is
    the shrinkage of the groups at lr_scale 1; hidden and output matrices run at lr_t·lr_scale
    (trainers/optim.py), so at widths above the reference they shrink less than this.
    """
    rate = optim.weight_decay * (2.0 if optim.weight_decay_mode == "l2" else 1.0)
    if rate == 0:
        return 1.0
    return math.prod(1.0 - lr_at(t, optim, num_steps) * rate for t in range(steps))  # lr·λ ≥ 1 flips signs: kept
