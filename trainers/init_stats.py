"""What a run's initialization actually was, measured on the drawn weights at step 0.

A comparison of "small init" against "large init" is only fair if the arms really differ in
init and only there (docs/architecture.md, "Fair comparisons"). A fixed σ means a different γ at every
width (γ_eff = −ln σ / ln d_model: σ = 0.02 is γ_eff 1.4 at d_model 16 and 0.57 at 1024), so
each run logs, per weight-matrix kind, the measured std of its drawn weights and that γ_eff,
and the median γ_eff over the kinds as the run's one number (`init/gamma_eff`).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from configs import metrics as M
from trainers.model import GPT, weight_matrices

# Parameter-name endings → matrix kind (names as `trainers.model` defines them).
_KINDS = (
    ("tok_emb.weight", "tok_emb"), ("pos_emb.weight", "pos_emb"), ("head.weight", "head"),
    ("attn.q.weight", "attn_qkv"), ("attn.k.weight", "attn_qkv"), ("attn.v.weight", "attn_qkv"),
    ("attn.proj.weight", "attn_out"), ("mlp.fc.weight", "mlp_up"), ("mlp.out.weight", "mlp_down"),
)


def matrix_kind(name: str) -> str:
    """The kind of weight matrix `name` is (`attn_qkv`, `mlp_down`, …); `other` if unknown."""
    return next((kind for ending, kind in _KINDS if name.endswith(ending)), "other")


@torch.no_grad()
def init_metrics(model: GPT) -> dict[str, float]:
    """`init/sigma/<kind>`, `init/gamma_eff/<kind>` and the median `init/gamma_eff` of `model`.

    σ of a kind is the root mean square of all its matrices' entries (they are drawn with
    mean 0), so it is what the init scheme produced, not what the config asked for.
    """
    d_model = model.tok_emb.weight.shape[1]
    squares: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # kind → [Σ w², count]
    for name, weight in weight_matrices(model).items():
        acc = squares[matrix_kind(name)]
        acc[0] += float(weight.double().pow(2).sum())
        acc[1] += weight.numel()
    values: dict[str, float] = {}
    gammas = []
    for kind, (total, count) in squares.items():
        sigma = math.sqrt(total / count)
        gamma = -math.log(sigma) / math.log(d_model) if sigma > 0 and d_model > 1 else math.nan
        values[M.init_sigma_key(kind)] = sigma
        values[M.init_gamma_eff_key(kind)] = gamma
        gammas.append(gamma)
    values[M.INIT_GAMMA_EFF] = float(torch.tensor(gammas).median()) if gammas else math.nan
    return values
