"""Probe overhead: the same trial with and without the distortion probes, side by side.

Method. One trial of the `complexity_control` preset (its first cell: the anchor model on
its task, `eval_every` 100, batch 512) is shortened to `--steps` steps and trained by
`trainers.run_trial` twice per round: once with the default `eval` section (φ_weight and
φ_input at every evaluation, calibration and rate–distortion at the last step) and once
with every probe off. The order flips every round so drifts of this shared machine hit
both sides alike. Each run's probe hooks are also timed directly (the probe hooks are
wrapped with a timer), which splits the cost by probe and does not depend on the other
run's luck with the scheduler.

The probe cadence follows the evaluation cadence, so the per-evaluation share is the same
for any trial length; calibration and rate–distortion run once, at the end, so a shortened
trial over-states their share of a full 800-step trial (the table gives both).

The lines printed are, per round: the wall-clock of both runs and the fraction
(with − without) / with; then the seconds per probe; the last line is
`probe_fraction: <median over rounds of the paired fraction>`.

Usage:
    python bench/probe_overhead.py            # 2 rounds of 400 steps (~10 min on 2 shared cores)
    python bench/probe_overhead.py --quick    # 1 round of 100 steps
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import trainers.probes  # noqa: E402
from configs import TrialConfig, load_sweep  # noqa: E402
from trainers import InMemoryTracker, run_trial  # noqa: E402
from trainers.hooks import Hook, StepInfo  # noqa: E402

PRESET = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "complexity_control.yaml"
PROBES_OFF = {"phi_weight_every": 0, "phi_input_every": 0, "calibration_at_last_step": False, "ratedist_bits": []}


def bench_trial(num_steps: int, probes: bool) -> TrialConfig:
    """The preset's first trial, `num_steps` long, with default probes or none."""
    tree = load_sweep(str(PRESET)).trials()[0].model_dump()
    tree["train"].update(num_steps=num_steps, checkpoint_every=100 * num_steps)
    tree["optim"]["warmup_steps"] = min(tree["optim"]["warmup_steps"], num_steps - 1)
    tree["eval"] = {} if probes else PROBES_OFF
    return TrialConfig.model_validate(tree)


def timed_probe_hooks(seconds: dict[str, float]) -> Callable[[TrialConfig], list[Hook]]:
    """`trainers.probes.probe_hooks`, with every hook body adding its wall time to `seconds`."""
    build = trainers.probes.hooks.probe_hooks

    def wrap(hook: Hook) -> Hook:
        def fn(info: StepInfo) -> None:
            start = time.perf_counter()
            hook.fn(info)
            seconds[hook.name] += time.perf_counter() - start

        return Hook(hook.every, fn, hook.at_last_step, hook.name)

    return lambda trial: [wrap(h) for h in build(trial)]


def timed_run(trial: TrialConfig, seconds: dict[str, float]) -> float:
    """Wall-clock seconds of one `run_trial` (in-memory tracking, no checkpoints)."""
    trainers.probes.probe_hooks = timed_probe_hooks(seconds)  # type: ignore[assignment]
    start = time.perf_counter()
    run_trial(trial, tracking=InMemoryTracker())
    return time.perf_counter() - start


def main() -> None:
    """Run the rounds and print the table; the last line is `probe_fraction: <value>`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 100 steps")
    parser.add_argument("--steps", type=int, default=None, help="steps per trial (default 400)")
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds (default 2)")
    args = parser.parse_args()
    num_steps = args.steps or (100 if args.quick else 400)
    rounds = args.rounds or (1 if args.quick else 2)
    with_probes, without = bench_trial(num_steps, True), bench_trial(num_steps, False)
    timed_run(bench_trial(2, False), defaultdict(float))  # DeepSpeed's one-off start-up, untimed
    fractions, direct, per_probe = [], [], defaultdict(list)
    for r in range(rounds):
        seconds: dict[str, float] = defaultdict(float)
        order = [(True, with_probes), (False, without)]
        walls = dict((probes, timed_run(trial, seconds if probes else defaultdict(float)))
                     for probes, trial in (order if r % 2 == 0 else order[::-1]))
        fractions.append((walls[True] - walls[False]) / walls[True])
        direct.append(sum(seconds.values()) / walls[True])
        for name, value in seconds.items():
            per_probe[name].append(value)
        print(f"round {r}: {num_steps} steps, with probes {walls[True]:.1f} s, without {walls[False]:.1f} s, "
              f"paired fraction {fractions[-1]:.3f}, probe hooks {sum(seconds.values()):.1f} s ({direct[-1]:.3f})")
    for name, values in per_probe.items():
        print(f"  {name:16s} {statistics.median(values):7.2f} s per trial")
    print(f"direct_probe_fraction: {statistics.median(direct):.4f}")
    print(f"probe_fraction: {statistics.median(fractions):.4f}")


if __name__ == "__main__":
    main()
