"""Compute-optimal allocation: from a fitted Chinchilla law and from IsoFLOP profiles.

Allocating a budget needs a relation between C, N and D; here it is C = k N D with k
named once per analysis by a `FlopsRelation`: k = 6 under the papers' 6ND convention, or,
under scalinglab's convention (C as logged, `configs.metrics.compute_flops`, head and
attention included), the experiment's effective FLOPs per parameter-token k = median over
runs of C / (N D).

* Approach 3 (Hoffmann et al. 2022, eq. 4): with L(N, D) fitted, N_opt(C) = G (C/k)^a and
  D_opt(C) = G^-1 (C/k)^b, a = beta/(alpha+beta), b = alpha/(alpha+beta); intervals come
  from the bootstrap parameter samples.
* Approach 2 (IsoFLOP profiles, Hoffmann et al. 2022 section 3.2): runs sharing a compute
  budget form a group; a parabola of loss in log N per group gives that budget's N_opt
  (and D_opt = C / (k N_opt)); the minima across budgets give N_opt ∝ C^a and D_opt ∝ C^b
  by straight lines in log-log space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.laws import forms
from analysis.laws.bootstrap import BootstrapResult
from analysis.laws.flops import FlopsRelation
from analysis.laws.inputs import validate_positive
from analysis.laws.lines import PowerLawFit, fit_loglog_line
from analysis.laws.result import FitResult

FloatArray = npt.NDArray[np.float64]
def optimal_allocation_table(
    result: FitResult, compute_flops: npt.ArrayLike, relation: FlopsRelation,
    boot: BootstrapResult | None = None,
) -> pd.DataFrame:
    """N_opt, D_opt and tokens per parameter at each budget, with bootstrap intervals.

    Args:
        result: A Chinchilla FitResult.
        compute_flops: Budgets C (FLOPs).
        relation: C = k N D relation used to spend each budget.
        boot: Bootstrap of `result`; when given, adds *_lo / *_hi columns (its level).

    Returns:
        One row per budget: C, N_opt, D_opt, tokens_per_param (+ intervals).

    Raises:
        AnalysisInputError: if `result` is not a Chinchilla fit.
    """
    if result.form != "chinchilla":
        raise AnalysisInputError(f"`result.form` is {result.form!r}; compute-optimal allocation "
                         "needs a Chinchilla fit (form='chinchilla').")
    budgets = validate_positive("compute_flops", compute_flops)
    p = result.params
    k = relation.flops_per_param_token
    n_opt, d_opt = forms.chinchilla_optimal_allocation(budgets, p["A"], p["B"], p["alpha"],
                                                       p["beta"], flops_per_param_token=k)
    table = pd.DataFrame({"C": budgets, "N_opt": n_opt, "D_opt": d_opt,
                          "tokens_per_param": d_opt / n_opt})
    if boot is not None:
        for name, (lo, hi) in _allocation_intervals(boot, budgets, k).items():
            table[f"{name}_lo"], table[f"{name}_hi"] = lo, hi
    return table


def _allocation_intervals(
    boot: BootstrapResult, budgets: FloatArray, k: float,
) -> dict[str, tuple[FloatArray, FloatArray]]:
    s = boot.samples
    good = np.isfinite(np.stack([s[name] for name in ("A", "B", "alpha", "beta")])).all(0)
    n_s, d_s = forms.chinchilla_optimal_allocation(
        budgets[None, :], s["A"][good, None], s["B"][good, None], s["alpha"][good, None],
        s["beta"][good, None], flops_per_param_token=k)  # (R, num_budgets)
    tails = [50 * (1 - boot.level), 50 * (1 + boot.level)]
    out = {}
    for name, arr in (("N_opt", n_s), ("D_opt", d_s), ("tokens_per_param", d_s / n_s)):
        lo, hi = np.percentile(arr, tails, axis=0)
        out[name] = (lo, hi)
    return out


@dataclass(frozen=True)
class IsoflopResult:
    """Approach-2 (IsoFLOP) compute-optimal scaling.

    Attributes:
        minima: One row per usable group: C (geometric mean), N_opt, D_opt = C / (k N_opt),
            loss_min, num_runs, and the parabola coefficients p2, p1, p0 of
            loss = p2 x^2 + p1 x + p0, x = ln N.
        n_opt: Power law N_opt ∝ C^a.
        d_opt: Power law D_opt ∝ C^b.
        num_groups_skipped: Groups dropped (fewer than 3 sizes or a non-convex parabola).
    """

    minima: pd.DataFrame
    n_opt: PowerLawFit
    d_opt: PowerLawFit
    num_groups_skipped: int


def group_by_compute(compute_flops: npt.ArrayLike, rtol: float = 0.1) -> npt.NDArray[np.intp]:
    """Label runs whose budgets lie within a factor (1 + rtol) chain of each other.

    Budgets are sorted and a new group starts wherever consecutive budgets differ by more
    than a factor 1 + rtol (actual C drifts from the nominal IsoFLOP budget because N is
    rounded to whole layers).

    Returns:
        Group label per run, numbered by increasing budget.
    """
    log_c = np.log(validate_positive("compute_flops", compute_flops))
    order = np.argsort(log_c)
    starts_new = np.diff(log_c[order]) > np.log1p(rtol)
    labels = np.empty(log_c.size, dtype=np.intp)
    labels[order] = np.concatenate([[0], np.cumsum(starts_new)])
    return labels


def _group_minimum(group: pd.DataFrame, k: float) -> dict[str, float] | None:
    log_n = np.log(group["N"].to_numpy(dtype=np.float64))
    if np.unique(log_n).size < 3:
        return None
    p2, p1, p0 = np.polyfit(log_n, group["loss"].to_numpy(dtype=np.float64), 2)
    if p2 <= 0:
        return None
    c_mean = float(np.exp(np.log(group["C"].to_numpy(dtype=np.float64)).mean()))
    n_opt = float(np.exp(-p1 / (2 * p2)))
    return {"C": c_mean, "N_opt": n_opt, "D_opt": c_mean / (k * n_opt),
            "loss_min": float(p0 - p1 * p1 / (4 * p2)), "num_runs": float(len(group)),
            "p2": float(p2), "p1": float(p1), "p0": float(p0)}


def fit_isoflop(table: pd.DataFrame, relation: FlopsRelation, *, rtol: float = 0.1,
                level: float = 0.95) -> IsoflopResult:
    """IsoFLOP (approach 2) compute-optimal exponents.

    Args:
        table: Columns N, D, loss and C (FLOPs).
        relation: C = k N D relation giving each minimum's D_opt.
        rtol: Relative budget tolerance for grouping (see `group_by_compute`).
        level: Coverage of the exponent intervals.

    Returns:
        IsoflopResult.

    Raises:
        AnalysisInputError: if fewer than 3 groups have >= 3 model sizes and a convex parabola.
    """
    missing = {"N", "loss", "C"} - set(table.columns)
    if missing:
        raise AnalysisInputError(f"IsoFLOP analysis needs columns {sorted(missing)} "
                         f"(have {list(table.columns)}); add them.")
    labels = group_by_compute(table["C"], rtol)
    minima = [_group_minimum(g, relation.flops_per_param_token)
              for _, g in table.groupby(labels)]
    usable = [m for m in minima if m is not None]
    if len(usable) < 3:
        raise AnalysisInputError(
            f"IsoFLOP approach needs >= 3 compute groups with >= 3 model sizes and a convex "
            f"loss-vs-log N parabola; found {len(usable)} of {len(minima)} group(s) "
            f"(grouping rtol={rtol}). Run more sizes per budget or more budgets, or use "
            "the Chinchilla fit (approach 3).")
    frame = pd.DataFrame(usable)
    c, n_opt, d_opt = (frame[k].to_numpy(dtype=np.float64) for k in ("C", "N_opt", "D_opt"))
    return IsoflopResult(frame, fit_loglog_line(c, n_opt, level),
                         fit_loglog_line(c, d_opt, level), len(minima) - len(usable))
