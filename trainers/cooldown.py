"""Cool-down branches of a `wsd` trial: several (N, D) points from one run per model size.

A `wsd` run (trainers/schedule.py) holds its peak lr between warm-up and a final decay. At
each fraction f of `train.cooldowns` the cool-down hook, at the step where a branch leaves the
stable phase, saves the full training state, trains a short branch whose lr decays as the
final decay of a `wsd` run of e = round(f·num_steps) steps would, evaluates it, logs it as a
run of its own, restores the state and lets the main run continue.

Design (the one rule lives in `TrialConfig.cooldown_branches`):

* **A branch is a shorter wsd run.** The branch ending at step e decays over its last
  k = round(`optim.cooldown_fraction`·e) steps, so it starts at step e − k; until then the
  main run and a standalone `wsd` trial of e steps take the very same steps (same lr, same
  batches: data is a function of the step). So the branch *is* that shorter run, its D is
  exactly f·D of the parent, and a WSD ladder's (N, D) points match a cosine grid over
  num_steps. (The issue's sketch decays over a share of the branch-point steps instead; then
  D would end past the grid point.) The main run decays the same way over its own last
  round(cooldown_fraction·num_steps) steps.
* **C of a branch = the shared prefix + its own decay steps** = `TrialConfig.compute_flops`
  of that e-step run. The branch's weights are the product of all e steps, and this is what a
  run at that D costs when trained on its own, so its point sits on the same C axis as a
  cosine run of equal D. What the *ladder* spends counts the prefix once: `spent_compute_flops`
  (main run + each branch's decay steps) is the figure to compare ladders by.
* **Identity.** A branch run carries the trial tags with its own trial id and config hash,
  the parent's + ``-cd<start step>``, so the driver's finished-hash lookup never counts it as
  its parent and a rerun never confuses the two; `scalinglab.parent_run_id` and
  `scalinglab.cooldown_of_step` link it to the parent. Its params are those of the e-step run
  (`train.num_steps` = e, no cooldowns), so analysis reads it as an ordinary finished trial.
* **Exact restore.** The state is saved with the trial's own DeepSpeed checkpointing
  (`trainers.checkpoint`: model, optimizer, engine counters, torch/numpy RNG, `TrainState`)
  into a temporary folder and loaded back, so the main trajectory after a branch is
  bit-identical to a run without cool-downs.
* **Resume.** The hook runs before the step's checkpoint, so a crash inside a branch resumes
  from an earlier checkpoint and meets the branch again. A branch whose run already FINISHED
  (found by its config-hash tag) is skipped; an unfinished one is reopened (the tracker's
  resume contract drops steps it already holds), so a branch is neither lost nor duplicated.
  With several workers only rank 0 can look the branch up, so the skip is decided there and
  agreed by all (`_skip_on_every_worker`): every worker runs the branch or none does.

Branch runs log the size metrics at step 0 and one evaluation (every held-out metric, the
branch's mean train loss, lr, D and C) at step e. The probes of `trial.eval` and the end-of-run
figures are not run on branches.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

from configs import TrialConfig
from configs import metrics as M
from configs import runs
from trainers.batches import next_batch
from trainers.checkpoint import TrainState, load_checkpoint, save_checkpoint
from trainers.distributed import all_workers, is_logging_rank
from trainers.evaluate import evaluate
from trainers.hooks import Hook, StepInfo, TrialRun, progress_metrics
from trainers.schedule import lr_at
from trainers.train_step import train_step
from trainers.lifecycle import open_branch_tracker
from trainers.tracker import DESCRIPTION_TAG, MlflowTracker, Tracker, log_run_setup


def branch_suffix(start: int) -> str:
    """What a branch appends to its parent's trial id, config hash and run name."""
    return f"-cd{start}"


def branch_trial(trial: TrialConfig, end: int) -> TrialConfig:
    """The config a branch ending at step `end` stands for: the same trial, `end` steps, no cool-downs."""
    tree = trial.model_dump(mode="json")
    tree["train"].update(num_steps=end, cooldowns=[])
    return TrialConfig.model_validate(tree)


def branch_tags(trial: TrialConfig, start: int, parent_run_id: str) -> dict[str, str]:
    """Every tag a branch run carries: the trial tags with its own id and hash, plus the parent links."""
    suffix = branch_suffix(start)
    return {
        **runs.trial_tags(trial),
        M.TAG_TRIAL_ID: trial.trial_id + suffix,
        M.TAG_CONFIG_HASH: trial.config_hash + suffix,
        M.TAG_PARENT_RUN_ID: parent_run_id,
        M.TAG_COOLDOWN_OF_STEP: str(start),
    }


def spent_compute_flops(trial: TrialConfig) -> float:
    """FLOPs a trial really spends: its own C plus the decay steps of each cool-down branch.

    A branch's logged C also counts the prefix it shares with the main run; that prefix is
    trained once, so a ladder's total is the sum of this over its trials.
    """
    per_step = trial.compute_flops / trial.train.num_steps
    return trial.compute_flops + sum((end - start) * per_step for start, end in trial.cooldown_branches)


def cooldown_hooks(trial: TrialConfig) -> list[Hook]:
    """The cool-down hook of a `wsd` trial with `train.cooldowns`, else nothing."""
    if trial.optim.schedule != "wsd" or not trial.train.cooldowns:
        return []
    return [Hook(1, CooldownBranches(trial), at_last_step=False, name="cool-down branches")]


class CooldownBranches:
    """Hook body: at each branch's start step, run and log the branch, then restore the state."""

    def __init__(self, trial: TrialConfig) -> None:
        self.ends = {start: end for start, end in trial.cooldown_branches}

    def __call__(self, info: StepInfo) -> None:
        end = self.ends.get(info.step)
        if end is None:
            return
        run = info.run
        branch = branch_trial(run.trial, end)
        tags = branch_tags(run.trial, info.step, run.tracker.run_id)
        trial_name = run.tracker.run_name if isinstance(run.tracker, MlflowTracker) else runs.run_name(run.trial)
        tracker = open_branch_tracker(run.tracker, trial_name + branch_suffix(info.step), tags)
        if _skip_on_every_worker(tracker is None):
            return  # logged by an earlier attempt of this trial
        assert tracker is not None  # rank 0 found no finished run, so it opened one
        with tempfile.TemporaryDirectory(prefix=f"cooldown{info.step}-", dir=run.checkpoint_root) as saved:
            save_checkpoint(run.engine, Path(saved), run.state)
            try:
                finite = _log_branch(run, branch, tracker, tags, info.step)
            except Exception:
                tracker.finish("FAILED")  # the parent fails too; its retry reopens this run
                raise
            except BaseException:
                tracker.finish("KILLED")
                raise
            finally:
                _restore(run, load_checkpoint(run.engine, Path(saved)))
        # A diverged branch is FAILED and tagged; the main run, restored, goes on.
        tracker.finish("FINISHED" if finite else "FAILED")


def _skip_on_every_worker(finished_here: bool) -> bool:
    """Rank 0's answer to "did this branch already finish?", agreed by every worker.

    Only rank 0 sees the tracking store; the other workers' in-memory trackers never hold a
    finished branch. A branch trains with collectives (gradient all-reduce, checkpoint
    barriers), so if rank 0 skipped it alone the workers would pair mismatched collectives
    (a deadlock or silently wrong steps). The other ranks vote True, so the MIN is rank 0's.
    """
    return all_workers(finished_here if is_logging_rank() else True)


def _log_branch(run: TrialRun, branch: TrialConfig, tracker: Tracker, tags: dict[str, str], start: int) -> bool:
    """Set up the branch run, train from `start` to its end, log its evaluation; False if non-finite."""
    log_run_setup(tracker, branch.flat_params(), tags)
    tracker.log_metrics(_size_metrics(branch, run), step=0)
    values = _train_branch(run, start, branch.train.num_steps)
    tracker.log_metrics(values, branch.train.num_steps)
    if math.isfinite(values[M.TRAIN_LOSS]) and math.isfinite(values.get(M.VAL_LOSS, 0.0)):
        return True
    tracker.set_tags({M.TAG_OUTCOME: runs.OUTCOME_DIVERGED,
                      DESCRIPTION_TAG: f"diverged: non-finite loss in the cool-down branch from step {start}"})
    return False


def _train_branch(run: TrialRun, start: int, end: int) -> dict[str, float]:
    """Steps start..end−1 on the `end`-step wsd schedule; the evaluation at `end`."""
    trial, losses, lr = run.trial, [], 0.0
    for step in range(start, end):
        batch = next_batch(run.task, step, trial.train.batch_size, trial.seed)
        lr = lr_at(step, trial.optim, end)
        losses.append(train_step(run.engine, batch, lr, run.layout, run.loss))
    values = evaluate(run.model, run.task, run.device)
    values[M.TRAIN_LOSS] = sum(losses) / len(losses)
    values.update(progress_metrics(trial, end, lr, schedule_steps=end))
    return values


def _size_metrics(branch: TrialConfig, run: TrialRun) -> dict[str, float]:
    values = {M.NUM_PARAMS: float(branch.num_params), M.TOTAL_TOKENS: float(branch.num_tokens),
              M.TOTAL_FLOPS: float(branch.compute_flops)}
    if run.task.entropy_floor is not None:
        values[M.ENTROPY_FLOOR] = run.task.entropy_floor
    return values


def _restore(run: TrialRun, saved: TrainState) -> None:
    # In place: the loop holds a reference to `run.state`.
    for item in dataclasses.fields(TrainState):
        setattr(run.state, item.name, getattr(saved, item.name))



