"""Two data-parallel DeepSpeed workers per trial (Ray Train inside Ray Tune) match one worker.

One sweep trains a trial on one worker; three more train the same trial on 2 gloo workers at
ZeRO 0, 2 and 3 (one sweep each: the ZeRO stage is not part of a trial's identity, so a grid
over it would be three copies of one trial), and rank 0 crashes once after its step-20
report, so Ray Train restarts both workers from the merged step-20 checkpoint of both ranks.
Every step's train loss is logged (eval_every 1) and compared.

Tolerance: the two workers' gradients are averaged by an all-reduce, which sums in another
order than one worker's backward pass over the whole micro-batch, so each step differs from
the one-worker step by float32 rounding (~1e-7 relative); Adam's update divides by √v, which
lets those differences grow a little over the 30 steps. The largest difference measured on
this machine was 1.2e-7 relative (ZeRO-0; 9e-8 at ZeRO-3); 1e-5 leaves 80× room, while a wrong
batch split or a missing gradient average is off by percent from the first step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from cluster.launch import LaunchTesting
from cluster.sweep import run_sweep
from configs import metrics as M
from configs import parse_sweep
from configs.runs import trial_filter  # trial runs only: each session also has a parent run

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.cluster]

NUM_STEPS, RTOL = 30, 1e-5
STAGES = (0, 2, 3)
BASE = {
    "model": "gpt_debug",
    "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
    "optim": {"warmup_steps": 5},
    "train": {"num_steps": NUM_STEPS, "batch_size": 64, "micro_batch_size": 32, "eval_every": 1,
              "checkpoint_every": 10},
    "eval": {"phi_weight_every": 0, "phi_input_every": 0, "ratedist_bits": [], "calibration_at_last_step": False},
}


def _sweep(name: str, workers: int, stage: int) -> dict[str, object]:
    resources = {"workers_per_trial": workers, "cpus_per_worker": 1, "max_failures": 1}
    base = {**BASE, "train": {**BASE["train"], "zero_stage": stage}}
    return {"name": name, "base": base, "resources": resources}


def _histories(uri: str, experiment: str) -> dict[int, dict[str, dict[int, float]]]:
    """ZeRO stage → metric key → {step: value}, for every finished run of `experiment`."""
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], trial_filter())
    out: dict[int, dict[str, dict[int, float]]] = {}
    for run in runs:
        assert run.info.status == "FINISHED", run.info.run_name
        keys = (M.TRAIN_LOSS, M.WORLD_SIZE, M.PARAM_SHARE)
        histories = {k: client.get_metric_history(run.info.run_id, k) for k in keys}
        steps = [m.step for m in histories[M.TRAIN_LOSS]]
        assert sorted(steps) == list(range(1, NUM_STEPS + 1)), "every step logged exactly once"
        out[int(run.data.params["train.zero_stage"])] = {k: {m.step: m.value for m in h} for k, h in histories.items()}
    return out


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    workdir = tmp_path_factory.mktemp("multiworker")
    one = run_sweep(parse_sweep(_sweep("one_worker", 1, 0)), workdir, num_cpus=2)
    assert one.num_failed == 0
    double: dict[int, dict[str, dict[int, float]]] = {}
    for stage in STAGES:  # a marker folder each: the three trials share one trial id
        crash = LaunchTesting(fail_once_at_step=20, failure_marker_dir=str(workdir / "markers" / f"zero{stage}"))
        two = run_sweep(parse_sweep(_sweep(f"two_workers_zero{stage}", 2, stage)), workdir, num_cpus=2,
                        testing=crash)
        assert two.num_failed == 0
        double.update(_histories(two.target.uri, f"two_workers_zero{stage}"))
    return _histories(one.target.uri, "one_worker"), double, workdir


def test_two_workers_follow_the_one_worker_trajectory_at_every_zero_stage(trajectories: tuple[dict, dict, Path]) -> None:
    single, double, _ = trajectories
    reference = np.array([single[0][M.TRAIN_LOSS][s] for s in range(1, NUM_STEPS + 1)])
    assert sorted(double) == list(STAGES)
    for stage, history in double.items():
        losses = np.array([history[M.TRAIN_LOSS][s] for s in range(1, NUM_STEPS + 1)])
        np.testing.assert_allclose(losses, reference, rtol=RTOL, err_msg=f"ZeRO-{stage}")


def test_every_rank_checkpoints_and_the_crashed_group_resumed(trajectories: tuple[dict, dict, Path]) -> None:
    *_, workdir = trajectories
    assert len(list((workdir / "markers").glob("*/*"))) == 3  # each 2-worker trial crashed once (and resumed)
    both_ranks = {f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)}
    sharded = [trial for trial, checkpoints in _checkpoint_files(workdir).items()
               if all(both_ranks <= files for files in checkpoints)]
    assert len(sharded) == 2, "the ZeRO-2 and ZeRO-3 trials keep both ranks' optimizer shards in every checkpoint"


def test_zero3_shards_the_parameters_over_the_two_workers(trajectories: tuple[dict, dict, Path]) -> None:
    _, double, _ = trajectories
    for stage, history in double.items():
        assert history[M.WORLD_SIZE][0] == 2
        share = history[M.PARAM_SHARE][0]
        if stage == 3:
            assert 0.45 <= share <= 0.55, f"rank 0 holds {share:.3f} of the parameters under ZeRO-3"
        else:
            assert share == 1.0


def _checkpoint_files(workdir: Path) -> dict[str, list[set[str]]]:
    """Trial run folder → file names of each checkpoint Ray Train kept for it (ranks' files merged)."""
    found: dict[str, list[set[str]]] = {}
    for stage in STAGES:
        train_root = workdir / "ray_results" / f"two_workers_zero{stage}" / "train"
        for tag_dir in train_root.glob("*/checkpoint_*/step*"):
            found.setdefault(f"zero{stage}/{tag_dir.parents[1].name}", []).append({p.name for p in tag_dir.iterdir()})
    assert len(found) == 3, f"expected the 3 trials' checkpoints under {workdir / 'ray_results'}, found {sorted(found)}"
    return found
