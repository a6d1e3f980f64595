"""DeepSpeed engine construction: a pure config builder and single-process start-up."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import torch

from configs import TrialConfig
from trainers.distributed import world
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
    """The DeepSpeed config dict for a trial on `world_size` workers. Pure: same input → same dict.

    The batch split is `TrainConfig.layout`'s (the one place it is derived). Gradient
    clipping is always written out because DeepSpeed silently defaults it to 1.0. The
    optimizer is not configured here: a torch Adam(W) is passed to `initialize`, since the
    config route selects FusedAdam, which JIT-compiles for over a minute on CPU.
    """
    layout = trial.train.layout(world_size)
    precision = resolve_precision(trial, device)
    return {
        "train_batch_size": trial.train.batch_size,
        "train_micro_batch_size_per_gpu": layout.micro_per_worker,
        "gradient_accumulation_steps": layout.grad_accum_steps,
        "gradient_clipping": trial.optim.grad_clip,
        "zero_optimization": {"stage": trial.train.zero_stage},
        "bf16": {"enabled": precision == "bf16"},
        "steps_per_print": 10**9,  # we log ourselves; DeepSpeed's prints only add noise
        "wall_clock_breakdown": False,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_process(device: str) -> None:
    """Environment for DeepSpeed, set before `deepspeed.initialize`.

    A worker of a multi-worker trial already has its process group (Ray Train opened it).
    A one-process trial has none: without RANK/WORLD_SIZE/MASTER_* DeepSpeed falls back to
    MPI discovery and fails (no mpi4py), so a one-process world is described here. On CPU,
    DeepSpeed JIT-builds a shared-memory all-reduce op at first communication (24–55 s);
    the builder is replaced by a no-op and gloo does the collectives (verified for one and
    two processes, STACK_NOTES).
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
    """Wrap `model` in a DeepSpeed engine with the trial's torch optimizer (`trainers.optim`).

    `model` is whole and already γ-initialized on its full shapes; under ZeRO-3, `initialize`
    then partitions it, so each of W workers keeps about 1/W of every parameter.
    """
    setup_process(device)
    import deepspeed

    optimizer = build_optimizer(model, trial.optim)
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=build_ds_config(trial, device, world()[1])
    )
    return engine
