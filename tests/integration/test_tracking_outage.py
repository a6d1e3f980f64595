"""A tracking-server outage mid-sweep loses nothing: trials spool their metrics and resend them.

A real `mlflow server` over HTTP is stopped (SIGTERM to its process group) once both trials of
a real Ray Tune sweep have logged some steps, kept down ~20 s, and restarted on the same port
with the same store. Every trial must finish, and each run's train/loss history must hold
every evaluation step exactly once, including those logged while the server was down.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from cluster.sweep import run_sweep
from configs import metrics as M
from configs import parse_sweep
from tests.integration.processes import free_port, start_mlflow_server, stop_process_group
from trainers.spool import SPOOL_DIR_ENV
from configs.runs import trial_filter  # trial runs only: each session also has a parent run

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]

EVAL_EVERY, CHECKPOINT_EVERY, NUM_STEPS = 5, 100, 800  # ≈ 40–60 s a trial here, two at once
OUTAGE_AFTER_STEP, OUTAGE_S = 100, 20.0
SWEEP = {
    "name": "outage",
    "base": {
        "model": "gpt_debug",
        "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
        "optim": {"warmup_steps": 5},
        "train": {"num_steps": NUM_STEPS, "batch_size": 64, "eval_every": EVAL_EVERY,
                  "checkpoint_every": CHECKPOINT_EVERY},
    },
    "grid": {"init.rate": [0.3, 0.8]},
    "resources": {"cpus_per_trial": 1, "max_failures": 0},  # a trial the outage crashed would fail the test
}


class Outage(threading.Thread):
    """Waits until both runs logged `OUTAGE_AFTER_STEP`, stops the server, restarts it `OUTAGE_S` later."""

    def __init__(self, server: Any, workdir: Path, port: int, spool: Path) -> None:
        super().__init__(daemon=True)
        self.server, self.workdir, self.port, self.spool = server, workdir, port, spool
        self.window_ms: tuple[int, int] | None = None
        self.spooled: list[str] = []  # spool files while the server was down
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            wait_for_steps(f"http://127.0.0.1:{self.port}", OUTAGE_AFTER_STEP)
            stop_process_group(self.server)
            down_ms = int(time.time() * 1000)
            time.sleep(OUTAGE_S)
            self.spooled = sorted(p.name for p in self.spool.glob("*.jsonl"))
            self.server = start_mlflow_server(self.workdir, self.port)  # down until it answers again
            self.window_ms = (down_ms, int(time.time() * 1000))
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error


def wait_for_steps(uri: str, step: int, timeout_s: float = 180.0) -> None:
    client, deadline = MlflowClient(tracking_uri=uri), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        experiment = client.get_experiment_by_name("outage")
        found = client.search_runs([experiment.experiment_id], trial_filter()) if experiment else []
        latest = [max((m.step for m in client.get_metric_history(r.info.run_id, M.TRAIN_LOSS)), default=0)
                  for r in found]
        if len(latest) == 2 and min(latest) >= step:
            return
        time.sleep(0.5)
    raise AssertionError(f"the trials did not both reach step {step} within {timeout_s:g} s")


@pytest.fixture(scope="module")
def sweep_through_an_outage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("outage")
    spool = workdir / "spool"
    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(SPOOL_DIR_ENV, str(spool))  # trial processes inherit it from the embedded Ray
        outage = Outage(start_mlflow_server(workdir / "store", port), workdir / "store", port, spool)
        try:
            outage.start()
            started = time.monotonic()
            result = run_sweep(parse_sweep(SWEEP), workdir / "driver", tracking_uri=f"http://127.0.0.1:{port}",
                               num_cpus=2)
            seconds = time.monotonic() - started
            outage.join(timeout=120)
            client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
            runs = client.search_runs([client.get_experiment_by_name("outage").experiment_id], trial_filter())
            histories = {r.info.run_id: client.get_metric_history(r.info.run_id, M.TRAIN_LOSS) for r in runs}
        finally:
            stop_process_group(outage.server)
    return {"result": result, "outage": outage, "runs": runs, "histories": histories, "spool": spool,
            "seconds": seconds}


def test_the_outage_fell_mid_run(sweep_through_an_outage: dict[str, Any]) -> None:
    outage = sweep_through_an_outage["outage"]
    assert outage.error is None, repr(outage.error)
    assert outage.window_ms is not None
    assert len(outage.spooled) == 2  # both trials were holding metrics on disk
    down, up = outage.window_ms
    print(f"server down {(up - down) / 1000:.0f} s (restart included); sweep {sweep_through_an_outage['seconds']:.0f} s")
    for history in sweep_through_an_outage["histories"].values():
        assert any(down <= m.timestamp <= up for m in history), "no step of this run was logged during the outage"


def test_every_trial_finished(sweep_through_an_outage: dict[str, Any]) -> None:
    assert sweep_through_an_outage["result"].num_failed == 0
    runs = sweep_through_an_outage["runs"]
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}


def test_no_step_is_lost_or_duplicated(sweep_through_an_outage: dict[str, Any]) -> None:
    expected = list(range(EVAL_EVERY, NUM_STEPS + 1, EVAL_EVERY))
    for history in sweep_through_an_outage["histories"].values():
        assert sorted(m.step for m in history) == expected
    assert not list(sweep_through_an_outage["spool"].glob("*.jsonl"))  # every spool was sent and removed
