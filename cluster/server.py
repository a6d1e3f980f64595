"""MLflow processes: the tracking server for multi-node sweeps, and the local UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from cluster.workdir import artifact_root, default_tracking_uri


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def exposure_warning(host: str, port: int) -> str | None:
    """One warning line when the server would listen beyond this machine, else None.

    The MLflow server has no authentication here: anyone who reaches the port can read,
    change and delete every run and artifact of the workdir.
    """
    if host in LOOPBACK_HOSTS:
        return None
    return (f"warning: MLflow on {host}:{port} has no authentication — anyone who can reach this port can read, "
            f"overwrite and delete every run and artifact; expose it only on a trusted network or behind an "
            f"authenticating proxy (default --host 127.0.0.1)")


def mlflow_server_command(workdir: Path, host: str, port: int, ui_only: bool = False) -> list[str]:
    """The `mlflow server` command line for the workdir's sqlite store.

    One worker keeps the server at ~420 MB and 2 processes (defaults spawn ~15 and 2.3 GB).
    `--artifacts-destination` lets remote trials upload artifacts through the server.
    """
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", default_tracking_uri(workdir),
               "--host", host, "--port", str(port), "--workers", "1"]
    if not ui_only:
        command += ["--artifacts-destination", str(artifact_root(workdir))]
    return command


def serve(workdir: Path, host: str, port: int, ui_only: bool = False) -> int:
    """Run the MLflow server in the foreground until it exits or this process is told to stop.

    SIGINT, SIGTERM and SIGHUP all stop the server: it runs in its own process group, which
    is terminated as a whole, so no worker is left answering on the port after this command
    is killed by PID or its terminal closes.

    Returns:
        The server's exit code (0 after a requested stop).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    process = subprocess.Popen(mlflow_server_command(workdir, host, port, ui_only), env=env, start_new_session=True)
    stop_requested_at: float | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        # Only signal here: waiting inside a handler can deadlock on Popen's wait lock.
        nonlocal stop_requested_at
        stop_requested_at = time.monotonic()
        _signal_group(process, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = _wait(process, lambda: stop_requested_at)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _signal_group(process, signal.SIGKILL)  # workers that outlived the server itself
    return 0 if stop_requested_at is not None else code


def _wait(process: subprocess.Popen[bytes], stop_requested_at: Callable[[], float | None], grace_s: float = 10.0) -> int:
    """Wait for the server; SIGKILL its group if it ignores a stop request for `grace_s`."""
    while True:
        try:
            return process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            asked = stop_requested_at()
            if asked is not None and time.monotonic() - asked > grace_s:
                _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass  # already gone
