"""Benchmark: coverage of nominal 95 % bootstrap intervals on synthetic truth, side by side.

Datasets: Hoffmann et al.'s law (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28) on a 6 x 6
(N, D) grid (36 runs) with 1 % lognormal noise, seeds 100, 101, ... (the datasets of the
slow coverage test in tests/unit/analysis/laws/test_bootstrap.py). For each dataset, 1,000
resamples by:

1. the honest bootstrap (`analysis.laws.bootstrap.bootstrap_chinchilla`: every resample
   re-runs the fit's full search);
2. the previous bootstrap (`bench.batched_fit.bootstrap_warm_start`: every resample
   warm-started at the full-data optimum).

Printed per parameter: the share of datasets whose interval holds the truth (coverage), the
median interval width, and the seconds per 1,000 resamples. BLAS is pinned to one thread.

Usage: .venv/bin/python bench/bootstrap_coverage.py [--num-datasets 100]
The last line is `coverage_alpha: <honest coverage of alpha>`.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` as a package

from analysis.laws import forms  # noqa: E402
from analysis.laws.bootstrap import bootstrap_chinchilla  # noqa: E402
from analysis.laws.chinchilla import fit_chinchilla  # noqa: E402
from bench.batched_fit import bootstrap_warm_start  # noqa: E402

FloatArray = npt.NDArray[np.float64]
TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
KEYS = ("E", "A", "B", "alpha", "beta", "a")


def dataset(seed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """36 runs of the known law with 1 % lognormal noise."""
    n_grid, d_grid = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 6),
                                 indexing="ij")
    n, d = n_grid.ravel(), d_grid.ravel()
    clean = forms.chinchilla_loss(n, d, *TRUE.values())
    return n, d, clean * np.exp(np.random.default_rng(seed).normal(0, 0.01, n.size))


def warm_intervals(n: FloatArray, d: FloatArray, loss: FloatArray, seed: int
                   ) -> tuple[dict[str, tuple[float, float]], float]:
    """The previous bootstrap's 95 % percentile intervals and its seconds."""
    rows, seconds = bootstrap_warm_start(fit_chinchilla(n, d, loss), n, d, loss, seed=seed)
    samples = {"E": np.exp(rows[:, 2]), "A": np.exp(rows[:, 0]), "B": np.exp(rows[:, 1]),
               "alpha": rows[:, 3], "beta": rows[:, 4]}
    samples["a"] = samples["beta"] / (samples["alpha"] + samples["beta"])
    out = {}
    for key, values in samples.items():
        lo, hi = np.percentile(values[np.isfinite(values)], [2.5, 97.5])
        out[key] = (float(lo), float(hi))
    return out, seconds


def main() -> None:
    """Run both bootstraps on every dataset and print the comparison table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--num-datasets", type=int, default=100)
    args = parser.parse_args()
    truth = dict(TRUE, a=TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]))
    hits: dict[str, dict[str, int]] = {m: dict.fromkeys(KEYS, 0) for m in ("honest", "previous")}
    widths: dict[str, dict[str, list[float]]] = {m: {k: [] for k in KEYS} for m in hits}
    seconds: dict[str, list[float]] = {m: [] for m in hits}
    for draw in range(args.num_datasets):
        n, d, loss = dataset(100 + draw)
        honest = bootstrap_chinchilla(n, d, loss, seed=draw)
        previous, warm_s = warm_intervals(n, d, loss, draw)
        seconds["honest"].append(honest.seconds)
        seconds["previous"].append(warm_s)
        for method, intervals in (("honest", honest.intervals), ("previous", previous)):
            for key in KEYS:
                lo, hi = intervals[key]
                hits[method][key] += int(lo <= truth[key] <= hi)
                widths[method][key].append(hi - lo)
    print(f"| bootstrap (1,000 resamples, {args.num_datasets} datasets of 36 runs) | "
          + " | ".join(f"coverage {k}" for k in KEYS) + " | " + " | ".join(f"median width {k}" for k in ("alpha", "beta", "E"))
          + " | seconds per bootstrap (median) |")
    print("|---" * (len(KEYS) + 5) + "|")
    for method in hits:
        cov = " | ".join(f"{hits[method][k] / args.num_datasets:.2f}" for k in KEYS)
        wid = " | ".join(f"{statistics.median(widths[method][k]):.4f}" for k in ("alpha", "beta", "E"))
        print(f"| {method} | {cov} | {wid} | {statistics.median(seconds[method]):.2f} |")
    print(f"coverage_alpha: {hits['honest']['alpha'] / args.num_datasets:.2f}")


if __name__ == "__main__":
    main()
