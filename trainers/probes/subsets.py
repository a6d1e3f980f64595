"""The fixed held-out subset every probe reads, and the mean loss over it.

A probe compares the model with itself under a perturbation, so all its evaluations (clean
and perturbed, at every step) use the same sequences: per domain, `eval.probe_examples`
rows drawn once per trial from (trial seed, `eval.probe_seed`). The losses are those of
`trainers.evaluate` (same batching, same summed cross-entropy, same domain weights as
`val/loss`), only on fewer sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from trainers.data.tasks import EvalSet, TaskData
from trainers.evaluate import _summed_loss, _weighted_mean  # one loss definition for eval and probes
from trainers.model import GPT


def seed_of(*parts: int) -> int:
    """A 63-bit seed from integer parts (trial seed, probe seed, step, draw, probe id)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, np.uint64)[0] >> np.uint64(1))


def draw_subset(data: EvalSet, num_examples: int, seed: int) -> EvalSet:
    """`num_examples` rows of `data` (all of them if it has fewer), in a seeded random order."""
    if len(data.inputs) <= num_examples:
        return data
    rows = np.sort(np.random.default_rng(seed).choice(len(data.inputs), num_examples, replace=False))
    return EvalSet(data.inputs[rows], data.targets[rows])


class ProbeSubsets:
    """Per-domain probe subsets of one trial's task, drawn on first use and kept.

    The hooks are built before the task exists (`default_hooks` sees only the config), so
    the subsets are drawn at the first probe from `run.task` and reused for the trial.
    """

    def __init__(self, num_examples: int, seed: int) -> None:
        self.num_examples, self.seed = num_examples, seed
        self._task: TaskData | None = None
        self._subsets: dict[str, EvalSet] = {}

    def of(self, task: TaskData) -> dict[str, EvalSet]:
        """The subsets of `task`'s domains (drawn once per task object)."""
        if self._task is not task:
            self._subsets = {
                name: draw_subset(data, self.num_examples, seed_of(self.seed, i))
                for i, (name, data) in enumerate(task.domains.items())
            }
            self._task = task
        return self._subsets


def domain_losses(model: GPT, task: TaskData, sets: dict[str, EvalSet], device: str) -> dict[str, float]:
    """Mean cross-entropy (nats/token) of `model` on each domain's set."""
    losses = {}
    for name, data in sets.items():
        total, _ = _summed_loss(model, data, task.loss_on, device, task.vocab_size)
        losses[name] = total / data.targets.size
    return losses


def mean_loss(model: GPT, task: TaskData, sets: dict[str, EvalSet], device: str) -> float:
    """The `val/loss` average (task domain weights) of the per-domain losses on `sets`."""
    return _weighted_mean(domain_losses(model, task, sets, device), task.domain_weights)


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """The model in eval mode inside the block; its previous mode is restored on exit."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
