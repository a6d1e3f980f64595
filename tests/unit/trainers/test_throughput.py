"""Throughput metrics (trainers/throughput.py): the peak table by device name and the arithmetic."""

from __future__ import annotations

import pytest

from configs import TrialConfig
from configs import metrics as M
from trainers.throughput import device_peak, peak_flops_per_s, throughput_metrics

# torch.cuda.get_device_name() strings → (dense bf16, fp32) peak FLOP/s; None: not in the table.
PEAK_TABLE = [
    ("NVIDIA H100 80GB HBM3", 989e12, 67e12),
    ("NVIDIA H100 PCIe", 756e12, 51e12),
    ("NVIDIA H100 NVL", 835e12, 60e12),
    ("NVIDIA H200", 989e12, 67e12),
    ("NVIDIA H200 NVL", 835e12, 60e12),
    ("NVIDIA A100-SXM4-80GB", 312e12, 19.5e12),
    ("NVIDIA A100 80GB PCIe", 312e12, 19.5e12),
    ("NVIDIA GeForce RTX 4090", None, None),
    ("Tesla V100-SXM2-16GB", None, None),
]


@pytest.mark.parametrize("name, bf16, fp32", PEAK_TABLE)
def test_peak_by_device_name(name: str, bf16: float | None, fp32: float | None) -> None:
    assert peak_flops_per_s(name, "bf16") == bf16
    assert peak_flops_per_s(name, "fp32") == fp32


def test_no_peak_on_cpu() -> None:
    assert device_peak("cpu", "bf16") is None  # and no CUDA call is made


def markov_trial() -> TrialConfig:
    """N = 3,312 (gpt_debug), vocab 256, seq_len 9, loss on every position.

    Hand count of C / D (configs.metrics.flops_per_token): 6·(N + head) + 6·n_layer·T·d
    = 6·(3,312 + 16·256) + 6·1·9·16 = 44,448 + 864 = 45,312 FLOPs per token.
    """
    return TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64},
        "data": {"task": "markov", "seq_len": 9, "vocab_size": 256},
        "optim": {"warmup_steps": 1},
        "train": {"num_steps": 10, "batch_size": 4, "eval_every": 5, "checkpoint_every": 10},
    })


# (tokens, seconds, peak FLOP/s of one GPU, workers) → tokens/s, FLOP/s, MFU (None: not logged).
ARITHMETIC = [
    (1_000, 2.0, None, 1, 500.0, 500.0 * 45_312, None),
    (1_000, 2.0, 1e9, 1, 500.0, 22_656_000.0, 0.022656),
    (1_000, 2.0, 1e9, 2, 500.0, 22_656_000.0, 0.011328),  # two GPUs share the work
    (36, 0.5, 45_312 * 72.0, 1, 72.0, 45_312 * 72.0, 1.0),
]


@pytest.mark.parametrize("tokens, seconds, peak, workers, tokens_per_s, flops_per_s, mfu", ARITHMETIC)
def test_throughput_arithmetic(tokens: int, seconds: float, peak: float | None, workers: int,
                               tokens_per_s: float, flops_per_s: float, mfu: float | None) -> None:
    trial = markov_trial()
    assert trial.compute_flops / trial.num_tokens == 45_312  # the hand count above
    values = throughput_metrics(trial, tokens, seconds, peak, workers)
    assert values[M.TOKENS_PER_S] == pytest.approx(tokens_per_s)
    assert values[M.FLOPS_PER_S] == pytest.approx(flops_per_s)
    assert values.get(M.MFU) == (None if mfu is None else pytest.approx(mfu))
    assert set(values) <= set(M.TIMING_METRICS)
