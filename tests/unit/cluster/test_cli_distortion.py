"""`scalinglab distortion` through the real CLI on a synthetic MLflow store: output and errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cluster.cli import app
from tests.unit.analysis.distortion.conftest import anchor_experiment, ladder_experiment  # noqa: F401 (fixtures)

runner = CliRunner()


def _invoke(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_distortion_writes_the_report(mlflow_uri: str, ladder_experiment: str, tmp_path: Path) -> None:  # noqa: F811
    code, output = _invoke(["distortion", "-e", ladder_experiment, "-o", str(tmp_path), "--tracking-uri", mlflow_uri,
                            "--domains", "lang1", "--phi0", "-0.1", "--bootstrap", "4"])
    assert code == 0, output
    assert "per-domain laws" in output and "chinchilla" in output
    assert (tmp_path / "distortion_report.html").is_file() and (tmp_path / "laws.csv").is_file()


def test_an_unknown_domain_is_one_line(mlflow_uri: str, anchor_experiment: str, tmp_path: Path) -> None:  # noqa: F811
    code, output = _invoke(["distortion", "-e", anchor_experiment, "-o", str(tmp_path), "--tracking-uri", mlflow_uri,
                            "--domains", "id,nope"])
    assert code == 1 and "Traceback" not in output
    assert "--domains names nope, not logged by these runs; logged domains: id, ood" in " ".join(output.split())


def test_a_missing_store_and_bad_options(tmp_path: Path) -> None:
    code, output = _invoke(["distortion", "-e", "x", "--workdir", str(tmp_path), "-o", str(tmp_path / "out")])
    assert code == 1 and "no MLflow store at" in output and not (tmp_path / "mlflow.db").exists()
    code, output = _invoke(["distortion", "-e", "x", "--workdir", str(tmp_path), "--phi", "both"])
    assert code == 2 and "must be weight or input" in output
    code, output = _invoke(["distortion", "-e", "x", "--workdir", str(tmp_path), "--domains", ","])
    assert code == 2
