"""Temperature and calibration of the held-out predictions, per domain.

T* = argmin_T CE(softmax(z/T), y) over the domain's held-out logits z: a 1-D bounded
minimization over log T ∈ [log 0.05, log 20] (Brent's method via SciPy's `bounded`
minimize_scalar; CE is smooth in log T and convex in 1/T, so the bracket holds one
minimum). T* > 1 means the model is over-confident, T* < 1 under-confident.

The expected calibration error of top-1 predictions (Guo et al. 2017, "On Calibration of
Modern Neural Networks", eq. 3) at T = 1, i.e. of the model as trained: confidences
max softmax(z) in M equal-width bins, ECE = Σ_m |B_m|/n · |acc(B_m) − conf(B_m)|.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from trainers.data.tasks import EvalSet
from trainers.evaluate import EVAL_BATCH, LOGITS_BUDGET
from trainers.model import GPT
from trainers.probes.subsets import draw_subset

LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))


@torch.no_grad()
def held_out_logits(model: GPT, data: EvalSet, loss_on: str, device: str, vocab_size: int,
                    num_examples: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 CPU logits (P, vocab) and targets (P,) of the scored positions of `data`.

    At most `num_examples` sequences (a seeded random subset when that is fewer than the
    set), and no more than LOGITS_BUDGET logits in all: a text domain's full held-out set
    would not fit in memory as logits.
    """
    positions = 1 if loss_on == "last" else data.inputs.shape[1]
    limit = max(1, LOGITS_BUDGET // (positions * vocab_size))
    data = draw_subset(data, min(limit, num_examples or limit), seed)
    step = min(EVAL_BATCH, limit)
    logits, targets = [], []
    for lo in range(0, len(data.inputs), step):
        z = model(torch.from_numpy(data.inputs[lo:lo + step]).to(device), last_only=loss_on == "last")
        logits.append((z if loss_on == "last" else z.flatten(0, 1)).float().cpu())
        targets.append(torch.from_numpy(data.targets[lo:lo + step]).flatten())
    return torch.cat(logits), torch.cat(targets)


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """(T*, CE at T*) minimizing the mean cross-entropy of softmax(logits/T) (module doc)."""
    from scipy.optimize import minimize_scalar  # here: every trial imports the probe registry, few run this

    def loss_at(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), targets))

    found = minimize_scalar(loss_at, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return math.exp(float(found.x)), float(found.fun)


def expected_calibration_error(logits: torch.Tensor, targets: torch.Tensor, num_bins: int) -> float:
    """Top-1 ECE with `num_bins` equal-width confidence bins (module doc)."""
    probs = torch.softmax(logits.double(), dim=-1)
    confidence, prediction = probs.max(dim=-1)
    correct = (prediction == targets).double()
    # bin m holds confidences in (m/M, (m+1)/M]; confidence ≥ 1/vocab > 0, so none is lost
    bins = torch.clamp(torch.ceil(confidence * num_bins).long() - 1, 0, num_bins - 1)
    ece = 0.0
    for m in range(num_bins):
        in_bin = bins == m
        if in_bin.any():
            share = float(in_bin.double().mean())
            ece += share * abs(float(correct[in_bin].mean()) - float(confidence[in_bin].mean()))
    return ece


def calibration(model: GPT, data: EvalSet, loss_on: str, device: str, vocab_size: int,
                num_examples: int | None, num_bins: int, seed: int) -> tuple[float, float, float]:
    """(T*, loss at T*, ECE at T = 1) of one domain."""
    logits, targets = held_out_logits(model, data, loss_on, device, vocab_size, num_examples, seed)
    t_opt, loss = fit_temperature(logits, targets)
    return t_opt, loss, expected_calibration_error(logits, targets, num_bins)
