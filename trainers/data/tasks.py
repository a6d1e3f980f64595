"""Build a trial's data from its `DataConfig`: training tokens plus evaluation domains.

Three tasks, one shape. `anchor` is a fixed dataset scored at the last position only (the
answer slot); `markov` is next-token prediction on every position of a synthetic language
with a known entropy rate per domain; `text` is next-token prediction on real text domains
read from the memory-mapped token cache (`trainers/data/text.py`).

`next_batch` is the one call that gives the training batch of a step, for any task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from configs import DataConfig, TrainConfig
from trainers.data.anchor import VOCAB_SIZE, AnchorSplits, make_anchor_splits, swap_anchor_pair
from trainers.data.markov import MarkovSource, make_language_domains, mixture_entropy_rate, sample_domain_mixture
from trainers.data.text import TextSampler, load_text_data

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EvalSet:
    """One evaluation domain: inputs (n, T) and targets ((n,) for `last`, (n, T) for `all`)."""

    inputs: IntArray
    targets: IntArray


@dataclass(frozen=True)
class TaskData:
    """Everything the loop needs to train and evaluate one trial."""

    vocab_size: int
    seq_len: int
    loss_on: Literal["last", "all"]
    train: EvalSet | None  # None: fresh batches are sampled per step (see `sample_fresh`)
    domains: dict[str, EvalSet]
    anchor: AnchorSplits | None = None  # kept for task metrics (pairs, swaps)
    ood_swapped: EvalSet | None = None
    entropy_floor: float | None = None  # true loss floor per token of the training mixture (markov)
    fresh_sources: tuple[MarkovSource, ...] = ()
    floors: dict[str, float] = field(default_factory=dict)  # exact per-domain loss floor (markov)
    domain_weights: dict[str, float] | None = None  # val/loss weights; None = plain mean
    domain_bytes: dict[str, int] | None = None  # bytes each held-out set's targets cover (text)
    text_sampler: TextSampler | None = None  # training batches of the text task
    corpus: dict[str, str] | None = None  # text: cache key, corpus hash, Python version (to tag runs with)


def _lm_set(tokens: IntArray) -> EvalSet:
    """Sequences of T+1 tokens → inputs (n, T) and next-token targets (n, T)."""
    return EvalSet(np.ascontiguousarray(tokens[:, :-1]), np.ascontiguousarray(tokens[:, 1:]))


def _anchor_task(data: DataConfig, seed: int) -> TaskData:
    assert data.num_train is not None  # DataConfig's validator guarantees it for anchor
    splits = make_anchor_splits(data.num_train, data.num_test, data.seq_len, seed)
    as_set = lambda t: EvalSet(t.inputs, t.targets)  # noqa: E731
    return TaskData(
        vocab_size=VOCAB_SIZE,
        seq_len=data.seq_len,
        loss_on="last",
        train=as_set(splits.train),
        domains={"id": as_set(splits.id_test), "ood": as_set(splits.ood_test)},
        anchor=splits,
        ood_swapped=as_set(swap_anchor_pair(splits.ood_test)),
    )


def _markov_task(data: DataConfig, train: TrainConfig, seed: int) -> TaskData:
    sources = make_language_domains(
        data.num_domains, data.vocab_size, data.support, data.zipf_exponent, seed=1000 + seed
    )
    rng = np.random.default_rng([seed, 1])
    domains = {
        f"lang{i}": _lm_set(sample_domain_mixture([s], data.num_test, data.seq_len + 1, rng)[0])
        for i, s in enumerate(sources)
    }
    fixed = None
    if data.num_train is not None:
        fixed = _lm_set(sample_domain_mixture(sources, data.num_train, data.seq_len + 1, rng)[0])
    weights = np.full(len(sources), 1.0 / len(sources))
    return TaskData(
        vocab_size=data.vocab_size,
        seq_len=data.seq_len,
        loss_on="all",
        train=fixed,
        domains=domains,
        entropy_floor=float(mixture_entropy_rate(sources, weights)),
        fresh_sources=tuple(sources),
        floors={f"lang{i}": float(s.entropy_rate_nats) for i, s in enumerate(sources)},
    )


def _text_task(data: DataConfig) -> TaskData:
    text = load_text_data(data)
    return TaskData(
        vocab_size=data.model_vocab_size,
        seq_len=data.seq_len,
        loss_on="all",
        train=None,
        domains={name: EvalSet(x, y) for name, (x, y) in text.held_out.items()},
        domain_weights=text.weights,
        domain_bytes=text.held_out_bytes,
        text_sampler=text.sampler,
        corpus={"cache_key": text.manifest["key"], "corpus_hash": text.manifest["corpus_hash"],
                "python": text.manifest["python"]},
    )


def build_task(data: DataConfig, train: TrainConfig, seed: int) -> TaskData:
    """Generate (synthetic) or open (text) the task's data deterministically from `seed`.

    For `text`, the token cache is built first if no process has built it yet (under a file
    lock); the driver normally builds it before trials start (`prepare_text_data`).
    """
    if data.task == "anchor":
        return _anchor_task(data, seed)
    if data.task == "text":
        return _text_task(data)
    return _markov_task(data, train, seed)


def sample_fresh(task: TaskData, step: int, batch_size: int, seed: int) -> EvalSet:
    """The batch of `step` for a task without a fixed training set (text, or markov with
    num_train = null): fresh Markov sequences, or text windows new within their epoch.

    Seeded by (seed, step) so a resumed run draws exactly the batches it would have drawn.
    """
    if task.text_sampler is not None:
        return EvalSet(*task.text_sampler.batch(step, batch_size, seed))
    rng = np.random.default_rng([seed, 2, step])
    tokens, _ = sample_domain_mixture(list(task.fresh_sources), batch_size, task.seq_len + 1, rng)
    return _lm_set(tokens)
