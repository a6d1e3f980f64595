"""Benchmark: coverage of the 95 % prediction interval of a new run on synthetic truth.

Datasets: Hoffmann et al.'s law (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28) on a 5 x 5
(N, D) grid, N 1e6..1e8, D 1e8..1e10, with 2 % lognormal run noise, seeds 0, 1, ... (the
datasets of the slow test in tests/unit/analysis/laws/test_predict.py). Query points: inside
the grid (N 1e7, D 1e9) and 3x beyond it on both axes (N 3e8, D 3e10). For each dataset a
fresh noisy run at each query point is drawn and checked against
`analysis.laws.predict.predict_interval` (300 resamples).

Usage: .venv/bin/python bench/prediction_coverage.py [--num-datasets 150] [--figure PATH]
The last line is `prediction_coverage_extrapolated: <coverage at the 3x point>`.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from analysis.laws import forms  # noqa: E402
from analysis.laws.predict import predict_interval  # noqa: E402

TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
QUERY_N, QUERY_D, SIGMA = np.array([1e7, 3e8]), np.array([1e9, 3e10]), 0.02


def one_dataset(seed: int) -> tuple[np.ndarray, ...]:
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e8, 5), np.geomspace(1e8, 1e10, 5), indexing="ij"))
    loss = forms.chinchilla_loss(n, d, *TRUE.values()) * np.exp(np.random.default_rng(seed).normal(0, SIGMA, n.size))
    pred = predict_interval(n, d, loss, QUERY_N, QUERY_D, num_resamples=300, seed=seed)
    truth = forms.chinchilla_loss(QUERY_N, QUERY_D, *TRUE.values())
    new_run = truth * np.exp(np.random.default_rng(10_000 + seed).normal(0, SIGMA, 2))
    return pred.pred, pred.lo, pred.hi, new_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-datasets", type=int, default=150)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    pred, lo, hi, new = (np.array(x) for x in zip(*(one_dataset(s) for s in range(args.num_datasets))))
    covered = (lo <= new) & (new <= hi)
    width = np.median((hi - lo) / pred, axis=0)
    for i, name in enumerate(("in-grid (N 1e7, D 1e9)", "extrapolated (N 3e8, D 3e10)")):
        print(f"{name}: coverage {covered[:, i].mean():.3f} of {args.num_datasets}, "
              f"median relative width {width[i]:.3f}")
    if args.figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for i, ax in enumerate(axes):
            order = np.arange(min(60, args.num_datasets))
            ax.errorbar(order, pred[order, i], yerr=[pred[order, i] - lo[order, i], hi[order, i] - pred[order, i]],
                        fmt="o", ms=3, color="tab:blue", label="prediction, 95 % interval")
            ax.scatter(order, new[order, i], c=np.where(covered[order, i], "tab:green", "tab:red"), s=12,
                       zorder=3, label="new run (red: outside)")
            ax.set_title(f"{('in-grid', '3x extrapolated')[i]}: coverage {covered[:, i].mean():.0%}")
            ax.set_xlabel("synthetic study (seed)")
            ax.set_ylabel("loss")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
    print(f"prediction_coverage_extrapolated: {covered[:, 1].mean():.3f}")


if __name__ == "__main__":
    main()
