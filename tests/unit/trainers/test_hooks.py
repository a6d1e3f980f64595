"""The hook machinery (trainers/hooks.py): cadences, order, and the divergence checks.

No engine here: a `TrialRun` around a bare GPT is enough for the hooks under test (the loop
tests run the same hooks through DeepSpeed).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from configs import TrialConfig
from configs import metrics as M
from trainers.checkpoint import TrainState
from trainers.hooks import Hook, StepInfo, TrialDiverged, TrialRun, run_hooks
from trainers.loop import default_hooks
from trainers.standard_hooks import check_held_out, check_training
from trainers.model import build_model
from trainers.optim import LossSpec
from trainers.tracker import InMemoryTracker


OUR_HOOKS = {"divergence", "evaluate", "held-out divergence", "log", "checkpoint", "report"}


def noop(info: StepInfo) -> None:
    pass


# (every, at_last_step, num_steps) → the steps after which the hook runs.
DUE_TABLE = [
    (1, True, 5, [1, 2, 3, 4, 5]),
    (1, False, 5, [1, 2, 3, 4]),
    (2, True, 5, [2, 4, 5]),  # the last step although 2 does not divide 5
    (2, False, 5, [2, 4]),
    (5, True, 10, [5, 10]),
    (5, False, 10, [5]),  # not at the last step although 5 divides it
    (3, True, 10, [3, 6, 9, 10]),
    (20, True, 10, [10]),
    (20, False, 10, []),
]


@pytest.mark.parametrize("every, at_last, num_steps, expected", DUE_TABLE)
def test_hook_is_due_on_its_cadence_and_at_the_last_step(every: int, at_last: bool, num_steps: int,
                                                         expected: list[int]) -> None:
    hook = Hook(every, noop, at_last_step=at_last)
    assert [s for s in range(1, num_steps + 1) if hook.due(s, num_steps)] == expected


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"Hook 'probe': every \(0\) must be ≥ 1; use every=1"):
        Hook(0, noop, name="probe")


def trial() -> TrialConfig:
    return TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 8, "d_ff": 16},
        "optim": {"warmup_steps": 1},
        "train": {"num_steps": 12, "batch_size": 4, "eval_every": 3, "checkpoint_every": 6},
    })


def trial_run(tmp_path: Path) -> TrialRun:
    t = trial()
    model = build_model(t.model, t.init, vocab_size=16, seq_len=4, seed=0)
    engine = SimpleNamespace(module=model)
    return TrialRun(t, None, engine, "cpu", InMemoryTracker(), TrainState(), LossSpec("all"), tmp_path)  # type: ignore[arg-type]


def test_default_hooks_order_and_cadences(tmp_path: Path) -> None:
    extra = Hook(4, noop, name="extra")
    hooks = default_hooks(trial(), lambda metrics, checkpoint: None, [extra])
    ours = [(h.name, h.every, h.at_last_step) for h in hooks if h.name in OUR_HOOKS | {"extra"}]
    assert ours == [
        ("divergence", 1, True),
        ("evaluate", 3, True),
        ("held-out divergence", 3, True),
        ("extra", 4, True),
        ("log", 1, True),
        ("checkpoint", 6, False),  # a finished trial's checkpoint is never used
        ("report", 3, True),
    ]
    # The probes of trial.eval (trainers.probes) sit between the divergence check of the
    # evaluation and the caller's extra hooks.
    names = [h.name for h in hooks]
    probes = [i for i, name in enumerate(names) if name not in OUR_HOOKS | {"extra"}]
    assert all(names.index("held-out divergence") < i < names.index("extra") for i in probes)


def test_run_hooks_runs_due_hooks_in_list_order_and_they_share_the_step_info(tmp_path: Path) -> None:
    calls: list[str] = []

    def first(info: StepInfo) -> None:
        calls.append("first")
        info.metrics["x"] = 1.0

    def second(info: StepInfo) -> None:
        calls.append(f"second saw {info.metrics}")

    hooks = [Hook(2, first), Hook(3, lambda info: calls.append("every 3")), Hook(1, second)]
    run = trial_run(tmp_path)
    for step in (1, 2, 3, 12):
        run_hooks(hooks, StepInfo(step, 1.0, 1e-3, run))
    assert calls == ["second saw {}", "first", "second saw {'x': 1.0}", "every 3", "second saw {}",
                     "first", "every 3", "second saw {'x': 1.0}"]


def test_a_finite_step_passes_both_checks(tmp_path: Path) -> None:
    info = StepInfo(3, 2.5, 1e-3, trial_run(tmp_path), metrics={M.VAL_LOSS: 2.0})
    check_training(info)
    check_held_out(info)


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_a_non_finite_train_loss_diverges(tmp_path: Path, loss: float) -> None:
    run = trial_run(tmp_path)
    run.last_metrics = {M.VAL_LOSS: 3.0}
    with pytest.raises(TrialDiverged, match=rf"^diverged: train loss was {loss} at step 7, lr 1000$") as caught:
        check_training(StepInfo(7, loss, 1000.0, run))
    err = caught.value
    assert (err.step, err.lr, err.what) == (7, 1000.0, M.TRAIN_LOSS)
    assert err.last_metrics == {M.VAL_LOSS: 3.0}
    assert math.isnan(err.step_metrics[M.TRAIN_LOSS]) == math.isnan(loss)
    assert err.step_metrics[M.LEARNING_RATE] == 1000.0
    assert err.step_metrics[M.NUM_TOKENS] == 7 * 4 * run.trial.data.seq_len


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_parameter_diverges_even_with_a_finite_loss(tmp_path: Path, bad: float) -> None:
    run = trial_run(tmp_path)
    with torch.no_grad():
        run.model.blocks[0].mlp.out.weight[3, 5] = bad
    with pytest.raises(TrialDiverged, match=r"parameters became non-finite at step 4 \(train loss 2.5\), lr 0.01$") as caught:
        check_training(StepInfo(4, 2.5, 0.01, run))
    assert caught.value.what == "parameters" and caught.value.loss == 2.5


def test_a_non_finite_held_out_loss_diverges_and_its_evaluation_is_kept(tmp_path: Path) -> None:
    evaluation = {M.VAL_LOSS: math.nan, M.TRAIN_LOSS: 1e10, M.ID_ACC: 0.0}
    info = StepInfo(5, 1e10, 900.0, trial_run(tmp_path), metrics=dict(evaluation))
    with pytest.raises(TrialDiverged, match=r"^diverged: val loss was nan at step 5, lr 900$") as caught:
        check_held_out(info)
    assert caught.value.what == M.VAL_LOSS
    assert caught.value.step_metrics.items() >= {M.TRAIN_LOSS: 1e10, M.ID_ACC: 0.0}.items()
    assert math.isnan(caught.value.step_metrics[M.VAL_LOSS])
