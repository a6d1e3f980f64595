"""Training throughput of a trial: tokens/s, FLOP/s of the one C definition, and MFU on CUDA.

MFU (model FLOPs utilization; Chowdhery et al. 2022, "PaLM", appendix B) is the FLOP/s the
model's training FLOPs need at the measured token rate, over the peak FLOP/s of the GPUs
that ran it. The FLOPs are C's (`configs.metrics.flops_per_token`: the head counted, causal
attention at half the context), so this MFU reads a little below PaLM's and nanoGPT's,
which count attention at the full context (12·n_layer·d_model·seq_len per token): 6.6 %
below at 12 layers, d_model 768, seq_len 1024, vocab 50304.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from configs import TrialConfig
from configs import metrics as M


@dataclass(frozen=True)
class DevicePeak:
    """Peak dense FLOP/s of one GPU model, by a substring of `torch.cuda.get_device_name()`."""

    match: str
    bf16: float  # dense bf16 tensor-core FLOP/s (datasheets print twice this "with sparsity")
    fp32: float  # fp32 FLOP/s without tensor cores: torch's default (TF32 matmuls are off)


# NVIDIA datasheets: "NVIDIA H100 Tensor Core GPU" (SXM 1,979 / PCIe 1,513 / NVL 1,671 bf16
# TFLOPS with sparsity; FP32 67 / 51 / 60 TFLOPS), "NVIDIA H200 Tensor Core GPU" (SXM 1,979 /
# NVL 1,671 with sparsity; FP32 67 / 60), "NVIDIA A100 Tensor Core GPU" (bf16 312 dense, 624
# with sparsity; FP32 19.5, SXM and PCIe alike). Dense = half the sparse figure. The more
# specific names come first: "H100 PCIe" must not match the SXM row.
PEAKS = (
    DevicePeak("H100 PCIe", 756e12, 51e12),
    DevicePeak("H100 NVL", 835e12, 60e12),
    DevicePeak("H200 NVL", 835e12, 60e12),
    DevicePeak("H100", 989e12, 67e12),  # SXM5, e.g. "NVIDIA H100 80GB HBM3"
    DevicePeak("H200", 989e12, 67e12),  # SXM, "NVIDIA H200"
    DevicePeak("A100", 312e12, 19.5e12),
)


def peak_flops_per_s(device_name: str, precision: str) -> float | None:
    """Peak dense FLOP/s of one `device_name` GPU at `precision` (`bf16`/`fp32`); None if unknown."""
    for peak in PEAKS:
        if peak.match in device_name:
            return peak.bf16 if precision == "bf16" else peak.fp32
    return None


@functools.cache
def cuda_device_name() -> str:
    """Name of the current CUDA device, read once per process."""
    return torch.cuda.get_device_name()


def throughput_metrics(
    trial: TrialConfig, num_tokens: float, seconds: float, peak: float | None, world_size: int = 1
) -> dict[str, float]:
    """Tokens/s, FLOP/s and, when the peak is known, MFU of `num_tokens` trained in `seconds`.

    Args:
        trial: the trial; its FLOPs per token are C / D, the one definition of C.
        num_tokens: training tokens of all workers together.
        seconds: wall time those tokens took.
        peak: peak FLOP/s of one of the trial's GPUs (`peak_flops_per_s`), None on CPU or an
            unknown GPU: then no MFU is returned.
        world_size: data-parallel workers, one GPU each.
    """
    tokens_per_s = num_tokens / max(seconds, 1e-9)
    flops_per_s = tokens_per_s * trial.compute_flops / trial.num_tokens
    values = {M.TOKENS_PER_S: tokens_per_s, M.FLOPS_PER_S: flops_per_s}
    if peak is not None:
        values[M.MFU] = flops_per_s / (peak * world_size)
    return values


def device_peak(device: str, precision: str) -> float | None:
    """Peak FLOP/s of one GPU of this process at `precision`; None on CPU or an unknown GPU."""
    return peak_flops_per_s(cuda_device_name(), precision) if device == "cuda" else None
