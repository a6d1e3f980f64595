"""The optimizer and the two readings of weight decay λ (`optim.weight_decay_mode`).

* `decoupled` (default; the reference code, torch AdamW): every step first shrinks each
  decayed parameter, W ← (1 − lr·λ)·W, then applies the Adam update of the loss gradient
  alone (Loshchilov & Hutter 2019). The decay is not clipped and not normalized by Adam.
* `l2` (the textbook's coupled form): Adam minimizes loss + λ·Σ‖W‖², so the gradient it sees
  is ∇loss + 2λW, clipped and normalized together with the rest. λ is the coefficient of
  ‖W‖² exactly as written: `torch.optim.Adam(weight_decay=λ)` would add λW to the gradient,
  i.e. penalize λ/2·‖W‖², so we add the penalty to the loss ourselves (`LossSpec`).

Which parameters decay: all of them by default (`decay_norms_and_biases: true`, as the
reference code's AdamW over `model.parameters()`); with false only the weight matrices
(2-D: embeddings, Q, K, V, O, MLP, head), never LayerNorm gains/shifts or biases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn

from configs import OptimConfig


@dataclass(frozen=True)
class LossSpec:
    """How a training batch's loss is formed (what `trainers.loop.train_step` minimizes).

    Attributes:
        loss_on: `last` scores the last position only (anchor task), `all` every position.
        l2_coef: λ of the penalty λ·Σ‖W‖² added to the loss (`l2` mode); 0 adds nothing.
        l2_params: the parameters W the penalty sums over.
    """

    loss_on: Literal["last", "all"]
    l2_coef: float = 0.0
    l2_params: tuple[nn.Parameter, ...] = ()


def split_decayed(model: nn.Module, decay_norms_and_biases: bool) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed) parameters: all decayed, or only the 2-D weight matrices."""
    decayed: list[nn.Parameter] = []
    kept: list[nn.Parameter] = []
    for p in model.parameters():
        (decayed if decay_norms_and_biases or p.dim() == 2 else kept).append(p)
    return decayed, kept


def build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """torch AdamW (`decoupled`) or Adam (`l2`, the penalty is in `LossSpec`) over `model`.

    Parameters that do not decay go in a second group with weight_decay 0; empty groups are
    left out (DeepSpeed's ZeRO optimizers do not expect them).
    """
    decayed, kept = split_decayed(model, optim.decay_norms_and_biases)
    betas = (optim.beta1, optim.beta2)
    if optim.weight_decay_mode == "l2":
        return torch.optim.Adam(model.parameters(), lr=optim.lr, betas=betas, weight_decay=0.0)
    groups: list[dict[str, Any]] = [
        {"params": params, "weight_decay": decay}
        for params, decay in ((decayed, optim.weight_decay), (kept, 0.0))
        if params
    ]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=betas, weight_decay=optim.weight_decay)


def loss_spec(model: nn.Module, optim: OptimConfig, loss_on: Literal["last", "all"]) -> LossSpec:
    """The `LossSpec` of a trial: its task's scored positions plus the `l2` penalty, if any."""
    if optim.weight_decay_mode != "l2" or optim.weight_decay == 0:
        return LossSpec(loss_on)
    decayed, _ = split_decayed(model, optim.decay_norms_and_biases)
    return LossSpec(loss_on, optim.weight_decay, tuple(decayed))


def l2_penalty(spec: LossSpec) -> torch.Tensor | None:
    """λ·Σ‖W‖² over `spec.l2_params` (in fp32), or None when the spec has no penalty."""
    if spec.l2_coef == 0 or not spec.l2_params:
        return None
    return spec.l2_coef * torch.stack([p.float().pow(2).sum() for p in spec.l2_params]).sum()
