"""Starting or attaching to Ray."""

from __future__ import annotations

import os

import ray

# Ray's object store is for transport only here (trial configs, small metric dicts);
# 100 MB keeps an embedded cluster inside a 2-core laptop-sized machine (minimum is 75 MB).
EMBEDDED_OBJECT_STORE_BYTES = 100 * 2**20


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Attach to `address` (``auto``, ``ray://host:port``, ``host:port``) or start Ray embedded.

    Embedded Ray gets no dashboard (`ray[tune]` ships none) and no token auth (Ray 2.60
    enables it by default, which only gets in the way of a single-user local cluster).

    Returns:
        True when this call started a Ray of its own (the caller shuts it down), False when
        it attached to a running cluster or Ray was already initialized.
    """
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=num_cpus or os.cpu_count() or 1,
        object_store_memory=EMBEDDED_OBJECT_STORE_BYTES,
        include_dashboard=False,
        log_to_driver=False,
    )
    return True


def cluster_cpus() -> float:
    """CPUs the connected cluster offers in total."""
    return float(ray.cluster_resources().get("CPU", 0.0))


def cluster_gpus() -> float:
    """GPUs the connected cluster offers in total."""
    return float(ray.cluster_resources().get("GPU", 0.0))


def num_alive_nodes() -> int:
    """Nodes of the connected cluster that are alive."""
    return sum(1 for node in ray.nodes() if node.get("Alive"))
