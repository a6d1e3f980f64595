"""How each trial of a driver session ended, and the one summary line the driver prints.

Tune counts a diverged trial as a success (it returns normally so Ray does not retry it),
and a trial stopped by Ctrl-C as neither; this module tells the four apart from each
trial's last report and error, so a sweep at lr 1000 no longer ends "0 failed trials".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs import metrics as M

FINISHED, DIVERGED, FAILED, KILLED = "finished", "diverged", "failed", "killed"
OUTCOMES = (FINISHED, DIVERGED, FAILED, KILLED)
DIVERGED_FLAG = "diverged"
"""Key of the flag in a diverged trial's last Ray report (see `cluster.trainable`)."""


@dataclass(frozen=True)
class TrialOutcome:
    """One trial's end: `outcome` is one of `OUTCOMES`; `reason` says why it is not finished."""

    name: str
    outcome: str
    reason: str = ""


def classify(name: str, metrics: dict[str, Any], error: BaseException | None, num_steps: int) -> TrialOutcome:
    """The outcome of a trial from its last report (`metrics`), its error and its planned steps.

    A trial without error that never reached `num_steps` was stopped (Ctrl-C, SIGTERM): killed.
    """
    if error is not None:
        return TrialOutcome(name, FAILED, f"{type(error).__name__}: {_first_line(error)}")
    step = int(metrics.get("step", 0) or 0)
    if metrics.get(DIVERGED_FLAG):
        loss, lr = metrics.get(M.TRAIN_LOSS), metrics.get(M.LEARNING_RATE)
        parts = [f"diverged at step {step}"]
        if loss is not None:
            parts.append(f"train loss {_number(loss)}")
        if lr is not None:
            parts.append(f"lr {float(lr):g}")
        return TrialOutcome(name, DIVERGED, ", ".join(parts))
    if step < num_steps:
        return TrialOutcome(name, KILLED, f"stopped at step {step} of {num_steps}")
    return TrialOutcome(name, FINISHED)


def summary_lines(outcomes: list[TrialOutcome]) -> list[str]:
    """`4 trials: 3 finished, 1 diverged, 0 failed, 0 killed`, then one line per other trial."""
    counts = Counter(o.outcome for o in outcomes)
    head = f"{len(outcomes)} trials: " + ", ".join(f"{counts[k]} {k}" for k in OUTCOMES)
    return [head, *(f"  {o.name}: {o.reason}" for o in outcomes if o.outcome != FINISHED)]


def outcomes_of(results: Any) -> list[TrialOutcome]:
    """Outcomes of a Tune `ResultGrid`; a trial's folder is named after its run (`cluster.sweep`)."""
    return [classify(Path(r.path).name, r.metrics or {}, r.error, int(r.config["trial"]["train"]["num_steps"]))
            for r in results]


def _number(value: Any) -> str:
    value = float(value)
    return str(value) if not math.isfinite(value) else f"{value:.3g}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[-1][:200] if text else ""
