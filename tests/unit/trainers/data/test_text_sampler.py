"""Training batches of the text task (trainers/data/text.py, tasks.next_batch)."""

from __future__ import annotations

import numpy as np
import pytest

from configs import TrainConfig
from trainers.batches import next_batch
from trainers.data.tasks import build_task, sample_fresh
from trainers.data.text import first_k_counts, stream_windows


@pytest.mark.parametrize("weights", [[1.0], [1.0, 1.0], [1.0, 1.0, 0.5], [0.7, 0.2, 0.1]])
def test_stride_schedule_is_monotone_and_proportional(weights: list[float]) -> None:
    rates = np.asarray(weights) / sum(weights)
    offsets = np.random.default_rng(0).random(len(weights))
    previous = np.zeros(len(weights), dtype=np.int64)
    for k in range(1, 2000):
        counts = first_k_counts(k, rates, offsets)
        assert counts.sum() == k
        assert ((counts - previous) >= 0).all() and (counts - previous).sum() == 1  # one more sequence
        # Within max(1, D - 1) of the exact share (t_k - k sums D offset errors, each in (-1, 1)).
        assert np.abs(counts - k * rates).max() < max(1, len(weights) - 1) + 1e-9
        previous = counts


def test_large_steps_cost_no_more_than_small_ones() -> None:
    rates, offsets = np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.5, 0.9])
    counts = first_k_counts(10**9, rates, offsets)
    assert counts.sum() == 10**9 and np.abs(counts - 10**9 * rates).max() < 2 + 1e-6


def test_stream_windows_cover_every_window_once_per_epoch() -> None:
    n = 37
    seen = np.concatenate([stream_windows(lo, lo + 10, n, seed=0, domain=0) for lo in range(0, 3 * n, 10)])[: 3 * n]
    for epoch in range(3):
        assert sorted(seen[epoch * n : (epoch + 1) * n]) == list(range(n))
    assert not np.array_equal(seen[:n], seen[n : 2 * n])  # a fresh permutation each epoch


def numbered(corpus, name: str, num_docs: int, start: int = 0) -> str:
    """A folder whose documents count upwards, so no two windows of its stream are equal."""
    root = corpus.tmp_path / name
    root.mkdir()
    for i in range(num_docs):
        first = start + i * 1000
        (root / f"{i:03d}.txt").write_text(" ".join(str(n) for n in range(first, first + 400)))
    return str(root)


def test_batches_follow_weights_never_repeat_within_an_epoch_and_resume_exactly(corpus) -> None:
    domains = [{"name": "a", "source": numbered(corpus, "a", 10)},
               {"name": "b", "source": numbered(corpus, "b", 10, start=10**6), "weight": 0.5}]
    task = build_task(corpus.config(domains=domains), TrainConfig(), seed=0)
    sampler = task.text_sampler
    assert sampler is not None and task.train is None
    batch_size, steps = 8, 20
    batches = [next_batch(task, step, batch_size, seed=0) for step in range(steps)]
    assert all(b.inputs.shape == (batch_size, 16) == b.targets.shape for b in batches)
    assert all((b.inputs[:, 1:] == b.targets[:, :-1]).all() for b in batches)  # next-token targets
    counts = np.sum([sampler.domain_counts(step, batch_size, 0) for step in range(steps)], axis=0)
    np.testing.assert_allclose(counts / counts.sum(), np.array([2 / 3, 1 / 3]), atol=1 / (steps * batch_size) + 1e-9)
    rows = [tuple(row) for b in batches for row in b.inputs]
    assert len(set(rows)) == len(rows)  # 160 windows, fewer than either domain's epoch: no repeats
    again = next_batch(task, 13, batch_size, seed=0)  # a resumed run asks for step 13 first
    assert np.array_equal(again.inputs, batches[13].inputs) and np.array_equal(again.targets, batches[13].targets)
    other_seed = next_batch(task, 13, batch_size, seed=1)
    assert not np.array_equal(other_seed.inputs, batches[13].inputs)
    assert np.array_equal(sample_fresh(task, 5, batch_size, 0).inputs, batches[5].inputs)


def test_num_train_tokens_caps_each_domains_pool_by_weight(corpus) -> None:
    full = build_task(corpus.config(), TrainConfig(), seed=0).text_sampler
    capped = build_task(corpus.config(num_train_tokens=3000), TrainConfig(), seed=0).text_sampler
    assert full is not None and capped is not None
    assert capped.num_windows == (3000 * 2 // 3 // 16, 3000 // 3 // 16)
    assert all(c < f for c, f in zip(capped.num_windows, full.num_windows))


def test_a_pool_smaller_than_the_run_repeats_only_after_a_full_epoch(corpus) -> None:
    config = corpus.config(num_train_tokens=1600, domains=[{"name": "a", "source": numbered(corpus, "a", 10)}])
    task = build_task(config, TrainConfig(), seed=0)
    assert task.text_sampler is not None
    (num_windows,) = task.text_sampler.num_windows  # 100 windows of 16 targets
    # 10 sequences a step: an epoch is exactly 10 steps (a batch is shuffled within itself).
    rows = [tuple(r) for step in range(20) for r in next_batch(task, step, 10, seed=0).inputs]
    assert len(set(rows[:num_windows])) == num_windows and set(rows[num_windows : 2 * num_windows]) == set(rows[:num_windows])
