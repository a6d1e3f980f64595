"""Data-path throughput: tokenization MB/s (byte and BPE) and the sampler's share of a step.

Method.

* Tokenization. The text is the built-in corpus's training split (the three domains of
  `configs/sweeps/text_ladder.yaml`), decoded back from the byte-tokenized cache (built first
  if missing), so reading and extracting files is not timed. Byte: `TextTokenizer.encode_stream`
  over every document. BPE: `TextTokenizer.train` (vocab 4,096, `tokenizers`' Rust trainer)
  on that text, then `encode_stream` over it; MB = 10⁶ UTF-8 bytes of input text, wall clock.
  `encode_stream` includes the bytes-identity check (a gather and a sum) the cache build runs.
* Sampler share. The smallest ladder model (`gpt_ladder_xs`, seq_len 128, batch 32) on the
  same data config. Each round times a block of `next_batch` calls for consecutive steps (as
  the loop asks for them: memory-mapped gathers, stride scheduling, one permutation per
  epoch and domain) and a block of training steps on batches fetched beforehand (plain torch
  forward/backward + AdamW + clipping on one thread; the DeepSpeed engine adds a few percent
  on top, which only lowers the share). The share is sampler seconds per batch / training
  seconds per step, paired per round (both measured seconds apart on this shared machine),
  median over rounds, on the process CPU clock.

The last line is `data_sampler_fraction: <median share>` (target ≤ 0.02).

Usage:
    python bench/data_throughput.py           # about 2 minutes (BPE on the whole split)
    python bench/data_throughput.py --quick   # BPE on 4 MB, fewer rounds (~40 s)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from configs import TrialConfig, load_sweep  # noqa: E402
from configs.data import DataConfig, TokenizerConfig  # noqa: E402
from configs.models import resolve_model  # noqa: E402
from trainers.data.corpus import SEPARATOR  # noqa: E402
from trainers.batches import next_batch  # noqa: E402
from trainers.data.tasks import build_task  # noqa: E402
from trainers.data.text_cache import open_stream, prepare_text_data  # noqa: E402
from trainers.data.text_tokenizer import TextTokenizer  # noqa: E402
from trainers.evaluate import sequence_loss  # noqa: E402
from trainers.model import build_model  # noqa: E402

LADDER = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "text_ladder.yaml"
BPE_VOCAB = 4096


def training_texts(data: DataConfig) -> list[str]:
    """The training documents of every domain, decoded from the byte-level cache."""
    info = prepare_text_data(data)
    texts: list[str] = []
    for i in range(len(data.domains)):
        stream = np.asarray(open_stream(info.path, i, "train", info.manifest), dtype=np.uint8)
        texts += bytes(stream).decode("utf-8").split(SEPARATOR)
    return texts


def megabytes(texts: list[str]) -> float:
    """10⁶ UTF-8 bytes of `texts`."""
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def tokenization_rates(texts: list[str], bpe_mb: float | None) -> dict[str, float]:
    """MB/s of byte encoding, BPE training and BPE encoding (BPE on the first `bpe_mb` MB)."""
    rates: dict[str, float] = {}
    started = time.perf_counter()
    TextTokenizer.train(TokenizerConfig(kind="byte"), texts).encode_stream(texts)
    rates["byte encode"] = megabytes(texts) / (time.perf_counter() - started)
    subset = texts
    if bpe_mb is not None:
        sizes = np.cumsum([len(t.encode("utf-8")) for t in texts]) / 1e6
        subset = texts[: int(np.searchsorted(sizes, bpe_mb)) + 1]
    started = time.perf_counter()
    bpe = TextTokenizer.train(TokenizerConfig(kind="bpe", vocab_size=BPE_VOCAB), subset)
    rates["bpe train"] = megabytes(subset) / (time.perf_counter() - started)
    started = time.perf_counter()
    bpe.encode_stream(subset)
    rates["bpe encode"] = megabytes(subset) / (time.perf_counter() - started)
    return rates


def smallest_ladder_trial() -> TrialConfig:
    """`gpt_ladder_xs` on the ladder's data, batch and schedule."""
    base = load_sweep(LADDER).trials()[0]
    return TrialConfig.model_validate({**base.model_dump(), "model": resolve_model("gpt_ladder_xs")})


def sampler_shares(trial: TrialConfig, rounds: int, block: int) -> list[float]:
    """Per round: sampler CPU seconds per batch / training CPU seconds per step."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    task = build_task(trial.data, trial.train, trial.seed)
    model = build_model(trial.model, trial.init, task.vocab_size, task.seq_len, trial.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=trial.optim.lr, weight_decay=trial.optim.weight_decay)
    batch_size, step, shares = trial.train.batch_size, 0, []
    batches = [next_batch(task, s, batch_size, trial.seed) for s in range(block)]

    def train(batch: object) -> None:
        x, y = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)  # type: ignore[attr-defined]
        sequence_loss(model, x, y, task.loss_on).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), trial.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        train(batches[0])  # warm-up: allocator, autograd graph
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(block):
            next_batch(task, step, batch_size, trial.seed)
            step += 1
        sample_s = (time.process_time() - started) / block
        started = time.process_time()
        for batch in batches:
            train(batch)
        step_s = (time.process_time() - started) / block
        shares.append(sample_s / step_s)
    return shares


def main() -> None:
    """Run both measurements and print them; the last line is the sampler share."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="BPE on 4 MB, fewer rounds")
    args = parser.parse_args()
    trial = smallest_ladder_trial()
    texts = training_texts(trial.data)
    print(f"built-in training split: {len(texts)} documents, {megabytes(texts):.1f} MB "
          f"({', '.join(d.name for d in trial.data.domains)})")
    for name, rate in tokenization_rates(texts, 4.0 if args.quick else None).items():
        print(f"tokenization {name:<12} {rate:8.2f} MB/s")
    rounds, block = (4, 10) if args.quick else (10, 20)
    shares = sampler_shares(trial, rounds, block)
    print(f"sampler share of a step ({trial.model.d_model=}, seq_len {trial.data.seq_len}, batch "
          f"{trial.train.batch_size}): median {statistics.median(shares):.4f}, range "
          f"[{min(shares):.4f}, {max(shares):.4f}] over {rounds} rounds")
    print(f"data_sampler_fraction: {statistics.median(shares):.4f}")


if __name__ == "__main__":
    main()
