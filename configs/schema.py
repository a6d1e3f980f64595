"""Pydantic schemas of one trial: its sections (model, init, optim) and `TrialConfig`.

The data section is `configs/data.py`, the train section `configs/train.py`, eval `configs/eval.py`.

A `TrialConfig` is everything one training run needs (`configs/sweep.py` holds the sweep
that expands into trials). Every schema is frozen and rejects unknown keys. Every
cross-field rule lives in a `model_validator` whose message names the field, the value, the
rule and the fix (CONTRIBUTING.md, "Errors for bad input").
"""

from __future__ import annotations

import functools

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from configs import identity, metrics
from configs.base import FrozenModel
from configs.data import DataConfig
from configs.eval import EvalConfig
from configs.train import TrainConfig


class ModelConfig(FrozenModel):
    """GPT decoder shape. The vocabulary and context length come from the task."""

    n_layer: int = Field(2, ge=1, description="Number of transformer blocks.")
    n_head: int = Field(1, ge=1, description="Attention heads per block; must divide d_model.")
    d_model: int = Field(64, ge=1, description="Residual stream width.")
    d_ff: int = Field(256, ge=1, description="MLP hidden width.")
    norm: Literal["pre", "post"] = Field("pre", description="LayerNorm placement.")
    activation: Literal["gelu", "relu"] = Field("gelu", description="MLP non-linearity.")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.d_model % self.n_head:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.n_head "
                f"({self.n_head}); pick n_head among the divisors of d_model"
            )
        return self


class InitConfig(FrozenModel):
    """Weight initialization: every weight matrix from N(0, σ²), σ set by `scheme` and γ.

    σ of each matrix (d = d_model, d_ff = MLP width, L = n_layer, γ = `rate`):

    ==========================  =================  ==========================
    matrix                      `fan_in`           `reference`
    ==========================  =================  ==========================
    token, position embedding   d^(−γ)             d^(−γ)
    W_Q, W_K, W_V               d^(−γ)             d^(−γ)
    attention output W_O        d^(−γ)             d^(−γ) / √(2·L)
    MLP up (d → d_ff)           d^(−γ)             d^(−γ)
    MLP down (d_ff → d)         d_ff^(−γ)          d^(−γ) / √(2·L)
    output head                 d^(−γ)             d^(−γ)
    ==========================  =================  ==========================

    `reference` is the complexity-control reference code (sjtuzzw/complexity_control,
    `GPT2_init_for_diff_part_prenorm.py`). With `std` set, `std` replaces the base σ
    (fan_in^(−γ) or d^(−γ)); `reference` still divides the two residual outputs by √(2·L), so
    `reference` + `std: 0.02` is GPT-2's initialization. LayerNorm gains are 1 and every bias
    0 in both schemes (the reference code keeps PyTorch's uniform bias init and a head bias).
    """

    scheme: Literal["fan_in", "reference"] = Field(
        "fan_in",
        description=(
            "σ of each weight matrix. `fan_in`: σ = fan_in^(−γ) (d_model for embeddings, Q, K, V, "
            "attention output, MLP up and head; d_ff for MLP down). `reference` (the complexity-"
            "control reference code): σ = d_model^(−γ) for every matrix, the attention output and "
            "MLP down-projection further divided by √(2·n_layer). LayerNorm 1, biases 0."
        ),
    )
    rate: float = Field(
        0.5, gt=0, le=3,
        description="Initialization rate γ: σ = fan_in^(−γ) or d_model^(−γ) (see `scheme`). Larger = smaller init.",
    )
    std: float | None = Field(
        None, gt=0,
        description=(
            "Fixed base σ instead of fan_in^(−γ) / d_model^(−γ) (control runs); `reference` still "
            "divides the residual outputs by √(2·n_layer)."
        ),
    )


class OptimConfig(FrozenModel):
    """Adam(W) with weight decay λ and a warm-up + decay schedule.

    `weight_decay_mode` (trainers/optim.py):

    * `decoupled` (default, as the reference code): torch AdamW; each step multiplies every
      decayed weight by (1 − lr·λ) besides the Adam update of the loss gradient.
    * `l2` (the textbook's coupled form): the objective is loss + λ·Σ‖W‖² under Adam, so the
      gradient gains 2λW and is clipped and normalized with the rest. λ is the coefficient of
      ‖W‖² as written (not of ½‖W‖², which is what `torch.optim.Adam(weight_decay=λ)` uses).
    """

    lr: float = Field(3e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(
        0.01, ge=0,
        description="Weight decay λ: AdamW's decoupled factor, or the coefficient of λ‖W‖² in the loss (see `weight_decay_mode`).",
    )
    weight_decay_mode: Literal["decoupled", "l2"] = Field(
        "decoupled",
        description=(
            "`decoupled`: AdamW, W ← W − lr·λ·W each step (the reference code). `l2`: Adam on "
            "loss + λ·Σ‖W‖² (gradient + 2λW, clipped with the rest; the textbook's form)."
        ),
    )
    decay_norms_and_biases: bool = Field(
        True,
        description=(
            "Decay LayerNorm gains/shifts and biases too (true: every parameter, as the reference "
            "code); false: only the weight matrices (embeddings, Q, K, V, O, MLP, head; embeddings "
            "follow decay_embeddings either way)."
        ),
    )
    decay_embeddings: bool = Field(
        True,
        description=(
            "Decay the token and position embedding tables (nn.Embedding weights) like the other "
            "matrices (true, as the reference code); false: embeddings never decay."
        ),
    )
    mup_d_model_ref: int | None = Field(
        None, ge=1,
        description=(
            "μP-style lr for Adam (Yang et al. 2022, Table 3): hidden and output weight matrices get "
            "lr · mup_d_model_ref / d_model, embeddings, norms and biases lr. Only the lr rule: "
            "initialization stays init.*. null: one lr for every parameter."
        ),
    )
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam β₁.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam β₂.")
    warmup_steps: int = Field(100, ge=0, description="Linear warm-up steps from 0 to lr.")
    schedule: Literal["cosine", "linear", "constant", "wsd"] = Field(
        "cosine",
        description=(
            "Decay after warm-up, down to min_lr_ratio·lr at the last step. `wsd` (warm-up, "
            "stable, decay): lr stays at its peak, then decays linearly over the last "
            "cooldown_fraction of the run (trainers/schedule.py)."
        ),
    )
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Final lr as a fraction of lr.")
    cooldown_fraction: float = Field(
        0.2, gt=0, lt=1,
        description=(
            "`wsd` only: share of a run's steps spent in its final linear decay; each cool-down "
            "branch of `train.cooldowns` decays over the same share of its own length."
        ),
    )
    grad_clip: float = Field(1.0, ge=0, description="Gradient-norm clip; 0 disables.")


class TrialConfig(FrozenModel):
    """One fully resolved training run."""

    sweep: str = Field("adhoc", description="Name of the sweep this trial belongs to.")
    seed: int = Field(0, ge=0, description="Seeds data, init and dropout.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    init: InitConfig = Field(default_factory=InitConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="before")
    @classmethod
    def _steps_from_token_budget(cls, raw: Any) -> Any:
        """Given `data.num_train_tokens` and no `train.num_steps`, train on that budget.

        num_steps = ⌈num_train_tokens / (batch_size · seq_len)⌉, one pass over the training
        pool, so a data ladder is one grid key: ``data.num_train_tokens: [1e6, 2e6, 4e6]``.
        The derived value is written into the config, so D (logged) is exact and the trial id
        is the same however the config is given afterwards.
        """
        if not isinstance(raw, dict):
            return raw
        data, train = raw.get("data"), raw.get("train") or {}
        if not isinstance(data, dict) or data.get("num_train_tokens") is None or not isinstance(train, dict):
            return raw
        if "num_steps" in train:
            return raw
        batch = int(train.get("batch_size", TrainConfig.model_fields["batch_size"].default))
        seq_len = int(data.get("seq_len", DataConfig.model_fields["seq_len"].default))
        steps = math.ceil(float(data["num_train_tokens"]) / (batch * seq_len))
        return {**raw, "train": {**train, "num_steps": max(steps, 1)}}

    @model_validator(mode="after")
    def _warmup_within_run(self) -> TrialConfig:
        if self.optim.warmup_steps >= self.train.num_steps:
            raise ValueError(
                f"optim.warmup_steps ({self.optim.warmup_steps}) must be less than "
                f"train.num_steps ({self.train.num_steps}); lower warmup_steps or raise num_steps"
            )
        return self

    @model_validator(mode="after")
    def _zero3_keeps_weights_whole_for_probes(self) -> TrialConfig:
        # ZeRO-3 keeps each parameter in shards; these probes rewrite whole weight matrices
        # in place between forward passes, which sharded parameters cannot take.
        listed = self.eval.probes  # opt-in: a probe not listed never runs
        editing = {
            "eval.phi_weight_every": "phi_weight" in listed
            and self.eval.cadence(self.eval.phi_weight_every, self.train.eval_every),
            "eval.ratedist_bits": "ratedist" in listed and self.eval.ratedist_bits,
        }
        active = [name for name, value in editing.items() if value]
        if self.train.zero_stage == 3 and active:
            raise ValueError(
                f"train.zero_stage 3 shards the parameters, but {' and '.join(active)} perturb whole "
                "weights; drop phi_weight and ratedist from eval.probes (or set eval.phi_weight_every: 0 and "
                "eval.ratedist_bits: []) or use zero_stage ≤ 2"
            )
        return self

    @model_validator(mode="after")
    def _cooldowns_need_wsd(self) -> TrialConfig:
        if self.train.cooldowns and self.optim.schedule != "wsd":
            raise ValueError(
                f"train.cooldowns ({self.train.cooldowns}) need optim.schedule: wsd (got "
                f"'{self.optim.schedule}'): a branch must leave a stable lr; set schedule: wsd "
                "or remove cooldowns"
            )
        return self

    @model_validator(mode="after")
    def _cooldowns_in_stable_phase(self) -> TrialConfig:
        stable_end = self.train.num_steps - wsd_decay_steps(self.train.num_steps, self.optim.cooldown_fraction)
        previous = self.optim.warmup_steps - 1
        for fraction, (start, end) in zip(self.train.cooldowns, self.cooldown_branches):
            if start < self.optim.warmup_steps or start >= stable_end or start <= previous:
                raise ValueError(
                    f"train.cooldowns: the branch ending at {fraction}·num_steps (step {end}) starts "
                    f"at step {start}, outside the stable phase [optim.warmup_steps "
                    f"({self.optim.warmup_steps}), {stable_end}) or not after the previous branch; "
                    "raise that fraction, lower warmup_steps or optim.cooldown_fraction, or drop it"
                )
            previous = start
        return self

    @property
    def cooldown_branches(self) -> list[tuple[int, int]]:
        """(start step, end step) of each cool-down branch of `train.cooldowns`.

        A branch ending at fraction f ends at step e = round(f·num_steps) and decays over the
        last `wsd_decay_steps(e, optim.cooldown_fraction)` of them, so it starts (leaves the
        stable phase) at e minus that: it is the run a `wsd` trial of e steps would have been.
        """
        ends = [round(f * self.train.num_steps) for f in self.train.cooldowns]
        return [(end - wsd_decay_steps(end, self.optim.cooldown_fraction), end) for end in ends]

    @property
    def config_hash(self) -> str:
        """SHA-256 of the trial's identity: the fields that define what is trained.

        `configs/identity.py` lists them (model, init, optim, data, seed, steps, batch size,
        cool-downs) and says why the rest (sweep name, eval probes, execution settings) are
        left out; the hash is of identity version `IDENTITY_VERSION`.
        """
        return identity.identity_hash(self.flat_params())

    @property
    def config_hash_v1(self) -> str:
        """The hash identity version 1 gave this trial (how runs logged before version 2 are found)."""
        return identity.identity_hash_v1(self.model_dump(mode="json"))

    @property
    def measurement_hash(self) -> str:
        """SHA-256 of the trial's `eval` section: what it measures (`configs/identity.py`)."""
        return identity.measurement_hash(self.eval.model_dump(mode="json"))

    @property
    def trial_id(self) -> str:
        """Short, stable id: 10 hex digits of `config_hash`, plus `-m<measurement>` when `eval` is not the default."""
        return identity.trial_id(self.config_hash, self.eval.model_dump(mode="json"), _default_eval())

    @property
    def num_params(self) -> int:
        """N: non-embedding parameters."""
        return metrics.num_params(self.model.n_layer, self.model.d_model, self.model.d_ff)

    @property
    def num_tokens(self) -> int:
        """D: training tokens processed over the whole run."""
        return self.data.num_tokens(self.train.num_steps, self.train.batch_size)

    @property
    def vocab_size(self) -> int:
        """Model vocabulary (the task decides it)."""
        return self.data.model_vocab_size

    @property
    def compute_flops(self) -> float:
        """C: training FLOPs over the whole run (`configs.metrics.flops_per_token`).

        The anchor task computes logits at the last position only, so its head counts once
        per sequence.
        """
        m = self.model
        head_positions = self.data.scored_positions / self.data.seq_len
        return metrics.compute_flops(
            m.n_layer, m.d_model, m.d_ff, self.data.seq_len, self.vocab_size, self.num_tokens, head_positions
        )

    def flat_params(self) -> dict[str, Any]:
        """Dotted-path view of the config, for MLflow params and results tables."""
        return flatten(self.model_dump(mode="json"))


def wsd_decay_steps(num_steps: int, cooldown_fraction: float) -> int:
    """Steps of a `wsd` run's final decay: round(cooldown_fraction·num_steps), at least 1."""
    return max(round(cooldown_fraction * num_steps), 1)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys: {"a": {"b": 1}} → {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


@functools.cache
def _default_eval() -> dict[str, Any]:
    """`EvalConfig()`'s dump, built once: `trial_id` compares every trial's eval section with it."""
    return EvalConfig().model_dump(mode="json")
