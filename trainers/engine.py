"""DeepSpeed engine construction: a pure config builder and single-process start-up."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import torch

from configs import TrialConfig
from trainers.optim import build_optimizer


def resolve_device() -> str:
    """`cuda` when a GPU is visible, else `cpu`."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(trial: TrialConfig, device: str) -> str:
    """`auto` → bf16 on CUDA, fp32 on CPU (bf16 is slower than fp32 on CPU for small models)."""
    if trial.train.precision != "auto":
        return trial.train.precision
    return "bf16" if device == "cuda" else "fp32"


def build_ds_config(trial: TrialConfig, device: str, world_size: int = 1) -> dict[str, Any]:
    """The DeepSpeed config dict for a trial. Pure: same trial → same dict.

    Gradient clipping is always written out because DeepSpeed silently defaults it to 1.0.
    The optimizer is not configured here: a torch Adam(W) is passed to `initialize`, since
    the config route selects FusedAdam, which JIT-compiles for over a minute on CPU.
    """
    train = trial.train
    micro = train.micro_batch // world_size
    if micro * world_size != train.micro_batch:
        raise ValueError(
            f"train.micro_batch_size ({train.micro_batch}) must be divisible by the world "
            f"size ({world_size}); pick a multiple of {world_size}"
        )
    precision = resolve_precision(trial, device)
    return {
        "train_batch_size": train.batch_size,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": train.grad_accum_steps,
        "gradient_clipping": trial.optim.grad_clip,
        "zero_optimization": {"stage": train.zero_stage},
        "bf16": {"enabled": precision == "bf16"},
        "steps_per_print": 10**9,  # we log ourselves; DeepSpeed's prints only add noise
        "wall_clock_breakdown": False,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_single_process(device: str) -> None:
    """Environment for a one-process DeepSpeed world, set before `deepspeed.initialize`.

    Without RANK/WORLD_SIZE/MASTER_* DeepSpeed falls back to MPI discovery and fails
    (no mpi4py). On CPU, DeepSpeed JIT-builds a shared-memory all-reduce op at first
    communication (24–55 s); with a single process there is nothing to share, so the
    builder is replaced by a no-op and gloo does the (trivial) collectives.
    """
    if not torch.distributed.is_initialized():
        # Overwrite, not setdefault: a trial process inherits its parent's environment, and a
        # MASTER_PORT the parent already listens on (e.g. a driver that trained in-process)
        # would make this process's TCPStore fail with EADDRINUSE.
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(_free_port()))
    if device == "cpu":
        os.environ["DS_ACCELERATOR"] = "cpu"
        import deepspeed.comm.torch  # noqa: F401  (registers the module we patch)

        sys.modules["deepspeed.comm.torch"].build_shm_op = lambda: None  # type: ignore[attr-defined]


def create_engine(trial: TrialConfig, model: torch.nn.Module, device: str) -> Any:
    """Wrap `model` in a DeepSpeed engine with the trial's torch optimizer (`trainers.optim`)."""
    setup_single_process(device)
    import deepspeed

    optimizer = build_optimizer(model, trial.optim)
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=build_ds_config(trial, device)
    )
    return engine
