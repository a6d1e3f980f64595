"""Read-only commands load only what they use (issue 18, item 4; their timings are in bench/cli_latency.py).

Each command runs in a fresh interpreter, as a user runs it, and reports which heavy
packages it imported: `results` on a sqlite store reads it without mlflow, and a `--csv`
fit without `-o` draws nothing, so neither loads matplotlib.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from configs import metrics as M

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("mlflow", "matplotlib", "scipy.stats", "ray", "torch")
# runs the CLI like `scalinglab …` (typer's own exit), then prints which of HEAVY it imported
PROBE = ("import atexit, json, sys\n"
         f"atexit.register(lambda: print('LOADED=' + json.dumps([m for m in {HEAVY!r} if m in sys.modules])))\n"
         "from cluster.cli import app\n"
         "app(sys.argv[1:], prog_name='scalinglab')\n")


def _loaded(args: list[str], cwd: Path) -> tuple[set[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160")
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED="))
    return set(json.loads(line.removeprefix("LOADED="))), done.stdout


def test_results_reads_a_sqlite_store_without_mlflow(mlflow_uri: str, mlflow_experiment: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    run = client.create_run(experiment_id, run_name="s γ0.5 s0")
    client.log_batch(run.info.run_id, metrics=[Metric(M.VAL_LOSS, 2.5, 0, 9), Metric(M.NUM_PARAMS, 1e6, 0, 9)],
                     params=[Param("init.rate", "0.5"), Param("seed", "0")],
                     tags=[RunTag(M.TAG_KIND, "trial"), RunTag(M.TAG_SWEEP, "s"), RunTag(M.TAG_TRIAL_ID, "t0")])
    client.set_terminated(run.info.run_id, "FINISHED")
    loaded, output = _loaded(["results", "-e", mlflow_experiment, "--tracking-uri", mlflow_uri], tmp_path)
    assert "s γ0.5 s0" in output and "finished" in output and "2.5" in output
    assert not loaded, loaded


@pytest.mark.parametrize(("out", "figures"), [(None, False), ("fit", True)])
def test_a_csv_fit_draws_figures_only_when_asked(tmp_path: Path, out: str | None, figures: bool) -> None:
    n, d = np.meshgrid(np.geomspace(1e4, 1e6, 5), np.geomspace(1e6, 1e8, 5))
    loss = 1.8 + 50 / n**0.35 + 200 / d**0.4
    csv = tmp_path / "points.csv"
    csv.write_text("N,D,loss\n" + "\n".join(f"{a},{b},{c}" for a, b, c in zip(n.ravel(), d.ravel(), loss.ravel())))
    args = ["fit", "scaling", "--csv", str(csv), "--bootstrap", "0", "--flops-convention", "6nd",
            *(["-o", str(tmp_path / out)] if out else [])]
    loaded, output = _loaded(args, tmp_path)
    assert "chinchilla fit (25 points" in output
    assert ("matplotlib" in loaded) == figures and not {"mlflow", "ray", "torch"} & loaded
    pngs = sorted(p.name for p in tmp_path.rglob("*.png"))
    assert pngs == (["isoflop.png", "loss_vs_C.png", "loss_vs_D.png", "loss_vs_N.png"] if figures else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["points.csv", *([out] if out else [])])
