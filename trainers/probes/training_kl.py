"""Training stability: how much the model's predictions still change between probes.

At every probe the hook computes, per domain, the predictive distribution p_t at a fixed set
of scored positions of the probe subset (the first sequences of it, up to
`eval.training_kl_positions` positions), and logs the mean KL(p_prev ‖ p_now) against the
previous probe's (`stability/training_kl/<domain>`, nats; the first probe's is against the
untrained model at step 0). Small values mean further
training no longer changes what the model predicts — a second, training-time reading of
"stable" beside φ's robustness to perturbations.

Only the previous probe's log-probabilities are kept (positions × vocab floats per domain).
After a resume they are rebuilt from the restored model when the checkpoint's step is a
probe step (`Hook.start`), so the resumed run logs what an uninterrupted one would; a
checkpoint between probes leaves the first probe after the resume without a KL.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from configs import TrialConfig
from configs import metrics as M
from trainers.data.tasks import EvalSet, TaskData
from trainers.hooks import Hook, StepInfo, TrialRun
from trainers.model import GPT
from trainers.probes.subsets import ProbeSubsets, eval_mode


@torch.no_grad()
def log_predictions(model: GPT, data: EvalSet, loss_on: str, device: str, max_positions: int) -> torch.Tensor:
    """log p at the scored positions of `data`'s first sequences: (positions, vocab), fp32, CPU."""
    per_row = 1 if loss_on == "last" else data.inputs.shape[1]
    rows = max(1, min(len(data.inputs), math.ceil(max_positions / per_row)))
    x = torch.from_numpy(data.inputs[:rows]).to(device)
    logits = model(x, last_only=loss_on == "last")  # (rows, vocab) or (rows, T, vocab)
    return F.log_softmax(logits.float().reshape(-1, logits.shape[-1]), dim=-1).cpu()


def mean_kl(previous: torch.Tensor, now: torch.Tensor) -> float:
    """Mean over positions of KL(p_prev ‖ p_now) = Σ_v p_prev (log p_prev − log p_now), nats."""
    p = previous.exp()
    terms = torch.where(p > 0, p * (previous - now), torch.zeros_like(p))  # 0·log 0 = 0
    return float(terms.sum(-1).mean())


class TrainingKL:
    """The hook body and its start function; holds the previous probe's log-probabilities."""

    def __init__(self, every: int, max_positions: int, subsets: ProbeSubsets) -> None:
        self.every, self.max_positions, self.subsets = every, max_positions, subsets
        self.previous: dict[str, torch.Tensor] | None = None

    def _predict(self, run: TrialRun) -> dict[str, torch.Tensor]:
        task: TaskData = run.task
        with eval_mode(run.model):
            return {d: log_predictions(run.model, data, task.loss_on, run.device, self.max_positions)
                    for d, data in self.subsets.of(task).items()}

    def start(self, run: TrialRun) -> None:
        """Predictions at the start: of the untrained model (the first probe's KL is from step 0),
        or of the restored one when resuming at a probe step."""
        if run.state.step % self.every == 0:
            self.previous = self._predict(run)

    def probe(self, info: StepInfo) -> None:
        now = self._predict(info.run)
        if self.previous is not None:
            info.metrics.update({M.training_kl_key(d): mean_kl(self.previous[d], now[d]) for d in now})
        self.previous = now


def training_kl_hook(trial: TrialConfig, subsets: ProbeSubsets) -> list[Hook]:
    """The training-KL hook at `eval.training_kl_every` (default: every evaluation), or none."""
    every = trial.eval.cadence(trial.eval.training_kl_every, trial.train.eval_every)
    if not every:
        return []
    kl = TrainingKL(every, trial.eval.training_kl_positions, subsets)
    return [Hook(every, kl.probe, name="training_kl", start=kl.start)]
