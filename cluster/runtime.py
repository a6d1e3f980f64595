"""Starting or attaching to Ray."""

from __future__ import annotations

import os
from dataclasses import dataclass

import ray

# Ray's object store is for transport only here (trial configs, small metric dicts);
# 100 MB keeps an embedded cluster inside a 2-core laptop-sized machine (minimum is 75 MB).
EMBEDDED_OBJECT_STORE_BYTES = 100 * 2**20


@dataclass(frozen=True)
class RayConnection:
    """What `start_ray` did: the caller undoes exactly that (`ray.shutdown()` when `connected`)."""

    connected: bool  # this call initialized Ray in this process (attached or started)
    started: bool  # and the cluster is an embedded one this process owns


def start_ray(address: str | None = None, num_cpus: int | None = None) -> RayConnection:
    """Attach to `address` (``auto``, ``ray://host:port``, ``host:port``) or start Ray embedded.

    Embedded Ray gets no dashboard (`ray[tune]` ships none) and no token auth (Ray 2.60
    enables it by default, which only gets in the way of a single-user local cluster).

    Returns:
        Whether this call connected, and whether it started the cluster it connected to.
    """
    # Results go to MLflow: Tune's TensorBoard/CSV/JSON loggers only add files and a "visualize with
    # TensorBoard" hint to `run`'s output, and its "snapshotting has been triggered multiple times"
    # warning fires on every forced checkpoint sync of a short trial. A user's own setting wins.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return RayConnection(connected=False, started=False)
    if address:
        ray.init(address=address, log_to_driver=False)
        return RayConnection(connected=True, started=False)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=num_cpus or os.cpu_count() or 1,
        object_store_memory=EMBEDDED_OBJECT_STORE_BYTES,
        include_dashboard=False,
        log_to_driver=False,
    )
    return RayConnection(connected=True, started=True)


def cluster_cpus() -> float:
    """CPUs the connected cluster offers in total."""
    return float(ray.cluster_resources().get("CPU", 0.0))


def cluster_gpus() -> float:
    """GPUs the connected cluster offers in total."""
    return float(ray.cluster_resources().get("GPU", 0.0))


def num_alive_nodes() -> int:
    """Nodes of the connected cluster that are alive."""
    return sum(1 for node in ray.nodes() if node.get("Alive"))
