"""`scalinglab server` / `ui` stop their MLflow children however they are told to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the MLflow server on port {port} never became healthy")


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_server_stops_its_children_on_signal(sig: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "cluster.cli", "server", "--workdir", str(tmp_path), "--port", str(port)]
    cli = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        cli.send_signal(sig)  # by PID, as `kill` would; not Ctrl-C
        assert cli.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while port_is_open(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not port_is_open(port), f"something still answers on port {port} after {sig.name}"
    finally:
        if cli.poll() is None:
            os.kill(cli.pid, signal.SIGKILL)


@pytest.mark.parametrize(("host", "warns"), [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                             ("0.0.0.0", True), ("10.1.2.3", True)])
def test_only_a_server_exposed_beyond_this_machine_warns(host: str, warns: bool) -> None:
    from cluster.server import exposure_warning

    warning = exposure_warning(host, 5000)
    if warns:
        assert warning is not None and f"{host}:5000" in warning and "delete every run" in warning
        assert "\n" not in warning  # one line
    else:
        assert warning is None
