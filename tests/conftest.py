"""Shared test settings: no network, one torch thread, a temporary MLflow store.

Environment defaults are set at import, before any test module imports torch, Ray or MLflow.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

# The packages are found through the editable install's meta-path finder, which runs after
# the path finder. Test folders share the packages' names (tests/unit/configs/,
# tests/unit/trainers/) and pytest puts tests/unit on sys.path for tests/unit/test_*.py, so
# `import trainers` would bind that folder as a namespace package. The repository root
# first on sys.path makes the real (regular) packages win.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 writes ~/.ray/auth_token otherwise
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network in tests
os.environ.setdefault("DO_NOT_TRACK", "true")
# Two shared cores: multi-threaded torch on tiny tensors mostly waits on the other worker.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Off: a trial's MLflow system-metrics thread (trainers/tracker.py) would write to the shared
# sqlite store beside the test's own requests on two cores; tests/unit/trainers/test_lifecycle.py turns it on.
os.environ.setdefault("SCALINGLAB_SYSTEM_METRICS_S", "0")


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sqlite MLflow store, created once per session (its schema migration takes seconds)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    MlflowClient(tracking_uri=uri).search_experiments()  # runs the migrations now, in one process
    return uri


@pytest.fixture
def mlflow_experiment(mlflow_uri: str, tmp_path: Path) -> str:
    """A fresh experiment in the session store, with its artifacts under `tmp_path`."""
    from mlflow import MlflowClient

    name = f"test-{uuid.uuid4().hex[:12]}"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    MlflowClient(tracking_uri=mlflow_uri).create_experiment(name, artifact_location=artifacts.as_uri())
    return name
