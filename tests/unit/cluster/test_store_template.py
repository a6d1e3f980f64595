"""A new workdir's sqlite store is a copy of a migrated template (cluster.store_template)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from cluster.store_template import seed_sqlite_store, template_path


def _revision(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_a_seeded_store_is_a_working_migrated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'work' / 'mlflow.db'}"
    assert seed_sqlite_store(uri) is True
    assert template_path().is_file() and template_path().is_relative_to(tmp_path / "cache")
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("e")
    client.set_terminated(client.create_run(experiment_id).info.run_id, "FINISHED")
    assert len(client.search_runs([experiment_id])) == 1
    assert client.get_experiment("0").artifact_location == str(tmp_path / "mlruns" / "0")  # as a fresh store's
    fresh = tmp_path / "fresh.db"
    MlflowClient(tracking_uri=f"sqlite:///{fresh}").search_experiments()
    assert _revision(tmp_path / "work" / "mlflow.db") == _revision(fresh)  # fully migrated
    assert seed_sqlite_store(uri) is False  # an existing store is never replaced
    assert len(client.search_runs([experiment_id])) == 1


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "postgresql://db/mlflow"])
def test_only_sqlite_stores_are_seeded(uri: str) -> None:
    assert seed_sqlite_store(uri) is False
