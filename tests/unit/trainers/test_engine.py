"""The DeepSpeed config builder (pure, table-driven) and engine start-up on CPU."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from configs import TrialConfig
from trainers.engine import build_ds_config, create_engine, resolve_precision
from trainers.model import build_model


def trial(train: dict[str, Any] | None = None, optim: dict[str, Any] | None = None) -> TrialConfig:
    return TrialConfig.model_validate(
        {
            "model": {"n_layer": 1, "d_model": 16, "d_ff": 64},
            "optim": {"warmup_steps": 1, **(optim or {})},
            "train": {"num_steps": 10, "eval_every": 5, "checkpoint_every": 10, **(train or {})},
        }
    )


# (train overrides, optim overrides, device, world size) → the keys that matter.
TABLE = [
    pytest.param({"batch_size": 512}, {}, "cpu", 1,
                 {"train_batch_size": 512, "train_micro_batch_size_per_gpu": 512, "gradient_accumulation_steps": 1},
                 id="micro-null-is-batch"),
    pytest.param({"batch_size": 512, "micro_batch_size": 128}, {}, "cpu", 1,
                 {"train_batch_size": 512, "train_micro_batch_size_per_gpu": 128, "gradient_accumulation_steps": 4},
                 id="accum-4"),
    pytest.param({"batch_size": 512, "micro_batch_size": 128}, {}, "cpu", 2,
                 {"train_batch_size": 512, "train_micro_batch_size_per_gpu": 64, "gradient_accumulation_steps": 4},
                 id="two-workers-split-the-micro-batch"),
    pytest.param({"batch_size": 96, "micro_batch_size": 32}, {}, "cpu", 1,
                 {"train_batch_size": 96, "train_micro_batch_size_per_gpu": 32, "gradient_accumulation_steps": 3},
                 id="accum-3"),
    pytest.param({}, {"grad_clip": 0.0}, "cpu", 1, {"gradient_clipping": 0.0}, id="clip-0-written-out"),
    pytest.param({}, {"grad_clip": 1.0}, "cpu", 1, {"gradient_clipping": 1.0}, id="clip-default"),
    pytest.param({}, {"grad_clip": 0.25}, "cpu", 1, {"gradient_clipping": 0.25}, id="clip-0.25"),
    pytest.param({"precision": "auto"}, {}, "cpu", 1, {"bf16": {"enabled": False}}, id="auto-cpu-fp32"),
    pytest.param({"precision": "auto"}, {}, "cuda", 1, {"bf16": {"enabled": True}}, id="auto-cuda-bf16"),
    pytest.param({"precision": "bf16"}, {}, "cpu", 1, {"bf16": {"enabled": True}}, id="bf16-cpu"),
    pytest.param({"precision": "fp32"}, {}, "cuda", 1, {"bf16": {"enabled": False}}, id="fp32-cuda"),
    pytest.param({"zero_stage": 0}, {}, "cpu", 1, {"zero_optimization": {"stage": 0}}, id="zero-0"),
    pytest.param({"zero_stage": 1}, {}, "cpu", 1, {"zero_optimization": {"stage": 1}}, id="zero-1"),
    pytest.param({"zero_stage": 2}, {}, "cuda", 1, {"zero_optimization": {"stage": 2}}, id="zero-2"),
]


@pytest.mark.parametrize("train, optim, device, world_size, expected", TABLE)
def test_build_ds_config(train: dict[str, Any], optim: dict[str, Any], device: str, world_size: int,
                         expected: dict[str, Any]) -> None:
    config = build_ds_config(trial(train, optim), device, world_size)
    assert {k: config[k] for k in expected} == expected
    # Invariants of every config: clipping always explicit, DeepSpeed's batch identity holds.
    assert "gradient_clipping" in config
    assert config["train_batch_size"] == (
        config["train_micro_batch_size_per_gpu"] * config["gradient_accumulation_steps"] * world_size
    )
    assert "optimizer" not in config  # a torch AdamW is passed in; the config route is FusedAdam


def test_build_ds_config_is_pure() -> None:
    t = trial({"batch_size": 64, "micro_batch_size": 16})
    first = build_ds_config(t, "cpu")
    first["bf16"]["enabled"] = True  # mutating a returned dict must not leak into the next
    assert build_ds_config(t, "cpu") == build_ds_config(t, "cpu") != first


def test_micro_batch_not_divisible_by_world_size() -> None:
    with pytest.raises(ValueError, match=r"train\.micro_batch_size \(128\) must be divisible by resources\.workers_per_trial \(3\)"):
        build_ds_config(trial({"batch_size": 512, "micro_batch_size": 128}), "cpu", world_size=3)


@pytest.mark.parametrize(
    "precision, device, expected",
    [("auto", "cpu", "fp32"), ("auto", "cuda", "bf16"), ("fp32", "cuda", "fp32"), ("bf16", "cpu", "bf16")],
)
def test_resolve_precision(precision: str, device: str, expected: str) -> None:
    assert resolve_precision(trial({"precision": precision}), device) == expected


def test_create_engine_on_cpu_uses_torch_adamw() -> None:
    t = trial({"batch_size": 8, "micro_batch_size": 4}, {"weight_decay": 0.123, "lr": 2e-3, "beta2": 0.95, "grad_clip": 0.5})
    model = build_model(t.model, t.init, vocab_size=32, seq_len=8, seed=0)
    engine = create_engine(t, model, "cpu")
    optimizer = engine.optimizer
    assert type(optimizer) is torch.optim.AdamW
    (group,) = optimizer.param_groups
    assert group["weight_decay"] == 0.123
    assert group["lr"] == 2e-3
    assert group["betas"] == (0.9, 0.95)
    assert engine.module is model
    assert engine.gradient_clipping() == 0.5
    assert engine.gradient_accumulation_steps() == 2
    assert engine.train_micro_batch_size_per_gpu() == 4
    assert not engine.bfloat16_enabled()
    assert engine.zero_optimization_stage() == 0
    # One accumulation boundary (two micro-steps) moves the weights.
    before = model.head.weight.detach().clone()
    for _ in range(2):
        x = torch.randint(0, 32, (4, 8))
        loss = engine(x).logsumexp(-1).mean()
        engine.backward(loss)
        engine.step()
    assert not torch.equal(model.head.weight, before)
