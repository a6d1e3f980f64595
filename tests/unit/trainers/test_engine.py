"""The DeepSpeed config builder (pure, table-driven) and engine start-up on CPU."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from configs import TrialConfig
from trainers.engine import build_ds_config, create_engine, resolve_precision, resolve_zero_stage
from trainers.model import build_model


def trial(train: dict[str, Any] | None = None, optim: dict[str, Any] | None = None) -> TrialConfig:
    train = {"num_steps": 10, "eval_every": 5, "checkpoint_every": 10, **(train or {})}
    # ZeRO-3 shards the weights, which the weight-editing probes refuse (configs/schema.py).
    probes = {"phi_weight_every": 0, "ratedist_bits": []} if train.get("zero_stage") == 3 else {}
    return TrialConfig.model_validate(
        {
            "model": {"n_layer": 1, "d_model": 16, "d_ff": 64},
            "optim": {"warmup_steps": 1, **(optim or {})},
            "train": train,
            "eval": probes,
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
    pytest.param({"zero_stage": 0}, {}, "cpu", 1, {"zero_optimization": {"stage": 0}}, id="zero-0"),
    pytest.param({"zero_stage": 1}, {}, "cpu", 1, {"zero_optimization": {"stage": 1}}, id="zero-1"),
    pytest.param({"zero_stage": 2}, {}, "cuda", 1, {"zero_optimization": {"stage": 2}}, id="zero-2"),
]

FP32 = {"enabled": False}
BF16 = {"enabled": True}
FP32_ACCUM = {"grad_accum_dtype": "fp32"}
# (device, train.precision, train.zero_stage) → the bf16, ZeRO and data_types sections
# (None: no data_types key). Every trial accumulates 4 micro-batches, except ZeRO-2 + bf16,
# which DeepSpeed 0.19.8 would accumulate in bf16 (`test_bf16_zero2_with_accumulation_is_refused`).
PRECISION_TABLE = [
    pytest.param("cpu", "auto", 0, FP32, 0, None, id="cpu-auto-0-fp32"),
    pytest.param("cpu", "auto", 1, FP32, 1, None, id="cpu-auto-1"),
    pytest.param("cpu", "fp32", 2, FP32, 2, None, id="cpu-fp32-2"),
    pytest.param("cpu", "fp32", 3, FP32, 3, None, id="cpu-fp32-3"),
    pytest.param("cpu", "bf16", 0, BF16, 1, FP32_ACCUM, id="cpu-bf16-0-runs-as-1"),
    pytest.param("cpu", "bf16", 1, BF16, 1, FP32_ACCUM, id="cpu-bf16-1"),
    pytest.param("cpu", "bf16", 3, BF16, 3, FP32_ACCUM, id="cpu-bf16-3"),
    pytest.param("cuda", "auto", 0, BF16, 1, FP32_ACCUM, id="cuda-default-is-bf16-zero1-fp32-accum"),
    pytest.param("cuda", "auto", 1, BF16, 1, FP32_ACCUM, id="cuda-auto-1"),
    pytest.param("cuda", "auto", 3, BF16, 3, FP32_ACCUM, id="cuda-auto-3"),
    pytest.param("cuda", "bf16", 0, BF16, 1, FP32_ACCUM, id="cuda-bf16-0-runs-as-1"),
    pytest.param("cuda", "fp32", 0, FP32, 0, None, id="cuda-fp32-0"),
    pytest.param("cuda", "fp32", 1, FP32, 1, None, id="cuda-fp32-1"),
    pytest.param("cuda", "fp32", 2, FP32, 2, None, id="cuda-fp32-2"),
    pytest.param("cuda", "fp32", 3, FP32, 3, None, id="cuda-fp32-3"),
]


@pytest.mark.parametrize("device, precision, stage, bf16, run_stage, data_types", PRECISION_TABLE)
def test_precision_and_zero_stage_per_device(device: str, precision: str, stage: int, bf16: dict[str, bool],
                                             run_stage: int, data_types: dict[str, str] | None) -> None:
    t = trial({"batch_size": 64, "micro_batch_size": 16, "precision": precision, "zero_stage": stage})
    config = build_ds_config(t, device)
    assert config["bf16"] == bf16
    assert config["zero_optimization"] == {"stage": run_stage}
    assert config.get("data_types") == data_types
    assert resolve_zero_stage(t, device) == run_stage


@pytest.mark.parametrize("device, precision", [("cuda", "auto"), ("cuda", "bf16"), ("cpu", "bf16")])
def test_bf16_zero2_with_accumulation_is_refused(device: str, precision: str) -> None:
    t = trial({"batch_size": 64, "micro_batch_size": 16, "precision": precision, "zero_stage": 2})
    with pytest.raises(ValueError, match=(
        rf"train\.zero_stage 2 with bf16 \(train\.precision '{precision}' on {device}\) would sum the 4 "
        r"micro-batch gradients of a step in bf16: .* use zero_stage 1 or 3, set train\.micro_batch_size "
        r"to batch_size \(64\), or precision: fp32")):
        build_ds_config(t, device)


@pytest.mark.parametrize("device, precision", [("cuda", "auto"), ("cpu", "bf16")])
def test_bf16_zero2_without_accumulation_has_nothing_to_accumulate(device: str, precision: str) -> None:
    config = build_ds_config(trial({"batch_size": 64, "precision": precision, "zero_stage": 2}), device)
    assert config["zero_optimization"] == {"stage": 2} and "data_types" not in config


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


# (train.precision, train.zero_stage) → the optimizer DeepSpeed 0.19.8 wraps the torch AdamW in
# (`engine._do_optimizer_sanity_check`), and the dtype gradients are accumulated in.
OPTIMIZER_TABLE = [
    ("fp32", 0, "AdamW", torch.float32),  # no wrapper: torch accumulates in the fp32 .grad
    ("bf16", 0, "BF16_Optimizer", torch.float32),  # runs as ZeRO-1, not FP16_UnfusedOptimizer
    ("bf16", 1, "BF16_Optimizer", torch.float32),
    ("bf16", 3, "DeepSpeedZeroOptimizer_Stage3", torch.float32),
]


@pytest.mark.parametrize("precision, stage, wrapper, accum_dtype", OPTIMIZER_TABLE)
def test_deepspeed_picks_an_fp32_accumulating_optimizer(precision: str, stage: int, wrapper: str,
                                                        accum_dtype: torch.dtype) -> None:
    t = trial({"batch_size": 8, "micro_batch_size": 4, "precision": precision, "zero_stage": stage})
    engine = create_engine(t, build_model(t.model, t.init, vocab_size=32, seq_len=8, seed=0), "cpu")
    assert type(engine.optimizer).__name__ == wrapper
    assert engine.get_data_types()[1] == accum_dtype

