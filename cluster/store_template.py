"""A fresh sqlite MLflow store from a migrated template instead of running the migrations.

MLflow migrates a new sqlite file through its whole Alembic history on first open: ≈ 3 s on
this 2-core machine, paid by every first sweep of a workdir (bench/sweep_overhead.py). The
result only depends on the MLflow version, so it is built once per machine and MLflow
version, under the user cache, and copied (≈ 0.03 s). The copy's "Default" experiment gets
the artifact location a fresh store would have given it (`<cwd>/mlruns/0`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def template_path() -> Path:
    """`<user cache>/scalinglab/mlflow-<version>-empty.db` (the cache honours XDG_CACHE_HOME)."""
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "scalinglab" / f"mlflow-{mlflow.__version__}-empty.db"


def seed_sqlite_store(uri: str) -> bool:
    """Copy the migrated template to the sqlite file `uri` names if that file does not exist yet.

    Returns whether it copied (False: not a sqlite URI, or the store already exists).
    """
    if not uri.startswith(SQLITE_PREFIX):
        return False
    target = Path(uri.removeprefix(SQLITE_PREFIX))
    if target.exists():
        return False
    template = _ensure_template()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(template, partial)
    with sqlite3.connect(partial) as db:
        db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                   (str(Path.cwd() / "mlruns" / "0"),))
    db.close()
    os.replace(partial, target)  # atomic: no process ever opens a half-copied store
    return True


def _ensure_template() -> Path:
    template = template_path()
    if template.exists():
        return template
    from mlflow import MlflowClient

    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as scratch:
        fresh = Path(scratch) / "empty.db"
        MlflowClient(tracking_uri=f"{SQLITE_PREFIX}{fresh}").search_experiments()  # runs the migrations
        os.replace(fresh, template)  # atomic: two first sweeps at once both end with a whole template
    return template
