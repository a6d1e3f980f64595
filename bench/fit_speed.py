"""Benchmark: the Chinchilla approach-3 fit, every method side by side on the same data.

Same objective for all (Huber delta = 1e-3 on log L against LSE(a - alpha log N,
b - beta log D, e), summed over points), same data, measured in one run:

1. the new fit (`analysis.laws.chinchilla.fit_chinchilla`: variable-projection search +
   Newton polish), median of 7 runs;
2. the previous fit (`bench.batched_fit`: 4,500-start grid, batched float32 BFGS + SciPy
   polish), one run (it takes seconds);
3. the SciPy reference loop (`bench.reference_fits`: L-BFGS-B one start at a time, the
   analytic-gradient loop and the usual finite-difference one) on a random sample of the
   4,500 grid starts, its per-start cost EXTRAPOLATED to 4,500 (said so in the output),
   plus tight-tolerance runs from the grid start nearest the optimum: the exactness check;
4. the `chinchilla` PyPI package (kyo-takano, 0.2.0) if it imports, fitted with its
   `log_huber` loss at delta = 1e-3 (the same objective up to its 1/P mean) over a 3^5
   grid of starts, in one process, extrapolated to 4,500 starts; its optimum is scored
   with our objective;
5. 1,000 bootstrap resamples: the new honest bootstrap (each resample re-runs the full
   search) and the previous one (each resample warm-started at the full-data optimum).

Data: Epoch AI's 240 reconstructed Chinchilla runs (tests/unit/analysis/laws/data/
epoch_chinchilla_240.csv, provenance in its README.md), and a synthetic 12 x 20 grid of 240
points from Hoffmann et al.'s law with 1 % lognormal noise (seed 0).

BLAS and OpenMP are pinned to one thread before numpy loads: the fits are timed on one core.

Usage: .venv/bin/python bench/fit_speed.py [--num-sampled 60] [--skip-package]
The last line is `fit_seconds: <median seconds of the new fit on the Epoch AI points>`.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported, so BLAS starts single-threaded

import argparse  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `bench` as a package, as the tests import it

from analysis.laws import forms  # noqa: E402
from analysis.laws.bootstrap import bootstrap_chinchilla  # noqa: E402
from analysis.laws.chinchilla import chinchilla_objective_at, fit_chinchilla  # noqa: E402
from analysis.laws.result import FitResult  # noqa: E402
from bench import batched_fit, reference_fits  # noqa: E402

FloatArray = npt.NDArray[np.float64]
Data = tuple[FloatArray, FloatArray, FloatArray]
EPOCH_CSV = ROOT / "tests/unit/analysis/laws/data/epoch_chinchilla_240.csv"
TRUE_PARAMS = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
TIGHT: dict[str, Any] = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000}
NUM_GRID = 4500
KEYS = ("E", "A", "B", "alpha", "beta")


def datasets() -> dict[str, Data]:
    """The Epoch AI points and the synthetic grid, as (N, D, loss) arrays."""
    epoch = pd.read_csv(EPOCH_CSV)
    n_grid, d_grid = np.meshgrid(np.geomspace(1e6, 1e9, 12), np.geomspace(1e8, 1e11, 20),
                                 indexing="ij")
    n, d = n_grid.ravel(), d_grid.ravel()
    clean = forms.chinchilla_loss(n, d, *TRUE_PARAMS.values())
    noisy = clean * np.exp(np.random.default_rng(0).normal(0.0, 0.01, n.size))
    return {"epoch-ai-240": (epoch["N"].to_numpy(), epoch["D"].to_numpy(), epoch["loss"].to_numpy()),
            "synthetic-240": (n, d, noisy)}


def time_new(data: Data) -> tuple[FitResult, list[float], float]:
    """Seven fits after a warm-up: the result, every wall time, the median CPU time.

    CPU time (`time.process_time`) is printed beside the wall clock because the bench may
    share its cores: wall time then includes waiting for them, CPU time does not.
    """
    fit_chinchilla(*data)
    runs, cpu = [], []
    for _ in range(7):
        clock = time.process_time()
        runs.append(fit_chinchilla(*data))
        cpu.append(time.process_time() - clock)
    return runs[0], [r.fit_seconds for r in runs], statistics.median(cpu)


def nearest_start(result: FitResult, grid: FloatArray) -> FloatArray:
    """The grid start closest (scaled inf-norm) to an optimum."""
    p = result.params
    theta = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])
    return np.asarray(grid[int(np.argmin((np.abs(grid - theta) / np.ptp(grid, 0)).max(1)))])


def run_reference(data: Data, new: FitResult, num_sampled: int, seed: int
                  ) -> dict[str, tuple[float, FitResult | None]]:
    """Per-start cost of both SciPy loops (extrapolated) and their tight-tolerance optima."""
    grid = batched_fit.default_start_grid()
    sample = grid[np.random.default_rng(seed).choice(grid.shape[0], num_sampled, replace=False)]
    out: dict[str, tuple[float, FitResult | None]] = {}
    for label, loop in (("scipy loop, analytic gradient", reference_fits.fit_chinchilla_reference),
                        ("scipy loop, finite differences", reference_fits.fit_chinchilla_usual_reference)):
        res = loop(*data, starts=sample)
        out[label] = (res.fit_seconds / num_sampled * NUM_GRID, None)
        tight = loop(*data, starts=nearest_start(new, grid)[None, :], options=TIGHT)
        out[label + " (tight, from the grid start nearest the optimum)"] = (float("nan"), tight)
    return out


def run_package(data: Data) -> tuple[float, dict[str, float]] | None:
    """The `chinchilla` package on a 3^5 start grid in one process; None if absent."""
    try:
        from chinchilla import Chinchilla
        from chinchilla._metrics import log_huber
    except ImportError:
        return None
    grid = {"e": (-1.0, 0.0, 1.0), "a": (0.0, 10.0, 20.0), "b": (0.0, 10.0, 20.0),
            "alpha": (0.0, 0.5, 1.0), "beta": (0.0, 0.5, 1.0)}
    with tempfile.TemporaryDirectory() as tmp:
        cc = Chinchilla(tmp, param_grid=grid, loss_fn=functools.partial(log_huber, delta=1e-3),
                        log_level=40)
        n, d, loss = data
        cc.database.df = pd.DataFrame({"C": 6 * n * d, "N": n, "D": d, "loss": loss})
        clock = time.perf_counter()
        cc.fit(parallel=False)
        seconds = time.perf_counter() - clock
    return seconds / 3**5 * NUM_GRID, cc.params


def time_bootstraps(data: Data, new: FitResult) -> dict[str, tuple[float, tuple[float, float]]]:
    """1,000 resamples: honest (full search each) and the previous warm-started one."""
    honest = bootstrap_chinchilla(*data, num_resamples=1000, seed=0)
    rows, warm_s = batched_fit.bootstrap_warm_start(new, *data, num_resamples=1000, seed=0)
    warm_alpha = np.percentile(rows[:, 3], [2.5, 97.5])
    return {"honest (full search per resample)": (honest.seconds, honest.intervals["alpha"]),
            "previous (warm start at the optimum)": (warm_s, (float(warm_alpha[0]), float(warm_alpha[1])))}


def gap(params: dict[str, float], ref: dict[str, float]) -> float:
    """Largest relative parameter difference."""
    return max(abs(params[k] / ref[k] - 1) for k in KEYS)


def report_dataset(name: str, data: Data, args: argparse.Namespace) -> float:
    """Measure and print one dataset's table; return the new fit's median seconds."""
    new, times, cpu = time_new(data)
    median = statistics.median(times)
    print(f"\n## {name} ({data[0].size} points)\n")
    print("| method | seconds (4,500 starts where a grid is used) | objective | max rel. param gap vs new | params |")
    print("|---|---|---|---|---|")
    row = "| {} | {} | {:.16g} | {} | {} |"
    fmt = {k: round(v, 6) for k, v in new.params.items()}
    print(row.format(f"new fit ({new.num_starts} basin(s) polished)",
                     f"{median:.4f} (median of 7: {', '.join(f'{t:.4f}' for t in times)}; "
                     f"CPU {cpu:.4f})",
                     new.objective, "0", fmt))
    prev = batched_fit.fit_chinchilla_batched(*data)
    print(row.format("previous fit (batched BFGS + polish)", f"{prev.fit_seconds:.2f} (one run)",
                     prev.objective, f"{gap(prev.params, new.params):.1e}",
                     {k: round(v, 6) for k, v in prev.params.items()}))
    for label, (seconds, res) in run_reference(data, new, args.num_sampled, args.seed).items():
        shown = f"{seconds:.1f} (EXTRAPOLATED from {args.num_sampled} starts)" if res is None else "-"
        obj = "-" if res is None else f"{res.objective:.16g}"
        print(f"| {label} | {shown} | {obj} | {'-' if res is None else f'{gap(res.params, new.params):.1e}'} | "
              f"{'-' if res is None else {k: round(v, 6) for k, v in res.params.items()}} |")
    package = None if args.skip_package else run_package(data)
    if package is None:
        print("| chinchilla 0.2.0 (PyPI) | not run (not installed or --skip-package) | - | - | - |")
    else:
        seconds, params = package
        print(f"| chinchilla 0.2.0 (PyPI), BFGS, 128-bit | {seconds:.1f} (EXTRAPOLATED from 243 starts) | "
              f"{chinchilla_objective_at(FitResult('chinchilla', params, 0, 0, 0, 0, 0), *data):.16g} | "
              f"{gap(params, new.params):.1e} | {{{', '.join(f'{k}: {params[k]:.6g}' for k in KEYS)}}} |")
    print("\n| bootstrap, 1,000 resamples | seconds | 95 % interval of alpha |\n|---|---|---|")
    for label, (seconds, interval) in time_bootstraps(data, new).items():
        print(f"| {label} | {seconds:.2f} | [{interval[0]:.4f}, {interval[1]:.4f}] |")
    return median


def main() -> None:
    """Run the benchmark on both datasets; the last line is the new fit's time on Epoch AI's."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--num-sampled", type=int, default=60,
                        help="grid starts the SciPy loops run (their cost is extrapolated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-package", action="store_true", help="skip the chinchilla package")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    medians = {name: report_dataset(name, data, args) for name, data in datasets().items()}
    print(f"\nnew fit, median seconds: {medians}")
    print(f"fit_seconds: {medians['epoch-ai-240']:.4f}")


if __name__ == "__main__":
    main()
