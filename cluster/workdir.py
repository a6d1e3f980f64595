"""Where a workdir keeps things: the sqlite MLflow store and its artifacts.

Pure path arithmetic (no MLflow, no Ray), so read-only commands can resolve the default
store without loading anything heavy.
"""

from __future__ import annotations

from pathlib import Path


def default_tracking_uri(workdir: Path) -> str:
    """`sqlite:///<abs workdir>/mlflow.db`; absolute because Ray changes each trial's cwd."""
    return f"sqlite:///{(workdir / 'mlflow.db').resolve()}"


def artifact_root(workdir: Path) -> Path:
    """Where a sqlite-backed store keeps artifacts (`<workdir>/mlartifacts`)."""
    return (workdir / "mlartifacts").resolve()
