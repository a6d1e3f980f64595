"""`run_trial` end to end on CPU through the real DeepSpeed engine (trainers/loop.py).

Every run shares the process's one gloo process group; the first test pays DeepSpeed's
start-up (a few seconds), later ones well under a second each.
"""

from __future__ import annotations

import math
import tempfile
from contextlib import nullcontext as does_not_raise
from pathlib import Path
from typing import Any

import pytest
import torch

from configs import TrialConfig
from configs import metrics as M
from configs import runs
from trainers import Hook, InMemoryTracker, StepInfo, TrialDiverged, TrialResult, run_trial
from trainers.tracker import DESCRIPTION_TAG


def tiny_trial(**sections: dict[str, Any]) -> TrialConfig:
    """gpt_debug-sized model on a small anchor dataset; `sections` update the defaults."""
    tree: dict[str, dict[str, Any]] = {
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 512, "num_test": 128},
        "optim": {"lr": 1e-2, "warmup_steps": 3},
        "train": {"num_steps": 30, "batch_size": 32, "eval_every": 5, "checkpoint_every": 30},
    }
    for name, values in sections.items():
        tree[name] = {**tree[name], **values}
    return TrialConfig.model_validate(tree)


class Recorder:
    """A `report` callable that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, float], Path | None]] = []

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        self.calls.append((dict(metrics), checkpoint))

    @property
    def checkpoints(self) -> dict[int, Path]:
        return {int(m["step"]): c for m, c in self.calls if c is not None}


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the end-of-run matplotlib figures (~0.5 s a run); one test keeps them."""
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])


def run(trial: TrialConfig, tmp_path: Path, **kwargs: Any) -> tuple[TrialResult, InMemoryTracker, Recorder]:
    tracker, recorder = InMemoryTracker(), Recorder()
    result = run_trial(trial, recorder, tracking=tracker, checkpoint_root=tmp_path / "ckpt", **kwargs)
    return result, tracker, recorder


def test_train_loss_falls(tmp_path: Path) -> None:
    trial = tiny_trial()
    result, tracker, recorder = run(trial, tmp_path)
    losses = tracker.history[M.TRAIN_LOSS]
    assert sorted(losses) == [5, 10, 15, 20, 25, 30]
    first, last = (losses[5] + losses[10]) / 2, (losses[25] + losses[30]) / 2
    # Untrained, the loss is ≈ ln 128 = 4.85 nats or more; 30 steps at lr 1e-2 learn at
    # least the answer distribution (observed drop ≈ 0.65 nats).
    assert first - last > 0.3, losses
    assert result.steps_run == 30 and tracker.status == "FINISHED"
    assert [int(m["step"]) for m, _ in recorder.calls] == [5, 10, 15, 20, 25, 30]
    assert recorder.checkpoints == {}  # checkpoint_every = num_steps: the last step is not saved
    assert recorder.calls[-1][0] == {"step": 30.0, **result.final}
    # Run-level sizes at step 0, planned for the whole run.
    assert tracker.history[M.NUM_PARAMS] == {0: 3_312.0}
    assert tracker.history[M.TOTAL_TOKENS] == {0: 30 * 32 * 9}
    assert tracker.history[M.TOTAL_FLOPS] == {0: float(trial.compute_flops)}
    # Every evaluation logs the distortion vector, the task metrics and progress.
    for key in (M.VAL_LOSS, M.distortion_key("id"), M.distortion_key("ood"), M.ID_ACC, M.OOD_ACC,
                M.OOD_ACC_BEST, M.PARAM_NORM, M.EFFECTIVE_NEURONS, M.LEARNING_RATE, M.NUM_TOKENS):
        assert sorted(tracker.history[key]) == [5, 10, 15, 20, 25, 30], key
    assert tracker.history[M.NUM_TOKENS][30] == 30 * 32 * 9
    assert tracker.history[M.COMPUTE_FLOPS][30] == pytest.approx(trial.compute_flops)
    # Throughput at every evaluation: FLOP/s is tokens/s times C / D; no MFU on a CPU.
    for step in (5, 10, 15, 20, 25, 30):
        rate = tracker.history[M.TOKENS_PER_S][step]
        assert rate > 0
        assert tracker.history[M.FLOPS_PER_S][step] == pytest.approx(rate * trial.compute_flops / trial.num_tokens)
    assert M.MFU not in tracker.history
    assert sorted(tracker.artifacts) == ["embedding_pca.png", M.TRIAL_CONFIG_ARTIFACT, "wq_cosine.png"]
    # Identity comes from configs.runs; params are the flattened config.
    assert tracker.tags == runs.trial_tags(trial)
    assert tracker.params == trial.flat_params()


@pytest.mark.usefixtures("no_figures")
def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    sections = {"train": {"num_steps": 40, "eval_every": 10, "checkpoint_every": 40}}
    straight, straight_log, _ = run(tiny_trial(**sections), tmp_path / "a")

    checkpointed = tiny_trial(train={"num_steps": 40, "eval_every": 10, "checkpoint_every": 20})
    first, first_log, recorder = run(checkpointed, tmp_path / "b")
    assert sorted(recorder.checkpoints) == [20]  # step 40 is the last step: not saved
    checkpoint = recorder.checkpoints[20]
    resumed, resumed_log, resumed_recorder = run(checkpointed, tmp_path / "c", resume_from=checkpoint)

    # Same trajectory: a checkpoint does not perturb training, and resuming restores it.
    timing = set(M.TIMING_METRICS)
    for result in (first, resumed):
        assert result.final.keys() == straight.final.keys()
        for key in straight.final.keys() - timing:
            torch.testing.assert_close(result.final[key], straight.final[key], rtol=0, atol=0, msg=key)
    # The resumed run logs exactly the remaining steps, with the uninterrupted values.
    assert resumed.steps_run == 20
    assert [int(m["step"]) for m, _ in resumed_recorder.calls] == [30, 40]
    assert sorted(resumed_log.history[M.TRAIN_LOSS]) == [30, 40]
    after_checkpoint = {k: {s: v for s, v in h.items() if s > 20} for k, h in straight_log.history.items()}
    assert resumed_log.history.keys() == {k for k, h in after_checkpoint.items() if h}
    for key, history in resumed_log.history.items():
        assert history.keys() == after_checkpoint[key].keys(), key  # same steps, none twice
        if key not in timing:
            assert history == after_checkpoint[key], key
    assert M.NUM_PARAMS not in resumed_log.history  # run-level sizes only once, at step 0
    assert resumed_log.tags[M.TAG_RESUMED_FROM_STEP] == "20"
    assert M.TAG_RESUMED_FROM_STEP not in first_log.tags
    assert {k: v for k, v in first_log.history.items() if k not in timing} == {
        k: v for k, v in straight_log.history.items() if k not in timing
    }


@pytest.mark.usefixtures("no_figures")
@pytest.mark.parametrize("num_train", [None, 48], ids=["fresh-batches", "fixed-dataset"])
def test_markov_task_logs_the_entropy_floor(tmp_path: Path, num_train: int | None) -> None:
    trial = tiny_trial(
        data={"task": "markov", "vocab_size": 32, "support": 4, "seq_len": 16, "num_train": num_train,
              "num_test": 64, "num_domains": 2},
        train={"num_steps": 10, "batch_size": 16, "eval_every": 5, "checkpoint_every": 10},
    )
    result, tracker, _ = run(trial, tmp_path)
    (floor,) = tracker.history[M.ENTROPY_FLOOR].values()
    assert 0 < floor < math.log(4) + 0.1  # ≤ ln(support), plus the small backbone mass
    assert sorted(tracker.history[M.TRAIN_LOSS]) == [5, 10]
    for domain in ("lang0", "lang1"):
        assert sorted(tracker.history[M.distortion_key(domain)]) == [5, 10]
    assert result.final[M.VAL_LOSS] == pytest.approx(
        (result.final[M.distortion_key("lang0")] + result.final[M.distortion_key("lang1")]) / 2
    )
    assert floor < result.final[M.VAL_LOSS] < 2 * math.log(32)
    assert M.ID_ACC not in result.final  # anchor-only metrics
    assert tracker.history[M.NUM_TOKENS][10] == 10 * 16 * 16


@pytest.mark.usefixtures("no_figures")
def test_gradient_accumulation_matches_the_full_batch(tmp_path: Path) -> None:
    sections = {"num_steps": 10, "batch_size": 32, "eval_every": 5, "checkpoint_every": 10}
    full, full_log, _ = run(tiny_trial(train=sections), tmp_path / "full")
    accum, accum_log, _ = run(tiny_trial(train={**sections, "micro_batch_size": 8}), tmp_path / "accum")
    assert accum.steps_run == 10
    # Four micro-batches of 8 average to the gradient of one batch of 32; only float
    # summation order differs.
    for key in (M.TRAIN_LOSS, M.VAL_LOSS, M.PARAM_NORM):
        for step in (5, 10):
            assert accum_log.history[key][step] == pytest.approx(full_log.history[key][step], rel=1e-4), (key, step)


@pytest.mark.usefixtures("no_figures")
def test_failure_marks_the_run_failed_and_propagates(tmp_path: Path) -> None:
    tracker = InMemoryTracker()

    def broken_report(metrics: dict[str, float], checkpoint: Path | None) -> None:
        raise RuntimeError("report failed")

    with pytest.raises(RuntimeError, match="report failed"):
        run_trial(tiny_trial(train={"num_steps": 5, "eval_every": 5, "checkpoint_every": 5}), broken_report,
                  tracking=tracker, checkpoint_root=tmp_path)
    assert tracker.status == "FAILED"


# --- hooks a caller adds -----------------------------------------------------------------


@pytest.mark.usefixtures("no_figures")
def test_extra_hooks_run_at_their_cadence_and_their_metrics_are_logged(tmp_path: Path) -> None:
    seen: list[tuple[int, bool]] = []

    def probe(info: StepInfo) -> None:
        seen.append((info.step, info.is_last))
        info.metrics["probe/step"] = float(info.step)

    def not_at_end(info: StepInfo) -> None:
        seen.append((-info.step, info.is_last))

    hooks = [Hook(every=4, fn=probe), Hook(every=10, fn=not_at_end, at_last_step=False)]
    trial = tiny_trial(train={"num_steps": 30, "eval_every": 5, "checkpoint_every": 30})
    tracker, recorder = InMemoryTracker(), Recorder()
    run_trial(trial, recorder, tracking=tracker, checkpoint_root=tmp_path, extra_hooks=hooks)
    # every=4 and the last step (30); every=10 but not the last step.
    assert seen == [(4, False), (8, False), (-10, False), (12, False), (16, False), (20, False),
                    (-20, False), (24, False), (28, False), (30, True)]
    assert tracker.history["probe/step"] == {s: float(s) for s in (4, 8, 12, 16, 20, 24, 28, 30)}
    # Logged at its own steps; reported to the caller only with an evaluation (20, 30).
    assert sorted(tracker.history[M.TRAIN_LOSS]) == [5, 10, 15, 20, 25, 30]
    reported = {int(m["step"]): m for m, _ in recorder.calls}
    assert sorted(reported) == [5, 10, 15, 20, 25, 30]
    assert reported[20]["probe/step"] == 20.0 and "probe/step" not in reported[25]


# --- how a trial ends: divergence, temporary checkpoint folders ---------------------------


def diverging_trial() -> TrialConfig:
    """lr 1000 on gpt_debug: finite (if huge) losses up to step 9, a NaN loss at step 10."""
    return tiny_trial(optim={"lr": 1000.0, "warmup_steps": 10},
                      train={"num_steps": 30, "eval_every": 5, "checkpoint_every": 5})


@pytest.mark.usefixtures("no_figures")
def test_divergence_stops_the_trial_tags_it_and_names_step_loss_and_lr(tmp_path: Path) -> None:
    tracker, recorder = InMemoryTracker(), Recorder()
    with pytest.raises(TrialDiverged, match=r"^diverged: train loss was (nan|inf) at step 10, lr 1000$") as caught:
        run_trial(diverging_trial(), recorder, tracking=tracker, checkpoint_root=tmp_path)
    err = caught.value
    assert (err.step, err.lr, err.what) == (10, 1000.0, M.TRAIN_LOSS) and not math.isfinite(err.loss)
    assert tracker.status == "FAILED"
    assert tracker.tags[M.TAG_OUTCOME] == runs.OUTCOME_DIVERGED
    assert tracker.tags[DESCRIPTION_TAG] == str(err)
    # The non-finite loss and its lr are logged at the step it happened, after the last
    # (finite) evaluation at step 5, which the error carries for the caller.
    assert sorted(tracker.history[M.TRAIN_LOSS]) == [5, 10]
    assert not math.isfinite(tracker.history[M.TRAIN_LOSS][10])
    assert tracker.history[M.LEARNING_RATE][10] == 1000.0
    assert tracker.history[M.NUM_TOKENS][10] == 10 * 32 * 9
    assert [int(m["step"]) for m, _ in recorder.calls] == [5]
    assert err.last_metrics == {k: v for k, v in recorder.calls[0][0].items() if k != "step"}
    assert err.last_metrics == {k: tracker.history[k][5] for k in err.last_metrics}
    assert all(math.isfinite(v) for v in err.last_metrics.values())
    assert sorted(tracker.history[M.VAL_LOSS]) == [5]


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point `tempfile` at `tmp_path`, so the default checkpoint root lands there."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def fail_at_step_10(metrics: dict[str, float], checkpoint: Path | None) -> None:
    if metrics["step"] == 10:
        raise RuntimeError("worker lost")


@pytest.mark.usefixtures("no_figures")
@pytest.mark.parametrize("ending", ["finished", "failed", "diverged"])
def test_the_temporary_checkpoint_folder_is_removed_however_the_trial_ends(private_tmp: Path, ending: str) -> None:
    trial = diverging_trial() if ending == "diverged" else tiny_trial(
        train={"num_steps": 20, "eval_every": 5, "checkpoint_every": 5})
    folders: list[Path] = []

    def report(metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is not None:
            assert checkpoint.parent.name.startswith("scalinglab-ckpt-")
            folders.append(checkpoint.parent)
        if ending == "failed":
            fail_at_step_10(metrics, checkpoint)

    expected = {"finished": does_not_raise(), "failed": pytest.raises(RuntimeError, match="worker lost"),
                "diverged": pytest.raises(TrialDiverged)}[ending]
    with expected:
        run_trial(trial, report, tracking=InMemoryTracker())
    assert folders, "a checkpoint was written into the temporary root"
    assert not list(private_tmp.glob("scalinglab-ckpt-*"))


@pytest.mark.usefixtures("no_figures")
def test_a_given_checkpoint_root_is_kept_and_caller_tags_are_set(tmp_path: Path) -> None:
    trial = tiny_trial(train={"num_steps": 10, "eval_every": 5, "checkpoint_every": 5})
    _, tracker, recorder = run(trial, tmp_path, tags={M.TAG_NODE_ID: "node-a"})
    assert recorder.checkpoints[5].parent == tmp_path / "ckpt" and recorder.checkpoints[5].is_dir()
    assert tracker.tags == {**runs.trial_tags(trial), M.TAG_NODE_ID: "node-a"}
