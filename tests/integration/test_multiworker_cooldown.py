"""A 2-worker `wsd` trial resumed past a finished cool-down branch: no deadlock, no double branch.

The trial (40 steps, one branch ending at step 20, decaying over its last 2 steps, so it
starts at step 18) checkpoints at step 15 and 30; rank 0 crashes after its step-20 report,
once the branch run has FINISHED. Ray Train restarts both workers from step 15, so they meet
step 18 again: rank 0 finds the finished branch in MLflow, the other rank's in-memory tracker
does not. The skip must be agreed by both (trainers/cooldown.py `_skip_on_every_worker`);
if rank 0 skipped alone, the ranks would pair mismatched collectives — a hang, or main-run
steps averaged with branch steps. So the resumed main run must follow, step for step, the same
trial trained without a crash (tolerance as in test_multiworker.py: all-reduce rounding only).
"""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

from cluster.launch import LaunchTesting
from cluster.sweep import run_sweep
from configs import metrics as M
from configs import parse_sweep
from configs.runs import trial_filter

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]

NUM_STEPS, RTOL = 40, 1e-5
BASE = {
    "model": "gpt_debug",
    "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
    "optim": {"warmup_steps": 5, "schedule": "wsd", "cooldown_fraction": 0.1},
    "train": {"num_steps": NUM_STEPS, "batch_size": 64, "micro_batch_size": 32, "eval_every": 5,
              "checkpoint_every": 15, "cooldowns": [0.5]},
    "eval": {"phi_weight_every": 0, "phi_input_every": 0, "ratedist_bits": [], "calibration_at_last_step": False},
}


def _sweep(name: str) -> dict[str, object]:
    return {"name": name, "base": BASE, "resources": {"workers_per_trial": 2, "cpus_per_worker": 1, "max_failures": 1}}


def _runs(uri: str, experiment: str) -> tuple[dict[int, float], list[str]]:
    """The main run's train loss by step, and the statuses of the branch runs."""
    client = MlflowClient(tracking_uri=uri)
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], trial_filter())  # not the session run
    mains = [r for r in found if M.TAG_PARENT_RUN_ID not in r.data.tags]
    branches = [r.info.status for r in found if M.TAG_PARENT_RUN_ID in r.data.tags]
    assert len(mains) == 1 and mains[0].info.status == "FINISHED"
    history = client.get_metric_history(mains[0].info.run_id, M.TRAIN_LOSS)
    steps = [m.step for m in history]
    assert sorted(steps) == list(range(5, NUM_STEPS + 1, 5)), "every report step logged exactly once"
    return {m.step: m.value for m in history}, branches


def test_resume_past_a_finished_branch_skips_it_on_both_workers(tmp_path) -> None:
    plain = run_sweep(parse_sweep(_sweep("wsd_plain")), tmp_path, num_cpus=2)
    crash = LaunchTesting(fail_once_at_step=20, failure_marker_dir=str(tmp_path / "markers"))
    resumed = run_sweep(parse_sweep(_sweep("wsd_resumed")), tmp_path, num_cpus=2, testing=crash)
    assert plain.num_failed == 0 and resumed.num_failed == 0
    assert (tmp_path / "markers").exists(), "the injected crash happened"
    expected, plain_branches = _runs(plain.target.uri, "wsd_plain")
    got, branches = _runs(resumed.target.uri, "wsd_resumed")
    assert plain_branches == ["FINISHED"] and branches == ["FINISHED"], "one branch run, neither lost nor repeated"
    steps = sorted(expected)
    np.testing.assert_allclose([got[s] for s in steps], [expected[s] for s in steps], rtol=RTOL)
