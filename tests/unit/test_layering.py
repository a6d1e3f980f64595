"""Imports point down only (docs/architecture.md "Layers", CONTRIBUTING.md).

configs ← trainers ← cluster, and configs ← analysis. Only cluster imports ray; only
trainers imports torch or deepspeed; configs imports none of torch, ray, deepspeed, mlflow.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("configs", "trainers", "cluster", "analysis")

# package → top-level modules it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "configs": {"torch", "ray", "deepspeed", "mlflow", "trainers", "cluster", "analysis"},
    "trainers": {"ray", "cluster", "analysis"},
    "analysis": {"torch", "ray", "deepspeed", "trainers", "cluster"},
    "cluster": set(),
}
# module → the only package allowed to import it.
OWNER = {"ray": "cluster", "torch": "trainers", "deepspeed": "trainers"}


def imported_top_level(path: Path, package: str) -> set[str]:
    """Top-level module names imported anywhere in `path` (function-local imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(package if node.level else (node.module or "").split(".")[0])
    return names


def source_files() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))]


def violations(package: str, imported: set[str]) -> set[str]:
    bad = imported & FORBIDDEN[package]
    bad |= {module for module, owner in OWNER.items() if module in imported and package != owner}
    return bad


def test_every_package_is_scanned() -> None:
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), package
    assert len(source_files()) >= 4


@pytest.mark.parametrize(
    "package, path", source_files(), ids=[str(p.relative_to(ROOT)) for _, p in source_files()]
)
def test_imports_point_down(package: str, path: Path) -> None:
    bad = violations(package, imported_top_level(path, package))
    assert not bad, f"{path.relative_to(ROOT)} ({package}/) imports {sorted(bad)}"


def test_the_checker_catches_violations(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nimport torch.nn as nn\nfrom ray import tune\nfrom . import sibling\n"
        "def f():\n    from trainers.model import GPT\n    import mlflow\n"
    )
    imported = imported_top_level(sample, "configs")
    assert imported == {"os", "torch", "ray", "configs", "trainers", "mlflow"}
    assert violations("configs", imported) == {"torch", "ray", "trainers", "mlflow"}
    assert violations("analysis", imported) == {"torch", "ray", "trainers"}
    assert violations("trainers", imported) == {"ray"}
    assert violations("cluster", imported) == {"torch"}


def test_importing_configs_loads_no_heavy_framework() -> None:
    code = (
        "import sys, configs, configs.load, configs.grid, configs.metrics, configs.models\n"
        "configs.load_sweep('demo').trials()\n"
        "print(sorted(m for m in ('torch', 'ray', 'deepspeed', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
