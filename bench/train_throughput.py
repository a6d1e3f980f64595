"""Training throughput: the DeepSpeed engine against a plain torch loop, side by side.

Method. For each model size, two copies of the same GPT are built with the same seed
(`trainers.model.build_model`). One is wrapped by `trainers.engine.create_engine` (ZeRO-0,
fp32, torch AdamW: exactly what `run_trial` trains with); the other is trained by a plain
loop with `torch.optim.AdamW` and the same hyper-parameters, the same loss
(`trainers.evaluate.sequence_loss`) and the same gradient clipping as the DeepSpeed config
(`clip_grad_norm_` with `optim.grad_clip`) and the same optimizer
(`trainers.optim.build_optimizer`). The DeepSpeed side calls `trainers.loop.train_step`
itself; the plain side sets the learning rate from the schedule each step as it does. Both
cycle through one pre-built pool of batches, so data loading is outside the timed step. Both engines live in one process: the
second `deepspeed.initialize` finds the gloo group of the first and reuses it.

After warm-up steps, the run alternates timed blocks of K steps: each round times the plain
loop then DeepSpeed, and the order flips every round. Each block gives one tokens/s sample
(tokens = sequences × seq_len, the loop's `progress/num_tokens` convention) on two clocks:

* wall: `time.perf_counter`, what a trial pays and its `throughput/tokens_per_s` sees — the
  headline ratio;
* cpu: `time.process_time` of the whole process (every thread, so gloo's helpers count),
  a secondary line. On this shared 2-core machine other workers preempt us at random,
  which moves wall-clock blocks by ±30 %; CPU time only counts cycles we ran, so a gap
  between the two ratios is time DeepSpeed spends waiting (e.g. on gloo) or preemption.

The table gives medians of tokens/s and, as DS/plain, the median of the per-round paired
ratios (each pair measured seconds apart, so slow patches of the machine cancel). Every step
runs on one torch thread with denormals flushed, as trials do.

The same run times a 1024×1024 fp32 matmul (2·n³ FLOPs) on the same thread a few times per
round; achieved model FLOP/s (tokens/s × `configs.metrics.flops_per_token`) over the matmul
FLOP/s on the same clock is a CPU "MFU": the share of a large-GEMM's rate the step reaches.

Both models see the same batches in the same order, so their first losses must agree (to
float rounding: DeepSpeed sums the gradient norm in another order); the largest difference
over the warm-up steps is printed as a check that both loops do the same work. Later the
two trajectories drift apart chaotically, which is expected.

The last line is `train_throughput_ratio: <min over sizes of the wall-clock DS/plain>`; the
line before it gives the same on CPU time.

Usage:
    python bench/train_throughput.py           # full run, about 2.5 minutes
    python bench/train_throughput.py --quick   # fewer, shorter blocks (~40 s)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from configs import DataConfig, ModelConfig, TrainConfig, TrialConfig  # noqa: E402
from configs.metrics import flops_per_token  # noqa: E402
from trainers.batches import next_batch  # noqa: E402
from trainers.data.tasks import build_task  # noqa: E402
from trainers.data.tasks import EvalSet  # noqa: E402
from trainers.engine import create_engine  # noqa: E402
from trainers.evaluate import sequence_loss  # noqa: E402
from trainers.loop import train_step  # noqa: E402
from trainers.model import build_model  # noqa: E402
from trainers.optim import build_optimizer, loss_spec  # noqa: E402
from trainers.schedule import lr_at  # noqa: E402

Batch = EvalSet  # numpy inputs/targets, what `train_step` takes; both loops convert alike
Clock = Literal["wall", "cpu"]
CLOCKS: tuple[Clock, ...] = ("wall", "cpu")

# The anchor model on its task (the study's workhorse), and a 4-layer d128 model on the
# markov language (the size docs/architecture.md "Stack facts" quotes throughput for). One step of each takes
# roughly 60–200 ms of one core.
SIZES: dict[str, TrialConfig] = {
    "anchor L2 d64 T9 B512": TrialConfig(
        model=ModelConfig(n_layer=2, d_model=64, d_ff=256),
        data=DataConfig(task="anchor", seq_len=9),
        train=TrainConfig(batch_size=512),
    ),
    "markov L4 d128 T64 B32": TrialConfig(
        model=ModelConfig(n_layer=4, d_model=128, d_ff=512),
        data=DataConfig(task="markov", seq_len=64, num_train=2048, num_test=64),
        train=TrainConfig(batch_size=32),
    ),
}
POOL_BATCHES = 32  # distinct batches cycled through by both loops
MATMUL_N = 1024


@dataclass(frozen=True)
class RunPlan:
    """How long to measure: rounds of alternating blocks of about `block_s` seconds each."""

    rounds: int
    block_s: float
    warmup_steps: int
    matmuls_per_round: int


FULL = RunPlan(rounds=12, block_s=2.5, warmup_steps=10, matmuls_per_round=3)
QUICK = RunPlan(rounds=5, block_s=0.8, warmup_steps=5, matmuls_per_round=2)


@dataclass(frozen=True)
class Timing:
    """Seconds one block took on each clock."""

    wall: float
    cpu: float

    def of(self, clock: Clock) -> float:
        """Seconds on `clock`."""
        return self.wall if clock == "wall" else self.cpu


@dataclass(frozen=True)
class SizeResult:
    """What one size measured: a list of per-block tokens/s per loop and clock."""

    name: str
    steps_per_block: int
    model_flops_per_token: float
    rates: dict[tuple[str, Clock], list[float]]  # ("plain" | "ds", clock) → tokens/s per round
    max_warmup_loss_diff: float

    def median_rate(self, loop: str, clock: Clock) -> float:
        """Median tokens/s of `loop` on `clock`."""
        return statistics.median(self.rates[(loop, clock)])

    def ratio(self, clock: Clock) -> float:
        """Median over rounds of DeepSpeed tokens/s / plain tokens/s (paired per round)."""
        pairs = zip(self.rates[("ds", clock)], self.rates[("plain", clock)])
        return statistics.median(ds / plain for ds, plain in pairs)


def time_block(fn: Callable[[], object]) -> Timing:
    """Run `fn` once and time it on both clocks."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


class Stepper:
    """One training loop (plain or DeepSpeed) with its own step counter and loss history."""

    def __init__(
        self, trial: TrialConfig, batches: list[Batch], step: Callable[[Batch, float], float]
    ) -> None:
        self.trial, self.batches, self._step = trial, batches, step
        self.losses: list[float] = []

    def run(self, num_steps: int) -> Timing:
        """Run `num_steps` training steps and time them."""
        def steps() -> None:
            for _ in range(num_steps):
                self._one_step()

        return time_block(steps)

    def _one_step(self) -> None:
        step = len(self.losses)
        lr = lr_at(step, self.trial.optim, self.trial.train.num_steps)  # as train_step sets it
        self.losses.append(self._step(self.batches[step % len(self.batches)], lr))


def plain_step(trial: TrialConfig, model: torch.nn.Module, loss_on: str) -> Callable[[Batch, float], float]:
    """A torch step doing what the engine does: same optimizer, clip to `optim.grad_clip`."""
    optim = trial.optim
    optimizer = build_optimizer(model, optim)

    def step(batch: Batch, lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]  # as train_step sets it (μP's per-group scale)
        x, y = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)  # as train_step does
        loss = sequence_loss(model, x, y, loss_on)  # type: ignore[arg-type]
        loss.backward()
        if optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # what engine.step does for ZeRO-0 fp32
        return float(loss.detach())

    return step


def deepspeed_step(trial: TrialConfig, engine: Any, loss_on: str) -> Callable[[Batch, float], float]:
    """`trainers.loop.train_step` itself, on batches of the pool (no accumulation)."""
    spec = loss_spec(engine.module, trial.optim, loss_on)  # type: ignore[arg-type]

    def step(batch: Batch, lr: float) -> float:
        return train_step(engine, batch, lr, trial.train.layout(1), spec)

    return step


def build_steppers(trial: TrialConfig) -> tuple[Stepper, Stepper]:
    """Plain and DeepSpeed steppers over identically initialized models and one batch pool."""
    if trial.train.grad_accum_steps != 1:
        raise ValueError(
            f"train.micro_batch_size ({trial.train.micro_batch}) must equal train.batch_size "
            f"({trial.train.batch_size}) here: the plain loop does not accumulate gradients"
        )
    task = build_task(trial.data, trial.train, trial.seed)
    batches = [next_batch(task, step, trial.train.batch_size, trial.seed) for step in range(POOL_BATCHES)]

    def make() -> torch.nn.Module:
        return build_model(trial.model, trial.init, task.vocab_size, task.seq_len, trial.seed)

    engine = create_engine(trial, make(), "cpu")
    plain = Stepper(trial, batches, plain_step(trial, make(), task.loss_on))
    return plain, Stepper(trial, batches, deepspeed_step(trial, engine, task.loss_on))


def time_matmul(n: int, reps: int) -> list[Timing]:
    """Time `reps` n×n fp32 matmuls, one sample each (2·n³ FLOPs per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return [time_block(lambda: torch.mm(a, b)) for _ in range(reps)]


def bench_size(name: str, trial: TrialConfig, plan: RunPlan, matmuls: list[Timing]) -> SizeResult:
    """Alternate K-step blocks of plain and DeepSpeed training; tokens/s per block."""
    plain, ds = build_steppers(trial)
    for stepper in (plain, ds):
        stepper.run(plan.warmup_steps)
    warmup_diff = max(abs(a - b) for a, b in zip(plain.losses, ds.losses))
    step_s = max(plain.run(3).wall, ds.run(3).wall) / 3
    k = max(int(plan.block_s / step_s), 3)
    tokens = k * trial.train.batch_size * trial.data.seq_len
    rates: dict[tuple[str, Clock], list[float]] = {(loop, c): [] for loop in ("plain", "ds") for c in CLOCKS}
    for r in range(plan.rounds):
        order = [("plain", plain), ("ds", ds)] if r % 2 == 0 else [("ds", ds), ("plain", plain)]
        for loop, stepper in order:
            timing = stepper.run(k)
            for clock in CLOCKS:
                rates[(loop, clock)].append(tokens / timing.of(clock))
        matmuls.extend(time_matmul(MATMUL_N, plan.matmuls_per_round))
    m, data = trial.model, trial.data
    fpt = flops_per_token(m.n_layer, m.d_model, m.d_ff, data.seq_len, trial.vocab_size,
                          data.scored_positions / data.seq_len)
    return SizeResult(name, k, fpt, rates, warmup_diff)


def print_table(results: list[SizeResult], matmuls: list[Timing]) -> None:
    """One row per size and clock: tokens/s of both loops, their ratio, CPU MFU of each."""
    gemm_flops = {c: statistics.median(2 * MATMUL_N**3 / t.of(c) for t in matmuls) for c in CLOCKS}
    print(f"\nmatmul {MATMUL_N}x{MATMUL_N} fp32, 1 thread, median of {len(matmuls)}: "
          + ", ".join(f"{gemm_flops[c] / 1e9:.1f} GFLOP/s ({c})" for c in CLOCKS))
    header = (f"{'size':<24}{'clock':>6}{'K':>4}{'plain tok/s':>13}{'DS tok/s':>11}{'DS/plain':>10}"
              f"{'MFU plain':>11}{'MFU DS':>9}{'Δloss warm-up':>15}")
    print(header)
    print("-" * len(header))
    for res in results:
        for clock in CLOCKS:
            plain, ds = res.median_rate("plain", clock), res.median_rate("ds", clock)
            mfu = lambda tps: tps * res.model_flops_per_token / gemm_flops[clock]  # noqa: E731
            print(f"{res.name:<24}{clock:>6}{res.steps_per_block:>4}{plain:>13,.0f}{ds:>11,.0f}"
                  f"{res.ratio(clock):>10.3f}{mfu(plain):>11.1%}{mfu(ds):>9.1%}"
                  f"{res.max_warmup_loss_diff:>15.1e}")


def main(argv: list[str] | None = None) -> None:
    """Parse flags, benchmark every size, print the table and the ratio line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter blocks (~40 s)")
    plan = QUICK if parser.parse_args(argv).quick else FULL
    # As trials run (trainers.loop._configure_torch); subnormal Adam moments would otherwise
    # slow late steps and make the comparison depend on how far training got.
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    started = time.perf_counter()
    matmuls = time_matmul(MATMUL_N, 2)[1:]  # the first product pays for warm-up
    results = []
    for name, trial in SIZES.items():
        results.append(bench_size(name, trial, plan, matmuls))
        print(f"{name}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    print_table(results, matmuls)
    print(f"train_throughput_ratio (cpu time, secondary): {min(r.ratio('cpu') for r in results):.3f}")
    print(f"train_throughput_ratio: {min(r.ratio('wall') for r in results):.3f}")


if __name__ == "__main__":
    main()
