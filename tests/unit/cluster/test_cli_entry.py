"""The console script's exit (cluster/cli/entry.py): status, atexit handlers, threads and output kept."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def test_the_fast_exit_keeps_status_output_atexit_handlers_and_threads() -> None:
    done = _python("""
        import atexit, sys, threading, time
        from cluster.cli.entry import _exit_now
        atexit.register(lambda: print("atexit ran"))
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
        sys.stdout.write("buffered, unflushed ")
        _exit_now(3)
    """)
    assert done.returncode == 3, done.stderr
    assert done.stdout.split("\n")[:3] == ["buffered, unflushed thread finished", "atexit ran", ""]


def test_the_command_line_exits_with_its_status_and_all_its_output(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "cluster", "validate", "demo"], capture_output=True, text=True,
                        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "4 trials" in ok.stdout, ok.stdout
    bad = subprocess.run([sys.executable, "-m", "cluster", "results", "-e", "x", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         timeout=120)
    assert bad.returncode == 1 and "no MLflow store" in bad.stdout + bad.stderr


def test_a_command_that_imported_ray_exits_the_ordinary_way() -> None:
    done = _python("""
        import sys
        import ray  # as `run` or `submit` would have
        import cluster.cli.entry as entry
        entry._exit_now = lambda code: print("fast exit")
        sys.argv = ["scalinglab", "validate", "demo"]
        entry.main()
    """)
    assert done.returncode == 0, done.stderr
    assert "fast exit" not in done.stdout
