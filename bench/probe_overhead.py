"""Probe overhead: the same trial with and without the distortion probes, side by side.

Method. One trial of the `complexity_control` preset (its first cell: the anchor model on
its task, `eval_every` 100, batch 512) is shortened to `--steps` steps and trained by
`trainers.run_trial` twice per round: once listing every registered probe in `eval.probes`
(default settings: φ_weight and φ_input at every evaluation, training KL, calibration and
rate–distortion at the last step) and once with none listed (the default). The order flips every round so drifts of this shared machine hit
both sides alike. Each run's probe hooks are also timed directly (the probe hooks are
wrapped with a timer), which splits the cost by probe and does not depend on the other
run's luck with the scheduler.

The probe cadence follows the evaluation cadence, so the per-evaluation share is the same
for any trial length; calibration and rate–distortion run once, at the end, so a shortened
trial over-states their share of a full 800-step trial (the table gives both).

Two clocks, as in `bench/train_throughput.py`: wall (`time.perf_counter`, what a trial
pays) and the process's CPU time (`time.process_time`, every thread).

Why the headline is the probe hooks' own time. The probes leave training untouched (every
weight is restored bit for bit, `tests/unit/trainers/probes/`), so the two runs of a pair
execute the same training computation and differ exactly by the probe hooks. Timed
directly, the hooks took 4.3–4.8 % of the trial in every round of two bench runs. The paired
difference of whole runs measures the same thing plus the machine's run-to-run noise: on the
shared 2-core machine (load average ≈ 17) it ranged from −0.39 to +0.45 on the wall clock and
from −0.06 to +0.20 on CPU time (which still grows with a run's wall time under load), i.e.
it cannot resolve a 5 % effect there. It is printed as the check that no cost hides outside
the hooks (none showed above that noise); on an idle machine it agrees with the hooks' share.

The lines printed are, per round: both runs on both clocks with the fraction
(with − without) / with, and the probe hooks' share of the CPU time; then the CPU seconds
per probe; the medians over rounds; the fastest runs' fractions. The last line is
`probe_fraction: <median over rounds of probe-hook wall seconds / wall seconds of the run>`.

Usage:
    python bench/probe_overhead.py            # 3 rounds of 400 steps (~10 min on 2 shared cores)
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

import trainers.loop  # noqa: E402
import trainers.probes  # noqa: E402
import trainers.probes.registry  # noqa: E402
from configs import TrialConfig, load_sweep  # noqa: E402
from trainers import InMemoryTracker, run_trial  # noqa: E402
from trainers.hooks import Hook, StepInfo  # noqa: E402

PRESET = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "complexity_control.yaml"
PROBES_ON = {"probes": list(trainers.probes.PROBES)}  # opt-in: every registered probe, default settings
PROBES_OFF = {"probes": []}


def bench_trial(num_steps: int, probes: bool) -> TrialConfig:
    """The preset's first trial, `num_steps` long, with default probes or none."""
    tree = load_sweep(str(PRESET)).trials()[0].model_dump()
    tree["train"].update(num_steps=num_steps, checkpoint_every=100 * num_steps)
    tree["optim"]["warmup_steps"] = min(tree["optim"]["warmup_steps"], num_steps - 1)
    tree["eval"] = PROBES_ON if probes else PROBES_OFF
    return TrialConfig.model_validate(tree)


Clock = tuple[float, float]  # (wall seconds, CPU seconds of this process)


def now() -> Clock:
    """Both clocks: wall (what a trial pays) and process CPU time (only cycles we ran)."""
    return time.perf_counter(), time.process_time()


def since(start: Clock) -> Clock:
    """Both clocks' time elapsed since `start`."""
    wall, cpu = now()
    return wall - start[0], cpu - start[1]


def timed_probe_hooks(seconds: dict[str, list[float]]) -> Callable[[TrialConfig], list[Hook]]:
    """`trainers.probes.probe_hooks`, with every hook body adding its (wall, CPU) time to `seconds`."""
    build = trainers.probes.registry.probe_hooks

    def wrap(hook: Hook) -> Hook:
        def fn(info: StepInfo) -> None:
            start = now()
            hook.fn(info)
            wall, cpu = since(start)
            seconds[hook.name][0] += wall
            seconds[hook.name][1] += cpu

        return Hook(hook.every, fn, hook.at_last_step, hook.name)

    return lambda trial: [wrap(h) for h in build(trial)]


def timed_run(trial: TrialConfig, seconds: dict[str, list[float]]) -> Clock:
    """(wall, CPU) seconds of one `run_trial` (in-memory tracking, no checkpoints)."""
    trainers.loop.probe_hooks = timed_probe_hooks(seconds)  # type: ignore[attr-defined]  # what default_hooks calls
    start = now()
    run_trial(trial, tracking=InMemoryTracker())
    return since(start)


def one_round(r: int, with_probes: TrialConfig, without: TrialConfig, seconds: dict[str, list[float]]) -> dict[bool, Clock]:
    """Both runs of round `r`, in the order that alternates with `r`."""
    order = [(True, with_probes), (False, without)]
    return {probes: timed_run(trial, seconds if probes else defaultdict(lambda: [0.0, 0.0]))
            for probes, trial in (order if r % 2 == 0 else order[::-1])}


def main() -> None:
    """Run the rounds and print the table; the last line is `probe_fraction: <value>`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 100 steps")
    parser.add_argument("--steps", type=int, default=None, help="steps per trial (default 400)")
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds (default 3)")
    args = parser.parse_args()
    num_steps = args.steps or (100 if args.quick else 400)
    rounds = args.rounds or (1 if args.quick else 3)
    with_probes, without = bench_trial(num_steps, True), bench_trial(num_steps, False)
    timed_run(bench_trial(2, False), defaultdict(lambda: [0.0, 0.0]))  # DeepSpeed's one-off start-up, untimed
    paired: dict[str, list[float]] = defaultdict(list)
    fastest: dict[tuple[bool, int], float] = {}
    per_probe: dict[str, list[float]] = defaultdict(list)
    for r in range(rounds):
        seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        runs = one_round(r, with_probes, without, seconds)
        for clock, i in (("wall", 0), ("cpu", 1)):
            paired[clock].append((runs[True][i] - runs[False][i]) / runs[True][i])
            paired[f"direct_{clock}"].append(sum(v[i] for v in seconds.values()) / runs[True][i])
            for side in (True, False):
                fastest[side, i] = min(fastest.get((side, i), float("inf")), runs[side][i])
        for name, (_, cpu) in seconds.items():
            per_probe[name].append(cpu)
        print(f"round {r}: {num_steps} steps; wall with {runs[True][0]:.1f} s, without {runs[False][0]:.1f} s "
              f"({paired['wall'][-1]:+.3f}); CPU with {runs[True][1]:.1f} s, without {runs[False][1]:.1f} s "
              f"({paired['cpu'][-1]:+.3f}); probe hooks {paired['direct_cpu'][-1]:.3f} of the CPU time")
    for name, values in per_probe.items():
        print(f"  {name:16s} {statistics.median(values):7.2f} CPU s per trial")
    print(f"per-round paired fraction (median): wall {statistics.median(paired['wall']):.4f}, "
          f"CPU {statistics.median(paired['cpu']):.4f}")
    print(f"probe hooks' share of the trial, timed directly (median): wall {statistics.median(paired['direct_wall']):.4f}, "
          f"CPU {statistics.median(paired['direct_cpu']):.4f}")
    print(f"fastest runs: wall with {fastest[True, 0]:.1f} s, without {fastest[False, 0]:.1f} s "
          f"({1 - fastest[False, 0] / fastest[True, 0]:+.4f}); CPU with {fastest[True, 1]:.1f} s, "
          f"without {fastest[False, 1]:.1f} s ({1 - fastest[False, 1] / fastest[True, 1]:+.4f})")
    print(f"probe_fraction: {statistics.median(paired['direct_wall']):.4f}")

if __name__ == "__main__":
    main()
