"""Wall time of the read-only CLI commands, side by side for two checkouts (issue 18, item 4).

Method. Once, the bench writes a populated store with mlflow's own client into `--store`
(reused when it exists; its migrations and writes are not timed): an anchor-task experiment
(16 runs over init.rate × optim.weight_decay, 5 evaluations each with φ, accuracies and the
end-of-training probes) for `results`, `phase` and `distortion`, and a 240-point (N, D, loss)
CSV for `fit scaling --csv`. Each checkout gets its own copy of that store, so what one
checkout logs never changes what the other reads. Then every command runs `--repeats` times
in a fresh `python -m cluster` process per checkout (PYTHONPATH = the checkout), as a user runs it,
the checkouts taking turns within each repeat, and the median wall time is printed beside
its target. `dead URI` is `results` against a tracking server that refuses the connection at
once (127.0.0.1:9, nothing listening). The load average is printed too.

`phase` and `distortion` log an analysis run. Since an unchanged re-run keeps the run MLflow
already holds (`analysis.record`), each is timed twice: as a re-run on unchanged runs (after
one untimed run that logs it), and as a new result, where every invocation changes one
setting (`--ood-value`, `--phi0`) from the one before, so every one of them logs.

Run: PYTHONPATH=. python bench/cli_latency.py --checkout /work/main --checkout .
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# `python -m cluster`, not the installed console script: the script names one checkout's entry
# point, and each checkout must run its own.
SCALINGLAB = [sys.executable, "-m", "cluster"]
TARGETS = {"validate": 1.5, "results": 1.5, "fit --csv": 1.5, "fit, no -o": 1.5, "phase": 3.0, "phase, new": 3.0,
           "distortion": 3.0, "distortion, new": 3.0, "dead URI": 3.0}
RERUNS = ("phase", "distortion")  # timed after one untimed run has logged their analysis


def write_store(store: Path) -> None:
    """The anchor experiment (sqlite, migrated once) and the 240-point CSV."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from configs import metrics as M

    store.mkdir(parents=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{store}/mlflow.db")
    experiment_id = client.create_experiment("anchor", artifact_location=(store / "mlartifacts").as_uri())
    steps = [10, 20, 30, 40, 50]
    rng = np.random.default_rng(0)
    for i, (rate, wd) in enumerate((r, w) for r in (0.3, 0.5, 0.7, 0.9) for w in (0.01, 0.1, 0.3, 1.0)):
        ident = np.array([2.0, 1.0, 0.5, 0.3, 0.45]) + rate
        ood = np.array([3.0, 3.2, 3.5, 3.6, 3.7]) * (1 + wd)
        val = (ident + ood) / 2
        phi = np.clip(np.array([0.5, 0.7, 0.8, 0.75, 0.6]) - 0.2 * rate + 0.05 * rng.random(5), 0.01, 0.99)
        history = {M.distortion_key("id"): ident, M.distortion_key("ood"): ood, M.VAL_LOSS: val,
                   M.PHI_WEIGHT: phi, M.PHI_INPUT: phi * 0.9, M.PROBE_LOSS: val,
                   M.WEIGHT_NOISE_LOSS: 5.0 - phi * (5.0 - val), M.INPUT_NOISE_LOSS: 5.0 - 0.9 * phi * (5.0 - val),
                   M.ID_ACC: np.array([0.1, 0.5, 0.9, 0.95, 0.95]) * (1 - 0.1 * rate),
                   M.OOD_ACC: np.array([0.0, 0.1, 0.3, 0.2, 0.1]) / (1 + wd)}
        final = {M.NUM_PARAMS: 1e5, M.TOTAL_TOKENS: 2e6, M.TOTAL_FLOPS: 1.2e12, M.INIT_PROBE_LOSS: 5.0,
                 M.INIT_VAL_LOSS: 5.0, M.init_distortion_key("id"): 5.0,
                 M.ID_ACC_BEST: float(history[M.ID_ACC].max()), M.OOD_ACC_BEST: float(history[M.OOD_ACC].max())}
        run = client.create_run(experiment_id)
        metrics = [Metric(k, float(v), 0, s) for k, values in history.items() for s, v in zip(steps, values)]
        metrics += [Metric(k, v, 0, steps[-1]) for k, v in final.items()]
        params = {"init.rate": rate, "optim.weight_decay": wd, "model.d_model": 64, "seed": 0}
        client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()],
                         tags=[RunTag(M.TAG_KIND, "trial"), RunTag(M.TAG_SWEEP, "anchor"), RunTag(M.TAG_TRIAL_ID, f"a{i}")])
        client.set_terminated(run.info.run_id, "FINISHED")
    n, d = np.meshgrid(np.geomspace(1e4, 1e6, 16), np.geomspace(1e6, 1e8, 15))
    loss = (1.8 + 50 / n**0.35 + 200 / d**0.4) * np.exp(rng.normal(0, 0.005, n.shape))
    rows = "\n".join(f"{a:.6g},{b:.6g},{c:.6g},{6 * a * b:.6g}" for a, b, c in zip(n.ravel(), d.ravel(), loss.ravel()))
    (store / "ladder.csv").write_text("N,D,loss,C\n" + rows + "\n")


def commands(store: Path, out: Path) -> dict[str, list[list[str]]]:
    """Each command's argv; where there are several, invocation i runs the i-th (cyclically)."""
    ws = ["--workdir", str(store)]
    phase = ["phase", "-e", "anchor", *ws, "-o", str(out / "phase")]
    distortion = ["distortion", "-e", "anchor", *ws, "-o", str(out / "distortion"), "--bootstrap", "20"]
    return {
        "validate": [["validate", "demo"]],
        "results": [["results", "-e", "anchor", *ws]],
        "fit --csv": [["fit", "scaling", "--csv", str(store / "ladder.csv"), "--bootstrap", "0", "-o", str(out / "fit")]],
        # the table only: since issue 18 a --csv fit draws its figures only when -o asks for them
        "fit, no -o": [["fit", "scaling", "--csv", str(store / "ladder.csv"), "--bootstrap", "0"]],
        "phase": [phase],
        "phase, new": [[*phase, "--ood-value", value] for value in ("final", "best")],
        "distortion": [distortion],
        "distortion, new": [[*distortion, "--phi0", value] for value in ("0.5", "0.6")],
        "dead URI": [["results", "-e", "anchor", "--tracking-uri", "http://127.0.0.1:9"]],
    }


def store_copies(store: Path, checkouts: list[Path]) -> list[Path]:
    """One copy of the store per checkout (its artifacts stay in the original's folder)."""
    copies = []
    for i, _ in enumerate(checkouts):
        copy = Path(tempfile.mkdtemp(prefix=f"cli_latency_store{i}_"))
        shutil.copy2(store / "mlflow.db", copy / "mlflow.db")
        shutil.copy2(store / "ladder.csv", copy / "ladder.csv")
        copies.append(copy)
    return copies


def time_once(checkout: Path, args: list[str], cwd: Path) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS="1", MLFLOW_DISABLE_TELEMETRY="true",
               COLUMNS="160")
    started = time.perf_counter()
    done = subprocess.run([*SCALINGLAB, *args], env=env, cwd=cwd, capture_output=True, timeout=300)
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", type=Path, help="repeatable; default: this one")
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "scalinglab_cli_latency")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkout or [ROOT]]
    if not (args.store / "mlflow.db").exists():
        write_store(args.store)
    out = Path(tempfile.mkdtemp(prefix="cli_latency_out"))
    per_checkout = [commands(copy, out) for copy in store_copies(args.store, checkouts)]
    load_before = os.getloadavg()[0]  # the machine is shared: the timings mean little without it
    print(f"{'command':15s} {'target':>7s} " + " ".join(f"{c.name:>16s}" for c in checkouts) + "  (median wall s, exit code)")
    worst = 0.0
    for name in TARGETS:
        cells = []
        if name in RERUNS:
            for checkout, argvs in zip(checkouts, per_checkout):
                time_once(checkout, argvs[name][0], out)
        # Checkouts alternate within each repeat, so a busy spell of this shared machine hits
        # both alike. cwd: a scratch folder, so a default output folder never lands in a checkout.
        runs = [[time_once(checkout, argvs[name][repeat % len(argvs[name])], out)
                 for checkout, argvs in zip(checkouts, per_checkout)] for repeat in range(args.repeats)]
        for column in zip(*runs):
            median = statistics.median(t for t, _ in column)
            cells.append(f"{median:10.2f} (rc {column[-1][1]})")
        worst = max(worst, median / TARGETS[name])  # the last checkout's share of its target
        print(f"{name:15s} {TARGETS[name]:7.1f} " + " ".join(f"{c:>16s}" for c in cells), flush=True)
    print(f"load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    print(f"worst_time_over_target: {worst:.2f}")


if __name__ == "__main__":
    main()
