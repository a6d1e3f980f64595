"""Cool-down branches of a wsd trial (trainers/cooldown.py), in memory through the real engine.

The tiny trial: 40 steps of 16 sequences, wsd with cooldown_fraction 0.25 (the main run
decays over steps 30..39), one branch ending at 0.5·40 = step 20 that decays over
round(0.25·20) = 5 steps, so it leaves the main run after step 15.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from configs import TrialConfig
from configs import metrics as M
from configs import runs
from trainers import InMemoryTracker, run_trial
from trainers.cooldown import branch_trial, spent_compute_flops

START, END = 15, 20


def wsd_trial(cooldowns: list[float] | None = None, **train: Any) -> TrialConfig:
    return TrialConfig.model_validate({
        "sweep": "cd",
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 256, "num_test": 64},
        "optim": {"lr": 1e-2, "warmup_steps": 3, "schedule": "wsd", "cooldown_fraction": 0.25},
        "train": {"num_steps": 40, "batch_size": 16, "eval_every": 5, "checkpoint_every": 40,
                  "cooldowns": [0.5] if cooldowns is None else cooldowns, **train},
    })


@pytest.fixture(autouse=True)
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])


class Checkpoints:
    """A `report` callable keeping the checkpoint folder of every checkpoint step."""

    def __init__(self) -> None:
        self.by_step: dict[int, Path] = {}

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is not None:
            self.by_step[int(metrics["step"])] = checkpoint


def train(trial: TrialConfig, root: Path, tracker: InMemoryTracker | None = None, **kwargs: Any) -> InMemoryTracker:
    tracker = tracker or InMemoryTracker(run_id="parent")
    run_trial(trial, kwargs.pop("report", None), tracking=tracker, checkpoint_root=root, **kwargs)
    return tracker


def trajectory(tracker: InMemoryTracker) -> dict[str, dict[int, float]]:
    """Every logged metric but the wall-clock ones."""
    return {k: v for k, v in tracker.history.items() if k not in M.TIMING_METRICS}


def test_branch_steps_and_spent_compute() -> None:
    trial = wsd_trial([0.25, 0.5])
    # ends 10 and 20; decays round(2.5) = 2 (banker's rounding) and 5 steps.
    assert trial.cooldown_branches == [(8, 10), (15, 20)]
    per_step = trial.compute_flops / 40
    assert spent_compute_flops(trial) == pytest.approx(trial.compute_flops + 7 * per_step, rel=1e-12)
    branch = branch_trial(trial, 20)
    assert (branch.train.num_steps, branch.train.cooldowns) == (20, [])
    assert branch.compute_flops == pytest.approx(trial.compute_flops / 2, rel=1e-12)


def test_branch_logs_its_own_run(tmp_path: Path) -> None:
    trial = wsd_trial()
    parent = train(trial, tmp_path)
    assert parent.status == "FINISHED" and len(parent.branches) == 1
    branch = parent.branches[0]
    assert branch.status == "FINISHED" and branch.run_id == "parent-cd15"
    assert branch.tags == {
        M.TAG_SWEEP: "cd", M.TAG_KIND: runs.KIND_TRIAL, M.TAG_IDENTITY_VERSION: "2",
        M.TAG_TRIAL_ID: trial.trial_id + "-cd15", M.TAG_CONFIG_HASH: trial.config_hash + "-cd15",
        M.TAG_PARENT_RUN_ID: "parent", M.TAG_COOLDOWN_OF_STEP: "15",
        M.TAG_MEASUREMENT_HASH: trial.measurement_hash,  # a branch measures as its parent does
    }
    assert branch.params["train.num_steps"] == END and branch.params["train.cooldowns"] == []
    tokens = END * 16 * 9
    assert branch.history[M.TOTAL_TOKENS] == {0: tokens}
    # C = the shared 15-step prefix + the branch's own 5 decay steps = C of a 20-step run.
    assert branch.history[M.TOTAL_FLOPS] == {0: pytest.approx(trial.compute_flops * END / 40, rel=1e-12)}
    assert branch.history[M.NUM_PARAMS] == {0: float(trial.num_params)}
    assert branch.history[M.NUM_TOKENS] == {END: tokens}
    assert branch.history[M.LEARNING_RATE] == {END: pytest.approx(1e-3)}  # min_lr_ratio 0.1
    assert set(branch.history[M.VAL_LOSS]) == {END}
    # The parent's own sizes are its whole run's, and it logs nothing for the branch.
    assert parent.history[M.TOTAL_TOKENS] == {0: 40 * 16 * 9}


def test_branch_is_the_shorter_wsd_run(tmp_path: Path) -> None:
    branch = train(wsd_trial(), tmp_path / "a").branches[0]
    alone = train(wsd_trial([], num_steps=END, checkpoint_every=END), tmp_path / "b")
    # Same steps, same lr, same batches: the same weights, so the same held-out loss exactly.
    assert branch.history[M.VAL_LOSS][END] == alone.history[M.VAL_LOSS][END]


def test_main_trajectory_is_bit_identical_without_cooldowns(tmp_path: Path) -> None:
    with_branches = train(wsd_trial([0.25, 0.5]), tmp_path / "a")
    without = train(wsd_trial([]), tmp_path / "b")
    assert len(with_branches.branches) == 2 and without.branches == []
    assert trajectory(with_branches) == trajectory(without)  # exact floats at every logged step


def test_resume_across_a_branch_neither_duplicates_nor_loses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = wsd_trial(checkpoint_every=10)
    reference = train(trial, tmp_path / "ref")
    # Attempt 1 crashes inside the branch (after its first optimizer step there).
    import trainers.cooldown as cooldown

    calls: list[int] = []
    real_train_branch = cooldown._train_branch

    def crash_once(run: Any, start: int, end: int) -> dict[str, float]:
        calls.append(start)
        if len(calls) == 1:
            raise RuntimeError("worker died in the branch")
        return real_train_branch(run, start, end)

    monkeypatch.setattr(cooldown, "_train_branch", crash_once)
    checkpoints, tracker = Checkpoints(), InMemoryTracker(run_id="parent")
    with pytest.raises(RuntimeError, match="worker died"):
        train(trial, tmp_path / "ckpt", tracker, report=checkpoints)
    assert tracker.status == "FAILED" and [b.status for b in tracker.branches] == ["FAILED"]
    assert sorted(checkpoints.by_step) == [10]  # the branch runs before step 15's hooks end
    # Attempt 2 resumes from step 10, meets the branch again and reopens its run.
    train(trial, tmp_path / "ckpt", tracker, report=checkpoints, resume_from=checkpoints.by_step[10])
    assert calls == [START, START] and len(tracker.branches) == 1
    assert tracker.branches[0].status == "FINISHED"
    assert trajectory(tracker.branches[0]) == trajectory(reference.branches[0])
    assert trajectory(tracker) == trajectory(reference)
    # Attempt 3 resumes from step 10 again (e.g. a retry after a later crash): the finished
    # branch is found and not redone.
    train(trial, tmp_path / "ckpt", tracker, resume_from=checkpoints.by_step[10])
    assert calls == [START, START] and len(tracker.branches) == 1


@pytest.mark.parametrize(
    ("train_section", "optim_section", "match"),
    [
        ({"cooldowns": [0.5, 1.0]}, {}, r"train\.cooldowns \(\[0\.5, 1\.0\]\) holds 1\.0, outside \(0, 1\)"),
        ({"cooldowns": [0.5, 0.25]}, {}, r"strictly increasing.*e\.g\. \[0\.25, 0\.5\]"),
        ({"cooldowns": [0.5]}, {"schedule": "cosine"}, r"need optim\.schedule: wsd \(got 'cosine'\)"),
        ({"cooldowns": [0.1]}, {}, r"ending at 0\.1·num_steps \(step 4\) starts at step 3, outside the stable phase \[optim\.warmup_steps \(4\), 30\)"),
        ({"cooldowns": [0.5, 0.51]}, {}, r"\(step 20\) starts at step 15, .* or not after the previous branch"),
    ],
)
def test_bad_cooldowns_name_field_value_and_fix(
    train_section: dict[str, Any], optim_section: dict[str, Any], match: str
) -> None:
    tree = {
        "optim": {"warmup_steps": 4, "schedule": "wsd", "cooldown_fraction": 0.25, **optim_section},
        "train": {"num_steps": 40, "eval_every": 5, "checkpoint_every": 40, **train_section},
    }
    with pytest.raises(ValueError, match=match):
        TrialConfig.model_validate(tree)


def test_new_fields_leave_old_hashes_alone() -> None:
    # Identity version 1's hash of the default trial before cooldowns / cooldown_fraction
    # existed: a sweep started then still finds its finished trials (configs/identity.py).
    assert TrialConfig().config_hash_v1 == "93d4e071ba1292c31ec94d934270d3159cddc5ebca894ce9dbdbf2ab3bd1e151"
    wsd, shorter = {"optim": {"schedule": "wsd"}}, {"optim": {"schedule": "wsd", "cooldown_fraction": 0.1}}
    for version in ("config_hash_v1", "config_hash"):
        assert getattr(TrialConfig.model_validate(wsd), version) != getattr(TrialConfig.model_validate(shorter), version)
