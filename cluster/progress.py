"""Live progress of a sweep: a Tune callback printing one line per event."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from ray.tune import Callback

from cluster.session import record_processes
from cluster.tables import make_console
from configs import metrics as M

# What "best" means in the progress line: higher OOD accuracy, lower held-out loss.
BEST_KEYS = ((M.OOD_ACC, "max"), (M.VAL_LOSS, "min"))
# Module-level: Tune pickles its callbacks with the run config, and a Console holds locks.
CONSOLE = make_console()


class ProgressCallback(Callback):
    """Prints trials done / running / failed (read off Tune's trial list) and the best metrics."""

    def __init__(self, num_trials: int, every_s: float = 10.0, sweep_dir: Path | None = None) -> None:
        self.num_trials = num_trials
        self.sweep_dir = sweep_dir  # where the driver's process record is refreshed
        self.every_s = every_s
        self.best: dict[str, float] = {}
        self._last_print = 0.0
        self._started = time.monotonic()

    def _update_best(self, result: dict[str, Any]) -> None:
        for key, mode in BEST_KEYS:
            if key not in result:
                continue
            value, old = float(result[key]), self.best.get(key)
            if old is None or (value > old if mode == "max" else value < old):
                self.best[key] = value

    def _print(self, trials: list[Any], force: bool = False) -> None:
        if not force and time.monotonic() - self._last_print < self.every_s:
            return
        status = Counter(t.status for t in trials)
        best = "  ".join(f"best {k} {v:.4g}" for k, v in self.best.items())
        CONSOLE.print(
            f"[{time.monotonic() - self._started:6.0f}s] {status['TERMINATED']}/{self.num_trials} done, "
            f"{status['RUNNING']} running, {status['ERROR']} failed  {best}"
        )
        self._last_print = time.monotonic()
        if self.sweep_dir is not None:
            record_processes(self.sweep_dir)  # trial workers started since the last refresh

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
        self._update_best(result)
        self._print(trials)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._print(trials, force=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        CONSOLE.print(f"[red]trial {trial} failed[/red]: see {trial.path}")
        self._print(trials, force=True)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        CONSOLE.print(f"[yellow]trial {trial} failed; Ray retries it from its last checkpoint[/yellow]")
