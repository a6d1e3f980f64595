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


def resolve_zero_stage(trial: TrialConfig, device: str) -> int:
    """The ZeRO stage DeepSpeed runs: `train.zero_stage`, except that bf16 runs stage 0 as 1.

    DeepSpeed 0.19.8 picks its bf16 optimizer by stage (`engine._do_optimizer_sanity_check`).
    Stage 0 wraps the torch optimizer in `FP16_UnfusedOptimizer`, which accumulates the
    micro-batch gradients in bf16 in `param.grad`; until DeepSpeed #7839 (Feb 2026) it also
    divided every gradient by a 65536 loss scale never applied to the loss and did not zero
    gradients between steps (#7837). Asking stage 0 for fp32 accumulation raises
    NotImplementedError ("unsupported mix", since #7790). Stage 1 with
    `data_types.grad_accum_dtype: fp32` selects `BF16_Optimizer`, which adds each micro-batch
    gradient into an fp32 buffer. ZeRO-1 shards nothing on one worker and only the fp32
    optimizer state on several, so its update is the one stage 0 means. An explicit 0 is
    treated like the default 0: an `auto` default would change every trial's config hash,
    and a rerun of a finished sweep would then train it all again.
    """
    stage = trial.train.zero_stage
    return 1 if stage == 0 and resolve_precision(trial, device) == "bf16" else stage


def precision_config(trial: TrialConfig, device: str, grad_accum_steps: int) -> dict[str, Any]:
    """The `bf16`, `zero_optimization` and (bf16 only) `data_types` sections of the config.

    fp32 gradients are accumulated in fp32 at every stage. Under bf16, stages 1 and 3 read
    `data_types.grad_accum_dtype` and accumulate in fp32; stage 2 ignores it (its partition
    buffer `grads_in_partition` has the bf16 model dtype, `stage_1_and_2.py`), so stage 2
    with bf16 is refused when a step accumulates more than one micro-batch.

    Raises:
        ValueError: bf16 at ZeRO-2 with gradient accumulation (names the fields and fixes).
    """
    precision, stage = resolve_precision(trial, device), resolve_zero_stage(trial, device)
    config: dict[str, Any] = {"zero_optimization": {"stage": stage}, "bf16": {"enabled": precision == "bf16"}}
    if precision != "bf16":
        return config
    if stage == 2 and grad_accum_steps > 1:
        raise ValueError(
            f"train.zero_stage 2 with bf16 (train.precision {trial.train.precision!r} on {device}) would sum "
            f"the {grad_accum_steps} micro-batch gradients of a step in bf16: DeepSpeed 0.19.8 reads "
            "data_types.grad_accum_dtype only at stages 1 and 3; use zero_stage 1 or 3, set "
            f"train.micro_batch_size to batch_size ({trial.train.batch_size}), or precision: fp32"
        )
    if stage in (1, 3):
        config["data_types"] = {"grad_accum_dtype": "fp32"}
    return config


def build_ds_config(trial: TrialConfig, device: str, world_size: int = 1) -> dict[str, Any]:
    """The DeepSpeed config dict for a trial on `world_size` workers. Pure: same input → same dict.

    The batch split is `TrainConfig.layout`'s (the one place it is derived); precision and
    ZeRO stage are `precision_config`'s. Gradient clipping is always written out because
    DeepSpeed silently defaults it to 1.0. The optimizer is not configured here: a torch
    Adam(W) is passed to `initialize`, since the config route selects FusedAdam, which
    JIT-compiles for over a minute on CPU.

    Raises:
        ValueError: the micro-batch does not split over the workers, or bf16 at ZeRO-2 with
            gradient accumulation (`precision_config`).
    """
    layout = trial.train.layout(world_size)
    return {
        "train_batch_size": trial.train.batch_size,
        "train_micro_batch_size_per_gpu": layout.micro_per_worker,
        "gradient_accumulation_steps": layout.grad_accum_steps,
        "gradient_clipping": trial.optim.grad_clip,
        **precision_config(trial, device, layout.grad_accum_steps),
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
    two processes, docs/architecture.md "Stack facts").
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
