"""A GPT-style decoder in one file, with the initialization rate γ of docs/architecture.md.

Shape follows nanoGPT's `model.py`: a few small modules with shape comments. Two options
matter for the complexity-control experiments: pre- vs post-LayerNorm (the reference runs of
Zhang et al. 2024 are post-LN) and γ-initialization — every weight matrix, including the
embeddings and the output head, is drawn from N(0, σ²) with σ set by `init.scheme`
(`fan_in`: fan_in^(−γ); `reference`: d_model^(−γ), residual outputs / √(2·n_layer); the
table is in `configs.schema.InitConfig`), while LayerNorm gains are 1 and biases 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from configs import InitConfig, ModelConfig


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention with separate W_Q, W_K, W_V (condensation reads W_Q)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.q = nn.Linear(cfg.d_model, cfg.d_model)
        self.k = nn.Linear(cfg.d_model, cfg.d_model)
        self.v = nn.Linear(cfg.d_model, cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # (B, T, C)
        heads = lambda t: t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # noqa: E731
        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))  # (B, H, T, C/H)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, C/H)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class MLP(nn.Module):
    """Two-layer feed-forward block."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff)
        self.act = nn.GELU() if cfg.activation == "gelu" else nn.ReLU()
        self.out = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.fc(x)))  # (B, T, C)


class Block(nn.Module):
    """Transformer block; `norm="pre"` normalizes inputs, `"post"` normalizes sums."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.pre_norm = cfg.norm == "pre"
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.mlp(x))


class GPT(nn.Module):
    """Decoder-only transformer: token + position embeddings, blocks, final LN, head.

    The head is untied from the token embedding so that γ applies to it independently.
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, seq_len: int) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.tok_emb = nn.Embedding(vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Logits. idx: (B, T) token ids → (B, T, vocab), or (B, vocab) if `last_only`.

        `last_only` skips the head on positions whose prediction is never scored (the
        anchor task answers at the last position only).
        """
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        if last_only:
            x = x[:, -1]  # (B, C)
        return self.head(self.ln_f(x))  # (B, T, vocab) or (B, vocab)

    def num_non_embedding_params(self) -> int:
        """N as `configs.metrics.num_params` defines it (a unit test checks they agree)."""
        excluded = {id(self.tok_emb.weight), id(self.pos_emb.weight), id(self.head.weight)}
        return sum(p.numel() for p in self.parameters() if id(p) not in excluded)


def weight_matrices(model: GPT) -> dict[str, torch.Tensor]:
    """Every weight matrix γ applies to, by name (embeddings, Q/K/V/O, MLP, head)."""
    return {
        name: p
        for name, p in model.named_parameters()
        if p.dim() == 2  # LayerNorm weights and all biases are 1-D
    }


def fan_in(weight: torch.Tensor) -> int:
    """Fan-in of a weight matrix.

    nn.Linear stores (out, in), so fan_in = shape[1]. An embedding table (vocab, d) is a
    linear map from a one-hot input; following Zhang et al. 2024 we use its output width d
    as fan_in, i.e. σ = d^(−γ), so that γ sets the scale of the residual stream.
    """
    return weight.shape[1]


# The two matrices that write into the residual stream; `reference` shrinks them by √(2·L)
# so the stream's variance does not grow with depth (GPT-2's scaled residual init).
RESIDUAL_OUTPUTS = ("attn.proj.weight", "mlp.out.weight")


def init_stds(model: GPT, init: InitConfig) -> dict[str, float]:
    """σ of every weight matrix under `init`, by parameter name (the InitConfig table)."""
    d_model, n_layer = model.tok_emb.weight.shape[1], len(model.blocks)
    stds = {}
    for name, weight in weight_matrices(model).items():
        width = fan_in(weight) if init.scheme == "fan_in" else d_model
        std = init.std if init.std is not None else width ** (-init.rate)
        if init.scheme == "reference" and name.endswith(RESIDUAL_OUTPUTS):
            std /= math.sqrt(2 * n_layer)
        stds[name] = std
    return stds


@torch.no_grad()
def init_weights(model: GPT, init: InitConfig, generator: torch.Generator) -> None:
    """Draw every weight matrix from N(0, σ²) with σ from `init_stds`; zero every bias."""
    matrices = weight_matrices(model)
    for name, std in init_stds(model, init).items():
        matrices[name].normal_(0.0, std, generator=generator)
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.zero_()


def build_model(cfg: ModelConfig, init: InitConfig, vocab_size: int, seq_len: int, seed: int) -> GPT:
    """Construct a GPT and γ-initialize it deterministically from `seed`."""
    model = GPT(cfg, vocab_size, seq_len)
    init_weights(model, init, torch.Generator().manual_seed(seed))
    return model


def first_query_weight(model: GPT) -> torch.Tensor:
    """Layer-1 W_Q as a float CPU tensor (num_neurons, fan_in): the condensation probe."""
    block: Block = model.blocks[0]  # type: ignore[assignment]
    return block.attn.q.weight.detach().float().cpu()


def param_norm(model: nn.Module) -> float:
    """Total L2 norm of all parameters (a complexity measure)."""
    return math.sqrt(sum(float(p.detach().float().pow(2).sum()) for p in model.parameters()))
