"""cluster/cli/jobs.py does not import cluster/cli/app.py (which imports it): no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[3] / "cluster" / "cli"


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def test_app_imports_jobs_and_jobs_does_not_import_app() -> None:
    assert "cluster.cli" in _imported(CLI / "app.py")  # `from cluster.cli import jobs as jobs_cli`
    assert not {"cluster.cli.app"} & _imported(CLI / "jobs.py")
    assert "cluster.cli.sweepfile" in _imported(CLI / "jobs.py")  # load_or_exit comes from there
