"""torch + DeepSpeed: data, the GPT model, the training loop and its hooks, tracking.

Runs one trial without Ray: `run_trial(TrialConfig, report)`. The names below are loaded on
first use, so `from trainers.tracker import TrackingTarget` (or `from trainers import
TrackingTarget`) does not import torch: the driver and the analysis CLI stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.hooks import Hook, StepInfo, TrialDiverged, TrialRun
    from trainers.loop import default_hooks
    from trainers.loop import TrialResult, run_trial, train_step
    from trainers.optim import LossSpec
    from trainers.tracker import InMemoryTracker, MlflowTracker, Tracker, TrackingTarget

# public name → the module that defines it
_HOMES = {
    "Hook": "trainers.hooks",
    "StepInfo": "trainers.hooks",
    "TrialDiverged": "trainers.hooks",
    "TrialRun": "trainers.hooks",
    "default_hooks": "trainers.loop",
    "TrialResult": "trainers.loop",
    "run_trial": "trainers.loop",
    "train_step": "trainers.loop",
    "LossSpec": "trainers.optim",
    "InMemoryTracker": "trainers.tracker",
    "MlflowTracker": "trainers.tracker",
    "Tracker": "trainers.tracker",
    "TrackingTarget": "trainers.tracker",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'trainers' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
