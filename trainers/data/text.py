"""Real-text training batches and held-out sets, read from the memory-mapped token cache.

A domain's training stream is cut into windows of seq_len + 1 tokens with stride seq_len
(window i = tokens[i·T : i·T + T + 1]; every token but the first is a target exactly once per
pass). Batches mix domains by weight, deterministically and without repetition:

* Which domain each sequence of the run comes from is fixed by stride scheduling: domain d's
  j-th sequence sits at virtual time (j + u_d) / w_d (u_d a seeded offset in [0, 1)), and
  the run's k-th sequence is the k-th smallest time over all domains. So the first k
  sequences hold k·w_d of domain d to within max(1, D − 1) sequences (D domains), for
  every k, and step s's share is a pure function of s: a resumed run draws exactly the
  batches it would have drawn.
* Within a domain, sequences are read through one seeded permutation of its windows per
  epoch: no window repeats before every window has been seen.

Step time stays flat: a step touches only its own B windows of the memory maps.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from configs.data import DataConfig
from trainers.data.text_cache import domain_pool_windows, load_token_bytes, open_for_trial, open_stream

IntArray = npt.NDArray[np.int64]


def windows(stream: npt.NDArray[Any], starts: IntArray, seq_len: int) -> tuple[IntArray, IntArray]:
    """Inputs and next-token targets (n, T) of the windows starting at `starts`."""
    tokens = np.asarray(stream[starts[:, None] + np.arange(seq_len + 1)], dtype=np.int64)  # (n, T+1)
    return np.ascontiguousarray(tokens[:, :-1]), np.ascontiguousarray(tokens[:, 1:])


def first_k_counts(k: int, rates: npt.NDArray[np.float64], offsets: npt.NDArray[np.float64]) -> IntArray:
    """How many of the first `k` scheduled sequences belong to each domain (stride scheduling).

    Domain d's j-th sequence has time (j + offsets[d]) / rates[d]; the first k sequences are
    the k smallest times. Starting from floor(k·rate), single moves fix the count and then
    swap the latest included time for the earliest excluded one until none is later, so the
    result is exactly the k smallest (hence monotone in k: no sequence is ever skipped).
    """
    counts = np.floor(k * rates).astype(np.int64)
    next_time = lambda: (counts + offsets) / rates  # noqa: E731
    last_time = lambda: np.where(counts > 0, (counts - 1 + offsets) / rates, -np.inf)  # noqa: E731
    while counts.sum() < k:
        counts[np.argmin(next_time())] += 1
    while counts.sum() > k:
        counts[np.argmax(last_time())] -= 1
    while True:
        latest, earliest = int(np.argmax(last_time())), int(np.argmin(next_time()))
        if last_time()[latest] <= next_time()[earliest]:
            return counts
        counts[latest] -= 1
        counts[earliest] += 1


@functools.lru_cache(maxsize=16)  # one permutation per (domain, epoch) serves many steps
def _epoch_permutation(num_windows: int, seed: int, domain: int, epoch: int) -> IntArray:
    return np.random.default_rng([seed, 8, domain, epoch]).permutation(num_windows)


def stream_windows(lo: int, hi: int, num_windows: int, seed: int, domain: int) -> IntArray:
    """Window indices at positions [lo, hi) of a domain's stream of per-epoch permutations."""
    if hi <= lo:
        return np.zeros(0, dtype=np.int64)
    parts = []
    for epoch in range(lo // num_windows, (hi - 1) // num_windows + 1):
        perm = _epoch_permutation(num_windows, seed, domain, epoch)
        parts.append(perm[max(lo - epoch * num_windows, 0) : min(hi - epoch * num_windows, num_windows)])
    return np.concatenate(parts)


@dataclass(frozen=True, eq=False)
class TextSampler:
    """Training batches of the text task: a pure function of (step, batch size, seed).

    Attributes:
        streams: each domain's memory-mapped training tokens, in config order.
        num_windows: windows each domain samples from (its share of the pool).
        weights: each domain's share of sequences (sums to 1).
        seq_len: tokens per input sequence T.
    """

    streams: tuple[np.memmap[Any, np.dtype[Any]], ...]
    num_windows: tuple[int, ...]
    weights: tuple[float, ...]
    seq_len: int

    def _offsets(self, seed: int) -> npt.NDArray[np.float64]:
        return np.random.default_rng([seed, 6]).random(len(self.weights))

    def batch(self, step: int, batch_size: int, seed: int) -> tuple[IntArray, IntArray]:
        """Inputs and targets (B, T) of optimizer step `step` (0-based), domains mixed by weight."""
        rates, offsets = np.asarray(self.weights), self._offsets(seed)
        lo = first_k_counts(step * batch_size, rates, offsets)
        hi = first_k_counts((step + 1) * batch_size, rates, offsets)
        inputs, targets = [], []
        for d, stream in enumerate(self.streams):
            if hi[d] > lo[d]:
                idx = stream_windows(int(lo[d]), int(hi[d]), self.num_windows[d], seed, d)
                x, y = windows(stream, idx * self.seq_len, self.seq_len)
                inputs.append(x)
                targets.append(y)
        # Mixed order, so every micro-batch of a gradient-accumulated step sees every domain.
        order = np.random.default_rng([seed, 9, step]).permutation(batch_size)
        return np.concatenate(inputs)[order], np.concatenate(targets)[order]

    def domain_counts(self, step: int, batch_size: int, seed: int) -> IntArray:
        """Sequences of each domain in step `step`'s batch (for tests and diagnostics)."""
        rates, offsets = np.asarray(self.weights), self._offsets(seed)
        return first_k_counts((step + 1) * batch_size, rates, offsets) - first_k_counts(
            step * batch_size, rates, offsets
        )


@dataclass(frozen=True)
class TextData:
    """What the text task hands `build_task`: held-out sets, their byte counts, the sampler."""

    held_out: dict[str, tuple[IntArray, IntArray]]
    held_out_bytes: dict[str, int]
    weights: dict[str, float]
    sampler: TextSampler
    cache_path: Path
    manifest: dict[str, Any]


def load_text_data(data: DataConfig) -> TextData:
    """Open the token cache of `data` (`open_for_trial`: building it first if needed, under its
    lock; the driver's pinned entry if the inputs changed since it was prepared).

    Each held-out set is every window of the domain's held-out stream (at most
    num_test_tokens bytes of whole documents), loaded into memory; its byte count is the sum
    of the bytes its target tokens cover.
    """
    info = open_for_trial(data)
    token_bytes = load_token_bytes(info.path)
    pool = domain_pool_windows(data, info.manifest)
    held_out, held_out_bytes, streams = {}, {}, []
    T = data.seq_len
    for i, domain in enumerate(data.domains):
        test = open_stream(info.path, i, "test", info.manifest)
        starts = np.arange((len(test) - 1) // T, dtype=np.int64) * T
        held_out[domain.name] = windows(test, starts, T)
        held_out_bytes[domain.name] = int(token_bytes[held_out[domain.name][1]].sum())
        streams.append(open_stream(info.path, i, "train", info.manifest))
    weights = data.domain_weights
    sampler = TextSampler(tuple(streams), tuple(pool[d.name] for d in data.domains),
                          tuple(weights[d.name] for d in data.domains), T)
    return TextData(held_out, held_out_bytes, weights, sampler, info.path, info.manifest)
