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
`decay_embeddings: false` exempts the embedding tables (found as `nn.Embedding` modules, not
by name) either way.

Per-group learning rates (`optim.mup_d_model_ref`): every parameter group carries an
`lr_scale`, and `trainers.train_step` sets its lr to the schedule's lr · lr_scale each step.
Without μP every scale is 1. With it, the rule is μP's for Adam (Yang et al. 2022, "Tensor
Programs V", Table 3): hidden and output weight matrices (Q, K, V, O, MLP, head) scale by
mup_d_model_ref / d_model, embeddings, LayerNorm gains/shifts and biases by 1. Limits: only
this lr rule is applied — the initialization stays `init.*` (γ is a factor of the studies
here, so μP's init variances and output multiplier are not used) and attention keeps its
1/√d_head scale; one scale for every hidden matrix is μP's 1/fan_in ratio only when d_ff
grows in proportion to d_model across the sweep.
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


def split_decayed(model: nn.Module, decay_norms_and_biases: bool,
                  decay_embeddings: bool = True) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed) parameters.

    Embedding tables decay iff `decay_embeddings`; any other parameter decays when
    `decay_norms_and_biases` or when it is a 2-D weight matrix.
    """
    embeddings = _embedding_ids(model)
    decayed: list[nn.Parameter] = []
    kept: list[nn.Parameter] = []
    for p in model.parameters():
        decays = decay_embeddings if id(p) in embeddings else decay_norms_and_biases or p.dim() == 2
        (decayed if decays else kept).append(p)
    return decayed, kept


def lr_scales(model: nn.Module, optim: OptimConfig) -> dict[int, float]:
    """Each parameter's lr multiplier, by `id`: 1, or μP's d_ref / d_model on hidden and output matrices."""
    if optim.mup_d_model_ref is None:
        return {id(p): 1.0 for p in model.parameters()}
    scale, embeddings = optim.mup_d_model_ref / _width(model), _embedding_ids(model)
    return {id(p): scale if p.dim() == 2 and id(p) not in embeddings else 1.0 for p in model.parameters()}


def param_groups(model: nn.Module, optim: OptimConfig) -> list[dict[str, Any]]:
    """One group per (decays, lr_scale): params, weight_decay, lr = optim.lr · lr_scale, lr_scale.

    Decaying groups come first, then larger scales; empty groups are left out (DeepSpeed's
    ZeRO optimizers do not expect them). Under `l2` no group decays in the optimizer: the
    penalty is in the loss (`loss_spec`).
    """
    decayed = {id(p) for p in split_decayed(model, optim.decay_norms_and_biases, optim.decay_embeddings)[0]}
    scales = lr_scales(model, optim)
    by_key: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for p in model.parameters():
        decays = optim.weight_decay_mode == "decoupled" and id(p) in decayed
        by_key.setdefault((decays, scales[id(p)]), []).append(p)
    return [
        {"params": params, "weight_decay": optim.weight_decay if decays else 0.0, "lr": optim.lr * scale,
         "lr_scale": scale}
        for (decays, scale), params in sorted(by_key.items(), key=lambda item: (not item[0][0], -item[0][1]))
    ]


def build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """torch AdamW (`decoupled`) or Adam (`l2`, the penalty is in `LossSpec`) over `param_groups`."""
    betas = (optim.beta1, optim.beta2)
    groups = param_groups(model, optim)
    if optim.weight_decay_mode == "l2":
        return torch.optim.Adam(groups, lr=optim.lr, betas=betas, weight_decay=0.0)
    return torch.optim.AdamW(groups, lr=optim.lr, betas=betas, weight_decay=optim.weight_decay)


def _embedding_ids(model: nn.Module) -> set[int]:
    return {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}


def _width(model: nn.Module) -> int:
    """d_model: the embeddings' width (every embedding table of the GPT writes into the residual stream)."""
    widths = {m.embedding_dim for m in model.modules() if isinstance(m, nn.Embedding)}
    if len(widths) != 1:
        raise ValueError(f"optim.mup_d_model_ref needs one embedding width to read d_model from; the model has {sorted(widths)}")
    return widths.pop()


def loss_spec(model: nn.Module, optim: OptimConfig, loss_on: Literal["last", "all"]) -> LossSpec:
    """The `LossSpec` of a trial: its task's scored positions plus the `l2` penalty, if any."""
    if optim.weight_decay_mode != "l2" or optim.weight_decay == 0:
        return LossSpec(loss_on)
    decayed, _ = split_decayed(model, optim.decay_norms_and_biases, optim.decay_embeddings)
    return LossSpec(loss_on, optim.weight_decay, tuple(decayed))


def l2_penalty(spec: LossSpec) -> torch.Tensor | None:
    """λ·Σ‖W‖² over `spec.l2_params` (in fp32), or None when the spec has no penalty."""
    if spec.l2_coef == 0 or not spec.l2_params:
        return None
    return spec.l2_coef * torch.stack([p.float().pow(2).sum() for p in spec.l2_params]).sum()
