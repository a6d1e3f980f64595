"""Real processes for integration tests: a two-node Ray cluster on loopback and an MLflow server.

Each is stopped exactly: by the processes it started (found by its private temp folder or
port), never with `ray stop`, which would stop every Ray on the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


def driver_command(sweep_file: Path, workdir: Path) -> list[str]:
    """`scalinglab run` of `sweep_file` as its own process (a driver a test can SIGKILL), on 2 CPUs."""
    return [sys.executable, "-m", "cluster.cli", "run", str(sweep_file), "--workdir", str(workdir), "--num-cpus", "2"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, timeout_s: float = 90.0, token: str | None = None) -> None:
    """Wait for a 200 from `url` (sending `token` as a bearer token when given)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s:g} s")


def processes_matching(*needles: str) -> set[psutil.Process]:
    """Processes whose command line holds any needle, with all their descendants."""
    found: set[psutil.Process] = set()
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if any(needle in command for needle in needles):
            found.add(process)
            try:
                found.update(process.children(recursive=True))
            except psutil.Error:
                continue
    return found


def alive(processes: set[psutil.Process], grace_s: float = 0.0) -> list[psutil.Process]:
    """The processes still running after waiting up to `grace_s` for them to exit."""
    if grace_s:
        psutil.wait_procs(list(processes), timeout=grace_s)
    living = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
        except psutil.Error:
            continue
    return living


def kill_all(processes: set[psutil.Process]) -> None:
    for process in alive(processes):
        try:
            process.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(list(processes), timeout=10)


@dataclass(frozen=True)
class RayCluster:
    """A running cluster: where to attach and where its job server listens."""

    gcs_address: str
    dashboard_url: str


@contextmanager
def two_node_ray_cluster(auth_token: str | None = None) -> Iterator[RayCluster]:
    """`ray start --head` plus one `ray start --address` worker node, 1 CPU each, on 127.0.0.1.

    With `auth_token`, both nodes run Ray's token authentication (RAY_AUTH_MODE=token) with it:
    every GCS, dashboard and job-server request must carry it.
    """
    # One temp folder per node, as on two machines: a shared one makes the nodes share their
    # runtime-env folders, and a job's working_dir vanished from under its driver when the
    # other node cleaned up. Short paths: Ray's unix sockets cap their length.
    head_dir, worker_dir = (tempfile.mkdtemp(prefix="slr-", dir="/tmp") for _ in range(2))
    gcs_port, dashboard_port = free_port(), free_port()
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    if auth_token is not None:
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=auth_token)
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(gcs_port), "--dashboard-host", "127.0.0.1",
                        "--dashboard-port", str(dashboard_port), "--include-dashboard", "true",
                        "--ray-client-server-port", str(free_port()), "--temp-dir", head_dir, *common],
                       check=True, env=env, capture_output=True, timeout=180)
        address = f"127.0.0.1:{gcs_port}"
        subprocess.run([RAY, "start", "--address", address, "--temp-dir", worker_dir, *common], check=True, env=env,
                       capture_output=True, timeout=180)
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        wait_for_http(f"{dashboard}/api/version", token=auth_token)
        yield RayCluster(address, dashboard)
    finally:
        kill_all(processes_matching(head_dir, worker_dir, f"127.0.0.1:{gcs_port}"))


@contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """`scalinglab server` on a free port; yields its URL and stops it (SIGTERM) afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "cluster.cli", "server", "--workdir", str(workdir), "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def start_mlflow_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """`scalinglab server` for `workdir`'s store on `port`, in its own process group; returns once
    it answers /health. Stop it with `stop_process_group` (the same store and port can be
    started again: an outage and its end)."""
    command = [sys.executable, "-m", "cluster.cli", "server", "--workdir", str(workdir), "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health")
    except BaseException:
        stop_process_group(server)
        raise
    return server


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """SIGTERM `process`'s group (it leads one: started with `start_new_session`) and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=timeout_s)
