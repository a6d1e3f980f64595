"""Sweep overhead: 8 small trials through Ray Tune against the same trials back to back.

Method. The same 8 trials (gpt_debug-size GPTs on the anchor task, 1 CPU each) run twice,
both logging to their own fresh sqlite MLflow store:

* serial: `trainers.loop.run_trial` one after another in this process — no Ray, no
  scheduling, no worker start-up; the total is the work itself;
* sweep: `cluster.sweep.run_sweep` on an embedded Ray with `--num-cpus` CPUs, the way
  `scalinglab run` does it (driver set-up, Ray start, one actor per trial, Tune reports,
  checkpoints through Ray storage, shutdown).

Ray's own start-up and shutdown are timed in the same run (`cluster.runtime.start_ray` and
`ray.shutdown` with nothing in between, before the sweeps), so the fixed cost's target —
Ray's own start + 5 s — is checked against this run's Ray, not last week's.

The ideal sweep time is serial / num_cpus (perfect packing, zero overhead);
efficiency = ideal / actual. A second sweep of 16 trials separates the fixed cost of a sweep
(Ray start-up, the first actors' imports, shutdown) from what each further trial costs. The serial pass runs first and again last, and the faster of the
two is used, so a slow patch of this shared machine does not flatter the ratio.

Last line: `sweep_efficiency: <value>`.

With `--address` the sweeps attach to a running cluster (`ray start --head --num-cpus 2`)
instead of starting an embedded Ray: what a sweep costs once the cluster is up.

Usage:
    python bench/sweep_overhead.py [--num-steps 400] [--num-cpus 2] [--address 127.0.0.1:6379]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from configs import parse_sweep  # noqa: E402


def sweep_dict(num_steps: int, seeds: list[int]) -> dict[str, object]:
    return {
        "name": "overhead",
        "base": {
            "model": "gpt_debug",
            "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
            "optim": {"warmup_steps": 10},
            "train": {"num_steps": num_steps, "batch_size": 64, "eval_every": num_steps // 4,
                      "checkpoint_every": num_steps // 2},
        },
        "grid": {"init.rate": [0.3, 0.5, 0.8, 1.0], "optim.weight_decay": [0.01, 0.1]},
        "seeds": seeds,
        "resources": {"cpus_per_trial": 1, "max_failures": 0},
    }


def time_serial(num_steps: int, seeds: list[int]) -> float:
    from cluster.tracking import prepare_experiment
    from trainers.loop import run_trial

    sweep = parse_sweep(sweep_dict(num_steps, seeds))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()  # a fresh store, as the sweep starts from one
        target = prepare_experiment(sweep, Path(tmp), None)
        for trial in sweep.trials():
            run_trial(trial, tracking=target)
        return time.perf_counter() - started


def time_sweep(num_steps: int, num_cpus: int, seeds: list[int], address: str | None) -> float:
    from cluster.sweep import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run_sweep(parse_sweep(sweep_dict(num_steps, seeds)), Path(tmp), num_cpus=num_cpus,
                           address=address)
        seconds = time.perf_counter() - started
    if result.num_failed:
        raise SystemExit(f"{result.num_failed} trials failed; the timing is meaningless")
    return seconds


def time_ray_alone(num_cpus: int, address: str | None) -> tuple[float, float]:
    """Seconds of Ray's own start (or attach) and shutdown, as a sweep makes them, with no work between."""
    import ray

    from cluster.runtime import start_ray

    started = time.perf_counter()
    start_ray(address, num_cpus)
    up = time.perf_counter()
    ray.shutdown()
    return up - started, time.perf_counter() - up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-steps", type=int, default=400)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--address", default=None, help="attach to this running Ray cluster")
    args = parser.parse_args()
    one, two = [0], [0, 1]  # 8 trials, and 16 for the marginal cost of a trial
    serial_first = time_serial(args.num_steps, one)
    ray_start, ray_stop = time_ray_alone(args.num_cpus, args.address)
    sweep = time_sweep(args.num_steps, args.num_cpus, one, args.address)
    sweep16 = time_sweep(args.num_steps, args.num_cpus, two, args.address)
    serial_last = time_serial(args.num_steps, one)
    serial = min(serial_first, serial_last)
    ideal = serial / args.num_cpus
    # The second 8 trials cost sweep16 − sweep: Ray's start-up, the first actors' imports and
    # the shutdown are paid once, so this is what one more trial costs inside a sweep.
    marginal = ideal / (sweep16 - sweep)
    fixed = sweep - (sweep16 - sweep)
    print(f"8 trials × {args.num_steps} steps: serial {serial_first:.1f} s / {serial_last:.1f} s "
          f"(using {serial:.1f}), ideal on {args.num_cpus} CPUs {ideal:.1f} s, sweep {sweep:.1f} s; "
          f"16 trials: sweep {sweep16:.1f} s")
    print(f"fixed cost of a sweep (Ray start, first imports, shutdown): {fixed:.1f} s; "
          f"marginal efficiency of 8 more trials: {marginal:.3f}")
    print(f"Ray's own start {ray_start:.1f} s + shutdown {ray_stop:.1f} s; fixed cost beyond them "
          f"{fixed - ray_start - ray_stop:.1f} s (target ≤ 5); load average {os.getloadavg()[0]:.1f}")
    print(f"sweep_efficiency: {ideal / sweep:.3f}")


if __name__ == "__main__":
    main()
