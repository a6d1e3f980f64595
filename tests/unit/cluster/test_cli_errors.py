"""The CLI as people use it: bad input fails fast in one or two lines, reads never write.

Every command runs in a fresh subprocess, as a user would run it, so import costs and
`sys.modules` are the real ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from configs import metrics as M

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "deepspeed", "ray")
HEAVY_FOR_A_BAD_CONFIG = HEAVY + ("mlflow",)

BAD_SWEEP = "name: bad\nbase:\n  model: {d_modle: 64}\n"

# Runs the CLI in-process inside a fresh interpreter, then reports which heavy frameworks
# the command loaded: {"code": exit code, "heavy": [...], "output": text}.
PROBE = """
import json, sys
from typer.testing import CliRunner
from cluster.cli import app
result = CliRunner().invoke(app, json.loads(sys.argv[1]))
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"code": result.exit_code, "heavy": heavy, "output": result.output}}))
"""


def probe(args: list[str], heavy: tuple[str, ...] = HEAVY) -> dict[str, object]:
    code = PROBE.format(heavy=heavy)
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def scalinglab(*args: str, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "cluster.cli", *args], cwd=cwd, capture_output=True,
                         text=True, timeout=120)
    return out, time.perf_counter() - started


def log_runs(uri: str, experiment: str, rows: list[tuple[float, str]]) -> None:
    """One trial run per (init.rate, MLflow status), as the trainer tags them."""
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    for i, (rate, status) in enumerate(rows):
        run = client.create_run(experiment_id)
        tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: f"t{i}", M.TAG_CONFIG_HASH: f"h{i}"}
        params = {"init.rate": rate, "optim.weight_decay": 0.1, "seed": 0}
        client.log_batch(run.info.run_id, metrics=[Metric(M.VAL_LOSS, 1.0 + i, 0, 10), Metric(M.NUM_PARAMS, 1e4, 0, 0)],
                         params=[Param(k, str(v)) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id, status)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_bad_config_fails_in_under_a_second_without_side_effects(command: str, tmp_path: Path) -> None:
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(BAD_SWEEP)
    workdir = tmp_path / "runs"
    args = [command, str(sweep)] + (["--workdir", str(workdir)] if command == "run" else [])
    out, seconds = scalinglab(*args)
    assert out.returncode == 2
    assert "base.model.d_modle = 64" in out.stdout and "did you mean 'd_model'?" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert len(out.stdout.strip().splitlines()) <= 2
    assert not workdir.exists()  # nothing created, nothing launched
    # < 1 s on a quiet machine (README); the bound leaves room for a loaded one. What makes it
    # fast is checked exactly: the config is rejected before Ray, MLflow or torch load.
    assert seconds < 3.0, f"{command} took {seconds:.2f} s"
    assert probe(args, HEAVY_FOR_A_BAD_CONFIG)["heavy"] == []


def test_reading_an_empty_workdir_creates_no_store(tmp_path: Path) -> None:
    out, _ = scalinglab("results", "-e", "nope", "--workdir", str(tmp_path))
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    assert len(out.stdout.strip().splitlines()) <= 2
    assert list(tmp_path.iterdir()) == []  # no mlflow.db appeared


def test_unknown_experiment_is_one_line_and_non_zero(mlflow_uri: str, mlflow_experiment: str) -> None:
    out, _ = scalinglab("results", "-e", "no-such-experiment", "--tracking-uri", mlflow_uri)
    assert out.returncode == 1
    assert "no-such-experiment" in out.stdout and "Traceback" not in out.stdout + out.stderr


def test_results_show_grid_columns_and_state(mlflow_uri: str, mlflow_experiment: str) -> None:
    log_runs(mlflow_uri, mlflow_experiment, [(0.3, "FINISHED"), (0.8, "FAILED"), (1.0, "KILLED")])
    out, _ = scalinglab("results", "-e", mlflow_experiment, "--tracking-uri", mlflow_uri)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "γ" in out.stdout  # init.rate varies: it is a column; weight decay does not
    assert "λ" not in out.stdout
    for state in ("finished", "failed", "killed"):
        assert state in out.stdout


def test_read_only_commands_load_no_heavy_framework(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    log_runs(mlflow_uri, mlflow_experiment, [(0.3, "FINISHED"), (0.8, "FINISHED")])
    read = ["-e", mlflow_experiment, "--tracking-uri", mlflow_uri]
    commands = {
        "validate": ["validate", "demo"],
        "results": ["results", *read],
        "phase": ["phase", *read, "-o", str(tmp_path / "phase")],
        "fit": ["fit", "scaling", *read, "-o", str(tmp_path / "fit"), "--bootstrap", "0"],
    }
    for name, args in commands.items():
        result = probe(args)
        assert result["heavy"] == [], f"`scalinglab {name}` imported {result['heavy']}"
        assert "Traceback" not in str(result["output"]), result["output"]
