"""Which training examples go into which step: a pure function of (step, seed).

Keeping the data order a function of the step makes the "data position" of a checkpoint
just its step number, and a resumed run sees exactly the batches an uninterrupted one would.
`next_batch` is the loop's one call for a training batch, whatever the task.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from trainers.data.tasks import EvalSet, TaskData, sample_fresh


@functools.lru_cache(maxsize=4)  # one permutation serves num_examples/B steps
def _epoch_permutation(num_examples: int, epoch: int, seed: int) -> npt.NDArray[np.int64]:
    return np.random.default_rng([seed, 3, epoch]).permutation(num_examples)


def batch_indices(step: int, batch_size: int, num_examples: int, seed: int) -> npt.NDArray[np.int64]:
    """Indices of the examples in optimizer step `step` (0-based).

    The index stream is the concatenation of one fresh permutation per epoch; step s takes
    positions [s·B, (s+1)·B) of it, crossing an epoch boundary when B does not divide n.
    """
    start, stop = step * batch_size, (step + 1) * batch_size
    first_epoch, last_epoch = start // num_examples, (stop - 1) // num_examples
    parts = []
    for epoch in range(first_epoch, last_epoch + 1):
        perm = _epoch_permutation(num_examples, epoch, seed)
        lo = max(start - epoch * num_examples, 0)
        hi = min(stop - epoch * num_examples, num_examples)
        parts.append(perm[lo:hi])
    return np.concatenate(parts)


def next_batch(task: TaskData, step: int, batch_size: int, seed: int) -> EvalSet:
    """The training batch of optimizer step `step` (0-based): the loop's only data call.

    A fixed training set (`task.train`) is read in per-epoch permutations (`batch_indices`);
    without one, fresh sequences are drawn for the step (`trainers.data.tasks.sample_fresh`).
    Both are functions of (step, seed), so a resumed run sees the same batches.
    """
    if task.train is None:
        return sample_fresh(task, step, batch_size, seed)
    idx = batch_indices(step, batch_size, len(task.train.inputs), seed)
    return EvalSet(task.train.inputs[idx], task.train.targets[idx])
