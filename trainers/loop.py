"""`run_trial`: train one `TrialConfig` through DeepSpeed, without Ray.

The loop reads top to bottom: build the run, then for each step fetch the batch
(`trainers.batches.next_batch`), take one optimizer step (`train_step`) and run the hooks
that are due (`default_hooks`: divergence check, evaluation, the probes, logging, the
cool-down branches, checkpoint, report — plus any `extra_hooks` a caller passes; the types
are in `trainers.hooks`, the bodies in `trainers.standard_hooks`, `trainers.probes`,
`trainers.cooldown`; `train_step` in `trainers.train_step`, re-exported here). `report(metrics, checkpoint_dir)` is how a caller
(Ray Tune, or a test) hears about progress; it receives a checkpoint directory only on
checkpoint steps.

How a run ends is `trainers.lifecycle`'s (FINISHED last; FAILED, diverged or not; KILLED on
an interrupt), and its guard covers opening the run and the final FINISHED too. A temporary
checkpoint folder is removed in every case.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from configs import TrialConfig
from configs import metrics as M
from configs import runs
from trainers.batches import next_batch
from trainers.checkpoint import TrainState, load_checkpoint
from trainers.data.tasks import TaskData, build_task
from trainers.distributed import full_parameters, held_parameter_share, is_logging_rank, world
from trainers.engine import create_engine, resolve_device
from trainers.cooldown import cooldown_hooks
from trainers.hooks import Hook, Report, StepInfo, TrialRun, run_hooks, start_hooks
from trainers.lifecycle import OpenedRun, ends_run, finish_run, log_text_datasets, open_trial_run
from trainers.probes import probe_hooks
from trainers.standard_hooks import (check_held_out, check_training, evaluate_model, log_metrics, reporter,
                                     save_step_checkpoint)
from trainers.train_step import train_step
from trainers.init_stats import init_metrics
from trainers.model import build_model
from trainers.optim import loss_spec
from trainers.probes.reference import untrained_reference
from trainers.schedule import lr_at
from trainers.tracker import Tracker, TrackingTarget, log_run_setup


@dataclass(frozen=True)
class TrialResult:
    """What a finished trial hands back."""

    run_id: str
    final: dict[str, float]
    steps_run: int  # steps executed by this call (less than num_steps after a resume)


def default_hooks(trial: TrialConfig, report: Report, extra: Sequence[Hook] = ()) -> list[Hook]:
    """The hook list of a trial, in order (docs/architecture.md): checks and evaluation, probes, `extra`, log,
    cool-down branches, checkpoint, report (bodies in `trainers.standard_hooks`).

    The probes of `trial.eval` (`trainers.probes`) follow evaluation and its divergence
    check (no probe runs on a model whose held-out loss is already NaN), before `extra`;
    extra hooks run before logging, so what they add is logged and reported at that step.
    """

    train = trial.train
    return [
        Hook(1, check_training, name="divergence"),
        Hook(train.eval_every, evaluate_model, name="evaluate"),
        Hook(train.eval_every, check_held_out, name="held-out divergence"),
        *probe_hooks(trial),
        *extra,
        Hook(1, log_metrics, name="log"),
        *cooldown_hooks(trial),  # before the checkpoint: a crash in a branch replays it
        Hook(train.checkpoint_every, save_step_checkpoint, at_last_step=False, name="checkpoint"),
        Hook(train.eval_every, reporter(report), name="report"),
    ]


def train(run: TrialRun, hooks: Sequence[Hook]) -> int:
    """Step from `run.state.step` to `train.num_steps`, running due hooks after each step.

    Returns:
        The number of steps this call took.
    """
    trial, state = run.trial, run.state
    start = state.step
    start_hooks(hooks, run)
    while state.step < trial.train.num_steps:
        started = time.perf_counter()
        batch = next_batch(run.task, state.step, trial.train.batch_size, trial.seed)
        lr = lr_at(state.step, trial.optim, trial.train.num_steps)
        loss = train_step(run.engine, batch, lr, run.layout, run.loss)
        state.train_seconds += time.perf_counter() - started
        state.step += 1
        state.loss_sum += loss
        state.loss_count += 1
        run_hooks(hooks, StepInfo(state.step, loss, lr, run))
    return state.step - start


def run_trial(
    trial: TrialConfig,
    report: Report | None = None,
    *,
    tracking: TrackingTarget | Tracker | None = None,
    resume_from: Path | None = None,
    checkpoint_root: Path | None = None,
    extra_hooks: Sequence[Hook] = (),
    tags: dict[str, str] | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
) -> TrialResult:
    """Train `trial` to completion (or resume it from `resume_from`) and return its result.

    Args:
        trial: the fully resolved config.
        report: called after every evaluation with the metrics and, on checkpoint steps,
            the checkpoint directory (ownership passes to the caller; under the default
            temporary root it exists until `run_trial` returns, so copy it in `report`).
        tracking: an MLflow target, an existing Tracker, or None for an in-memory one.
        resume_from: a checkpoint directory written by a previous attempt of this trial.
        checkpoint_root: where checkpoints are written (default: a temporary directory,
            removed when the trial ends however it ends).
        extra_hooks: hooks run after evaluation and before logging (`trainers.hooks`).
        tags: run tags the caller adds on every attempt (e.g. the Ray node that ran it).
        run_name: the MLflow run's name when one is created (default `configs.runs.run_name`;
            a sweep passes its readable name, `configs.runs.readable_run_names`).
        parent_run_id: the run a newly created run is nested under (a sweep session's run).

    Raises:
        TrialDiverged: the loss or a parameter went non-finite (the run is tagged diverged
            and FAILED; retrying would diverge again).
    """
    hooks = default_hooks(trial, report or (lambda metrics, checkpoint: None), extra_hooks)
    with _checkpoint_folder(checkpoint_root) as root, ends_run(OpenedRun()) as opened:
        naming = _Naming(run_name or runs.run_name(trial), parent_run_id)
        run = _start_run(trial, tracking, resume_from, root, tags or {}, opened, naming)
        steps_run = train(run, hooks)
        _store_figures(run)
        finish_run(opened)  # the very last act: every metric and artifact is stored
    return TrialResult(run.tracker.run_id, run.last_metrics, steps_run)


@dataclass(frozen=True)
class _Naming:
    """A new run's name and the run it nests under."""

    run_name: str
    parent_run_id: str | None


@contextmanager
def _checkpoint_folder(given: Path | None) -> Iterator[Path]:
    """`given` (the caller's, kept), or a temporary `scalinglab-ckpt-*` folder removed on exit."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    root = Path(tempfile.mkdtemp(prefix="scalinglab-ckpt-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start_run(
    trial: TrialConfig, tracking: TrackingTarget | Tracker | None, resume_from: Path | None, root: Path,
    tags: dict[str, str], opened: OpenedRun, naming: _Naming,
) -> TrialRun:
    """Data, model, engine, restored state and an open tracked run (handed to `opened` at once)."""
    _configure_torch(trial)
    device = resolve_device()
    task = build_task(trial.data, trial.train, trial.seed)
    model = build_model(trial.model, trial.init, task.vocab_size, task.seq_len, trial.seed)
    measured_init = init_metrics(model)  # before the engine: every weight whole, on every worker
    engine = create_engine(trial, model, device)
    state = load_checkpoint(engine, resume_from) if resume_from else TrainState()
    tracker = opened.tracker = open_trial_run(trial, tracking, state.run_id, resume_from, naming.run_name, naming.parent_run_id)
    state.run_id = tracker.run_id
    resumed = {M.TAG_RESUMED_FROM_STEP: str(state.step)} if resume_from else {}
    log_run_setup(tracker, trial.flat_params(), {**runs.trial_tags(trial), **resumed, **tags})
    log_text_datasets(tracker, trial.data.domains, task.corpus)
    if state.step == 0:
        state.reference = untrained_reference(engine.module, task, trial, device)
        tracker.log_metrics({**_size_metrics(trial, task), **_layout_metrics(engine), **measured_init,
                             **state.reference}, step=0)
    spec = loss_spec(model, trial.optim, task.loss_on)
    return TrialRun(trial, task, engine, device, tracker, state, spec, root)




def _configure_torch(trial: TrialConfig) -> None:
    # Near-zero losses make Adam's second moments subnormal; CPU steps then slow 3–5×.
    torch.set_flush_denormal(True)
    torch.set_num_threads(trial.train.num_threads)


def _size_metrics(trial: TrialConfig, task: TaskData) -> dict[str, float]:
    values = {M.NUM_PARAMS: float(trial.num_params), M.TOTAL_TOKENS: float(trial.num_tokens),
              M.TOTAL_FLOPS: float(trial.compute_flops)}
    if task.entropy_floor is not None:
        values[M.ENTROPY_FLOOR] = task.entropy_floor
    return values


def _layout_metrics(engine: Any) -> dict[str, float]:
    return {M.WORLD_SIZE: float(world()[1]), M.PARAM_SHARE: held_parameter_share(engine.module)}


def _store_figures(run: TrialRun) -> None:
    from trainers.artifacts import write_run_figures  # matplotlib: loaded only when a run ends

    with full_parameters(run.model), tempfile.TemporaryDirectory() as tmp:  # every worker gathers
        if is_logging_rank():
            for path in write_run_figures(run.model, Path(tmp)):
                run.tracker.log_artifact(path)
