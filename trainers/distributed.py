"""The few collective operations a data-parallel trial needs, all no-ops in a one-process world.

Every worker of a multi-worker trial runs the same loop on the same step: it takes its share of
each micro-batch (`configs.train.BatchLayout`), and DeepSpeed averages the gradients. What the
workers must agree on besides — the logged loss, whether the run diverged, full weights for a
metric under ZeRO-3 — goes through here, so the loop and the hooks read the same with one
worker or many. Rank 0 is the one that logs (`is_logging_rank`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_logging_rank() -> bool:
    """Whether this process writes to the tracker (rank 0; the only process of a 1-worker trial)."""
    return world()[0] == 0


def mean_over_workers(value: float) -> float:
    """The mean of `value` over all workers (each worker's loss covers its share of the batch)."""
    size = world()[1]
    if size == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item()) / size


def all_workers(flag: bool) -> bool:
    """True only if `flag` is true on every worker, so all take the same branch."""
    if world()[1] == 1:
        return flag
    agreed = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(agreed, op=dist.ReduceOp.MIN)
    return bool(agreed.item())


def is_partitioned(model: torch.nn.Module) -> bool:
    """Whether ZeRO-3 holds `model`'s parameters in shards (`p.ds_tensor`), not whole."""
    return any(hasattr(p, "ds_tensor") for p in model.parameters())


def local_parameter_values(model: torch.nn.Module) -> Iterator[torch.Tensor]:
    """The parameter values this worker holds: whole tensors, or its ZeRO-3 shards."""
    for p in model.parameters():
        yield p.ds_tensor if hasattr(p, "ds_tensor") else p


def held_parameter_share(model: torch.nn.Module) -> float:
    """Share of all parameter elements this worker holds: 1 unless ZeRO-3 shards them."""
    held = sum(t.numel() for t in local_parameter_values(model))
    total = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
    return held / total


def full_parameters(model: torch.nn.Module) -> Any:
    """A context in which every parameter is whole on every worker (read only).

    Under ZeRO-3 this gathers the shards (collective: every worker must enter it); elsewhere
    the parameters are already whole and it does nothing. Changes made inside are discarded.
    """
    if not is_partitioned(model):
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None)

