"""Where an unfinished trial resumes from, whichever of the two resume mechanisms holds it.

A one-worker trial's checkpoints live in the Tune trial folders of each driver session
(`<sweep>/session-NNN/<run name>/checkpoint_*`); the newest complete one over all sessions is
handed to the trial (`TrialLaunch.resume`). A multi-worker trial's live in its Ray Train run
folder (`<sweep>/train/<run name>/checkpoint_*`), which Ray Train resumes by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cluster.multiworker import TRAIN_FOLDER
from cluster.session import checkpoint_step
from cluster.session import latest_checkpoint as latest_session_checkpoint
from configs import TrialConfig
from configs.runs import run_name


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint a trial continues from."""

    path: Path
    step: int | None  # None where the folder does not say (a merged Ray Train checkpoint)
    handed_over: bool  # True: the driver passes `path` to the trial; False: Ray Train finds it itself


def latest_checkpoint(sweep_dir: Path, trial: TrialConfig, workers_per_trial: int = 1) -> ResumePoint | None:
    """The checkpoint `trial` resumes from in the next session, or None (it starts at step 0).

    `workers_per_trial` (the sweep's `resources.workers_per_trial`) says which mechanism holds it.
    """
    name = run_name(trial)
    if workers_per_trial == 1:
        found = latest_session_checkpoint(sweep_dir, name)
        return ResumePoint(found[0], found[1], handed_over=True) if found is not None else None
    train = sorted((p for p in (sweep_dir / TRAIN_FOLDER / name).glob("checkpoint_*") if p.is_dir()),
                   key=lambda p: p.stat().st_mtime)
    return ResumePoint(train[-1], checkpoint_step(train[-1]), handed_over=False) if train else None
