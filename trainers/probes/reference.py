"""The untrained reference L₀ of the retained-gain φ, measured once per run at step 0.

φ = 1 − (L̃ − L)/(L₀ − L) asks what share of training's gain survives a perturbation, so L₀
must be the loss training started from: the loss of this run's own model at step 0, on the
same probe subset φ reads (`init/probe_loss`), and per domain on the full held-out set
(`init/distortion/<d>`, the rate–distortion probe's reference; `init/val_loss` their
weighted mean). Not ln V (a uniform predictor): a large init (small γ) starts well above
ln V, so ln V would count the first steps' fall from the model's own starting loss as no
gain at all; and with γ-init near zero the two agree anyway.

The values travel in the checkpoint (`TrainState.reference`), so a resumed run keeps the
L₀ it measured before training, which cannot be measured again.
"""

from __future__ import annotations

from configs import TrialConfig
from configs import metrics as M
from trainers.data.tasks import TaskData
from trainers.evaluate import evaluate
from trainers.model import GPT
from trainers.probes.subsets import ProbeSubsets, eval_mode, mean_loss, seed_of


def probe_subsets(trial: TrialConfig) -> ProbeSubsets:
    """The trial's fixed probe subsets (the same rows for L₀, every φ and the training KL)."""
    return ProbeSubsets(trial.eval.probe_examples, seed_of(trial.seed, trial.eval.probe_seed))


def untrained_reference(model: GPT, task: TaskData, trial: TrialConfig, device: str) -> dict[str, float]:
    """`init/probe_loss`, `init/val_loss` and `init/distortion/<d>` of the model as it is now."""
    held_out = evaluate(model, task, device)
    values = {M.init_distortion_key(d): held_out[M.distortion_key(d)] for d in task.domains}
    values[M.INIT_VAL_LOSS] = held_out[M.VAL_LOSS]
    with eval_mode(model):
        values[M.INIT_PROBE_LOSS] = mean_loss(model, task, probe_subsets(trial).of(task), device)
    return values
