"""Benchmark: does the new Chinchilla fit find the previous 4,500-start fit's optimum?

Two families of seeded synthetic datasets, each fitted by the new fit
(`analysis.laws.chinchilla.fit_chinchilla`) and the previous one (`bench.batched_fit`):

- "typical": grids of 30-96 runs or scattered designs, exponents 0.2-0.7, E 1-3,
  noise 0.3-3 %, every fifth dataset with 5 % of its runs perturbed by ~20 % (outliers);
- "hard": 8-120 scattered runs, exponents at the edges of the search grid (0.06, 0.08)
  and beyond the previous grid (1.5-2.2), E from 0.05, noise 0-5 %, every third dataset
  with 10 % of its runs off by 10-50 %.

A dataset counts as worse when the new objective exceeds the previous one by more than
1e-9 relative. Prints one line per dataset and the counts; BLAS pinned to one thread.

Usage: .venv/bin/python bench/fit_robustness.py [--num-typical 60] [--num-hard 50]
The last line is `num_worse: <count over both families>`.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` as a package

from analysis.laws import forms  # noqa: E402
from analysis.laws.chinchilla import fit_chinchilla  # noqa: E402
from bench.batched_fit import fit_chinchilla_batched  # noqa: E402

FloatArray = npt.NDArray[np.float64]
Data = tuple[FloatArray, FloatArray, FloatArray]


def _law(rng: np.random.Generator, n: FloatArray, d: FloatArray, alpha: float, beta: float,
         e_irr: float, sigma: float) -> FloatArray:
    """Losses of a law whose power terms are 0.3-3x the loss scale mid-range, with noise."""
    a_coef = rng.uniform(0.3, 3) * np.sqrt(n.min() * n.max()) ** alpha
    b_coef = rng.uniform(0.3, 3) * np.sqrt(d.min() * d.max()) ** beta
    clean = forms.chinchilla_loss(n, d, e_irr, a_coef, b_coef, alpha, beta)
    return np.asarray(clean * np.exp(rng.normal(0, sigma, n.size)))


def _outliers(rng: np.random.Generator, loss: FloatArray, share: float, size: float) -> FloatArray:
    k = max(1, int(loss.size * share))
    idx = rng.choice(loss.size, k, replace=False)
    out = loss.copy()
    out[idx] *= np.exp(rng.choice([-1.0, 1.0], k) * rng.uniform(size / 2, size, k))
    return out


def typical(rng: np.random.Generator, case: int) -> Data:
    """Ladder-like data: grids or scattered runs, moderate noise, some outliers."""
    alpha, beta = rng.uniform(0.2, 0.7, 2)
    if case % 4 < 2:
        n_grid, d_grid = np.meshgrid(np.geomspace(1e6, 1e9, 6 + case % 7),
                                     np.geomspace(1e8, 1e11, 5 + case % 5), indexing="ij")
        n, d = n_grid.ravel(), d_grid.ravel()
    else:
        m = 30 + case % 60
        n = np.exp(rng.uniform(np.log(1e6), np.log(1e10), m))
        d = np.exp(rng.uniform(np.log(1e8), np.log(1e12), m))
    loss = _law(rng, n, d, alpha, beta, rng.uniform(1.0, 3.0), [0.01, 0.003, 0.01, 0.03][case % 4])
    return n, d, _outliers(rng, loss, 0.05, 0.4) if case % 5 == 4 else loss


def hard(rng: np.random.Generator, case: int) -> Data:
    """Few runs, extreme exponents, tiny E, heavy outliers."""
    m = [8, 15, 30, 60, 120][case % 5]
    n = np.exp(rng.uniform(np.log(1e5), np.log(1e10), m))
    d = np.exp(rng.uniform(np.log(1e7), np.log(1e12), m))
    alpha = [0.06, 0.9, 0.3, 1.8, 0.5][case % 5]
    beta = [0.5, 0.08, 1.5, 0.3, 2.2][(case // 5) % 5]
    loss = _law(rng, n, d, alpha, beta, [0.05, 1.0, 2.5][case % 3], [0.0, 0.005, 0.02, 0.05][case % 4])
    return n, d, _outliers(rng, loss, 0.1, 0.5) if case % 3 == 0 else loss


def compare(family: str, data: Data, case: int) -> bool:
    """Fit both ways, print one line, return whether the new fit is worse."""
    new = fit_chinchilla(*data)
    old = fit_chinchilla_batched(*data)
    rel = (new.objective - old.objective) / max(old.objective, 1e-300)
    worse = new.objective > old.objective * (1 + 1e-9) + 1e-18
    print(f"{family} {case:3d} P={data[0].size:3d} new {new.objective:.12g} previous "
          f"{old.objective:.12g} rel {rel:+.1e} new {new.fit_seconds:.3f} s previous "
          f"{old.fit_seconds:.2f} s{'  WORSE' if worse else ''}", flush=True)
    return worse


def main() -> None:
    """Run both families and print the counts."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--num-typical", type=int, default=60)
    parser.add_argument("--num-hard", type=int, default=50)
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # non-converged warnings on hard data
    worse = {"typical": 0, "hard": 0}
    for family, make, num, seed in (("typical", typical, args.num_typical, 123),
                                    ("hard", hard, args.num_hard, 7)):
        rng = np.random.default_rng(seed)
        for case in range(num):
            worse[family] += compare(family, make(rng, case), case)
    print(f"worse than the previous fit: typical {worse['typical']}/{args.num_typical}, "
          f"hard {worse['hard']}/{args.num_hard}")
    print(f"num_worse: {sum(worse.values())}")


if __name__ == "__main__":
    main()
