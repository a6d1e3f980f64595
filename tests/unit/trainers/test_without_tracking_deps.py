"""The trainer imports without MLflow and Ray installed, as bench/gpu_check.py needs on a bare GPU machine.

Import-only, to stay cheap (~2 s of CPU): a whole trial without them is what the CPU run of
bench/gpu_check.py exercises (`run_trial` with an in-memory tracker imports MLflow nowhere).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# A None entry in sys.modules makes `import mlflow` raise ImportError, as if not installed.
PROGRAM = """
import sys
for name in ("mlflow", "ray"):
    sys.modules[name] = None
import trainers.engine, trainers.hooks, trainers.loop, trainers.throughput, trainers.tracker
from trainers import InMemoryTracker, run_trial
print("imported")
"""


def test_trainer_imports_without_mlflow_or_ray() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "imported"
