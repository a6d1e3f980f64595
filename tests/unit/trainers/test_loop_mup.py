"""A real (tiny, CPU, no Ray) trial trained with μP's per-group lr (`optim.mup_d_model_ref`) and
with embeddings exempt from decay, through `run_trial` and the DeepSpeed engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs import metrics as M
from tests.unit.trainers.test_loop import no_figures, run, tiny_trial  # noqa: F401  (no_figures: a fixture)
from trainers import Hook, StepInfo


@pytest.mark.usefixtures("no_figures")
def test_a_trial_trains_with_mup_on_and_every_group_follows_the_schedule_times_its_scale(tmp_path: Path) -> None:
    seen: list[tuple[float, list[tuple[float, float]]]] = []

    def groups(info: StepInfo) -> None:
        seen.append((info.lr, sorted((g["lr"], g["lr_scale"]) for g in info.run.engine.optimizer.param_groups)))

    width = {"model": {"n_layer": 1, "n_head": 1, "d_model": 32, "d_ff": 128}}
    mup = tiny_trial(**width, optim={"mup_d_model_ref": 16, "decay_embeddings": False})
    result, tracker, _ = run(mup, tmp_path / "mup", extra_hooks=[Hook(every=5, fn=groups)])
    losses = tracker.history[M.TRAIN_LOSS]
    # Untrained ≈ ln 128 = 4.85 nats; as in test_loop's test_train_loss_falls, 30 steps learn at
    # least the answer distribution (observed drop with μP on, hidden matrices at lr/2: 0.68 nats; 0.65 without).
    assert (losses[5] + losses[10]) / 2 - (losses[25] + losses[30]) / 2 > 0.3, losses
    assert result.steps_run == 30 and tracker.status == "FINISHED"
    assert tracker.params["optim.mup_d_model_ref"] == 16 and tracker.params["optim.decay_embeddings"] is False
    # Every step's groups: hidden and output matrices at lr · 16/32, the rest at the schedule's lr.
    assert len(seen) == 6
    for lr, pairs in seen:
        assert pairs == [(pytest.approx(lr / 2), 0.5), (pytest.approx(lr), 1.0), (pytest.approx(lr), 1.0)]
    plain = tiny_trial(**width)
    _, plain_tracker, _ = run(plain, tmp_path / "plain")
    assert plain_tracker.history[M.TRAIN_LOSS][30] != losses[30]  # the scales reached the updates
    assert plain.trial_id != mup.trial_id
