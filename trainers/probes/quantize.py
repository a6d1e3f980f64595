"""Rate–distortion of the weights: held-out loss with every weight matrix quantized.

Symmetric per-row quantization to b bits (the usual post-training int-b scheme): each row r
of a weight matrix (an output neuron of a Linear, one token's vector of an Embedding) gets
its own scale s_r = max|W_r| / (2^(b−1) − 1), and W_r ↦ s_r·clamp(round(W_r/s_r), ±(2^(b−1) − 1)).
b = 2 leaves three levels {−s_r, 0, s_r}. The matrices are those φ perturbs
(`trainers.model.weight_matrices`); LayerNorm and biases stay in full precision, as they do
in int-b inference. The model is restored exactly afterwards (`restored_weights`).
"""

from __future__ import annotations

import torch

from trainers.data.tasks import TaskData
from trainers.model import GPT
from trainers.probes.stability import restored_weights
from trainers.probes.subsets import domain_losses, eval_mode


def quantize_rows(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """The symmetric per-row b-bit quantization of a 2-D `weight` (a new tensor, same dtype)."""
    levels = 2 ** (bits - 1) - 1
    w = weight.float()
    scale = w.abs().amax(dim=1, keepdim=True) / levels  # (rows, 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row stays zero
    return (torch.clamp(torch.round(w / scale), -levels, levels) * scale).to(weight.dtype)


@torch.no_grad()
def rate_distortion(model: GPT, task: TaskData, device: str, bits: list[int]) -> dict[int, dict[str, float]]:
    """{bits: {domain: held-out loss on the full held-out set}} with quantized weights."""
    curve = {}
    with eval_mode(model):
        for b in bits:
            with restored_weights(model) as matrices:
                for w in matrices.values():
                    w.copy_(quantize_rows(w, b))
                curve[b] = domain_losses(model, task, task.domains, device)
    return curve
